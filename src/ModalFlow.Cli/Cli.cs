using System.CommandLine;
using ModalFlow.Cli.Commands;

namespace ModalFlow.Cli;

/// <summary>The `modalflow` command: one subcommand per verb. Output goes through the given writers so tests can run it in memory.</summary>
public static class Cli
{
    public static RootCommand Build(CliContext ctx)
    {
        var root = new RootCommand("ModalFlow: trace how information flows between image and text inside LLaVA models")
        {
            PredictCommand.Create(ctx),
            TraceCommand.Create(ctx),
            RunCommand.Create(ctx),
            ReportCommand.Create(ctx),
            MergeCommand.Create(ctx),
            CompareCommand.Create(ctx),
            PositionsCommand.Create(ctx),
            InspectCommand.Create(ctx),
            ToyCommand.Create(ctx),
            DemoCommand.Create(ctx),
            BenchCommand.Create(ctx),
        };
        root.Options.Add(CommonOptions.Verbose);
        root.Options.Add(CommonOptions.Tokenizer);
        root.Options.Add(CommonOptions.AnyresMode);
        root.Options.Add(CommonOptions.VisionTower);
        return root;
    }

    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken ct = default)
    {
        var ctx = new CliContext(stdout, stderr);
        var root = Build(ctx);
        var parsed = root.Parse(args);
        return await parsed.InvokeAsync(new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false }, ct);
    }

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr) => RunAsync(args, stdout, stderr).GetAwaiter().GetResult();
}

using System.CommandLine;
using System.CommandLine.Help;
using ModalFlow.Cli.Commands;

namespace ModalFlow.Cli;

/// <summary>The `modalflow` command: one subcommand per verb. Output goes through the given writers so tests can run it in memory.</summary>
public static class Cli
{
    public const string Name = "modalflow";

    public static Command Build(CliContext ctx)
    {
        // A plain Command named like the wrapper, not a RootCommand (whose name is the executable's, ModalFlow.Cli).
        var root = new Command(Name, "ModalFlow: trace how information flows between image and text inside LLaVA models")
        {
            PredictCommand.Create(ctx),
            TraceCommand.Create(ctx),
            RunCommand.Create(ctx),
            PlanCommand.Create(ctx),
            ReportCommand.Create(ctx),
            MergeCommand.Create(ctx),
            CompareCommand.Create(ctx),
            PositionsCommand.Create(ctx),
            InspectCommand.Create(ctx),
            ToyCommand.Create(ctx),
            DemoCommand.Create(ctx),
            BenchCommand.Create(ctx),
        };
        root.Options.Add(new HelpOption());
        root.Options.Add(new VersionOption());
        root.Options.Add(CommonOptions.Verbose);
        return root;
    }

    /// <summary>
    /// Parses and runs. A parse error (unknown option or command, missing or malformed value) is reported on stderr with
    /// exit 2 and nothing on stdout; help goes to stdout with exit 0.
    /// </summary>
    public static Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken ct = default) =>
        RunAsync(args, new CliContext(stdout, stderr) { Args = args }, ct);

    /// <summary>Runs with a prepared context (tests: <see cref="CliContext.EngineWrapper"/>).</summary>
    internal static async Task<int> RunAsync(string[] args, CliContext ctx, CancellationToken ct = default)
    {
        var (stdout, stderr) = (ctx.Out, ctx.Err);
        var parsed = Build(ctx).Parse(args);
        if (parsed.Errors.Count > 0) return ParseErrors.Report(parsed, stderr);
        // No termination timeout: System.CommandLine would otherwise kill a run 2 s after Ctrl-C, mid-sample; `run`
        // handles Ctrl-C itself (StopSignal) and every other verb keeps the default (the process ends at once).
        return await parsed.InvokeAsync(new InvocationConfiguration
        {
            Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null,
        }, ct);
    }

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr) => RunAsync(args, stdout, stderr).GetAwaiter().GetResult();
}

using System.CommandLine;

namespace ModalFlow.Cli.Commands;

/// <summary>`modalflow bench knockout`: fast vs naive knockout engines on a LLaVA-1.5-geometry model.</summary>
public static class BenchCommand
{
    public static Command Create(CliContext ctx)
    {
        var bench = new Command("bench", "Benchmarks");
        var knockout = new Command("knockout", "Time a full window sweep per sample on both engines");
        knockout.SetAction(parse => ctx.Guard(parse, () =>
        {
            ctx.Err.WriteLine("bench knockout: not built yet");
            return CliContext.ExitError;
        }));
        bench.Subcommands.Add(knockout);
        return bench;
    }
}

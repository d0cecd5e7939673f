using System.CommandLine;
using ModalFlow.Results;

namespace ModalFlow.Cli.Commands;

/// <summary>`modalflow report`: exports and figures regenerated from the run store alone.</summary>
public static class ReportCommand
{
    public static Command Create(CliContext ctx)
    {
        var run = new Option<string>("--run") { Description = "Run folder (with run.sqlite); reading it while a run writes it is fine", Required = true, HelpName = "DIR" };
        var cmd = new Command("report", "Regenerate exports (CSV, Parquet), aggregates, figures and report.md from a run store") { run };
        cmd.SetAction(parse => ctx.Guard(parse, () =>
        {
            Generate(ctx, parse.GetValue(run)!);
            return CliContext.ExitOk;
        }));
        return cmd;
    }

    /// <summary>Exports, figures and report.md from the store; a partial merge's report opens with the notice of what is missing.</summary>
    public static void Generate(CliContext ctx, string runDir)
    {
        var path = Path.Combine(runDir, RunStore.FileName);
        if (!File.Exists(path)) throw new InputException(path, "--run", "not found; expected a run folder written by `modalflow run`");
        RunResults results;
        using (var store = RunStore.Open(path)) results = store.Results();
        var output = ResultsPipeline.Run(runDir, results);
        if (results.Partial is { } partial)
        {
            PartialNotice.Ensure(output.Report, partial);
            ctx.Err.WriteLine($"report: partial merge, {partial.Merged.Count} of {partial.ShardCount} shards (missing {string.Join(", ", partial.Missing)})");
        }
        ctx.Err.WriteLine($"report: {results.Knockout.Count} knockout rows, {results.Lens.Count} lens rows → {output.Tables.Count} tables, " +
            $"{output.Figures.Count} figures, {Path.GetFullPath(output.Report)}");
    }
}

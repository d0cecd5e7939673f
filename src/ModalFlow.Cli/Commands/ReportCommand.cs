using System.CommandLine;
using ModalFlow.Results;

namespace ModalFlow.Cli.Commands;

/// <summary>`modalflow report`: exports and figures regenerated from the run store alone.</summary>
public static class ReportCommand
{
    public static Command Create(CliContext ctx)
    {
        var run = new Option<string>("--run") { Description = "Run folder (with run.sqlite)", Required = true };
        var format = Format();
        var ci = Ci();
        var sharedY = SharedY();
        var cmd = new Command("report", "Regenerate exports (CSV, Parquet), aggregates, figures and report.md from a run store") { run, format, ci, sharedY };
        cmd.SetAction(parse => ctx.Guard(parse, () =>
        {
            Generate(ctx, parse.GetValue(run)!, Options(parse, format, ci, sharedY));
            return CliContext.ExitOk;
        }));
        return cmd;
    }

    /// <summary>--format: our per-sample CSV or the paper's byte-compatible one.</summary>
    public static Option<string> Format() => new Option<string>("--format")
    {
        Description = "Per-sample knockout CSV: modalflow (the paper's columns, then ours) or paper (byte-compatible with the paper's InformationFlow.py output: 'goden answer', image = <img_id>.jpg, its block names and number format; plus one file per condition in paper/)",
        DefaultValueFactory = _ => "modalflow",
    }.AcceptOnlyFromAmong("modalflow", "paper");

    /// <summary>--ci: the interval of the aggregates and figure bands.</summary>
    public static Option<string> Ci() => new Option<string>("--ci")
    {
        Description = "95% interval of the per-layer means: t (Student t) or bootstrap (1000 resamples of the mean, percentile interval, seeded: how seaborn drew the paper's bands)",
        DefaultValueFactory = _ => "t",
    }.AcceptOnlyFromAmong("t", "bootstrap");

    /// <summary>--shared-y: one y range across the panel's tasks.</summary>
    public static Option<bool> SharedY() => new("--shared-y") { Description = "Draw every task of a panel on the same y range" };

    public static ResultsOptions Options(ParseResult parse, Option<string> format, Option<string> ci, Option<bool> sharedY) => new()
    {
        KnockoutFormat = parse.GetValue(format) == "paper" ? KnockoutCsvFormat.Paper : KnockoutCsvFormat.ModalFlow,
        Ci = CiOptions.Parse(parse.GetValue(ci)!),
        Figures = FigureOptions.Default with { SharedPanelYAxis = parse.GetValue(sharedY) },
    };

    public static void Generate(CliContext ctx, string runDir, ResultsOptions? options = null)
    {
        var path = Path.Combine(runDir, RunStore.FileName);
        if (!File.Exists(path)) throw new InputException(path, "--run", "not found; expected a run folder written by `modalflow run`");
        RunResults results;
        string? model;
        using (var store = RunStore.Open(path))
        {
            results = store.Results();
            model = store.Manifest is { } m ? Path.GetFileName(Path.TrimEndingDirectorySeparator(m.Model)) : null;
        }
        options ??= ResultsOptions.Default;
        if (options.Figures.ModelName is null) options = options with { Figures = options.Figures with { ModelName = model } };
        var output = ResultsPipeline.Run(runDir, results, options);
        ctx.Err.WriteLine($"report: {results.Knockout.Count} knockout rows, {results.Lens.Count} lens rows → {output.Tables.Count} tables, " +
            $"{output.Figures.Count} figures, {Path.GetFullPath(output.Report)}");
    }
}

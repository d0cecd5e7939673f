using System.CommandLine;
using ModalFlow.Results;

namespace ModalFlow.Cli.Commands;

/// <summary>`modalflow report`: exports and figures regenerated from the run store alone.</summary>
public static class ReportCommand
{
    public static Command Create(CliContext ctx)
    {
        var run = new Option<string>("--run") { Description = "Run folder (with run.sqlite); reading it while a run writes it is fine", Required = true, HelpName = "DIR" };
        var format = Format();
        var ci = Ci();
        var sharedY = SharedY();
        var cmd = new Command("report", "Regenerate exports (CSV, Parquet), aggregates, figures and report.md from a run store") { run, format, ci, sharedY };
        cmd.SetAction(parse => ctx.Guard(parse, () =>
            Generate(ctx, parse.GetValue(run)!, Options(parse, format, ci, sharedY)) is { Passed: false } ? CliContext.ExitSelfCheckFailed : CliContext.ExitOk));
        return cmd;
    }

    /// <summary>--format: our per-sample CSV or the paper's byte-compatible one.</summary>
    public static Option<string> Format() => CommonOptions.Choice("--format",
        "Per-sample knockout CSV: modalflow (the paper's columns, then ours) or paper (byte-compatible with the paper's InformationFlow.py output: 'goden answer', image = <img_id>.jpg, its block names and number format; plus one file per condition in paper/)",
        "modalflow", "modalflow", "paper");

    /// <summary>--ci: the interval of the aggregates and figure bands.</summary>
    public static Option<string?> Ci() => CommonOptions.Choice<string?>("--ci",
        "95% interval of the per-layer means: t (Student t; the default) or bootstrap (1000 resamples of the mean, percentile interval, seeded: how seaborn drew the paper's bands; the default of --preset paper runs)",
        null, "t", "bootstrap");

    /// <summary>--shared-y: one y range across the panel's tasks.</summary>
    public static Option<bool> SharedY() => new("--shared-y") { Description = "Draw every task of a panel on the same y range" };

    /// <summary>The results settings a command line asks for; null when it asks nothing (the run's own defaults apply).</summary>
    public static ResultsOptions? Options(ParseResult parse, Option<string> format, Option<string?> ci, Option<bool> sharedY)
    {
        bool Given(Option o) => parse.GetResult(o) is { Implicit: false };
        if (!Given(format) && !Given(ci) && !Given(sharedY)) return null;
        return ResultsOptions.Default with
        {
            KnockoutFormat = parse.GetValue(format) == "paper" ? KnockoutCsvFormat.Paper : KnockoutCsvFormat.ModalFlow,
            Ci = parse.GetValue(ci) is { } c ? CiOptions.Parse(c) : ResultsOptions.Default.Ci,
            Figures = FigureOptions.Default with { SharedPanelYAxis = parse.GetValue(sharedY) },
        };
    }

    /// <summary>
    /// Exports, figures and report.md from the store; a partial merge's report opens with the notice of what is missing.
    /// A run made with --preset paper draws bootstrap intervals unless --ci says otherwise. Returns the store's self-check
    /// (null when none was recorded); a failed one is also said loudly on stderr, and the caller exits 3.
    /// </summary>
    public static VerificationSummary? Generate(CliContext ctx, string runDir, ResultsOptions? options = null)
    {
        var path = Path.Combine(runDir, RunStore.FileName);
        if (!File.Exists(path)) throw new InputException(path, "--run", "not found; expected a run folder written by `modalflow run`");
        RunResults results;
        string? model;
        bool paperPreset;
        using (var store = RunStore.Open(path))
        {
            results = store.Results();
            model = store.Manifest is { } m ? Path.GetFileName(Path.TrimEndingDirectorySeparator(m.Model)) : null;
            paperPreset = store.Manifest?.Preset == Experiments.PaperPreset.Name;
        }
        options ??= ResultsOptions.Default with { Ci = paperPreset ? CiOptions.Bootstrap : ResultsOptions.Default.Ci };
        if (options.Figures.ModelName is null) options = options with { Figures = options.Figures with { ModelName = model } };
        var output = ResultsPipeline.Run(runDir, results, options);
        if (results.Partial is { } partial)
        {
            PartialNotice.Ensure(output.Report, partial);
            ctx.Err.WriteLine($"report: partial merge, {partial.Merged.Count} of {partial.ShardCount} shards (missing {string.Join(", ", partial.Missing)})");
        }
        ctx.Err.WriteLine($"report: {results.Knockout.Count} knockout rows, {results.Lens.Count} lens rows → {output.Tables.Count} tables, " +
            $"{output.Figures.Count} figures, {Path.GetFullPath(output.Report)}");
        if (results.Verification is { } v)
            ctx.Err.WriteLine(v.Passed ? v.Describe() : $"SELF-CHECK FAILED in {Path.GetFullPath(runDir)}: {v.Describe()}. Do not trust its knockout numbers.");
        return results.Verification;
    }
}

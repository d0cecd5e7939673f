namespace ModalFlow.Results;

/// <summary>Everything the results step can be asked for besides the rows.</summary>
public sealed record ResultsOptions
{
    /// <summary>Sizes, formats, font, model name, lens variant, shared panel axis.</summary>
    public FigureOptions Figures { get; init; } = FigureOptions.Default;

    /// <summary>The interval of every aggregate (t or the paper's seaborn-style bootstrap).</summary>
    public CiOptions Ci { get; init; } = CiOptions.StudentT;

    /// <summary>Our per-sample CSV or the paper's byte-compatible one (plus its per-condition files).</summary>
    public KnockoutCsvFormat KnockoutFormat { get; init; } = KnockoutCsvFormat.ModalFlow;

    /// <summary>Draw the figures (off for tests and headless checks that need only the tables).</summary>
    public bool WriteFigures { get; init; } = true;

    public static ResultsOptions Default { get; } = new();
}

/// <summary>What <see cref="ResultsPipeline.Run(string, RunResults, ResultsOptions)"/> wrote.</summary>
public sealed record ResultsOutput(
    IReadOnlyList<LayerAggregate> Aggregates,
    IReadOnlyList<LensAggregate> LensAggregates,
    IReadOnlyList<string> Tables,
    IReadOnlyList<FigureFile> Figures,
    string Report,
    FigureFont Font);

/// <summary>
/// The whole results step for a run: aggregates, tables (in <c>dir</c>), figures (in <c>dir/figures</c>) and
/// <c>dir/report.md</c>.
/// </summary>
public static class ResultsPipeline
{
    public const string FiguresFolder = "figures";

    public static ResultsOutput Run(string dir, RunResults run, FigureOptions? options = null, bool figures = true) =>
        Run(dir, run, new ResultsOptions { Figures = options ?? FigureOptions.Default, WriteFigures = figures });

    public static ResultsOutput Run(string dir, RunResults run, ResultsOptions options)
    {
        var aggregates = Aggregator.Aggregate(run.Knockout, ci: options.Ci);
        var lens = Aggregator.AggregateLens(run.Lens, ci: options.Ci);
        var tables = Exporter.WriteAll(dir, run, aggregates, lens, options.KnockoutFormat);
        var font = FigureFonts.Resolve(options.Figures.FontFile);
        // Line figures show the all-heads knockouts; per-head aggregates get heat maps (HeadMapFigures).
        var allHeads = aggregates.Where(a => a.Heads.Length == 0).ToList();
        var figureFiles = options.WriteFigures
            ? [.. Results.Figures.WriteAll(Path.Combine(dir, FiguresFolder), allHeads, lens, options.Figures),
               .. HeadMapFigures.WriteAll(Path.Combine(dir, FiguresFolder), aggregates, options.Figures)]
            : new List<FigureFile>();
        var report = ReportWriter.Write(Path.Combine(dir, ReportWriter.FileName), run, aggregates, lens, figureFiles, font, options);
        return new ResultsOutput(aggregates, lens, tables, figureFiles, report, font);
    }
}

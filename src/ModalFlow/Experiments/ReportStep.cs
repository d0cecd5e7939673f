using System.Diagnostics;
using ModalFlow.Results;
using ModalFlow.Results.Html;

namespace ModalFlow.Experiments;

/// <summary>
/// The cost of `run`'s last step (exports, aggregates, figures, report.md from the store) as a cold start plus a cost per
/// used sample, timed on copies of a measured sample's rows: one copy cold (a fresh process pays font scanning and
/// first-call costs), the same warm, and up to <see cref="MaxCopies"/> copies warm for the slope.
/// </summary>
public sealed record ReportStep(double ColdSeconds, double SecondsPerSample, int BaseSamples)
{
    public const int MaxCopies = 64;

    /// <summary>Projected seconds for a report over <paramref name="samples"/> used samples.</summary>
    public double For(int samples) => ColdSeconds + SecondsPerSample * Math.Max(0, samples - BaseSamples);

    /// <param name="sampleIds">The used samples whose rows are copied (empty: a report with no rows, as for a run that kept nothing).</param>
    public static ReportStep Measure(string scratch, RunResults rows, IReadOnlySet<string> sampleIds, int samples, ResultsOptions options, string modelName)
    {
        var knockout = rows.Knockout.Where(r => sampleIds.Contains(r.QuestionId)).ToList();
        var lens = rows.Lens.Where(r => sampleIds.Contains(r.QuestionId)).ToList();
        options = options.Figures.ModelName is null ? options with { Figures = options.Figures with { ModelName = modelName } } : options;
        int perCopy = Math.Max(1, sampleIds.Count);
        double Time(string name, int copies)
        {
            // Distinct question ids per copy: the aggregator refuses a sample counted twice in one group.
            var results = rows with
            {
                Knockout = [.. Enumerable.Range(0, copies).SelectMany(k => knockout.Select(r => r with { QuestionId = $"{r.QuestionId}~{k}" }))],
                Lens = [.. Enumerable.Range(0, copies).SelectMany(k => lens.Select(r => r with { QuestionId = $"{r.QuestionId}~{k}" }))],
            };
            var dir = Path.Combine(scratch, "report-" + name);
            Directory.CreateDirectory(dir);
            var sw = Stopwatch.StartNew();
            ResultsPipeline.Run(dir, results, options);
            return sw.Elapsed.TotalSeconds;
        }
        double cold = Time("cold", 1);
        int large = Math.Clamp((samples + perCopy - 1) / perCopy, 1, MaxCopies);
        if (large <= 1 || sampleIds.Count == 0) return new ReportStep(cold, 0, perCopy);
        double warm = Time("warm", 1);
        double big = Time("large", large);
        return new ReportStep(cold, Math.Max(0, big - warm) / ((large - 1) * perCopy), perCopy);
    }
}

/// <summary>
/// The cost of `run`'s report.html (every sample of the store, each with the picture the model saw): what a first write
/// pays once (first calls) and a cost per sample, timed by writing it twice over the plan's own store of measured samples.
/// (The CLI's <c>HtmlReportStep</c> is what writes a run's page.)
/// </summary>
public sealed record HtmlReportCost(double ColdExtraSeconds, double SecondsPerSample)
{
    /// <summary>Projected seconds for report.html over <paramref name="samples"/> samples.</summary>
    public double For(int samples) => ColdExtraSeconds + SecondsPerSample * Math.Max(1, samples);

    /// <param name="runDir">A run folder whose store holds <paramref name="samples"/> samples.</param>
    public static HtmlReportCost Measure(string runDir, string scratch, int samples)
    {
        double Time(string name)
        {
            var sw = Stopwatch.StartNew();
            HtmlReport.Write(Path.Combine(scratch, $"report-{name}.html"), [HtmlRunSource.Read(runDir)]);
            return sw.Elapsed.TotalSeconds;
        }
        double cold = Time("cold"), warm = Time("warm");
        return new HtmlReportCost(Math.Max(0, cold - warm), warm / Math.Max(1, samples));
    }
}

using System.Diagnostics;
using ModalFlow.Results;

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

using System.Globalization;
using ModalFlow.Experiments;
using ModalFlow.Results;
using ModalFlow.Results.Html;
using ModalFlow.Toy;

namespace ModalFlow.Cli;

/// <summary>The demo's report.html: every run of the four experiments on the six tasks in one page, with the method checks.</summary>
public static class DemoHtml
{
    /// <summary>Writes <c>dir/report.html</c> from the demo's run stores (<c>dir/runs/exp{N}/{Task}</c>).</summary>
    public static HtmlReportOutput Write(string dir, IReadOnlyList<ToyTaskProbe> probes, IEnumerable<ResultsOutput> outputs, string title)
    {
        var runs = ExperimentDefinition.All
            .SelectMany(exp => ToyWorld.Tasks.Select(t => Path.Combine(dir, "runs", $"exp{exp.Name}", t.Task)))
            .Where(d => File.Exists(Path.Combine(d, RunStore.FileName)))
            .Select(HtmlRunSource.Read)
            .ToList();
        return HtmlReport.Write(Path.Combine(dir, HtmlReport.FileName), runs, new HtmlReportOptions
        {
            Title = title,
            Figures = [.. outputs.SelectMany(o => o.Figures)],
            Checks = [ProbeTable(probes)],
        });
    }

    /// <summary>The method checks as a table (the same numbers as the demo's report.md).</summary>
    public static ReportTable ProbeTable(IReadOnlyList<ToyTaskProbe> probes)
    {
        static string P(double v) => v.ToString("P1", CultureInfo.InvariantCulture);
        static string Pct(double v) => v.ToString("F1", CultureInfo.InvariantCulture) + "%";
        var rows = probes.Select(p => (IReadOnlyList<string>)
        [
            p.Task, p.Samples.ToString(CultureInfo.InvariantCulture), P(p.Accuracy), P(p.BlindBaseline), P(p.AccuracyImageBlocked),
            Pct(p.RelatedChange), Pct(p.RandomChange),
            string.Join(' ', p.LensAnswerProb.Select(v => v.ToString("F2", CultureInfo.InvariantCulture))),
        ]).ToList();
        return new ReportTable("Checks of the method (all held-out questions)",
            ["task", "n", "accuracy", "blind", "image blocked", "related Δp", "random Δp", "answer p by lens row"], rows)
        {
            Note = "Accuracy counts the first answer token; blind is the best image-blind answer; image blocked: every edge from the image to later positions blocked in all layers; "
                + "related / random Δp: mean relative change of the answer probability with the question objects' patches (or as many random other patches) blocked in all layers; "
                + "lens row r: the standard logit lens after r layers.",
        };
    }
}

using System.Text.RegularExpressions;
using ModalFlow.Results;
using ModalFlow.Tests.Support;
using Xunit;

namespace ModalFlow.Tests.Results;

public class ReportWriterTests
{
    private static LensAggregate L(string kind, int layer, double p) => new("T", kind, layer, 5, p, 0, p, p, p / 2, 0, p / 2, p / 2);

    [SharedFact]
    public void Crossing_Is_The_Layer_From_Which_Capitalised_Stays_Ahead()
    {
        double[] lower = [0.001, 0.002, 0.3, 0.5, 0.2, 0.05, 0.01];
        double[] capital = [0.002, 0.001, 0.0, 0.1, 0.3, 0.5, 0.8];   // ahead by noise at layer 0, for good from layer 4
        var aggs = lower.Select((p, i) => L("answer_lower", i, p)).Concat(capital.Select((p, i) => L("answer_capital", i, p))).ToList();
        var c = ReportWriter.Crossing(aggs, "T", LensProbability.Raw);
        Assert.Equal((4, 0.2, 0.3), (c.Layer, c.LowerAtLayer, c.CapitalAtLayer));

        var never = lower.Select((p, i) => L("answer_lower", i, p)).Concat(lower.Select((p, i) => L("answer_capital", i, p / 2))).ToList();
        Assert.Null(ReportWriter.Crossing(never, "T", LensProbability.Norm).Layer);
        Assert.Contains("does not overtake", ReportWriter.Crossing(never, "T", LensProbability.Norm).Note);
        var always = lower.Select((p, i) => L("answer_lower", i, p)).Concat(lower.Select((p, i) => L("answer_capital", i, p + 0.1))).ToList();
        Assert.Contains("every layer", ReportWriter.Crossing(always, "T", LensProbability.Raw).Note);
        Assert.Contains("no layers", ReportWriter.Crossing(aggs.Where(a => a.TokenKind == "answer_lower"), "T", LensProbability.Raw).Note);
    }

    [SharedFact]
    public void Minima_Pick_The_Lowest_Mean_Per_Condition()
    {
        var aggs = Aggregator.Aggregate(SyntheticResults.Knockout(8));
        var min = ReportWriter.Minima(aggs);
        var q = Assert.Single(min, m => m.Task == "ChooseAttr" && m.BlockDesc == "Question->Last");
        Assert.InRange(q.At.Layer, 14, 18);
        var iq = Assert.Single(min, m => m.Task == "QueryAttr" && m.BlockDesc == "Image->Question");
        Assert.InRange(iq.At.Layer, 1, 3);
    }

    [SharedFact]
    public void Pipeline_Writes_Tables_Figures_And_A_Report_That_Links_Them()
    {
        using var dir = new TempDir("mf-report-");
        var knockout = SyntheticResults.Knockout(6);
        var run = new RunResults(knockout, SyntheticResults.Lens(5),
            [new ExcludedSample("ChooseAttr", "00000099", "wrong_answer", "predicted 'no'"), new ExcludedSample("QueryAttr", "1", "missing_image", "1.jpg"),
             new ExcludedSample("QueryAttr", "2", "wrong_answer", "")],
            [new MalformedRow("/x/knockout_first.csv", 12, "3 fields; the header has 17")]);
        var output = ResultsPipeline.Run(dir.Path, run, new FigureOptions { Svg = false });
        var report = File.ReadAllText(output.Report);
        var keep = Environment.GetEnvironmentVariable("MODALFLOW_KEEP_FIGURES");
        if (!string.IsNullOrEmpty(keep)) { Directory.CreateDirectory(keep); File.Copy(output.Report, Path.Combine(keep, "report.md"), true); }

        Assert.Equal(Path.Combine(dir.Path, "report.md"), output.Report);
        Assert.Contains("| ChooseAttr | 6 | 1 |", report);
        Assert.Contains("| QueryAttr | 6 | 2 |", report);
        Assert.Contains("| **total** | **36** | **3** |", report);
        Assert.Contains("| wrong_answer | 2 |", report);
        Assert.Contains("Malformed input rows: 1 (all in malformed.csv).", report);
        Assert.Contains("`knockout_first.csv` line 12: 3 fields; the header has 17", report);
        Assert.Contains("### Experiment 1: Image/Question/Last \u2192 Last (first sub-word, window 9)", report);
        Assert.Contains("### Experiment 3: Related/Other Image Patches \u2192 Question (first sub-word, window 9)", report);
        Assert.Contains("## Experiment 4: logit lens", report);
        Assert.Matches(@"\| ChooseAttr \| Question→Last \| 1[4-8] \| -\d+\.\d\d \| \[-\d+\.\d\d, -\d+\.\d\d\] \| 6 \|", report);
        Assert.Matches(@"\| ChooseAttr \| 3[0-4] \| \d+\.\d% / \d+\.\d% \|", report);

        var links = Regex.Matches(report, @"\]\(([^)]+)\)").Select(m => m.Groups[1].Value).ToList();
        Assert.Contains("figures/knockout_exp1_panel_first.png", links);
        Assert.Contains("figures/lens_panel_raw.png", links);
        Assert.All(links, l => Assert.True(File.Exists(Path.Combine(dir.Path, l)), $"broken link {l}"));
        // Every figure is linked; embedded: each knockout panel, the lens panel and every task's lens figure.
        var embedded = Regex.Matches(report, @"!\[[^\]]*\]\(([^)]+)\)").Select(m => m.Groups[1].Value).ToList();
        Assert.Equal(["figures/knockout_exp1_panel_first.png", "figures/knockout_exp2_panel_first.png", "figures/knockout_exp3_panel_first.png", "figures/lens_panel_raw.png",
            .. ResultNames.PaperTasks.Append("All").Select(t => $"figures/lens_{t}_raw.png")], embedded);
        Assert.Equal(output.Figures.Count + embedded.Count, links.Count);
        Assert.True(File.Exists(Path.Combine(dir.Path, "knockout_first.csv")));
        Assert.True(File.Exists(Path.Combine(dir.Path, "malformed.csv")));

        // Same rows, same report, byte for byte.
        var again = ResultsPipeline.Run(Path.Combine(dir.Path, "again"), run with { Knockout = knockout.OrderBy(_ => Random.Shared.Next()).ToList() }, figures: false);
        Assert.Equal(ReportWriter.Build(run, output.Aggregates, output.LensAggregates, [], dir.Path), File.ReadAllText(again.Report));
    }

    [SharedFact]
    public void A_Condition_That_Never_Drops_Reports_None()
    {
        var rows = SyntheticResults.Knockout(3, tasks: ["ChooseAttr"]).Where(r => r.BlockDesc is "Last->Last" or "Question->Last").ToList();
        rows = rows.Select(r => r.BlockDesc == "Last->Last" ? r with { RelativeDiff = r.Layer == 7 ? -1e-6 : 0 } : r).ToList();   // a drop too small to print
        var aggs = Aggregator.Aggregate(rows);
        var report = ReportWriter.Build(new RunResults(rows, [], [], []), aggs, [], [], ".");
        Assert.Contains("| ChooseAttr | Last\u2192Last | none | \u2014 | \u2014 | 3 |", report);
        Assert.Matches(@"\| ChooseAttr \| Question→Last \| 1[4-8] \| -\d+\.\d\d \|", report);
        Assert.False(ReportWriter.HasDrop(ReportWriter.Minima(aggs).Single(m => m.BlockDesc == "Last->Last")));
    }

    [SharedFact]
    public void The_Report_Names_The_Interval_And_Never_Prints_One_Below_Minus_100()
    {
        var rows = new List<KnockoutRow>();
        double[] rel = [-100, -100, -99.5, -98, -100, -20, -97, -100];
        for (int i = 0; i < rel.Length; i++)
            rows.Add(new KnockoutRow("T", $"{i}", "1", "a", "a", "q", "2", "Image->Question", 9, 0, "0", "first", 1, 0.5, 0.5 * (1 + rel[i] / 100), 0, rel[i], 1));
        Assert.True(Aggregator.Aggregate(rows).Single().Ci95Low < -100);
        var t = ReportWriter.Build(new RunResults(rows, [], [], []), Aggregator.Aggregate(rows), [], [], ".");
        Assert.Contains("Student t", t);
        Assert.Contains("| T | Image\u2192Question | 0 | -89.31 | [-100.00, ", t);
        var options = new ResultsOptions { Ci = CiOptions.Bootstrap };
        var b = ReportWriter.Build(new RunResults(rows, [], [], []), Aggregator.Aggregate(rows, ci: options.Ci), [], [], ".", options: options);
        Assert.Contains("percentile bootstrap of the mean, 1000 resamples", b);
        Assert.DoesNotContain("\\u003E", b);
    }
}

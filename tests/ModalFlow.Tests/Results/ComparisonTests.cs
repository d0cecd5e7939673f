using ModalFlow.Results;
using ModalFlow.Tests.Support;
using Xunit;

namespace ModalFlow.Tests.Results;

public class ComparisonTests
{
    private static List<KnockoutRow> Rows() => SyntheticResults.Knockout(samplesPerTask: 5, tasks: ["ChooseAttr"]).Where(r => r.Experiment == "exp1").ToList();

    [SharedFact]
    public void Rows_Against_Themselves_Through_The_Papers_Format_Differ_By_Nothing()
    {
        using var dir = new TempDir();
        var ours = Rows();
        var files = PaperFormat.WritePerCondition(dir.Path, ours);
        Assert.Equal(3, files.Count);
        var theirs = files.SelectMany(f => ResultReader.ReadKnockoutCsv(f)).ToList();
        var c = Comparison.Of(ours, theirs);
        Assert.Equal(ours.Count, c.Matched);
        Assert.Empty(c.OnlyOurs);
        Assert.Empty(c.OnlyTheirs);
        // The paper's order of operations may move the last bit of the relative change; nothing more.
        Assert.All(c.Conditions, k => Assert.True(k.MaxAbsDelta < 1e-12, $"{k.BlockDesc}: max |Δ| {k.MaxAbsDelta}"));
        Assert.All(c.Conditions, k => Assert.Equal((0.0, 0.0), (k.MaxAbsDeltaBase, k.MaxAbsDeltaNew)));
    }

    [SharedFact]
    public void A_Perturbed_Copy_Reports_The_Change_Where_It_Is_And_The_Rows_Only_On_One_Side()
    {
        var ours = Rows();
        var theirs = ours.ToList();
        int changed = theirs.FindIndex(r => r.BlockDesc == "Image->Last" && r.Layer == 17 && r.QuestionId == "00000003");
        theirs[changed] = theirs[changed] with { RelativeDiff = theirs[changed].RelativeDiff + 2.5 };
        int dropped = theirs.FindIndex(r => r.BlockDesc == "Question->Last" && r.Layer == 4);
        var droppedRow = theirs[dropped];
        theirs.RemoveAt(dropped);
        theirs.Add(droppedRow with { QuestionId = "99999999" });

        var c = Comparison.Of(ours, theirs);
        var image = c.Conditions.Single(k => k.BlockDesc == "Image->Last");
        Assert.Equal(2.5, image.MaxAbsDelta, 9);
        Assert.Equal(2.5 / image.Matched, image.MeanAbsDelta, 9);
        Assert.Equal(("00000003", 17), (image.WorstQuestionId, image.WorstLayer));
        Assert.Equal(0, c.Conditions.Single(k => k.BlockDesc == "Last->Last").MaxAbsDelta);
        var question = c.Conditions.Single(k => k.BlockDesc == "Question->Last");
        Assert.Equal((1, 1), (question.OnlyOurs, question.OnlyTheirs));
        Assert.Equal(new UnmatchedRow(droppedRow.QuestionId, "Question->Last", 4, "first"), Assert.Single(c.OnlyOurs));
        Assert.Equal("99999999", Assert.Single(c.OnlyTheirs).QuestionId);
        Assert.Equal(2.5, c.MaxAbsDelta, 9);
    }

    [SharedFact]
    public void Non_Finite_Values_Compare_Equal_Only_To_Themselves()
    {
        Assert.Equal(0, Comparison.Delta(double.NaN, double.NaN));
        Assert.Equal(0, Comparison.Delta(double.PositiveInfinity, double.PositiveInfinity));
        Assert.Equal(double.PositiveInfinity, Comparison.Delta(1, double.NaN));
        Assert.Equal(double.PositiveInfinity, Comparison.Delta(double.NegativeInfinity, double.PositiveInfinity));
        Assert.Equal(0.5, Comparison.Delta(-1, -1.5));
    }

    [SharedFact]
    public void A_Key_Twice_On_One_Side_Is_Refused_Naming_It()
    {
        var rows = Rows();
        var e = Assert.Throws<InputException>(() => Comparison.Of(rows.Append(rows[0] with { Task = "QueryAttr" }).ToList(), rows));
        Assert.Contains(rows[0].QuestionId, e.Message);
        Assert.Contains("ChooseAttr and QueryAttr", e.Message);
    }

    [SharedFact]
    public void The_Comparison_Figure_Has_Both_Curves_Per_Condition()
    {
        var ours = Rows();
        var plot = Figures.ComparisonPlot(ours, ours, "t");
        var labels = plot.GetPlottables<ScottPlot.Plottables.Scatter>().Select(s => s.LegendText).ToList();
        Assert.Equal(6, labels.Count);
        Assert.Contains("Image\u2192Last (run)", labels);
        Assert.Contains("Image\u2192Last (paper CSV)", labels);
    }
}

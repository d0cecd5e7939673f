using ModalFlow.Results;
using ModalFlow.Tests.Support;
using Xunit;

namespace ModalFlow.Tests.Results;

public class AggregatorTests
{
    private static KnockoutRow Row(string task, string qid, string block, int layer, double rel, int window = 9, string subword = "first", string exp = "exp1") =>
        new(task, qid, "img", "yes", "yes", "q?", exp, block, window, layer, "0-4", subword, 3869, 0.5, 0.5 * (1 + rel / 100), -1, rel, 3869);

    [SharedFact]
    public void Aggregate_Groups_By_Task_Experiment_Condition_Subword_Layer()
    {
        var rows = new List<KnockoutRow>
        {
            Row("ChooseAttr", "1", "Question->Last", 0, -10),
            Row("ChooseAttr", "2", "Question->Last", 0, -20),
            Row("ChooseAttr", "1", "Question->Last", 1, 4),
            Row("ChooseAttr", "1", "Image->Last", 0, 1),
            Row("ChooseAttr", "1", "Question->Last", 0, -40, subword: "final"),
            Row("QueryAttr", "1", "Question->Last", 0, -30),
        };
        var aggs = Aggregator.Aggregate(rows);
        LayerAggregate Find(string task, string block, int layer, string subword = "first") =>
            Assert.Single(aggs, a => a.Task == task && a.BlockDesc == block && a.Layer == layer && a.Subword == subword);

        var a = Find("ChooseAttr", "Question->Last", 0);
        Assert.Equal(2, a.N);
        Assert.Equal(-15, a.Mean, 12);
        Assert.Equal(5, a.StdError, 12);   // s = √50, SE = s/√2 = 5
        Assert.Equal(-15 - 12.706204736174705 * 5, a.Ci95Low, 10);
        Assert.Equal(1, Find("ChooseAttr", "Question->Last", 1).N);
        Assert.Equal(-40, Find("ChooseAttr", "Question->Last", 0, "final").Mean);

        var all = Find(ResultNames.AllTasks, "Question->Last", 0);   // pooled over tasks' samples
        Assert.Equal(3, all.N);
        Assert.Equal(-20, all.Mean, 12);
        Assert.Equal(aggs.Count, aggs.Distinct().Count());
        Assert.Equal(ResultNames.AllTasks, aggs[^1].Task);   // order: paper tasks, All last
        Assert.Equal("ChooseAttr", aggs[0].Task);
        Assert.Equal("Question->Last", aggs[0].BlockDesc);   // paper legend order, not ordinal
    }

    [SharedFact]
    public void Aggregate_Without_Several_Tasks_Has_No_Pooled_Group()
    {
        var aggs = Aggregator.Aggregate([Row("ChooseAttr", "1", "Last->Last", 0, 1), Row("ChooseAttr", "2", "Last->Last", 0, 2)]);
        Assert.DoesNotContain(aggs, a => a.Task == ResultNames.AllTasks);
        Assert.DoesNotContain(Aggregator.Aggregate(SyntheticResults.Knockout(2), includeAllTasks: false), a => a.Task == ResultNames.AllTasks);
    }

    [SharedFact]
    public void Aggregate_Is_Identical_For_Rows_In_Any_Order()
    {
        var rows = SyntheticResults.Knockout(samplesPerTask: 5);
        var shuffled = rows.OrderBy(_ => Random.Shared.Next()).ToList();
        Assert.Equal(Aggregator.Aggregate(rows), Aggregator.Aggregate(shuffled));
    }

    [SharedFact]
    public void Aggregate_Skips_NonFinite_Values_And_Counts_Them()
    {
        var rows = new[] { Row("T", "1", "Image->Last", 0, double.NaN), Row("T", "2", "Image->Last", 0, 3), Row("T", "3", "Image->Last", 1, double.PositiveInfinity) };
        var aggs = Aggregator.Aggregate(rows);
        var a = Assert.Single(aggs);
        Assert.Equal((1, 3.0, 0.0, 3.0, 3.0), (a.N, a.Mean, a.StdError, a.Ci95Low, a.Ci95High));
        Assert.Equal(2, Aggregator.CountNonFinite(rows));
    }

    [SharedFact]
    public void Aggregate_Refuses_Duplicate_Samples_And_Mixed_Windows()
    {
        var dup = Assert.Throws<InputException>(() => Aggregator.Aggregate([Row("T", "7", "Image->Last", 0, 1), Row("T", "7", "Image->Last", 0, 1)]));
        Assert.Contains("T/7", dup.Message);
        var win = Assert.Throws<InputException>(() => Aggregator.Aggregate([Row("T", "1", "Image->Last", 0, 1), Row("T", "2", "Image->Last", 0, 1, window: 5)]));
        Assert.Contains("mixes windows 9 and 5", win.Message);
        // The same sample in another condition, layer, sub-word or task is fine.
        Aggregator.Aggregate([Row("T", "7", "Image->Last", 0, 1), Row("T", "7", "Image->Last", 1, 1), Row("T", "7", "Last->Last", 0, 1),
            Row("T", "7", "Image->Last", 0, 1, subword: "final"), Row("U", "7", "Image->Last", 0, 1)]);
    }

    [SharedFact]
    public void AggregateLens_Summarises_Raw_And_Norm_Per_Kind_And_Layer()
    {
        var rows = new[]
        {
            new LensRow("ChooseAttr", "1", "left", "left", "answer_lower", "left", 2175, 5, 0.2, 0.3),
            new LensRow("ChooseAttr", "2", "left", "left", "answer_lower", "left", 2175, 5, 0.4, 0.5),
            new LensRow("ChooseAttr", "1", "left", "left", "answer_capital", "Left", 19941, 5, 0.1, 0.1),
            new LensRow("QueryAttr", "1", "red", "red", "answer_lower", "red", 2654, 5, 0.6, 0.7),
        };
        var aggs = Aggregator.AggregateLens(rows);
        var lower = Assert.Single(aggs, a => a.Task == "ChooseAttr" && a.TokenKind == "answer_lower");
        Assert.Equal(2, lower.N);
        Assert.Equal(0.3, lower.MeanRaw, 12);
        Assert.Equal(0.4, lower.MeanNorm, 12);
        Assert.Equal(0.1, lower.StdErrorRaw, 12);
        Assert.Equal(0.3 - 12.706204736174705 * 0.1, lower.Ci95LowRaw, 10);
        var all = Assert.Single(aggs, a => a.Task == ResultNames.AllTasks && a.TokenKind == "answer_lower");
        Assert.Equal(3, all.N);
        Assert.Equal(0.4, all.MeanRaw, 12);
        Assert.Equal(["ChooseAttr", "ChooseAttr", "QueryAttr", "All", "All"], aggs.Select(a => a.Task));
        Assert.Equal("answer_lower", aggs[0].TokenKind);
        Assert.Throws<InputException>(() => Aggregator.AggregateLens([rows[0], rows[0]]));
    }
}

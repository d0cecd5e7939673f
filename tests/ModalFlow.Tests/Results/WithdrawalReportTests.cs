using ModalFlow.Results;
using ModalFlow.Tests.Support;
using Xunit;

namespace ModalFlow.Tests.Results;

/// <summary>Withdrawal accuracies, the ≤ 1 point summaries, exports, figures and the report section, on rows built here.</summary>
public sealed class WithdrawalReportTests
{
    private const long Answer = 100, Other = 7;

    /// <summary>A withdrawal or prune row of sample <paramref name="q"/>: right when the new top-1 is the tracked token.</summary>
    private static KnockoutRow Row(string task, int q, string block, int layer, bool right, string subword = "first", long target = Answer) =>
        new(task, $"q{q}", "img", "red", "red", "What?", "withdrawal", block, 0, layer, "", subword, target, 0.9, right ? 0.8 : 0.1,
            Math.Log(right ? 0.8 : 0.1), ((right ? 0.8 : 0.1) - 0.9) / 0.9 * 100, right ? target : Other);

    /// <summary>Withdrawal rows for K = 0 … layers where sample q survives at K when <paramref name="survives"/>(q, K).</summary>
    private static List<KnockoutRow> Withdrawal(string task, int samples, int layers, Func<int, int, bool> survives) =>
        [.. from q in Enumerable.Range(0, samples) from k in Enumerable.Range(0, layers + 1)
            select Row(task, q, WithdrawalCondition.AllImageTokens, k, k == layers || survives(q, k))];

    [SharedFact]
    public void Accuracy_Is_The_Share_Of_Surviving_Answers_And_The_Earliest_K_Holds_For_Every_Later_K()
    {
        // ChooseAttr: K = 0 keeps 4 of 10, K = 1 keeps 9 of 10, K ≥ 2 all. QueryAttr: K = 0 all, K = 1 loses one, K ≥ 2 all.
        var rows = Withdrawal("ChooseAttr", 10, 3, (q, k) => k >= 2 || (k == 1 ? q < 9 : q < 4))
            .Concat(Withdrawal("QueryAttr", 10, 3, (q, k) => k != 1 || q > 0)).ToList();
        var acc = WithdrawalReport.Aggregate(rows);
        foreach (var task in new[] { "ChooseAttr", "QueryAttr" })
            for (int k = 0; k <= 3; k++)
            {
                var cell = acc.Single(a => a.Task == task && a.Layer == k && a.Subword == "first");
                var own = rows.Where(r => r.Task == task && r.Layer == k).ToList();
                double expected = own.Count(r => r.Top1New == r.TargetTokenId) / (double)own.Count;
                Assert.Equal(expected, cell.Accuracy, 12);
                Assert.Equal(1.0, cell.CleanAccuracy);
                Assert.Equal(100 * (1 - expected), cell.LossPoints, 9);
                Assert.InRange(cell.Accuracy, cell.AccuracyLow, cell.AccuracyHigh);
                Assert.Equal(10, cell.N);
            }
        var all = acc.Where(a => a.Task == ResultNames.AllTasks).ToList();
        Assert.Equal(4, all.Count);
        Assert.Equal((4 + 10) / 20.0, all.Single(a => a.Layer == 0).Accuracy, 12);

        var d = WithdrawalReport.Droppable(acc);
        Assert.Equal(2, d.Single(x => x.Task == "ChooseAttr").Layer);
        Assert.Equal(2, d.Single(x => x.Task == "QueryAttr").Layer);            // K = 0 alone is not enough: K = 1 loses a point
        Assert.Equal(2, d.Single(x => x.Task == "QueryAttr").LayerByMean);
        Assert.All(d, x => Assert.Equal(1.0, x.Dropped));
        Assert.True(acc.Single(a => a.Task == "QueryAttr" && a.Layer == 1).LossHigh > WithdrawalReport.TolerancePoints);
        Assert.Equal([0.0, 0.0], [acc.Single(a => a.Task == "ChooseAttr" && a.Layer == 2).LossLow, acc.Single(a => a.Task == "ChooseAttr" && a.Layer == 2).LossHigh]);
    }

    [SharedFact]
    public void Gold_Accuracy_Counts_The_Gold_Token_And_Clean_Accuracy_Comes_From_The_Clean_First_Token()
    {
        // Four samples; the clean first token is the gold one for q0 and q1 only. With every image token withdrawn at K = 0
        // only q0 still predicts the gold token.
        const long gold = 555;
        var rows = new List<KnockoutRow>();
        for (int q = 0; q < 4; q++)
        {
            long cleanFirst = q < 2 ? gold : Answer;
            rows.Add(Row("LogicalObj", q, WithdrawalCondition.AllImageTokens, 0, q == 0, target: cleanFirst));
            rows.Add(Row("LogicalObj", q, WithdrawalCondition.AllImageTokens, 1, true, target: cleanFirst));
            rows.Add(Row("LogicalObj", q, WithdrawalCondition.AllImageTokens, 0, q == 0, WithdrawalCondition.GoldSubword, gold));
            rows.Add(Row("LogicalObj", q, WithdrawalCondition.AllImageTokens, 1, q < 2, WithdrawalCondition.GoldSubword, gold));
        }
        var acc = WithdrawalReport.Aggregate(rows).Where(a => a.Subword == WithdrawalCondition.GoldSubword).ToList();
        Assert.All(acc, a => Assert.Equal(0.5, a.CleanAccuracy));
        Assert.Equal(0.25, acc.Single(a => a.Layer == 0).Accuracy);
        Assert.Equal(25, acc.Single(a => a.Layer == 0).LossPoints, 9);
        Assert.Equal(0.5, acc.Single(a => a.Layer == 1).Accuracy);
        Assert.Equal(0, acc.Single(a => a.Layer == 1).LossPoints, 9);
    }

    [SharedFact]
    public void Pruning_Droppable_Is_The_Largest_Dropped_Fraction_Within_One_Point_Per_Rule_And_K()
    {
        // 20 samples at K = 2: FastV keeps every answer down to 25% kept and loses 5 at 10%; random loses 2 already at 50%.
        var rows = new List<KnockoutRow>();
        foreach (var keep in new[] { 0.75, 0.5, 0.25, 0.1 })
            for (int q = 0; q < 20; q++)
            {
                rows.Add(Row("ChooseRel", q, new WithdrawalCondition(WithdrawalRule.FastV, keep).BlockDesc, 2, keep > 0.1 || q >= 5));
                rows.Add(Row("ChooseRel", q, new WithdrawalCondition(WithdrawalRule.Random, keep).BlockDesc, 2, keep > 0.5 || q >= 2));
            }
        var acc = WithdrawalReport.Aggregate(rows);
        Assert.Equal(8, acc.Count);
        var d = WithdrawalReport.Droppable(acc);
        Assert.Equal(0.75, d.Single(x => x.Rule == WithdrawalRule.FastV).Dropped, 12);
        Assert.Equal(0.25, d.Single(x => x.Rule == WithdrawalRule.FastV).At!.Keep);
        Assert.Equal(0.25, d.Single(x => x.Rule == WithdrawalRule.Random).Dropped, 12);
        Assert.Equal(0.75, acc.Single(a => a.Rule == WithdrawalRule.FastV && a.Keep == 0.1).Accuracy, 12);
    }

    [SharedFact]
    public void Pipeline_Writes_The_Tables_Figures_And_Report_Section()
    {
        using var tmp = new TempDir();
        var rows = Withdrawal("ChooseAttr", 6, 4, (q, k) => k >= 2 || q % 2 == 0);
        foreach (var keep in new[] { 0.5, 0.25 })
            foreach (var rule in new[] { WithdrawalRule.FastV, WithdrawalRule.Random })
                for (int q = 0; q < 6; q++)
                    foreach (var k in new[] { 1, 2 })
                        rows.Add(Row("ChooseAttr", q, new WithdrawalCondition(rule, keep).BlockDesc, k, rule == WithdrawalRule.FastV || q > 0) with { Experiment = "prune" });
        var output = ResultsPipeline.Run(tmp.Path, new RunResults(rows, [], [], []));
        Assert.Equal(8, output.Withdrawal.Accuracies.Count(a => a.Rule != WithdrawalRule.All));     // 2 rules × 2 keeps × 2 K
        Assert.Equal(5, output.Withdrawal.Accuracies.Count(a => a.Rule == WithdrawalRule.All));     // K = 0 … 4
        foreach (var stem in new[] { WithdrawalReport.AccuracyFileStem, WithdrawalReport.DroppableFileStem })
            foreach (var ext in new[] { ".csv", ".parquet" })
                Assert.True(File.Exists(Path.Combine(tmp.Path, stem + ext)), stem + ext);
        var csv = File.ReadAllLines(Path.Combine(tmp.Path, WithdrawalReport.AccuracyFileStem + ".csv"));
        Assert.Equal(output.Withdrawal.Accuracies.Count + 1, csv.Length);
        foreach (var name in new[] { "withdrawal_accuracy_ChooseAttr_first", "withdrawal_accuracy_panel_first", "prune_grid_ChooseAttr_first",
                     "prune_grid_panel_first", "prune_ranked_vs_random_ChooseAttr_first", "prune_ranked_vs_random_panel_first" })
        {
            var png = Path.Combine(tmp.Path, ResultsPipeline.FiguresFolder, name + ".png");
            using var bmp = SkiaSharp.SKBitmap.Decode(png);
            Assert.True(bmp is { Width: > 100, Height: > 100 }, png);
            Assert.Contains("<svg", File.ReadAllText(Path.ChangeExtension(png, ".svg")));
        }
        var report = File.ReadAllText(output.Report);
        Assert.Contains("## Image-token withdrawal and pruning", report);
        Assert.Contains("| ChooseAttr | 6 | 100.0 | 2 |", report);
        Assert.Contains("### Pruning: fraction of image tokens that can be dropped from layer K on at ≤ 1 point loss", report);
        Assert.Contains("![withdrawal_accuracy_panel_first](figures/withdrawal_accuracy_panel_first.png)", report);
    }
}

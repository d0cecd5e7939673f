using System.Globalization;
using System.Text;

namespace ModalFlow.Results;

/// <summary>What the withdrawal step of <see cref="ResultsPipeline"/> produced (empty when the run has no withdrawal rows).</summary>
public sealed record WithdrawalOutput(
    IReadOnlyList<WithdrawalAccuracy> Accuracies,
    IReadOnlyList<WithdrawalDroppable> Droppable,
    IReadOnlyList<string> Tables,
    IReadOnlyList<FigureFile> Figures,
    string Markdown)
{
    public static WithdrawalOutput Empty { get; } = new([], [], [], [], "");
}

/// <summary>
/// Withdrawal and pruning results (rows whose condition is a <see cref="WithdrawalCondition"/>): accuracy per cell with
/// bootstrap intervals (<see cref="WithdrawalAccuracy"/>), what can be dropped at ≤ 1 point loss
/// (<see cref="WithdrawalDroppable"/>), the exports <c>withdrawal_accuracy.csv/.parquet</c> and
/// <c>withdrawal_droppable.csv/.parquet</c>, the figures (<see cref="WithdrawalFigures"/>) and the report section.
/// </summary>
public static class WithdrawalReport
{
    /// <summary>The accuracy loss (percentage points) a withdrawal may cost and still count as "can be withdrawn".</summary>
    public const double TolerancePoints = 1.0;

    public const int Resamples = 1000;
    public const string AccuracyFileStem = "withdrawal_accuracy";
    public const string DroppableFileStem = "withdrawal_droppable";

    /// <summary>Aggregates, exports, figures (unless <paramref name="figures"/> is false) and the report section.</summary>
    public static WithdrawalOutput Write(string dir, RunResults run, FigureOptions figureOptions, bool figures = true)
    {
        var accuracies = Aggregate(run.Knockout);
        if (accuracies.Count == 0) return WithdrawalOutput.Empty;
        var droppable = Droppable(accuracies);
        var tables = new List<string>();
        var a = Path.Combine(dir, AccuracyFileStem);
        Table.WriteCsv(a + ".csv", AccuracyColumns, accuracies);
        Table.WriteParquet(a + ".parquet", AccuracyColumns, accuracies);
        var d = Path.Combine(dir, DroppableFileStem);
        Table.WriteCsv(d + ".csv", DroppableColumns, droppable);
        Table.WriteParquet(d + ".parquet", DroppableColumns, droppable);
        tables.AddRange([a + ".csv", a + ".parquet", d + ".csv", d + ".parquet"]);
        var files = figures ? WithdrawalFigures.WriteAll(Path.Combine(dir, ResultsPipeline.FiguresFolder), accuracies, figureOptions) : [];
        return new WithdrawalOutput(accuracies, droppable, tables, files, Markdown(accuracies, droppable, files, dir));
    }

    /// <summary>
    /// Accuracy per task × tracked token × condition × K, with the pooled task "All" when there are two or more tasks.
    /// Order: task (paper order), tracked token, rule (withdrawal, FastV, random), keep (descending), K.
    /// </summary>
    public static IReadOnlyList<WithdrawalAccuracy> Aggregate(IEnumerable<KnockoutRow> rows)
    {
        var list = rows.Where(r => WithdrawalCondition.Is(r.BlockDesc)).ToList();
        // Clean correctness of a "gold" row: the clean first token (the first sub-word rows' target) is the gold token.
        var cleanFirst = list.Where(r => r.Subword == ResultNames.FirstSubword).GroupBy(r => (r.Task, r.QuestionId))
            .ToDictionary(g => g.Key, g => g.First().TargetTokenId);
        bool pooled = list.Select(r => r.Task).Distinct().Count() >= 2;
        var groups = list.GroupBy(r => (r.Task, r.Subword, r.BlockDesc, r.Layer)).ToList();
        if (pooled) groups.AddRange(list.GroupBy(r => (Task: ResultNames.AllTasks, r.Subword, r.BlockDesc, r.Layer)));

        var result = new List<WithdrawalAccuracy>();
        foreach (var g in groups)
        {
            var condition = WithdrawalCondition.TryParse(g.Key.BlockDesc)!;
            var samples = g.ToList();
            var right = samples.Select(r => r.Top1New == r.TargetTokenId ? 1.0 : 0.0).ToList();
            var clean = samples.Select(r => CleanRight(r, cleanFirst)).ToList();
            var loss = samples.Select((_, i) => 100 * (clean[i] - right[i])).ToList();
            var key = $"withdrawal\u0001{g.Key.Task}\u0001{g.Key.Subword}\u0001{g.Key.BlockDesc}\u0001{g.Key.Layer}";
            var (accLow, accHigh) = Bootstrap.MeanInterval(right.Order().ToList(), Resamples, Bootstrap.StreamKey(key));
            double cleanAcc = clean.Average(), meanLoss = loss.Average();
            var (lossLow, lossHigh) = double.IsFinite(meanLoss) ? Bootstrap.MeanInterval(loss.Order().ToList(), Resamples, Bootstrap.StreamKey(key + "\u0001loss")) : (double.NaN, double.NaN);
            var finite = samples.Select(r => r.RelativeDiff).Where(double.IsFinite).ToList();
            result.Add(new WithdrawalAccuracy(g.Key.Task, g.Key.Subword, g.Key.BlockDesc, condition.Rule, condition.Keep, g.Key.Layer, samples.Count,
                right.Average(), accLow, accHigh, cleanAcc, meanLoss, lossLow, lossHigh, finite.Count > 0 ? finite.Average() : double.NaN));
        }
        result.Sort(Compare);
        return result;
    }

    /// <summary>The ≤ 1 point summary of every task and tracked token (see <see cref="WithdrawalDroppable"/>).</summary>
    public static IReadOnlyList<WithdrawalDroppable> Droppable(IReadOnlyList<WithdrawalAccuracy> accuracies)
    {
        var result = new List<WithdrawalDroppable>();
        foreach (var g in accuracies.GroupBy(a => (a.Task, a.Subword, a.Rule)))
        {
            if (g.Key.Rule == WithdrawalRule.All)
            {
                var byLayer = g.OrderBy(a => a.Layer).ToList();
                int Earliest(Func<WithdrawalAccuracy, bool> ok)
                {
                    int k = byLayer.Count;
                    while (k > 0 && ok(byLayer[k - 1])) k--;
                    return k < byLayer.Count ? byLayer[k].Layer : byLayer[^1].Layer + 1;
                }
                int layer = Earliest(a => a.WithinOnePoint);
                var at = byLayer.FirstOrDefault(a => a.Layer == layer);
                result.Add(new WithdrawalDroppable(g.Key.Task, g.Key.Subword, g.Key.Rule, layer, 1, at)
                {
                    LayerByMean = Earliest(a => a.LossPoints <= TolerancePoints + 1e-9),
                });
                continue;
            }
            foreach (var k in g.GroupBy(a => a.Layer).OrderBy(k => k.Key))
            {
                var best = k.Where(a => a.WithinOnePoint).OrderByDescending(a => a.Dropped).FirstOrDefault();
                result.Add(new WithdrawalDroppable(g.Key.Task, g.Key.Subword, g.Key.Rule, k.Key, best?.Dropped ?? 0, best));
            }
        }
        return result;
    }

    private static double CleanRight(KnockoutRow r, Dictionary<(string, string), long> cleanFirst)
    {
        if (r.Subword != WithdrawalCondition.GoldSubword) return 1;
        return cleanFirst.TryGetValue((r.Task, r.QuestionId), out var first) ? (first == r.TargetTokenId ? 1 : 0) : double.NaN;
    }

    private static int Compare(WithdrawalAccuracy a, WithdrawalAccuracy b)
    {
        int c = ResultNames.CompareTasks(a.Task, b.Task);
        if (c == 0) c = ResultNames.CompareSubwords(a.Subword, b.Subword);
        if (c == 0) c = a.Rule.CompareTo(b.Rule);
        if (c == 0) c = b.Keep.CompareTo(a.Keep);
        return c != 0 ? c : a.Layer.CompareTo(b.Layer);
    }

    private static string RuleName(WithdrawalRule rule) => rule switch
    {
        WithdrawalRule.All => "all",
        WithdrawalRule.FastV => "fastv",
        _ => "random",
    };

    private static readonly IReadOnlyList<TableColumn<WithdrawalAccuracy>> AccuracyColumns =
    [
        TableColumn<WithdrawalAccuracy>.Str("task", a => a.Task),
        TableColumn<WithdrawalAccuracy>.Str("subword", a => a.Subword),
        TableColumn<WithdrawalAccuracy>.Str("block_desc", a => a.BlockDesc),
        TableColumn<WithdrawalAccuracy>.Str("rule", a => RuleName(a.Rule)),
        TableColumn<WithdrawalAccuracy>.F64("keep", a => a.Keep),
        TableColumn<WithdrawalAccuracy>.F64("dropped", a => a.Dropped),
        TableColumn<WithdrawalAccuracy>.I32("layer", a => a.Layer),
        TableColumn<WithdrawalAccuracy>.I32("n", a => a.N),
        TableColumn<WithdrawalAccuracy>.F64("accuracy", a => a.Accuracy),
        TableColumn<WithdrawalAccuracy>.F64("accuracy_ci95_low", a => a.AccuracyLow),
        TableColumn<WithdrawalAccuracy>.F64("accuracy_ci95_high", a => a.AccuracyHigh),
        TableColumn<WithdrawalAccuracy>.F64("clean_accuracy", a => a.CleanAccuracy),
        TableColumn<WithdrawalAccuracy>.F64("loss_points", a => a.LossPoints),
        TableColumn<WithdrawalAccuracy>.F64("loss_ci95_low", a => a.LossLow),
        TableColumn<WithdrawalAccuracy>.F64("loss_ci95_high", a => a.LossHigh),
        TableColumn<WithdrawalAccuracy>.F64("mean_relative_change", a => a.MeanRelativeChange),
        TableColumn<WithdrawalAccuracy>.Str("ci_method", _ => "bootstrap"),
    ];

    private static readonly IReadOnlyList<TableColumn<WithdrawalDroppable>> DroppableColumns =
    [
        TableColumn<WithdrawalDroppable>.Str("task", d => d.Task),
        TableColumn<WithdrawalDroppable>.Str("subword", d => d.Subword),
        TableColumn<WithdrawalDroppable>.Str("rule", d => RuleName(d.Rule)),
        TableColumn<WithdrawalDroppable>.I32("layer", d => d.Layer),
        TableColumn<WithdrawalDroppable>.F64("dropped", d => d.Dropped),
        TableColumn<WithdrawalDroppable>.F64("keep", d => d.At?.Keep ?? double.NaN),
        TableColumn<WithdrawalDroppable>.I32("n", d => d.At?.N ?? 0),
        TableColumn<WithdrawalDroppable>.F64("accuracy", d => d.At?.Accuracy ?? double.NaN),
        TableColumn<WithdrawalDroppable>.F64("loss_points", d => d.At?.LossPoints ?? double.NaN),
        TableColumn<WithdrawalDroppable>.F64("loss_ci95_high", d => d.At?.LossHigh ?? double.NaN),
        TableColumn<WithdrawalDroppable>.I32("layer_by_mean", d => d.LayerByMean ?? -1),
    ];

    // ---- the report section ----

    private static string Pct(double fraction) => double.IsFinite(fraction) ? (100 * fraction).ToString("F1", CultureInfo.InvariantCulture) : "—";
    private static string Pts(double points) => double.IsFinite(points) ? points.ToString("F1", CultureInfo.InvariantCulture) : "—";

    private static string TokenWords(string subword) => subword switch
    {
        WithdrawalCondition.GoldSubword => "accuracy against the gold answer's first token",
        ResultNames.FinalSubword => "the clean answer's final sub-word survives",
        _ => "the clean answer's first token survives",
    };

    /// <summary>The report.md section: the ≤ 1 point tables, the accuracy tables and the figures.</summary>
    public static string Markdown(IReadOnlyList<WithdrawalAccuracy> accuracies, IReadOnlyList<WithdrawalDroppable> droppable, IReadOnlyList<FigureFile> figures, string reportDir)
    {
        if (accuracies.Count == 0) return "";
        var sb = new StringBuilder();
        sb.Append("## Image-token withdrawal and pruning\n\n");
        sb.Append("Each cell withdraws image tokens from layer K on (layers K … L−1 lose them; K = L is the clean run) as an exact knockout: ")
          .Append("the withdrawn tokens are blocked from every later position, which for the first answer token equals removing them (VTW, FastV). ")
          .Append("Accuracy: the share of samples whose greedy first token is still the tracked one. ")
          .Append(CultureInfo.InvariantCulture, $"\"Can be dropped\" means the accuracy loss against the clean run stays within {TolerancePoints:0.#} point: ")
          .Append("the upper end of its 95% bootstrap interval (paired per sample, 1,000 resamples) is at most 1 point.\n\n");
        var taskOrder = Comparer<string>.Create(ResultNames.CompareTasks);
        foreach (var token in accuracies.GroupBy(a => a.Subword).OrderBy(g => g.Key, Comparer<string>.Create(ResultNames.CompareSubwords)))
        {
            var all = token.Where(a => a.Rule == WithdrawalRule.All).ToList();
            var prune = token.Where(a => a.Rule != WithdrawalRule.All).ToList();
            if (all.Count > 0)
            {
                sb.Append(CultureInfo.InvariantCulture, $"### Withdrawal: from which layer on can every image token go? ({TokenWords(token.Key)})\n\n");
                sb.Append("| task | N | clean accuracy % | earliest K (loss CI ≤ 1 pt) | accuracy % there [95% CI] | earliest K (mean loss ≤ 1 pt) |\n")
                  .Append("| --- | ---: | ---: | ---: | --- | ---: |\n");
                foreach (var d in droppable.Where(d => d.Subword == token.Key && d.Rule == WithdrawalRule.All).OrderBy(d => d.Task, taskOrder))
                {
                    var clean = all.First(a => a.Task == d.Task);
                    var at = d.At is { } x ? $"{Pct(x.Accuracy)} [{Pct(x.AccuracyLow)}, {Pct(x.AccuracyHigh)}]" : "—";
                    sb.Append(CultureInfo.InvariantCulture, $"| {d.Task} | {clean.N} | {Pct(clean.CleanAccuracy)} | {d.Layer} | {at} | {d.LayerByMean} |\n");
                }
                int lastLayer = all.Max(a => a.Layer);
                sb.Append(CultureInfo.InvariantCulture, $"\n(K = {lastLayer} = L: no layer allows it.) Accuracy (%) with every image token withdrawn from layer K on:\n\n");
                var layers = all.Select(a => a.Layer).Distinct().Order().ToList();
                sb.Append("| task | ").Append(string.Join(" | ", layers.Select(l => $"K={l}"))).Append(" |\n")
                  .Append("| --- |").Append(string.Concat(layers.Select(_ => " ---: |"))).Append('\n');
                foreach (var task in all.Select(a => a.Task).Distinct().Order(taskOrder))
                    sb.Append(CultureInfo.InvariantCulture, $"| {task} | ")
                      .Append(string.Join(" | ", layers.Select(l => all.FirstOrDefault(a => a.Task == task && a.Layer == l) is { } a ? Pct(a.Accuracy) : "")))
                      .Append(" |\n");
                sb.Append('\n');
            }
            if (prune.Count > 0)
            {
                sb.Append(CultureInfo.InvariantCulture, $"### Pruning: fraction of image tokens that can be dropped from layer K on at ≤ 1 point loss ({TokenWords(token.Key)})\n\n");
                sb.Append("FastV keeps the image tokens that receive the most attention from the last position at layer K−1 (mean over heads); ")
                  .Append("random keeps as many, drawn per sample (seeded). The fraction is the largest of the grid's that stays within 1 point (0% when none does).\n\n");
                var layers = prune.Select(a => a.Layer).Distinct().Order().ToList();
                sb.Append("| task | N | ").Append(string.Join(" | ", layers.Select(l => $"K={l}: FastV | K={l}: random"))).Append(" |\n")
                  .Append("| --- | ---: |").Append(string.Concat(layers.Select(_ => " ---: | ---: |"))).Append('\n');
                foreach (var task in prune.Select(a => a.Task).Distinct().Order(taskOrder))
                {
                    string Cell(WithdrawalRule rule, int k) => droppable.FirstOrDefault(d => d.Subword == token.Key && d.Task == task && d.Rule == rule && d.Layer == k) is { } d
                        ? Pct(d.Dropped) + "%" : "";
                    sb.Append(CultureInfo.InvariantCulture, $"| {task} | {prune.Where(a => a.Task == task).Max(a => a.N)} | ")
                      .Append(string.Join(" | ", layers.Select(k => $"{Cell(WithdrawalRule.FastV, k)} | {Cell(WithdrawalRule.Random, k)}"))).Append(" |\n");
                }
                sb.Append("\nAccuracy (%), FastV-ranked / random, per kept fraction R and layer K (loss in points in brackets, FastV / random):\n\n");
                var keeps = prune.Select(a => a.Keep).Distinct().OrderDescending().ToList();
                sb.Append("| task | R | ").Append(string.Join(" | ", layers.Select(l => $"K={l}"))).Append(" |\n")
                  .Append("| --- | ---: |").Append(string.Concat(layers.Select(_ => " --- |"))).Append('\n');
                foreach (var task in prune.Select(a => a.Task).Distinct().Order(taskOrder))
                    foreach (var r in keeps)
                    {
                        WithdrawalAccuracy? Find(WithdrawalRule rule, int k) => prune.FirstOrDefault(a => a.Task == task && a.Rule == rule && a.Keep == r && a.Layer == k);
                        sb.Append(CultureInfo.InvariantCulture, $"| {task} | {WithdrawalCondition.Percent(r)}% | ")
                          .Append(string.Join(" | ", layers.Select(k => Find(WithdrawalRule.FastV, k) is { } f && Find(WithdrawalRule.Random, k) is { } q
                              ? $"{Pct(f.Accuracy)} / {Pct(q.Accuracy)} ({Pts(f.LossPoints)} / {Pts(q.LossPoints)})" : "")))
                          .Append(" |\n");
                    }
                sb.Append('\n');
            }
        }
        if (figures.Count > 0)
        {
            sb.Append("Figures: ");
            string Link(FigureFile f) => $"[{Path.GetFileNameWithoutExtension(f.Path)}]({string.Join('/', Path.GetRelativePath(reportDir, f.Path).Replace('\\', '/').Split('/').Select(Uri.EscapeDataString))})";
            sb.Append(string.Join(" · ", figures.Where(f => f.Path.EndsWith(".png", StringComparison.Ordinal)).Select(Link))).Append("\n\n");
            foreach (var f in figures.Where(f => f.Kind.EndsWith("panel", StringComparison.Ordinal) && f.Path.EndsWith(".png", StringComparison.Ordinal)))
                sb.Append('!').Append(Link(f)).Append("\n\n");
        }
        return sb.ToString();
    }
}

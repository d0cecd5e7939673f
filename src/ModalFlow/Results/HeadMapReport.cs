using System.Globalization;
using System.Text;

namespace ModalFlow.Results;

/// <summary>
/// The report's section on per-head maps (issue 13): per condition and task, the all-heads knockout's largest drop, the
/// single head whose knockout alone hurts most, and, at the all-heads minimum's layer, the head that alone (every other
/// head knocked out) keeps the answer best; then the heat maps.
/// </summary>
public static class HeadMapReport
{
    public static void Append(StringBuilder sb, IReadOnlyList<LayerAggregate> aggregates, IReadOnlyList<FigureFile> figures, string reportDir)
    {
        var perHead = aggregates.Where(a => a.Heads.Length > 0).ToList();
        if (perHead.Count == 0) return;
        var taskOrder = Comparer<string>.Create(ResultNames.CompareTasks);
        foreach (var group in perHead.GroupBy(a => (a.Experiment, a.BlockDesc, a.Subword)))
        {
            var windows = group.Select(a => a.Window).Where(w => w > 0).Distinct().ToList();
            sb.Append(CultureInfo.InvariantCulture, $"## Per-head maps: {Cell(ResultNames.ConditionLabel(group.Key.BlockDesc))} ")
              .Append(CultureInfo.InvariantCulture, $"({(windows.Count == 1 ? $"window {windows[0]}, " : "")}{group.Key.Subword} sub-word)\n\n");
            sb.Append("Mean relative change of p(answer) (%) when one query head at a time is knocked out (which heads are necessary) and when every ")
              .Append("head but one is (which single head suffices); in grouped-query models the unit is a query head. ")
              .Append("\"All heads\" is the ordinary knockout at the same window.\n\n");
            sb.Append("| task | N | all heads: largest drop (layer) | one head: largest drop (layer, head) | at that all-heads layer, every head but one: best head spared |\n")
              .Append("| --- | ---: | --- | --- | --- |\n");
            foreach (var task in group.Select(a => a.Task).Distinct().Order(taskOrder))
            {
                var rows = group.Where(a => a.Task == task).ToList();
                var all = aggregates.Where(a => a.Heads.Length == 0 && a.Task == task && a.Experiment == group.Key.Experiment
                    && a.BlockDesc == group.Key.BlockDesc && a.Subword == group.Key.Subword).ToList();
                var alone = rows.Where(a => !HeadSelection.Parse(a.Heads).Complement).ToList();
                var allBut = rows.Where(a => HeadSelection.Parse(a.Heads).Complement).ToList();
                var allMin = all.OrderBy(a => a.Mean).ThenBy(a => a.Layer).FirstOrDefault();
                var aloneMin = alone.OrderBy(a => a.Mean).ThenBy(a => a.Layer).ThenBy(a => a.Heads, Comparer<string>.Create(HeadSelection.Compare)).FirstOrDefault();
                var spared = allMin is null ? null : allBut.Where(a => a.Layer == allMin.Layer).OrderByDescending(a => a.Mean).FirstOrDefault();
                int n = rows.Max(a => a.N);
                sb.Append(CultureInfo.InvariantCulture, $"| {Cell(task)} | {n} | ")
                  .Append(allMin is null ? "—" : string.Create(CultureInfo.InvariantCulture, $"{allMin.Mean:F2} ({allMin.Layer})")).Append(" | ")
                  .Append(aloneMin is null ? "—" : string.Create(CultureInfo.InvariantCulture, $"{aloneMin.Mean:F2} ({aloneMin.Layer}, {HeadSelection.Parse(aloneMin.Heads).Head})")).Append(" | ")
                  .Append(spared is null ? "—" : string.Create(CultureInfo.InvariantCulture, $"head {HeadSelection.Parse(spared.Heads).Head}: {spared.Mean:F2} (layer {spared.Layer})"))
                  .Append(" |\n");
            }
            sb.Append('\n');
            var maps = figures.Where(f => HeadMapFigures.IsHeadMap(f) && f.Experiment == group.Key.Experiment && f.Block == group.Key.BlockDesc
                && f.Variant == group.Key.Subword && f.Path.EndsWith(".png", StringComparison.OrdinalIgnoreCase))
                .OrderBy(f => f.Task, taskOrder).ThenBy(f => f.Kind == HeadMapFigures.AloneKind ? 0 : 1).ToList();
            foreach (var f in maps)
            {
                var alt = $"{f.Task}: {(f.Kind == HeadMapFigures.AloneKind ? "one head knocked out" : "every head but one knocked out")}";
                var rel = Path.GetRelativePath(reportDir, f.Path).Replace('\\', '/');
                sb.Append(CultureInfo.InvariantCulture, $"![{Cell(alt)}]({string.Join('/', rel.Split('/').Select(Uri.EscapeDataString))})\n");
            }
            if (maps.Count > 0) sb.Append('\n');
        }
    }

    private static string Cell(string text) => text.Replace("|", "\\|", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal);
}

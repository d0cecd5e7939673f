using System.Globalization;
using System.Text;

namespace ModalFlow.Results;

/// <summary>Where a condition hurts most: the window-centre layer of the lowest mean relative change.</summary>
public sealed record KnockoutMinimum(string Task, string Experiment, string BlockDesc, string Subword, LayerAggregate At);

/// <summary>
/// Where the capitalised answer overtakes the lowercase one in the logit lens: the first layer from which the mean
/// probability of <c>answer_capital</c> stays above that of <c>answer_lower</c> through the last layer.
/// <see cref="Layer"/> is null when there is no such crossing; <see cref="Note"/> then says why.
/// </summary>
public sealed record LensCrossing(string Task, LensProbability Variant, int? Layer, double? LowerAtLayer, double? CapitalAtLayer, string Note);

/// <summary>
/// A short, data-driven Markdown summary of a run (report.md): sample counts (used, excluded by reason, malformed
/// input rows, non-finite values), per task and condition the layer of the largest mean drop, the logit-lens crossing
/// layer, and links to the figures. No timestamps or machine details, so the same inputs give the same file.
/// </summary>
public static class ReportWriter
{
    public const string FileName = "report.md";
    public const string LowerKind = "answer_lower";
    public const string CapitalKind = "answer_capital";

    /// <summary>Writes the report atomically to <paramref name="path"/>; figure links are made relative to its folder.</summary>
    public static string Write(string path, RunResults run, IReadOnlyList<LayerAggregate> aggregates, IReadOnlyList<LensAggregate> lensAggregates,
        IReadOnlyList<FigureFile> figures, FigureFont? font = null)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path)) ?? ".";
        AtomicFile.WriteAllText(path, Build(run, aggregates, lensAggregates, figures, dir, font));
        return path;
    }

    /// <summary>For each (task, experiment, condition, sub-word): the aggregate with the lowest mean (lowest layer on ties).</summary>
    public static IReadOnlyList<KnockoutMinimum> Minima(IEnumerable<LayerAggregate> aggregates) =>
        aggregates.GroupBy(a => (a.Task, a.Experiment, a.BlockDesc, a.Subword))
            .Select(g => new KnockoutMinimum(g.Key.Task, g.Key.Experiment, g.Key.BlockDesc, g.Key.Subword,
                g.OrderBy(a => a.Mean).ThenBy(a => a.Layer).First()))
            .OrderBy(m => m.At, Comparer<LayerAggregate>.Create(Aggregator.CompareAggregates))
            .ToList();

    /// <summary>The lens crossing of one task (see <see cref="LensCrossing"/>).</summary>
    public static LensCrossing Crossing(IEnumerable<LensAggregate> aggregates, string task, LensProbability variant)
    {
        var rows = aggregates.Where(a => a.Task == task).ToList();
        var lower = rows.Where(a => a.TokenKind == LowerKind).ToDictionary(a => a.Layer);
        var capital = rows.Where(a => a.TokenKind == CapitalKind).ToDictionary(a => a.Layer);
        var layers = lower.Keys.Intersect(capital.Keys).Order().ToArray();
        if (layers.Length == 0) return new LensCrossing(task, variant, null, null, null, $"no layers with both {LowerKind} and {CapitalKind}");
        double P(LensAggregate a) => variant == LensProbability.Raw ? a.MeanRaw : a.MeanNorm;
        int k = layers.Length;
        while (k > 0 && P(capital[layers[k - 1]]) > P(lower[layers[k - 1]])) k--;
        if (k == layers.Length) return new LensCrossing(task, variant, null, null, null, "does not overtake (lowercase ahead at the last layer)");
        if (k == 0) return new LensCrossing(task, variant, null, null, null, "capitalised ahead at every layer");
        int layer = layers[k];
        return new LensCrossing(task, variant, layer, P(lower[layer]), P(capital[layer]), "");
    }

    /// <summary>The report's Markdown text.</summary>
    public static string Build(RunResults run, IReadOnlyList<LayerAggregate> aggregates, IReadOnlyList<LensAggregate> lensAggregates,
        IReadOnlyList<FigureFile> figures, string reportDir, FigureFont? font = null)
    {
        var sb = new StringBuilder();
        sb.Append("# ModalFlow results\n\n");
        Samples(sb, run);
        Knockout(sb, aggregates);
        Lens(sb, lensAggregates);
        Figures(sb, figures, reportDir, font);
        return sb.ToString();
    }

    private static void Samples(StringBuilder sb, RunResults run)
    {
        var taskOrder = Comparer<string>.Create(ResultNames.CompareTasks);
        var used = run.Knockout.Select(r => (r.Task, r.QuestionId)).Concat(run.Lens.Select(r => (r.Task, r.QuestionId))).Distinct().ToList();
        var usedByTask = used.GroupBy(u => u.Task).ToDictionary(g => g.Key, g => g.Count());
        var excludedByTask = run.Excluded.GroupBy(e => e.Task).ToDictionary(g => g.Key, g => g.Select(e => e.QuestionId).Distinct().Count());
        var tasks = usedByTask.Keys.Union(excludedByTask.Keys).Order(taskOrder).ToList();

        sb.Append("## Samples\n\n");
        if (tasks.Count == 0)
        {
            sb.Append("No samples.\n\n");
        }
        else
        {
            sb.Append("| task | used | excluded |\n| --- | ---: | ---: |\n");
            foreach (var t in tasks)
                sb.Append(CultureInfo.InvariantCulture, $"| {Cell(t)} | {usedByTask.GetValueOrDefault(t)} | {excludedByTask.GetValueOrDefault(t)} |\n");
            if (tasks.Count > 1)
                sb.Append(CultureInfo.InvariantCulture, $"| **total** | **{used.Count}** | **{excludedByTask.Values.Sum()}** |\n");
            sb.Append('\n');
        }
        if (run.Excluded.Count > 0)
        {
            sb.Append("Excluded by reason:\n\n| reason | samples |\n| --- | ---: |\n");
            foreach (var g in run.Excluded.GroupBy(e => e.Reason).OrderByDescending(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal))
                sb.Append(CultureInfo.InvariantCulture, $"| {Cell(g.Key)} | {g.Count()} |\n");
            sb.Append('\n');
        }
        sb.Append(CultureInfo.InvariantCulture, $"Malformed input rows: {run.Malformed.Count}{(run.Malformed.Count > 0 ? $" (all in {Exporter.MalformedFileName})" : "")}.\n");
        foreach (var m in run.Malformed.Take(10))
            sb.Append(CultureInfo.InvariantCulture, $"- `{Path.GetFileName(m.File)}` line {m.Line}: {m.Problem}\n");
        if (run.Malformed.Count > 10) sb.Append(CultureInfo.InvariantCulture, $"- … and {run.Malformed.Count - 10} more\n");
        int nonFinite = Aggregator.CountNonFinite(run.Knockout);
        sb.Append(CultureInfo.InvariantCulture, $"\nKnockout rows: {run.Knockout.Count}; lens rows: {run.Lens.Count}; relative changes that were not finite (left out of the means): {nonFinite}.\n\n");
    }

    private static void Knockout(StringBuilder sb, IReadOnlyList<LayerAggregate> aggregates)
    {
        if (aggregates.Count == 0) return;
        sb.Append("## Knockout: the layer of the largest drop\n\n");
        sb.Append("Per task and condition, the window-centre layer where the mean relative change of the prediction probability is lowest, ")
          .Append("with its 95% confidence interval (Student t) and the number of samples.\n\n");
        foreach (var group in Minima(aggregates).GroupBy(m => (m.Experiment, m.Subword)))
        {
            var title = group.Key.Experiment.Length == 0 ? "knockout" : group.Key.Experiment;
            sb.Append(CultureInfo.InvariantCulture, $"### {Cell(title)} ({Cell(group.Key.Subword)} sub-word)\n\n");
            sb.Append("| task | condition | layer | mean % change | 95% CI | N |\n| --- | --- | ---: | ---: | --- | ---: |\n");
            foreach (var m in group)
                sb.Append(CultureInfo.InvariantCulture,
                    $"| {Cell(m.Task)} | {Cell(ResultNames.ConditionLabel(m.BlockDesc))} | {m.At.Layer} | {m.At.Mean:F2} | [{m.At.Ci95Low:F2}, {m.At.Ci95High:F2}] | {m.At.N} |\n");
            sb.Append('\n');
        }
    }

    private static void Lens(StringBuilder sb, IReadOnlyList<LensAggregate> lensAggregates)
    {
        if (lensAggregates.Count == 0) return;
        sb.Append("## Logit lens: where the capitalised answer overtakes the lowercase one\n\n");
        sb.Append("The first layer from which the mean probability of the answer with a capitalised first letter stays above the ")
          .Append("lowercase one through the last layer (raw = the paper's lens without the final norm; norm = with it), ")
          .Append("with both probabilities at that layer.\n\n");
        sb.Append("| task | crossing layer (raw) | lowercase / capitalised (raw) | crossing layer (norm) | lowercase / capitalised (norm) |\n")
          .Append("| --- | ---: | --- | ---: | --- |\n");
        foreach (var task in lensAggregates.Select(a => a.Task).Distinct().Order(Comparer<string>.Create(ResultNames.CompareTasks)))
        {
            var raw = Crossing(lensAggregates, task, LensProbability.Raw);
            var norm = Crossing(lensAggregates, task, LensProbability.Norm);
            sb.Append(CultureInfo.InvariantCulture, $"| {Cell(task)} | {Layer(raw)} | {Probs(raw)} | {Layer(norm)} | {Probs(norm)} |\n");
        }
        sb.Append('\n');

        static string Layer(LensCrossing c) => c.Layer?.ToString(CultureInfo.InvariantCulture) ?? "—";
        static string Probs(LensCrossing c) => c.Layer.HasValue
            ? string.Create(CultureInfo.InvariantCulture, $"{100 * c.LowerAtLayer!.Value:F1}% / {100 * c.CapitalAtLayer!.Value:F1}%")
            : Cell(c.Note);
    }

    private static void Figures(StringBuilder sb, IReadOnlyList<FigureFile> figures, string reportDir, FigureFont? font)
    {
        if (figures.Count == 0) return;
        sb.Append("## Figures\n\n");
        if (font is { HasText: false })
            sb.Append("No font was found on this machine, so the figures have no readable text; install a font (e.g. Debian's fonts-dejavu-core) or pass a font file.\n\n");
        string Link(string label, FigureFile f)
        {
            var rel = Path.GetRelativePath(reportDir, f.Path).Replace('\\', '/');
            return $"[{label}]({string.Join('/', rel.Split('/').Select(Uri.EscapeDataString))})";
        }
        string Links(IEnumerable<FigureFile> files, string label)
        {
            var list = files.ToList();
            var png = list.FirstOrDefault(f => f.Path.EndsWith(".png", StringComparison.OrdinalIgnoreCase));
            var svg = list.FirstOrDefault(f => f.Path.EndsWith(".svg", StringComparison.OrdinalIgnoreCase));
            return png != null && svg != null ? $"{Link(label, png)} ({Link("svg", svg)})" : Link(label, (png ?? svg)!);
        }
        foreach (var set in figures.GroupBy(f => (Lens: f.Kind.StartsWith("lens", StringComparison.Ordinal), f.Experiment, f.Variant)))
        {
            var name = set.Key.Lens ? $"logit lens ({set.Key.Variant})" : $"{(set.Key.Experiment.Length == 0 ? "knockout" : set.Key.Experiment)} ({set.Key.Variant} sub-word)";
            var panel = set.Where(f => f.Kind.EndsWith("panel", StringComparison.Ordinal)).ToList();
            var perTask = set.Where(f => !f.Kind.EndsWith("panel", StringComparison.Ordinal)).GroupBy(f => f.Task)
                .OrderBy(g => g.Key, Comparer<string>.Create(ResultNames.CompareTasks))
                .Select(g => Links(g, Cell(g.Key)));
            sb.Append(CultureInfo.InvariantCulture, $"- {Cell(name)}: {(panel.Count > 0 ? Links(panel, "all tasks") + "; " : "")}{string.Join(" · ", perTask)}\n");
        }
        var firstPanel = figures.FirstOrDefault(f => f.Kind == "knockout_panel" && f.Path.EndsWith(".png", StringComparison.OrdinalIgnoreCase))
            ?? figures.FirstOrDefault(f => f.Path.EndsWith(".png", StringComparison.OrdinalIgnoreCase));
        if (firstPanel != null)
            sb.Append('\n').Append('!').Append(Link(firstPanel.Kind == "knockout_panel" ? $"{firstPanel.Experiment} panel" : "figure", firstPanel)).Append('\n');
    }

    private static string Cell(string text) => text.Replace("|", "\\|", StringComparison.Ordinal).Replace("\r", " ", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal);
}

/// <summary>What <see cref="ResultsPipeline.Run"/> wrote.</summary>
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

    public static ResultsOutput Run(string dir, RunResults run, FigureOptions? options = null, bool figures = true)
    {
        options ??= FigureOptions.Default;
        var aggregates = Aggregator.Aggregate(run.Knockout);
        var lens = Aggregator.AggregateLens(run.Lens);
        var tables = Exporter.WriteAll(dir, run, aggregates, lens);
        var font = FigureFonts.Resolve(options.FontFile);
        var figureFiles = figures ? Results.Figures.WriteAll(Path.Combine(dir, FiguresFolder), aggregates, lens, options) : [];
        var report = ReportWriter.Write(Path.Combine(dir, ReportWriter.FileName), run, aggregates, lens, figureFiles, font);
        return new ResultsOutput(aggregates, lens, tables, figureFiles, report, font);
    }
}

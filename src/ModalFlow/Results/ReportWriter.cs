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
        IReadOnlyList<FigureFile> figures, FigureFont? font = null, ResultsOptions? options = null)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path)) ?? ".";
        AtomicFile.WriteAllText(path, Build(run, aggregates, lensAggregates, figures, dir, font, options));
        return path;
    }

    /// <summary>
    /// For each (task, experiment, condition, sub-word): the aggregate with the lowest mean (lowest layer on ties).
    /// A condition whose means are never below 0 has no drop: <see cref="HasDrop"/> tells.
    /// </summary>
    public static IReadOnlyList<KnockoutMinimum> Minima(IEnumerable<LayerAggregate> aggregates) =>
        aggregates.GroupBy(a => (a.Task, a.Experiment, a.BlockDesc, a.Subword))
            .Select(g => new KnockoutMinimum(g.Key.Task, g.Key.Experiment, g.Key.BlockDesc, g.Key.Subword,
                g.OrderBy(a => a.Mean).ThenBy(a => a.Layer).First()))
            .OrderBy(m => m.At, Comparer<LayerAggregate>.Create(Aggregator.CompareAggregates))
            .ToList();

    /// <summary>
    /// Whether a minimum is a drop at all: its mean is below 0 by at least what the report's two decimals can show
    /// (a Last→Last mean of −1e−6 % is no drop); "none" in the report otherwise.
    /// </summary>
    public static bool HasDrop(KnockoutMinimum m) => m.At.Mean <= -0.005;

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
        IReadOnlyList<FigureFile> figures, string reportDir, FigureFont? font = null, ResultsOptions? options = null)
    {
        options ??= ResultsOptions.Default;
        var sb = new StringBuilder();
        sb.Append("# ModalFlow results\n\n");
        if (!string.IsNullOrWhiteSpace(options.Figures.ModelName)) sb.Append(CultureInfo.InvariantCulture, $"Model: `{options.Figures.ModelName}`.\n\n");
        SelfCheckReport.Append(sb, run.Verification);
        Settings(sb, run.Manifest, options);
        Samples(sb, run);
        var allHeads = aggregates.Where(a => a.Heads.Length == 0).ToList();   // per-head aggregates have their own section
        Knockout(sb, allHeads, options.Ci);
        HeadMapReport.Append(sb, aggregates, figures, reportDir);
        Lens(sb, lensAggregates);
        Figures(sb, figures.Where(f => !HeadMapFigures.IsHeadMap(f)).ToList(), allHeads, reportDir, font);
        return sb.ToString();
    }

    /// <summary>Every setting the run used (its manifest), and how this report computed its intervals.</summary>
    private static void Settings(StringBuilder sb, RunManifest? m, ResultsOptions options)
    {
        if (m is null) return;
        sb.Append("## Settings\n\n| setting | value |\n| --- | --- |\n");
        void Row(string k, object? v) => sb.Append(CultureInfo.InvariantCulture, $"| {k} | {Cell(Convert.ToString(v, CultureInfo.InvariantCulture) ?? "")} |\n");
        Row("model", m.Model);
        Row("family", m.Family);
        Row("checkpoint fingerprint", m.CheckpointFingerprint);
        Row("preset", m.Preset.Length == 0 ? "none" : m.Preset);
        Row("experiment", m.Experiment);
        Row("task / data", $"{m.Task} ({m.DataFile})");
        Row("window", m.Window);
        Row("sub-word", m.Subword);
        Row("filter", m.Filter);
        Row("max new tokens", m.MaxNewTokens);
        Row("empty position sets", m.EmptySets);
        Row("preprocessing", m.Preprocessing);
        Row("dtype / device", $"{m.DType} / {m.Device}");
        Row("engine", m.Engine);
        Row("self-check share (--verify)", m.Verify is { } v ? v.ToString("0.####", CultureInfo.InvariantCulture) : "not recorded");
        Row("shard", $"{m.ShardIndex}/{m.ShardCount}" + (m.Limit is { } l ? $", first {l} rows" : ""));
        Row("confidence intervals", options.Ci.Description);
        Row("code version", m.CodeVersion);
        sb.Append('\n');
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
        EmptySets(sb, run);
        sb.Append(CultureInfo.InvariantCulture, $"Malformed input rows: {run.Malformed.Count}{(run.Malformed.Count > 0 ? $" (all in {Exporter.MalformedFileName})" : "")}.\n");
        foreach (var m in run.Malformed.Take(10))
            sb.Append(CultureInfo.InvariantCulture, $"- `{Path.GetFileName(m.File)}` line {m.Line}: {m.Problem}\n");
        if (run.Malformed.Count > 10) sb.Append(CultureInfo.InvariantCulture, $"- … and {run.Malformed.Count - 10} more\n");
        int nonFinite = Aggregator.CountNonFinite(run.Knockout);
        sb.Append(CultureInfo.InvariantCulture, $"\nKnockout rows: {run.Knockout.Count}; lens rows: {run.Lens.Count}; relative changes that were not finite (left out of the means): {nonFinite}.\n\n");
    }

    /// <summary>Samples with an empty position set, both kinds: kept with nothing blocked (the paper's choice) and excluded.</summary>
    private static void EmptySets(StringBuilder sb, RunResults run)
    {
        int kept = run.Noted.Count(n => n.Reason == SampleNote.NothingBlockedReason);
        int excluded = run.Excluded.Count(e => e.Reason == ExcludedSample.EmptyPositionSetReason);
        if (kept + excluded == 0) return;
        sb.Append(CultureInfo.InvariantCulture, $"Samples with an empty position set: {kept} kept with nothing blocked (their knockouts involving the empty set give p2 = p1, as in the paper's code), {excluded} excluded.\n");
        foreach (var g in run.Noted.Where(n => n.Reason == SampleNote.NothingBlockedReason).GroupBy(n => n.Detail).OrderByDescending(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal))
            sb.Append(CultureInfo.InvariantCulture, $"- kept, {g.Key}: {g.Count()}\n");
        sb.Append('\n');
    }

    private static void Knockout(StringBuilder sb, IReadOnlyList<LayerAggregate> aggregates, CiOptions ci)
    {
        if (aggregates.Count == 0) return;
        sb.Append("## Knockout: the layer of the largest drop\n\n");
        sb.Append("Per task and condition, the window-centre layer where the mean relative change of the prediction probability is lowest, ")
          .Append(CultureInfo.InvariantCulture, $"with its 95% confidence interval ({ci.Description}; never below −100%, the least a probability can change) ")
          .Append("and the number of samples; \"none\" when no layer's mean is below 0 (to two decimals).\n\n");
        foreach (var group in Minima(aggregates).GroupBy(m => (m.Experiment, m.Subword)))
        {
            var blocks = aggregates.Where(a => a.Experiment == group.Key.Experiment && a.Subword == group.Key.Subword).Select(a => a.BlockDesc);
            var windows = aggregates.Where(a => a.Experiment == group.Key.Experiment && a.Subword == group.Key.Subword && a.Window > 0).Select(a => a.Window).Distinct().ToList();
            var window = windows.Count == 1 ? $", window {windows[0]}" : "";
            sb.Append(CultureInfo.InvariantCulture, $"### {Cell(ResultNames.ExperimentTitle(group.Key.Experiment, blocks))} ({Cell(group.Key.Subword)} sub-word{window})\n\n");
            sb.Append("| task | condition | layer | mean % change | 95% CI | N |\n| --- | --- | ---: | ---: | --- | ---: |\n");
            foreach (var m in group)
            {
                var condition = Cell(ResultNames.ConditionLabel(m.BlockDesc));
                if (!HasDrop(m))
                {
                    sb.Append(CultureInfo.InvariantCulture, $"| {Cell(m.Task)} | {condition} | none | — | — | {m.At.N} |\n");
                    continue;
                }
                double low = Math.Max(Results.Figures.MinRelativeChange, m.At.Ci95Low);
                sb.Append(CultureInfo.InvariantCulture,
                    $"| {Cell(m.Task)} | {condition} | {m.At.Layer} | {m.At.Mean:F2} | [{low:F2}, {m.At.Ci95High:F2}] | {m.At.N} |\n");
            }
            sb.Append('\n');
        }
    }

    private static void Lens(StringBuilder sb, IReadOnlyList<LensAggregate> lensAggregates)
    {
        if (lensAggregates.Count == 0) return;
        sb.Append("## Experiment 4: logit lens — where the capitalised answer overtakes the lowercase one\n\n");
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

    private static void Figures(StringBuilder sb, IReadOnlyList<FigureFile> figures, IReadOnlyList<LayerAggregate> aggregates, string reportDir, FigureFont? font)
    {
        if (figures.Count == 0) return;
        sb.Append("## Figures\n\n");
        if (font is { HasText: false })
            sb.Append("No font was found on this machine, so the figures have no readable text; install a font (e.g. Debian's fonts-dejavu-core) or pass a font file.\n\n");
        sb.Append("Colours of the paper's conditions and lens tokens are the paper's own (its vil/merge_lineplot.py and last_position_answer_prob.py); ")
          .Append("each line also has its own dash and marker. Bands are 95% intervals, clipped to what is possible.\n\n");
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
        var embeds = new List<(string Alt, FigureFile File)>();
        foreach (var set in figures.GroupBy(f => (Lens: f.Kind.StartsWith("lens", StringComparison.Ordinal), f.Experiment, f.Variant)))
        {
            var name = set.Key.Lens
                ? $"Experiment 4: logit lens ({set.Key.Variant})"
                : $"{ResultNames.ExperimentTitle(set.Key.Experiment, aggregates.Where(a => a.Experiment == set.Key.Experiment).Select(a => a.BlockDesc))} ({set.Key.Variant} sub-word)";
            var panel = set.Where(f => f.Kind.EndsWith("panel", StringComparison.Ordinal)).ToList();
            var perTask = set.Where(f => !f.Kind.EndsWith("panel", StringComparison.Ordinal)).GroupBy(f => f.Task)
                .OrderBy(g => g.Key, Comparer<string>.Create(ResultNames.CompareTasks)).ToList();
            sb.Append(CultureInfo.InvariantCulture, $"- {Cell(name)}: {(panel.Count > 0 ? Links(panel, "all tasks") + "; " : "")}{string.Join(" \u00b7 ", perTask.Select(g => Links(g, Cell(g.Key))))}\n");
            var panelPng = panel.FirstOrDefault(f => f.Path.EndsWith(".png", StringComparison.OrdinalIgnoreCase));
            if (panelPng != null) embeds.Add((name, panelPng));
            if (set.Key.Lens)   // the lens figures are few and each task's curves matter: show them all
                foreach (var g in perTask)
                    if (g.FirstOrDefault(f => f.Path.EndsWith(".png", StringComparison.OrdinalIgnoreCase)) is { } png) embeds.Add(($"{name}, {g.Key}", png));
        }
        if (embeds.Count == 0 && figures.FirstOrDefault(f => f.Path.EndsWith(".png", StringComparison.OrdinalIgnoreCase)) is { } first) embeds.Add(("figure", first));
        foreach (var (alt, file) in embeds) sb.Append('\n').Append('!').Append(Link(Cell(alt).Replace("[", "(", StringComparison.Ordinal).Replace("]", ")", StringComparison.Ordinal), file)).Append('\n');
    }

    private static string Cell(string text) => text.Replace("|", "\\|", StringComparison.Ordinal).Replace("\r", " ", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal);
}

using System.Globalization;
using ScottPlot;

namespace ModalFlow.Results;

/// <summary>
/// The withdrawal and pruning figures, PNG and SVG like the others (<see cref="Figures"/>), one set per tracked token:
/// <list type="bullet">
/// <item><c>withdrawal_accuracy_{task}_{subword}</c> and <c>withdrawal_accuracy_panel_{subword}</c>: accuracy (%) with
///   every image token withdrawn from layer K on, per K, with its 95% bootstrap band; grey lines at the clean accuracy
///   and 1 point below it.</item>
/// <item><c>prune_grid_{task}_{subword}</c>: the (K, R) grid as two heat maps, FastV-ranked and random, cells labelled
///   with the accuracy (%); <c>prune_grid_panel_{subword}</c>: the FastV grids of all tasks.</item>
/// <item><c>prune_ranked_vs_random_{task}_{subword}</c> and its panel: accuracy (%) against the share of image tokens
///   dropped, one solid line (FastV) and one dashed line (random) per K, starting from the clean accuracy at 0%.</item>
/// </list>
/// </summary>
public static class WithdrawalFigures
{
    public const string AccuracyYLabel = "accuracy (%)";
    public const string DroppedXLabel = "image tokens dropped (%)";

    private static readonly string[] LayerColors = ["#377eb8", "#e41a1c", "#4daf4a", "#984ea3", "#ff7f00", "#a65628", "#f781bf", "#999999"];

    /// <summary>Every withdrawal figure of <paramref name="accuracies"/> into <paramref name="dir"/>.</summary>
    public static IReadOnlyList<FigureFile> WriteAll(string dir, IReadOnlyList<WithdrawalAccuracy> accuracies, FigureOptions? options = null)
    {
        options ??= FigureOptions.Default;
        Directory.CreateDirectory(dir);
        var files = new List<FigureFile>();
        var taskOrder = Comparer<string>.Create(ResultNames.CompareTasks);
        foreach (var token in accuracies.GroupBy(a => a.Subword).OrderBy(g => g.Key, Comparer<string>.Create(ResultNames.CompareSubwords)))
        {
            var sub = FileNames.Sanitize(token.Key);
            var all = token.Where(a => a.Rule == WithdrawalRule.All).ToList();
            var prune = token.Where(a => a.Rule != WithdrawalRule.All).ToList();
            if (all.Count > 0)
            {
                var tasks = all.Select(a => a.Task).Distinct().Order(taskOrder).ToList();
                foreach (var task in tasks)
                {
                    var plot = AccuracyPlot(all, task, options, legend: true);
                    foreach (var path in Figures.Save(plot, Path.Combine(dir, $"withdrawal_accuracy_{FileNames.Sanitize(task)}_{sub}"), options))
                        files.Add(new FigureFile("withdrawal", task, "withdrawal", token.Key, path));
                }
                var cells = PanelTasks(tasks).Select(t => AccuracyPlot(all, t, options, legend: false)).ToList();
                var header = $"Every image token withdrawn from layer K on \u2014 {TokenText(token.Key)}" + ModelSuffix(options);
                foreach (var path in Figures.SavePanel(cells, Path.Combine(dir, $"withdrawal_accuracy_panel_{sub}"), header, options, AccuracyLegend(all)))
                    files.Add(new FigureFile("withdrawal_panel", "", "withdrawal", token.Key, path));
            }
            if (prune.Count > 0)
            {
                var tasks = prune.Select(a => a.Task).Distinct().Order(taskOrder).ToList();
                foreach (var task in tasks)
                {
                    var grids = new[] { WithdrawalRule.FastV, WithdrawalRule.Random }.Select(rule => GridPlot(prune, task, rule, options)).ToList();
                    var title = $"{TaskTitle(task)}: accuracy (%) with image tokens dropped from layer K on ({TokenText(token.Key)})" + ModelSuffix(options);
                    foreach (var path in Figures.SavePanel(grids, Path.Combine(dir, $"prune_grid_{FileNames.Sanitize(task)}_{sub}"), title, options))
                        files.Add(new FigureFile("prune_grid", task, "prune", token.Key, path));
                    var plot = RankedVsRandomPlot(prune, task, options, legend: true);
                    foreach (var path in Figures.Save(plot, Path.Combine(dir, $"prune_ranked_vs_random_{FileNames.Sanitize(task)}_{sub}"), options))
                        files.Add(new FigureFile("prune_ranked_vs_random", task, "prune", token.Key, path));
                }
                var panelTasks = PanelTasks(tasks);
                var gridHeader = $"FastV-ranked image tokens kept (R) from layer K on: accuracy (%) \u2014 {TokenText(token.Key)}" + ModelSuffix(options);
                foreach (var path in Figures.SavePanel(panelTasks.Select(t => GridPlot(prune, t, WithdrawalRule.FastV, options)).ToList(),
                             Path.Combine(dir, $"prune_grid_panel_{sub}"), gridHeader, options))
                    files.Add(new FigureFile("prune_grid_panel", "", "prune", token.Key, path));
                var rvrHeader = $"FastV-ranked vs random image tokens dropped from layer K on \u2014 {TokenText(token.Key)}" + ModelSuffix(options);
                foreach (var path in Figures.SavePanel(panelTasks.Select(t => RankedVsRandomPlot(prune, t, options, legend: false)).ToList(),
                             Path.Combine(dir, $"prune_ranked_vs_random_panel_{sub}"), rvrHeader, options, RankedVsRandomSeries(prune, panelTasks[0])))
                    files.Add(new FigureFile("prune_ranked_vs_random_panel", "", "prune", token.Key, path));
            }
        }
        return files;
    }

    // ---- the data of the figures (what the tests check) ----

    /// <summary>The withdrawal curve of one task: accuracy (%) per K with its band, then the clean and clean − 1 pt lines.</summary>
    public static IReadOnlyList<PlotSeries> AccuracySeries(IReadOnlyList<WithdrawalAccuracy> all, string task)
    {
        var pts = all.Where(a => a.Task == task && a.Rule == WithdrawalRule.All).OrderBy(a => a.Layer).ToArray();
        if (pts.Length == 0) throw new ArgumentException($"no withdrawal accuracies for task '{task}'", nameof(all));
        var x = pts.Select(a => (double)a.Layer).ToArray();
        double clean = 100 * pts[0].CleanAccuracy;
        int n = pts.Min(a => a.N), m = pts.Max(a => a.N);
        return
        [
            new PlotSeries("every image token withdrawn from layer K", new SeriesStyle("#377eb8", LineDash.Solid, MarkerKind.Circle, "ModalFlow's"),
                x, pts.Select(a => 100 * a.Accuracy).ToArray(), pts.Select(a => 100 * a.AccuracyLow).ToArray(), pts.Select(a => 100 * a.AccuracyHigh).ToArray(), n, m),
            Flat("clean accuracy", "#7f7f7f", LineDash.Dashed, x, clean, n, m),
            Flat($"clean \u2212 {WithdrawalReport.TolerancePoints:0.#} point", "#bdbdbd", LineDash.Dotted, x, clean - WithdrawalReport.TolerancePoints, n, m),
        ];
    }

    /// <summary>
    /// Ranked vs random for one task: per K, accuracy (%) against the share dropped (%), FastV then random, each starting at
    /// 0% dropped with the clean accuracy.
    /// </summary>
    public static IReadOnlyList<PlotSeries> RankedVsRandomSeries(IReadOnlyList<WithdrawalAccuracy> prune, string task)
    {
        var rows = prune.Where(a => a.Task == task && a.Rule != WithdrawalRule.All).ToList();
        if (rows.Count == 0) throw new ArgumentException($"no pruning accuracies for task '{task}'", nameof(prune));
        var layers = rows.Select(a => a.Layer).Distinct().Order().ToList();
        var series = new List<PlotSeries>();
        for (int i = 0; i < layers.Count; i++)
        {
            foreach (var rule in new[] { WithdrawalRule.FastV, WithdrawalRule.Random })
            {
                var pts = rows.Where(a => a.Layer == layers[i] && a.Rule == rule).OrderBy(a => a.Dropped).ToList();
                if (pts.Count == 0) continue;
                double clean = 100 * pts[0].CleanAccuracy;
                var x = new[] { 0.0 }.Concat(pts.Select(a => 100 * a.Dropped)).ToArray();
                var style = new SeriesStyle(LayerColors[i % LayerColors.Length], rule == WithdrawalRule.FastV ? LineDash.Solid : LineDash.Dashed,
                    rule == WithdrawalRule.FastV ? MarkerKind.Circle : MarkerKind.TriangleDown, "ModalFlow's");
                series.Add(new PlotSeries($"{(rule == WithdrawalRule.FastV ? "FastV" : "random")}, K = {layers[i]}", style, x,
                    new[] { clean }.Concat(pts.Select(a => 100 * a.Accuracy)).ToArray(),
                    new[] { clean }.Concat(pts.Select(a => 100 * a.AccuracyLow)).ToArray(),
                    new[] { clean }.Concat(pts.Select(a => 100 * a.AccuracyHigh)).ToArray(),
                    pts.Min(a => a.N), pts.Max(a => a.N)));
            }
        }
        return series;
    }

    /// <summary>The heat-map values of one task and rule: accuracy (%) [keep index (descending R), layer index].</summary>
    public static (double[] Keep, int[] Layers, double[,] Accuracy) Grid(IReadOnlyList<WithdrawalAccuracy> prune, string task, WithdrawalRule rule)
    {
        var rows = prune.Where(a => a.Task == task && a.Rule == rule).ToList();
        var keep = rows.Select(a => a.Keep).Distinct().OrderDescending().ToArray();
        var layers = rows.Select(a => a.Layer).Distinct().Order().ToArray();
        var acc = new double[keep.Length, layers.Length];
        for (int i = 0; i < keep.Length; i++)
            for (int j = 0; j < layers.Length; j++)
                acc[i, j] = rows.FirstOrDefault(a => a.Keep == keep[i] && a.Layer == layers[j]) is { } a ? 100 * a.Accuracy : double.NaN;
        return (keep, layers, acc);
    }

    // ---- plots ----

    private static Plot AccuracyPlot(IReadOnlyList<WithdrawalAccuracy> all, string task, FigureOptions options, bool legend)
    {
        var series = AccuracySeries(all, task);
        var title = legend
            ? $"{TaskTitle(task)} \u2014 every image token withdrawn from layer K on\n{Figures.Details(null, options.ModelName, Figures.NText(series.Take(1)))}"
            : $"{TaskTitle(task)} ({Figures.NText(series.Take(1))})";
        var plot = Figures.BuildPlot(series, Layout(series, options, legend), title, AccuracyYLabel, knockout: false, options);
        plot.XLabel("K (first layer without the image)");
        return plot;
    }

    private static Plot RankedVsRandomPlot(IReadOnlyList<WithdrawalAccuracy> prune, string task, FigureOptions options, bool legend)
    {
        var series = RankedVsRandomSeries(prune, task);
        var title = legend
            ? $"{TaskTitle(task)} \u2014 FastV-ranked vs random image tokens dropped\n{Figures.Details(null, options.ModelName, Figures.NText(series))}"
            : $"{TaskTitle(task)} ({Figures.NText(series)})";
        var plot = Figures.BuildPlot(series, Layout(series, options, legend), title, AccuracyYLabel, knockout: false, options);
        plot.XLabel(DroppedXLabel);
        return plot;
    }

    private static LegendLayout Layout(IReadOnlyList<PlotSeries> series, FigureOptions options, bool legend)
    {
        if (legend) return Figures.Layout(series, knockout: false, options.Width, options.Height);
        var (yMin, yMax) = Figures.DataRange(series, knockout: false);
        var xs = series.SelectMany(s => s.X).DefaultIfEmpty(0).ToList();
        double pad = Math.Max(0.3, (xs.Max() - xs.Min()) * 0.03);
        return new LegendLayout(LegendPosition.None, xs.Min() - pad, xs.Max() + pad, yMin, yMax, 0, 0);
    }

    /// <summary>One heat map: columns K, rows R (largest on top), cells coloured by accuracy (0–100%) and labelled.</summary>
    private static Plot GridPlot(IReadOnlyList<WithdrawalAccuracy> prune, string task, WithdrawalRule rule, FigureOptions options)
    {
        var (keep, layers, acc) = Grid(prune, task, rule);
        var font = FigureFonts.Resolve(options.FontFile);
        var plt = new Plot();
        plt.Font.Set(font.Family);
        int n = prune.Where(a => a.Task == task && a.Rule == rule).Select(a => a.N).DefaultIfEmpty(0).Max();
        plt.Title($"{TaskTitle(task)}: {(rule == WithdrawalRule.FastV ? "FastV-ranked" : "random")} (N = {n})");
        plt.XLabel("K (first layer without the dropped tokens)");
        plt.YLabel("R (image tokens kept, %)");
        var colormap = new ScottPlot.Colormaps.Viridis();
        for (int i = 0; i < keep.Length; i++)
        {
            for (int j = 0; j < layers.Length; j++)
            {
                double y = keep.Length - 1 - i;                                   // the largest R on top
                var cell = plt.Add.Rectangle(j - 0.5, j + 0.5, y - 0.5, y + 0.5);
                double v = acc[i, j];
                var color = double.IsFinite(v) ? colormap.GetColor(Math.Clamp(v / 100, 0, 1)) : Colors.LightGray;
                cell.FillColor = color;
                cell.LineColor = Colors.White;
                cell.LineWidth = 1;
                if (!double.IsFinite(v)) continue;
                var label = plt.Add.Text(v.ToString("F1", CultureInfo.InvariantCulture), j, y);
                label.LabelAlignment = Alignment.MiddleCenter;
                label.LabelFontSize = keep.Length * layers.Length > 30 ? 10 : 13;
                label.LabelFontColor = v > 60 ? Colors.Black : Colors.White;
                label.LabelFontName = font.Family;
            }
        }
        plt.Axes.Bottom.SetTicks(Enumerable.Range(0, layers.Length).Select(j => (double)j).ToArray(), layers.Select(l => l.ToString(CultureInfo.InvariantCulture)).ToArray());
        plt.Axes.Left.SetTicks(Enumerable.Range(0, keep.Length).Select(i => (double)(keep.Length - 1 - i)).ToArray(), keep.Select(k => WithdrawalCondition.Percent(k)).ToArray());
        plt.Axes.SetLimits(-0.5, layers.Length - 0.5, -0.5, keep.Length - 0.5);
        plt.HideLegend();
        return plt;
    }

    // ---- helpers ----

    private static PlotSeries Flat(string label, string color, LineDash dash, double[] x, double y, int n, int m)
    {
        var ys = x.Select(_ => y).ToArray();
        return new PlotSeries(label, new SeriesStyle(color, dash, MarkerKind.None, "ModalFlow's"), x, ys, ys, ys, n, m);
    }

    private static List<PlotSeries> AccuracyLegend(IReadOnlyList<WithdrawalAccuracy> all) =>
        AccuracySeries(all, all.Select(a => a.Task).First()).ToList();

    private static List<string> PanelTasks(List<string> tasks)
    {
        var real = tasks.Where(t => t != ResultNames.AllTasks).ToList();
        return real.Count > 0 ? real : tasks;
    }

    private static string TaskTitle(string task) => task == ResultNames.AllTasks ? "All tasks" : task;

    private static string ModelSuffix(FigureOptions o) => string.IsNullOrWhiteSpace(o.ModelName) ? "" : $" \u2014 {o.ModelName}";

    private static string TokenText(string subword) => subword switch
    {
        WithdrawalCondition.GoldSubword => "gold answer",
        ResultNames.FinalSubword => "final sub-word survives",
        _ => "first token survives",
    };
}

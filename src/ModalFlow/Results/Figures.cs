using System.Text;
using ScottPlot;
using SkiaSharp;

namespace ModalFlow.Results;

/// <summary>Which logit-lens probability a lens figure shows.</summary>
public enum LensProbability
{
    /// <summary>The paper's lens: output embedding applied to the raw residual stream (no final norm).</summary>
    Raw,

    /// <summary>The standard lens: final norm, then the output embedding.</summary>
    Norm,
}

/// <summary>Sizes, formats and font of the figures.</summary>
public sealed record FigureOptions
{
    /// <summary>Pixel size of a single-task figure.</summary>
    public int Width { get; init; } = 640;

    /// <inheritdoc cref="Width"/>
    public int Height { get; init; } = 480;

    /// <summary>Pixel size of one cell of a panel (the six-task figure is 3 × cell width by 2 × cell height, plus a header).</summary>
    public int PanelCellWidth { get; init; } = 480;

    /// <inheritdoc cref="PanelCellWidth"/>
    public int PanelCellHeight { get; init; } = 360;

    /// <summary>Cells per panel row (the paper: 3).</summary>
    public int PanelColumns { get; init; } = 3;

    /// <summary>Raw (the paper's, default) or norm logit-lens probabilities.</summary>
    public LensProbability LensProbability { get; init; } = LensProbability.Raw;

    public bool Png { get; init; } = true;

    public bool Svg { get; init; } = true;

    /// <summary>A .ttf/.otf to draw text with, instead of a system font (see <see cref="FigureFonts"/>).</summary>
    public string? FontFile { get; init; }

    /// <summary>The model's name for the figure titles (e.g. the checkpoint folder's name); omitted when null.</summary>
    public string? ModelName { get; init; }

    /// <summary>One y range for every cell of a panel (tasks compare at a glance) instead of one per task.</summary>
    public bool SharedPanelYAxis { get; init; }

    public static FigureOptions Default { get; } = new();

    internal void Validate()
    {
        if (Width < 100 || Height < 100 || PanelCellWidth < 100 || PanelCellHeight < 100)
            throw new InputException(null, "figure size", $"{Width}×{Height} (panel cell {PanelCellWidth}×{PanelCellHeight}); expected at least 100×100 pixels");
        if (PanelColumns < 1) throw new InputException(null, "panel columns", $"{PanelColumns}; expected at least 1");
        if (!Png && !Svg) throw new InputException(null, "figure formats", "neither PNG nor SVG selected; expected at least one");
    }
}

/// <summary>One written figure file, for the report's links.</summary>
/// <param name="Kind">"knockout", "knockout_panel", "lens" or "lens_panel".</param>
/// <param name="Task">The task, or "" for a panel.</param>
/// <param name="Experiment">The knockout experiment, "" for lens figures.</param>
/// <param name="Variant">The sub-word of a knockout figure; "raw" or "norm" for a lens figure.</param>
/// <param name="Path">The file (.png or .svg).</param>
public sealed record FigureFile(string Kind, string Task, string Experiment, string Variant, string Path)
{
    /// <summary>The condition of a figure that shows one (per-head maps, <see cref="HeadMapFigures"/>); "" otherwise.</summary>
    public string Block { get; init; } = "";
}

/// <summary>
/// The paper's figures with ScottPlot 5, rendered headless through SkiaSharp, as PNG and SVG:
/// <list type="bullet">
/// <item>Knockout (Figures 3–5, one task): the mean relative change per window-centre layer, one line per condition
///   with its 95% interval as a shaded band (clipped at −100%, the least a probability can change), a dashed zero line.</item>
/// <item>Logit lens (Figure 6, one task): mean probability (%) of each token kind per layer with its band (clipped to
///   [0, 100]%), raw or norm.</item>
/// <item>Panels: the six tasks of one experiment in a 2 × 3 grid (the layout of Figures 3–6), PNG and SVG alike,
///   with one legend in the header (the cells have none) and, optionally, one y range for all cells.</item>
/// </list>
/// Titles say what was knocked out, the window, the model (<see cref="FigureOptions.ModelName"/>) and N. Styles come
/// from <see cref="ResultNames"/> (the paper's colours for its conditions, plus a dash and a marker per line), so a
/// condition looks the same in every figure. The legend never covers data (<see cref="LegendPlacement"/>).
/// <see cref="WriteAll"/> names files <c>knockout_{experiment}_{task}_{subword}</c>, <c>knockout_{experiment}_panel_{subword}</c>,
/// <c>lens_{task}_{raw|norm}</c> and <c>lens_panel_{raw|norm}</c> (names sanitised by <see cref="FileNames.Sanitize"/>; an empty
/// experiment name is written "knockout"), each as .png and .svg.
/// </summary>
public static class Figures
{
    public const string KnockoutYLabel = "% change in prediction probability";
    public const string LensYLabel = "probability (%)";
    public const string LayerLabel = "layer";

    /// <summary>Height of a panel's header: its title line and its legend line.</summary>
    public const int PanelHeaderHeight = 70;

    /// <summary>The highest a lens axis goes to make room for a legend: a little above 100%.</summary>
    public const double LensCeiling = 106;

    /// <summary>The least relative change there is: p₂ = 0 is −100%.</summary>
    public const double MinRelativeChange = -100;

    // ---- the data of a figure (what the tests check) ----

    /// <summary>The knockout lines of one task, experiment and sub-word, in legend order, bands clipped at −100%.</summary>
    public static IReadOnlyList<PlotSeries> KnockoutSeries(IEnumerable<LayerAggregate> aggregates, string task, string experiment, string subword = ResultNames.FirstSubword)
    {
        var all = aggregates as IReadOnlyCollection<LayerAggregate> ?? aggregates.ToList();
        var rows = all.Where(a => a.Task == task && a.Experiment == experiment && a.Subword == subword).ToList();
        if (rows.Count == 0)
            throw new ArgumentException($"no aggregates for task '{task}', experiment '{experiment}', sub-word '{subword}'; have tasks {string.Join(", ", all.Select(a => a.Task).Distinct())}", nameof(aggregates));
        return rows.Select(a => a.BlockDesc).Distinct().Order(Comparer<string>.Create(ResultNames.CompareConditions)).Select(block =>
        {
            var pts = rows.Where(a => a.BlockDesc == block).OrderBy(a => a.Layer).ToArray();
            return new PlotSeries(ResultNames.ConditionLabel(block), ResultNames.ConditionStyle(block),
                pts.Select(a => (double)a.Layer).ToArray(), pts.Select(a => a.Mean).ToArray(),
                pts.Select(a => Math.Max(MinRelativeChange, a.Ci95Low)).ToArray(), pts.Select(a => a.Ci95High).ToArray(),
                pts.Min(a => a.N), pts.Max(a => a.N));
        }).ToList();
    }

    /// <summary>The lens lines of one task in percent, in legend order, bands clipped to [0, 100]%.</summary>
    public static IReadOnlyList<PlotSeries> LensSeries(IEnumerable<LensAggregate> aggregates, string task, LensProbability probability = LensProbability.Raw)
    {
        var all = aggregates as IReadOnlyCollection<LensAggregate> ?? aggregates.ToList();
        var rows = all.Where(a => a.Task == task).ToList();
        if (rows.Count == 0)
            throw new ArgumentException($"no lens aggregates for task '{task}'; have tasks {string.Join(", ", all.Select(a => a.Task).Distinct())}", nameof(aggregates));
        bool raw = probability == LensProbability.Raw;
        return rows.Select(a => a.TokenKind).Distinct().Order(Comparer<string>.Create(ResultNames.CompareTokenKinds)).Select(kind =>
        {
            var pts = rows.Where(a => a.TokenKind == kind).OrderBy(a => a.Layer).ToArray();
            static double Pct(double p) => Math.Clamp(100 * p, 0, 100);
            return new PlotSeries(ResultNames.TokenKindLabel(kind), ResultNames.TokenKindStyle(kind),
                pts.Select(a => (double)a.Layer).ToArray(), pts.Select(a => 100 * (raw ? a.MeanRaw : a.MeanNorm)).ToArray(),
                pts.Select(a => Pct(raw ? a.Ci95LowRaw : a.Ci95LowNorm)).ToArray(), pts.Select(a => Pct(raw ? a.Ci95HighRaw : a.Ci95HighNorm)).ToArray(),
                pts.Min(a => a.N), pts.Max(a => a.N));
        }).ToList();
    }

    /// <summary>
    /// The y range that shows every line and band (and 0 for knockout figures), with a small margin; knockout ranges
    /// stop just below −100%, lens ranges just below 0%.
    /// </summary>
    public static (double Min, double Max) DataRange(IEnumerable<PlotSeries> series, bool knockout)
    {
        var values = series.SelectMany(s => s.Low.Concat(s.High).Concat(s.Mean)).Where(double.IsFinite).ToList();
        double lo = values.Count > 0 ? values.Min() : 0, hi = values.Count > 0 ? values.Max() : 1;
        if (knockout) { lo = Math.Min(lo, 0); hi = Math.Max(hi, 0); }
        else lo = 0;
        if (hi - lo < 1e-9) { lo -= 1; hi += 1; }
        double pad = (hi - lo) * 0.06;
        return (knockout ? Math.Max(MinRelativeChange - 3, lo - pad) : -pad / 2, hi + pad);
    }

    /// <summary>The layout of a single figure: y range (shared or its own) and legend position chosen from its data.</summary>
    public static LegendLayout Layout(IReadOnlyList<PlotSeries> series, bool knockout, int width, int height, (double Min, double Max)? yRange = null)
    {
        var (yMin, yMax) = yRange ?? DataRange(series, knockout);
        var xs = series.SelectMany(s => s.X).DefaultIfEmpty(0).ToList();
        double xMin = xs.Min() - 0.3, xMax = xs.Max() + 0.3;
        return LegendPlacement.Choose(series, xMin, xMax, yMin, yMax, LegendPlacement.BoxFraction(series.Select(s => s.Label).ToList(), width, height),
            knockout ? double.PositiveInfinity : Math.Max(yMax, LensCeiling));
    }

    /// <summary>"N = 16", or "N = 12–16" when layers or conditions differ.</summary>
    public static string NText(IEnumerable<PlotSeries> series)
    {
        var list = series.ToList();
        if (list.Count == 0) return "N = 0";
        int lo = list.Min(s => s.MinN), hi = list.Max(s => s.MaxN);
        return lo == hi ? $"N = {hi}" : $"N = {lo}\u2013{hi}";
    }

    /// <summary>The second title line: "window 9 · llava-1.5-7b · N = 16" (parts that are known).</summary>
    public static string Details(int? window, string? model, string n, string? extra = null)
    {
        var parts = new List<string>();
        if (window is > 0) parts.Add($"window {window}");
        if (!string.IsNullOrWhiteSpace(model)) parts.Add(model);
        if (n.Length > 0) parts.Add(n);
        if (!string.IsNullOrEmpty(extra)) parts.Add(extra);
        return string.Join(" \u00b7 ", parts);
    }

    /// <summary>Title of a single knockout figure: task and what was knocked out; window, model and N.</summary>
    public static string KnockoutTitle(IReadOnlyList<LayerAggregate> aggregates, string task, string experiment, string subword, IReadOnlyList<PlotSeries> series, FigureOptions options)
    {
        var rows = aggregates.Where(a => a.Task == task && a.Experiment == experiment && a.Subword == subword).ToList();
        var window = rows.Select(a => a.Window).Where(w => w > 0).Distinct().ToList();
        var head = $"{TaskTitle(task)} \u2014 {ResultNames.ExperimentTitle(experiment, rows.Select(a => a.BlockDesc))}";
        return head + "\n" + Details(window.Count == 1 ? window[0] : null, options.ModelName, NText(series),
            subword == ResultNames.FirstSubword ? null : $"{subword} sub-word");
    }

    /// <summary>Title of a single lens figure.</summary>
    public static string LensTitle(string task, IReadOnlyList<PlotSeries> series, FigureOptions options) =>
        $"{TaskTitle(task)} \u2014 Experiment 4: logit lens at the last position ({LensVariant(options)})\n" + Details(null, options.ModelName, NText(series));

    // ---- single plots (public so callers can restyle them before saving) ----

    /// <summary>The knockout plot of one task, experiment and sub-word.</summary>
    public static Plot KnockoutPlot(IEnumerable<LayerAggregate> aggregates, string task, string experiment, string subword = ResultNames.FirstSubword, FigureOptions? options = null)
    {
        options ??= FigureOptions.Default;
        var all = aggregates as IReadOnlyList<LayerAggregate> ?? aggregates.ToList();
        var series = KnockoutSeries(all, task, experiment, subword);
        var layout = Layout(series, knockout: true, options.Width, options.Height);
        return BuildPlot(series, layout, KnockoutTitle(all, task, experiment, subword, series, options), KnockoutYLabel, knockout: true, options);
    }

    /// <summary>The logit-lens plot of one task: probability (%) per layer, one line per token kind.</summary>
    public static Plot LensPlot(IEnumerable<LensAggregate> aggregates, string task, FigureOptions? options = null)
    {
        options ??= FigureOptions.Default;
        var series = LensSeries(aggregates, task, options.LensProbability);
        var layout = Layout(series, knockout: false, options.Width, options.Height);
        return BuildPlot(series, layout, LensTitle(task, series, options), LensYLabel, knockout: false, options);
    }

    /// <summary>
    /// Both sides of a <see cref="Comparison"/>: per condition both have, the mean relative change per layer of our
    /// rows (the condition's own style) and of theirs (same colour, another dash, no marker, "<paramref name="theirsLabel"/>"
    /// in the legend). Means over finite values of each side's own rows; a reader checks at a glance where the curves part.
    /// </summary>
    public static Plot ComparisonPlot(IReadOnlyList<KnockoutRow> ours, IReadOnlyList<KnockoutRow> theirs, string title, string theirsLabel = "paper CSV", FigureOptions? options = null)
    {
        options ??= FigureOptions.Default;
        var series = new List<PlotSeries>();
        // The conditions both sides have (all of them when they share none): a run's other conditions are not the question.
        var shared = ours.Select(r => r.BlockDesc).Intersect(theirs.Select(r => r.BlockDesc)).ToHashSet();
        var blocks = ours.Concat(theirs).Select(r => r.BlockDesc).Where(b => shared.Count == 0 || shared.Contains(b)).Distinct()
            .Order(Comparer<string>.Create(ResultNames.CompareConditions));
        foreach (var block in blocks)
        {
            var style = ResultNames.ConditionStyle(block);
            if (MeanSeries(ours.Where(r => r.BlockDesc == block), ResultNames.ConditionLabel(block) + " (run)", style) is { } a) series.Add(a);
            var theirsStyle = style with { Dash = style.Dash == LineDash.Dashed ? LineDash.Dotted : LineDash.Dashed, Marker = MarkerKind.None };
            if (MeanSeries(theirs.Where(r => r.BlockDesc == block), $"{ResultNames.ConditionLabel(block)} ({theirsLabel})", theirsStyle) is { } b)
                series.Add(b);
        }
        if (series.Count == 0) throw new InputException(null, "rows", "nothing to draw: neither side has a finite relative change");
        var layout = Layout(series, knockout: true, options.Width, options.Height);
        return BuildPlot(series, layout, title, KnockoutYLabel, knockout: true, options);
    }

    private static PlotSeries? MeanSeries(IEnumerable<KnockoutRow> rows, string label, SeriesStyle style)
    {
        var byLayer = rows.Where(r => double.IsFinite(r.RelativeDiff)).GroupBy(r => r.Layer).OrderBy(g => g.Key)
            .Select(g => (Layer: (double)g.Key, Mean: g.Average(r => r.RelativeDiff), N: g.Count())).ToList();
        if (byLayer.Count == 0) return null;
        var means = byLayer.Select(p => p.Mean).ToArray();
        return new PlotSeries(label, style, byLayer.Select(p => p.Layer).ToArray(), means, means, means, byLayer.Min(p => p.N), byLayer.Max(p => p.N));
    }

    // ---- writing ----

    /// <summary>Writes <c>{stem}.png</c> and/or <c>{stem}.svg</c> of a plot at the options' single-figure size.</summary>
    public static IReadOnlyList<string> Save(Plot plot, string stem, FigureOptions? options = null)
    {
        options ??= FigureOptions.Default;
        options.Validate();
        var written = new List<string>();
        if (options.Png)
        {
            AtomicFile.WriteAllBytes(stem + ".png", plot.GetImageBytes(options.Width, options.Height, ImageFormat.Png));
            written.Add(stem + ".png");
        }
        if (options.Svg)
        {
            WithoutDashes(plot);
            AtomicFile.WriteAllText(stem + ".svg", plot.GetSvgXml(options.Width, options.Height));
            written.Add(stem + ".svg");
        }
        return written;
    }

    /// <summary>
    /// Skia's SVG backend cannot write dash patterns (it drops them and prints "Unsupported path effect" for every
    /// line), so SVGs are drawn with solid lines; their markers and colours still tell the series apart. Call last.
    /// </summary>
    private static void WithoutDashes(Plot plot)
    {
        foreach (var s in plot.GetPlottables<ScottPlot.Plottables.Scatter>()) s.LinePattern = LinePattern.Solid;
        foreach (var h in plot.GetPlottables<ScottPlot.Plottables.HorizontalLine>()) h.LinePattern = LinePattern.Solid;
    }

    /// <summary>
    /// Writes a grid of plots as one figure, <c>{stem}.png</c> and/or <c>{stem}.svg</c>: each plot is rendered into
    /// its own clipped cell of one canvas (raster or SVG), under a header when <paramref name="header"/> is given:
    /// its text and, when <paramref name="legend"/> is given, one legend line for all cells.
    /// </summary>
    public static IReadOnlyList<string> SavePanel(IReadOnlyList<Plot> plots, string stem, string? header, FigureOptions? options = null, IReadOnlyList<PlotSeries>? legend = null)
    {
        options ??= FigureOptions.Default;
        options.Validate();
        if (plots.Count == 0) throw new ArgumentException("no plots for the panel", nameof(plots));
        var layout = PanelLayout.For(plots.Count, options, header != null || legend is { Count: > 0 });
        var font = FigureFonts.Resolve(options.FontFile);
        var written = new List<string>();
        if (options.Png)
        {
            using var surface = SKSurface.Create(new SKImageInfo(layout.Width, layout.Height, SKColorType.Rgba8888, SKAlphaType.Premul))
                ?? throw new InvalidOperationException($"SkiaSharp could not create a {layout.Width}×{layout.Height} surface");
            DrawPanel(surface.Canvas, plots, layout, header, legend, font);
            using var image = surface.Snapshot();
            using var data = image.Encode(SKEncodedImageFormat.Png, 100);
            AtomicFile.WriteAllBytes(stem + ".png", data.ToArray());
            written.Add(stem + ".png");
        }
        if (options.Svg)
        {
            using var ms = new MemoryStream();
            foreach (var p in plots) WithoutDashes(p);
            using (var canvas = SKSvgCanvas.Create(new SKRect(0, 0, layout.Width, layout.Height), ms))
                DrawPanel(canvas, plots, layout, header, legend, font, dashes: false);
            AtomicFile.WriteAllText(stem + ".svg", Encoding.UTF8.GetString(ms.ToArray()));
            written.Add(stem + ".svg");
        }
        return written;
    }

    /// <summary>
    /// Every figure of a run into <paramref name="dir"/>: per experiment × sub-word × task a knockout figure and a
    /// panel of the tasks (the pooled "All" gets its own figure but no panel cell, unless it is all there is), and per
    /// task a lens figure plus the lens panel, at the options' lens probability.
    /// </summary>
    public static IReadOnlyList<FigureFile> WriteAll(string dir, IReadOnlyList<LayerAggregate> aggregates, IReadOnlyList<LensAggregate> lensAggregates, FigureOptions? options = null)
    {
        options ??= FigureOptions.Default;
        options.Validate();
        Directory.CreateDirectory(dir);
        var files = new List<FigureFile>();
        var taskOrder = Comparer<string>.Create(ResultNames.CompareTasks);

        var combos = aggregates.Select(a => (a.Experiment, a.Subword)).Distinct()
            .OrderBy(c => c.Experiment, StringComparer.Ordinal).ThenBy(c => c.Subword, Comparer<string>.Create(ResultNames.CompareSubwords));
        foreach (var (experiment, subword) in combos)
        {
            var exp = FileNames.Sanitize(experiment.Length == 0 ? "knockout" : experiment);
            var rows = aggregates.Where(a => a.Experiment == experiment && a.Subword == subword).ToList();
            var tasks = rows.Select(a => a.Task).Distinct().Order(taskOrder).ToList();
            foreach (var task in tasks)
            {
                var plot = KnockoutPlot(aggregates, task, experiment, subword, options);
                foreach (var path in Save(plot, Path.Combine(dir, $"knockout_{exp}_{FileNames.Sanitize(task)}_{FileNames.Sanitize(subword)}"), options))
                    files.Add(new FigureFile("knockout", task, experiment, subword, path));
            }
            var cellSeries = PanelTasks(tasks).Select(t => (Task: t, Series: KnockoutSeries(rows, t, experiment, subword))).ToList();
            var windows = rows.Select(a => a.Window).Where(w => w > 0).Distinct().ToList();
            var header = ResultNames.ExperimentTitle(experiment, rows.Select(a => a.BlockDesc)) + " \u2014 "
                + Details(windows.Count == 1 ? windows[0] : null, options.ModelName, "", subword == ResultNames.FirstSubword ? null : $"{subword} sub-word")
                + (options.SharedPanelYAxis ? " \u00b7 shared y axis" : "");
            foreach (var path in SavePanel(PanelCells(cellSeries, knockout: true, KnockoutYLabel, options), Path.Combine(dir, $"knockout_{exp}_panel_{FileNames.Sanitize(subword)}"),
                         header.TrimEnd(' ', '\u2014'), options, LegendSeries(cellSeries.SelectMany(c => c.Series))))
                files.Add(new FigureFile("knockout_panel", "", experiment, subword, path));
        }

        if (lensAggregates.Count > 0)
        {
            var variant = LensVariant(options);
            var tasks = lensAggregates.Select(a => a.Task).Distinct().Order(taskOrder).ToList();
            foreach (var task in tasks)
                foreach (var path in Save(LensPlot(lensAggregates, task, options), Path.Combine(dir, $"lens_{FileNames.Sanitize(task)}_{variant}"), options))
                    files.Add(new FigureFile("lens", task, "", variant, path));
            var cellSeries = PanelTasks(tasks).Select(t => (Task: t, Series: LensSeries(lensAggregates, t, options.LensProbability))).ToList();
            var header = $"Experiment 4: logit lens \u2014 probability of the answer at the last position ({variant} residual stream{(variant == "norm" ? " after the final norm" : "")})"
                + (string.IsNullOrWhiteSpace(options.ModelName) ? "" : $" \u2014 {options.ModelName}")
                + (options.SharedPanelYAxis ? " \u00b7 shared y axis" : "");
            foreach (var path in SavePanel(PanelCells(cellSeries, knockout: false, LensYLabel, options), Path.Combine(dir, $"lens_panel_{variant}"), header, options,
                         LegendSeries(cellSeries.SelectMany(c => c.Series))))
                files.Add(new FigureFile("lens_panel", "", "", variant, path));
        }
        return files;
    }

    // ---- internals ----

    private static string LensVariant(FigureOptions o) => o.LensProbability == LensProbability.Raw ? "raw" : "norm";

    private static List<string> PanelTasks(List<string> tasks)
    {
        var real = tasks.Where(t => t != ResultNames.AllTasks).ToList();
        return real.Count > 0 ? real : tasks;
    }

    /// <summary>One series per distinct label, in first-seen order: the legend of a panel.</summary>
    private static List<PlotSeries> LegendSeries(IEnumerable<PlotSeries> series) =>
        series.GroupBy(s => s.Label).Select(g => g.First()).ToList();

    /// <summary>The cells of a panel: task and N as the title, no legend (the header has it), optionally one y range.</summary>
    /// <summary>The y range of each panel cell: its own, or (<paramref name="shared"/>) one range that holds them all.</summary>
    public static IReadOnlyList<(double Min, double Max)> PanelYRanges(IReadOnlyList<IReadOnlyList<PlotSeries>> cells, bool knockout, bool shared)
    {
        if (!shared) return cells.Select(c => DataRange(c, knockout)).ToList();
        var all = DataRange(cells.SelectMany(c => c), knockout);
        return cells.Select(_ => all).ToList();
    }

    private static List<Plot> PanelCells(List<(string Task, IReadOnlyList<PlotSeries> Series)> cells, bool knockout, string yLabel, FigureOptions options)
    {
        var ranges = PanelYRanges(cells.Select(c => c.Series).ToList(), knockout, options.SharedPanelYAxis);
        return cells.Select((c, i) =>
        {
            var (yMin, yMax) = ranges[i];
            var xs = c.Series.SelectMany(s => s.X).DefaultIfEmpty(0).ToList();
            var layout = new LegendLayout(LegendPosition.None, xs.Min() - 0.3, xs.Max() + 0.3, yMin, yMax, 0, 0);
            return BuildPlot(c.Series, layout, $"{TaskTitle(c.Task)} ({NText(c.Series)})", yLabel, knockout, options);
        }).ToList();
    }

    private static string TaskTitle(string task) => task == ResultNames.AllTasks ? "All tasks" : task;

    private static Plot BuildPlot(IReadOnlyList<PlotSeries> series, LegendLayout layout, string title, string yLabel, bool knockout, FigureOptions options)
    {
        var font = FigureFonts.Resolve(options.FontFile);
        var plt = new Plot();
        plt.Title(title);
        plt.Axes.Title.Label.FontSize = title.Contains('\n', StringComparison.Ordinal) ? 14 : 15;
        plt.XLabel(LayerLabel);
        plt.YLabel(yLabel);
        plt.Font.Set(font.Family);
        plt.Legend.SetBestFontOnEachRender = false;   // keep our font (the default may swap in another family per render)
        plt.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { IntegerTicksOnly = true };
        if (knockout) plt.Add.HorizontalLine(0, 1, Colors.Gray, LinePattern.Dashed);
        foreach (var s in series) AddSeries(plt, s);
        plt.Axes.SetLimits(layout.XMin, layout.XMax, layout.YMin, layout.YMax);
        switch (layout.Legend)
        {
            case LegendPosition.None: plt.HideLegend(); break;
            case LegendPosition.Outside: plt.ShowLegend(Edge.Bottom); break;   // below: the title keeps the full width
            default:
                plt.ShowLegend(layout.Legend switch
                {
                    LegendPosition.UpperLeft => Alignment.UpperLeft,
                    LegendPosition.LowerRight => Alignment.LowerRight,
                    LegendPosition.LowerLeft => Alignment.LowerLeft,
                    _ => Alignment.UpperRight,
                });
                break;
        }
        return plt;
    }

    private static void AddSeries(Plot plt, PlotSeries s)
    {
        var color = Color.FromHex(s.Style.Color);
        bool hasBand = s.X.Length > 1 && Enumerable.Range(0, s.X.Length).Any(i => s.Low[i] != s.High[i]);
        if (hasBand)
        {
            var band = plt.Add.FillY(s.X, s.Low, s.High);
            band.FillColor = color.WithAlpha(0.2);
            band.LineWidth = 0;
        }
        var line = plt.Add.ScatterLine(s.X, s.Mean);
        line.Color = color;
        line.LineWidth = 2;
        line.LinePattern = Pattern(s.Style.Dash);
        line.MarkerShape = Marker(s.Style.Marker);
        line.MarkerSize = s.X.Length > 24 ? 4 : 6;
        line.LegendText = s.Label;
    }

    private static LinePattern Pattern(LineDash dash) => dash switch
    {
        LineDash.Dashed => LinePattern.Dashed,
        LineDash.Dotted => LinePattern.Dotted,
        LineDash.DashDot => new LinePattern([8, 3, 2, 3], 0, "DashDot"),
        _ => LinePattern.Solid,
    };

    private static MarkerShape Marker(MarkerKind marker) => marker switch
    {
        MarkerKind.Circle => MarkerShape.FilledCircle,
        MarkerKind.Square => MarkerShape.FilledSquare,
        MarkerKind.TriangleUp => MarkerShape.FilledTriangleUp,
        MarkerKind.TriangleDown => MarkerShape.FilledTriangleDown,
        MarkerKind.Diamond => MarkerShape.FilledDiamond,
        _ => MarkerShape.None,
    };

    private sealed record PanelLayout(int Columns, int Rows, int CellWidth, int CellHeight, int HeaderHeight)
    {
        public int Width => Columns * CellWidth;
        public int Height => HeaderHeight + Rows * CellHeight;

        public static PanelLayout For(int count, FigureOptions o, bool header)
        {
            int cols = Math.Min(o.PanelColumns, count);
            return new PanelLayout(cols, (count + cols - 1) / cols, o.PanelCellWidth, o.PanelCellHeight, header ? PanelHeaderHeight : 0);
        }
    }

    private static void DrawPanel(SKCanvas canvas, IReadOnlyList<Plot> plots, PanelLayout layout, string? header, IReadOnlyList<PlotSeries>? legend, FigureFont font, bool dashes = true)
    {
        using (var white = new SKPaint { Color = SKColors.White, Style = SKPaintStyle.Fill })
            canvas.DrawRect(new SKRect(0, 0, layout.Width, layout.Height), white);
        if (layout.HeaderHeight > 0 && font.HasText)
        {
            var bold = ScottPlot.Fonts.GetTypeface(font.Family, bold: true, italic: false);   // ScottPlot's cached instances: not ours to dispose
            var regular = ScottPlot.Fonts.GetTypeface(font.Family, bold: false, italic: false);
            using var paint = new SKPaint { Color = SKColors.Black, IsAntialias = true };
            if (header != null)
            {
                using var titleFont = new SKFont(bold, 17);
                canvas.DrawText(header, layout.Width / 2f, 26, SKTextAlign.Center, titleFont, paint);
            }
            if (legend is { Count: > 0 }) DrawLegendLine(canvas, legend, layout.Width / 2f, 52, new SKFont(regular, 14), paint, dashes);
        }
        for (int i = 0; i < plots.Count; i++)
        {
            int x = i % layout.Columns * layout.CellWidth;
            int y = layout.HeaderHeight + i / layout.Columns * layout.CellHeight;
            canvas.Save();
            canvas.ClipRect(new SKRect(x, y, x + layout.CellWidth, y + layout.CellHeight));
            canvas.Translate(x, y);
            plots[i].Render(canvas, layout.CellWidth, layout.CellHeight);
            canvas.Restore();
        }
    }

    /// <summary>One centred row of legend items (line sample with its dash and marker, then the label).</summary>
    private static void DrawLegendLine(SKCanvas canvas, IReadOnlyList<PlotSeries> legend, float centreX, float baseline, SKFont font, SKPaint textPaint, bool dashes)
    {
        using (font)
        {
            const float Sample = 30, Gap = 6, Spacing = 22;
            var widths = legend.Select(s => Sample + Gap + font.MeasureText(s.Label)).ToList();
            float x = centreX - (widths.Sum() + Spacing * (legend.Count - 1)) / 2;
            for (int i = 0; i < legend.Count; i++)
            {
                var s = legend[i];
                var c = SKColor.Parse(s.Style.Color);
                float y = baseline - 5;
                using (var stroke = new SKPaint { Color = c, StrokeWidth = 2.5f, IsAntialias = true, Style = SKPaintStyle.Stroke })
                {
                    var intervals = dashes ? s.Style.DashIntervals() : [];
                    using var effect = intervals.Length > 0 ? SKPathEffect.CreateDash(intervals, 0) : null;
                    stroke.PathEffect = effect;
                    canvas.DrawLine(x, y, x + Sample, y, stroke);
                }
                using (var fill = new SKPaint { Color = c, IsAntialias = true, Style = SKPaintStyle.Fill })
                    DrawMarker(canvas, s.Style.Marker, x + Sample / 2, y, 4.5f, fill);
                canvas.DrawText(s.Label, x + Sample + Gap, baseline, SKTextAlign.Left, font, textPaint);
                x += widths[i] + Spacing;
            }
        }
    }

    private static void DrawMarker(SKCanvas canvas, MarkerKind marker, float x, float y, float r, SKPaint paint)
    {
        switch (marker)
        {
            case MarkerKind.Circle: canvas.DrawCircle(x, y, r, paint); break;
            case MarkerKind.Square: canvas.DrawRect(x - r, y - r, 2 * r, 2 * r, paint); break;
            case MarkerKind.None: break;
            default:
                using (var path = new SKPath())
                {
                    (float X, float Y)[] pts = marker switch
                    {
                        MarkerKind.TriangleUp => [(x, y - r), (x + r, y + r), (x - r, y + r)],
                        MarkerKind.TriangleDown => [(x, y + r), (x + r, y - r), (x - r, y - r)],
                        _ => [(x, y - r), (x + r, y), (x, y + r), (x - r, y)],
                    };
                    path.MoveTo(pts[0].X, pts[0].Y);
                    foreach (var p in pts.Skip(1)) path.LineTo(p.X, p.Y);
                    path.Close();
                    canvas.DrawPath(path, paint);
                }
                break;
        }
    }
}

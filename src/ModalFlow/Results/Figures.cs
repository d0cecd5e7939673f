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
public sealed record FigureFile(string Kind, string Task, string Experiment, string Variant, string Path);

/// <summary>
/// The paper's figures with ScottPlot 5, rendered headless through SkiaSharp, as PNG and SVG:
/// <list type="bullet">
/// <item>Knockout (Figures 3–5, one task): the mean relative change per window-centre layer, one line per condition with
///   its 95% CI as a shaded band, a dashed zero line, x "layer", y "% change in prediction probability", title = task.</item>
/// <item>Logit lens (Figure 6, one task): mean probability (%) of each token kind per layer with its band, raw or norm.</item>
/// <item>Panels: the six tasks of one experiment in a 2 × 3 grid (the layout of Figures 3–6), PNG and SVG alike
///   (each plot rendered into its own clipped cell of one canvas; the SVG is one document with a clipped group per cell).</item>
/// </list>
/// Colours come from <see cref="ResultNames"/>, so a condition has the same colour in every figure.
/// <see cref="WriteAll"/> names files <c>knockout_{experiment}_{task}_{subword}</c>, <c>knockout_{experiment}_panel_{subword}</c>,
/// <c>lens_{task}_{raw|norm}</c> and <c>lens_panel_{raw|norm}</c> (names sanitised by <see cref="FileNames.Sanitize"/>; an empty
/// experiment name is written "knockout"), each as .png and .svg.
/// </summary>
public static class Figures
{
    public const string KnockoutYLabel = "% change in prediction probability";
    public const string LensYLabel = "probability (%)";
    public const string LayerLabel = "layer";

    private const int PanelHeaderHeight = 40;

    // ---- single plots (public so callers can restyle them before saving) ----

    /// <summary>The knockout plot of one task, experiment and sub-word.</summary>
    public static Plot KnockoutPlot(IEnumerable<LayerAggregate> aggregates, string task, string experiment, string subword = ResultNames.FirstSubword, FigureOptions? options = null)
    {
        options ??= FigureOptions.Default;
        var all = aggregates as IReadOnlyCollection<LayerAggregate> ?? aggregates.ToList();
        var rows = all.Where(a => a.Task == task && a.Experiment == experiment && a.Subword == subword).ToList();
        if (rows.Count == 0)
            throw new ArgumentException($"no aggregates for task '{task}', experiment '{experiment}', sub-word '{subword}'; have tasks {string.Join(", ", all.Select(a => a.Task).Distinct())}", nameof(aggregates));
        var plt = NewPlot(options, TaskTitle(task), KnockoutYLabel);
        plt.Add.HorizontalLine(0, 1, Colors.Gray, LinePattern.Dashed);
        foreach (var block in rows.Select(a => a.BlockDesc).Distinct().Order(Comparer<string>.Create(ResultNames.CompareConditions)))
        {
            var pts = rows.Where(a => a.BlockDesc == block).OrderBy(a => a.Layer).ToArray();
            AddSeries(plt, Color.FromHex(ResultNames.ConditionColor(block)), ResultNames.ConditionLabel(block),
                pts.Select(a => (double)a.Layer).ToArray(), pts.Select(a => a.Mean).ToArray(),
                pts.Select(a => a.Ci95Low).ToArray(), pts.Select(a => a.Ci95High).ToArray());
        }
        plt.ShowLegend(Alignment.LowerRight);
        return plt;
    }

    /// <summary>The logit-lens plot of one task: probability (%) per layer, one line per token kind.</summary>
    public static Plot LensPlot(IEnumerable<LensAggregate> aggregates, string task, FigureOptions? options = null)
    {
        options ??= FigureOptions.Default;
        var all = aggregates as IReadOnlyCollection<LensAggregate> ?? aggregates.ToList();
        var rows = all.Where(a => a.Task == task).ToList();
        if (rows.Count == 0)
            throw new ArgumentException($"no lens aggregates for task '{task}'; have tasks {string.Join(", ", all.Select(a => a.Task).Distinct())}", nameof(aggregates));
        bool raw = options.LensProbability == LensProbability.Raw;
        var plt = NewPlot(options, TaskTitle(task), LensYLabel);
        foreach (var kind in rows.Select(a => a.TokenKind).Distinct().Order(Comparer<string>.Create(ResultNames.CompareTokenKinds)))
        {
            var pts = rows.Where(a => a.TokenKind == kind).OrderBy(a => a.Layer).ToArray();
            AddSeries(plt, Color.FromHex(ResultNames.TokenKindColor(kind)), ResultNames.TokenKindLabel(kind),
                pts.Select(a => (double)a.Layer).ToArray(),
                pts.Select(a => 100 * (raw ? a.MeanRaw : a.MeanNorm)).ToArray(),
                pts.Select(a => 100 * (raw ? a.Ci95LowRaw : a.Ci95LowNorm)).ToArray(),
                pts.Select(a => 100 * (raw ? a.Ci95HighRaw : a.Ci95HighNorm)).ToArray());
        }
        plt.ShowLegend(Alignment.UpperLeft);
        return plt;
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
            AtomicFile.WriteAllText(stem + ".svg", plot.GetSvgXml(options.Width, options.Height));
            written.Add(stem + ".svg");
        }
        return written;
    }

    /// <summary>
    /// Writes a grid of plots as one figure, <c>{stem}.png</c> and/or <c>{stem}.svg</c>: each plot is rendered into
    /// its own clipped cell of one canvas (raster or SVG), under a one-line header when <paramref name="header"/> is given.
    /// </summary>
    public static IReadOnlyList<string> SavePanel(IReadOnlyList<Plot> plots, string stem, string? header, FigureOptions? options = null)
    {
        options ??= FigureOptions.Default;
        options.Validate();
        if (plots.Count == 0) throw new ArgumentException("no plots for the panel", nameof(plots));
        var layout = PanelLayout.For(plots.Count, options, header != null);
        var font = FigureFonts.Resolve(options.FontFile);
        var written = new List<string>();
        if (options.Png)
        {
            using var surface = SKSurface.Create(new SKImageInfo(layout.Width, layout.Height, SKColorType.Rgba8888, SKAlphaType.Premul))
                ?? throw new InvalidOperationException($"SkiaSharp could not create a {layout.Width}×{layout.Height} surface");
            DrawPanel(surface.Canvas, plots, layout, header, font);
            using var image = surface.Snapshot();
            using var data = image.Encode(SKEncodedImageFormat.Png, 100);
            AtomicFile.WriteAllBytes(stem + ".png", data.ToArray());
            written.Add(stem + ".png");
        }
        if (options.Svg)
        {
            using var ms = new MemoryStream();
            using (var canvas = SKSvgCanvas.Create(new SKRect(0, 0, layout.Width, layout.Height), ms))
                DrawPanel(canvas, plots, layout, header, font);
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
            var tasks = aggregates.Where(a => a.Experiment == experiment && a.Subword == subword).Select(a => a.Task).Distinct().Order(taskOrder).ToList();
            foreach (var task in tasks)
            {
                var plot = KnockoutPlot(aggregates, task, experiment, subword, options);
                foreach (var path in Save(plot, Path.Combine(dir, $"knockout_{exp}_{FileNames.Sanitize(task)}_{FileNames.Sanitize(subword)}"), options))
                    files.Add(new FigureFile("knockout", task, experiment, subword, path));
            }
            var panelTasks = PanelTasks(tasks);
            var cells = panelTasks.Select(t => KnockoutPlot(aggregates, t, experiment, subword, options)).ToList();
            var header = $"{(experiment.Length == 0 ? "knockout" : experiment)}: relative change in prediction probability ({subword} sub-word)";
            foreach (var path in SavePanel(cells, Path.Combine(dir, $"knockout_{exp}_panel_{FileNames.Sanitize(subword)}"), header, options))
                files.Add(new FigureFile("knockout_panel", "", experiment, subword, path));
        }

        if (lensAggregates.Count > 0)
        {
            var variant = options.LensProbability == LensProbability.Raw ? "raw" : "norm";
            var tasks = lensAggregates.Select(a => a.Task).Distinct().Order(taskOrder).ToList();
            foreach (var task in tasks)
                foreach (var path in Save(LensPlot(lensAggregates, task, options), Path.Combine(dir, $"lens_{FileNames.Sanitize(task)}_{variant}"), options))
                    files.Add(new FigureFile("lens", task, "", variant, path));
            var cells = PanelTasks(tasks).Select(t => LensPlot(lensAggregates, t, options)).ToList();
            var header = $"logit lens: probability of the answer at the last position ({variant} residual stream{(variant == "norm" ? " after the final norm" : "")})";
            foreach (var path in SavePanel(cells, Path.Combine(dir, $"lens_panel_{variant}"), header, options))
                files.Add(new FigureFile("lens_panel", "", "", variant, path));
        }
        return files;
    }

    // ---- internals ----

    private static List<string> PanelTasks(List<string> tasks)
    {
        var real = tasks.Where(t => t != ResultNames.AllTasks).ToList();
        return real.Count > 0 ? real : tasks;
    }

    private static string TaskTitle(string task) => task == ResultNames.AllTasks ? "All tasks" : task;

    private static Plot NewPlot(FigureOptions options, string title, string yLabel)
    {
        var font = FigureFonts.Resolve(options.FontFile);
        var plt = new Plot();
        plt.Title(title);
        plt.XLabel(LayerLabel);
        plt.YLabel(yLabel);
        plt.Font.Set(font.Family);
        plt.Legend.SetBestFontOnEachRender = false;   // keep our font (the default may swap in another family per render)
        plt.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { IntegerTicksOnly = true };
        plt.Axes.Margins(horizontal: 0.02, vertical: 0.08);
        return plt;
    }

    private static void AddSeries(Plot plt, Color color, string label, double[] xs, double[] mean, double[] low, double[] high)
    {
        if (xs.Length > 1)
        {
            var band = plt.Add.FillY(xs, low, high);
            band.FillColor = color.WithAlpha(0.2);
            band.LineWidth = 0;
        }
        var line = plt.Add.ScatterLine(xs, mean);
        line.Color = color;
        line.LineWidth = 2;
        line.MarkerSize = xs.Length == 1 ? 6 : 0;   // a single layer would otherwise draw nothing
        line.LegendText = label;
    }

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

    private static void DrawPanel(SKCanvas canvas, IReadOnlyList<Plot> plots, PanelLayout layout, string? header, FigureFont font)
    {
        using (var white = new SKPaint { Color = SKColors.White, Style = SKPaintStyle.Fill })
            canvas.DrawRect(new SKRect(0, 0, layout.Width, layout.Height), white);
        if (header != null && font.HasText)
        {
            var typeface = ScottPlot.Fonts.GetTypeface(font.Family, bold: true, italic: false);   // ScottPlot's cached instance: not ours to dispose
            using var skFont = new SKFont(typeface, 18);
            using var paint = new SKPaint { Color = SKColors.Black, IsAntialias = true };
            canvas.DrawText(header, layout.Width / 2f, layout.HeaderHeight * 0.68f, SKTextAlign.Center, skFont, paint);
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
}

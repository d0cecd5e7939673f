using System.Globalization;
using ScottPlot;

namespace ModalFlow.Results;

/// <summary>
/// One per-head map: the mean relative change (%) of one task × experiment × condition × sub-word as a [layer, head]
/// matrix, for heads knocked out alone (<see cref="Complement"/> false) or for all heads but one (true). A cell with no
/// aggregate is NaN.
/// </summary>
public sealed record HeadMap(string Task, string Experiment, string BlockDesc, string Subword, bool Complement, int Window, double[,] Values, int MinN, int MaxN)
{
    public int Layers => Values.GetLength(0);
    public int Heads => Values.GetLength(1);
}

/// <summary>
/// Heat maps of per-head knockouts (issue 13) with ScottPlot 5, in the figures' conventions (<see cref="Figures"/>:
/// font, PNG + SVG, title with what was knocked out, window, model and N): heads on x, layers on y (layer 0 at the
/// bottom), a diverging colour scale centred at 0 with equal limits ±max|value| (blue = the answer's probability drops,
/// red = it rises), a labelled colour bar, and the value in each cell when the map is small enough to read it.
/// Files: <c>heads_{experiment}_{task}_{condition}_{alone|all_but}_{subword}</c>.
/// </summary>
public static class HeadMapFigures
{
    public const string ColorBarLabel = "relative change of p(answer) (%)";
    public const string HeadAxisLabel = "head";

    /// <summary>The x axis of an all-but-one map: the one head left reading the source.</summary>
    public const string SparedHeadAxisLabel = "head spared (every other head knocked out)";
    public const string LayerAxisLabel = "layer";

    /// <summary>Kinds of <see cref="FigureFile"/> these figures have.</summary>
    public const string AloneKind = "heads_alone", AllButKind = "heads_all_but";

    /// <summary>Maps with at most this many cells show their values as text.</summary>
    public const int MaxAnnotatedCells = 160;

    public static bool IsHeadMap(FigureFile f) => f.Kind is AloneKind or AllButKind;

    /// <summary>Every per-head map in the aggregates (rows with a head selection), in the aggregates' order.</summary>
    public static IReadOnlyList<HeadMap> Maps(IEnumerable<LayerAggregate> aggregates)
    {
        var maps = new List<HeadMap>();
        var perHead = aggregates.Where(a => a.Heads.Length > 0)
            .Select(a => (Agg: a, Sel: HeadSelection.Parse(a.Heads)))
            .GroupBy(x => (x.Agg.Task, x.Agg.Experiment, x.Agg.BlockDesc, x.Agg.Subword, x.Sel.Complement));
        foreach (var g in perHead)
        {
            var list = g.ToList();
            int layers = list.Max(x => x.Agg.Layer) + 1, heads = list.Max(x => x.Sel.Head) + 1;
            var values = new double[layers, heads];
            for (int l = 0; l < layers; l++) for (int h = 0; h < heads; h++) values[l, h] = double.NaN;
            foreach (var x in list) values[x.Agg.Layer, x.Sel.Head] = x.Agg.Mean;
            var windows = list.Select(x => x.Agg.Window).Distinct().ToList();
            maps.Add(new HeadMap(g.Key.Task, g.Key.Experiment, g.Key.BlockDesc, g.Key.Subword, g.Key.Complement, windows.Count == 1 ? windows[0] : 0,
                values, list.Min(x => x.Agg.N), list.Max(x => x.Agg.N)));
        }
        return maps;
    }

    /// <summary>The colour limits: ±max|finite value| (±1 when every value is 0), so 0 is the scale's centre.</summary>
    public static (double Min, double Max) ColorRange(HeadMap map)
    {
        double m = 0;
        foreach (var v in map.Values) if (double.IsFinite(v)) m = Math.Max(m, Math.Abs(v));
        if (m == 0) m = 1;
        return (-m, m);
    }

    /// <summary>"ChooseAttr — Image→Question knocked out in one head at a time" + "window 1 · model · N = 12".</summary>
    public static string Title(HeadMap map, FigureOptions options)
    {
        var what = map.Complement ? "knocked out in all heads but one" : "knocked out in one head at a time";
        var task = map.Task == ResultNames.AllTasks ? "All tasks" : map.Task;
        var n = map.MinN == map.MaxN ? $"N = {map.MaxN}" : $"N = {map.MinN}\u2013{map.MaxN}";
        return $"{task} \u2014 {ResultNames.ConditionLabel(map.BlockDesc)} {what}\n" +
            Figures.Details(map.Window > 0 ? map.Window : null, options.ModelName, n, map.Subword == ResultNames.FirstSubword ? null : $"{map.Subword} sub-word");
    }

    /// <summary>The heat map of one map (public so callers can restyle it before saving).</summary>
    public static Plot Plot(HeadMap map, FigureOptions? options = null)
    {
        options ??= FigureOptions.Default;
        var font = FigureFonts.Resolve(options.FontFile);
        var plt = new Plot();
        plt.Title(Title(map, options));
        plt.Axes.Title.Label.FontSize = 14;
        plt.XLabel(map.Complement ? SparedHeadAxisLabel : HeadAxisLabel);
        plt.YLabel(LayerAxisLabel);
        plt.Font.Set(font.Family);

        // Row 0 of the intensities is drawn at the top; flip so that layer 0 is at the bottom, as on a y axis.
        var heatmap = plt.Add.Heatmap(map.Values);
        heatmap.FlipVertically = true;
        heatmap.Extent = new CoordinateRect(-0.5, map.Heads - 0.5, -0.5, map.Layers - 0.5);   // cell (l, h) centred on (h, l)
        heatmap.Colormap = new ScottPlot.Colormaps.Balance();
        var (lo, hi) = ColorRange(map);
        heatmap.ManualRange = new ScottPlot.Range(lo, hi);
        heatmap.NaNCellColor = Colors.LightGray;
        var bar = plt.Add.ColorBar(heatmap);
        bar.Label = ColorBarLabel;
        bar.LabelStyle.FontName = font.Family;
        bar.LabelStyle.FontSize = 13;

        if (map.Layers * map.Heads <= MaxAnnotatedCells && font.HasText)
        {
            var format = ValueFormat(hi);
            for (int l = 0; l < map.Layers; l++)
                for (int h = 0; h < map.Heads; h++)
                {
                    double v = map.Values[l, h];
                    if (!double.IsFinite(v)) continue;
                    var label = plt.Add.Text(CellText(v, format), h, l);
                    label.LabelAlignment = Alignment.MiddleCenter;
                    label.LabelFontSize = map.Layers * map.Heads <= 40 ? 12 : 9;
                    label.LabelFontName = font.Family;
                    label.LabelFontColor = Math.Abs(v) > 0.6 * hi ? Colors.White : Colors.Black;   // readable on the dark ends of the scale
                }
        }
        plt.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericFixedInterval(TickInterval(map.Heads));
        plt.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericFixedInterval(TickInterval(map.Layers));
        plt.Axes.SetLimits(-0.5, map.Heads - 0.5, -0.5, map.Layers - 0.5);
        plt.HideGrid();
        return plt;
    }

    /// <summary>Two significant digits of the largest value: "0" from 10, "0.0" from 1, "0.00" from 0.1 …, at most "0.0000".</summary>
    public static string ValueFormat(double maxAbs)
    {
        int decimals = maxAbs > 0 ? Math.Clamp(1 - (int)Math.Floor(Math.Log10(maxAbs)), 0, 4) : 1;
        return decimals == 0 ? "0" : "0." + new string('0', decimals);
    }

    /// <summary>A cell's value in the map's format; a value that rounds to zero is "0", never "-0".</summary>
    public static string CellText(double v, string format)
    {
        var text = v.ToString(format, CultureInfo.InvariantCulture);
        return text.TrimStart('-').All(c => c is '0' or '.') ? text.TrimStart('-') : text;
    }

    /// <summary>A tick at every head / layer up to 16, then every 4th or 8th.</summary>
    private static double TickInterval(int count) => count <= 16 ? 1 : count <= 48 ? 4 : 8;

    /// <summary>File stem of a map (without folder and extension).</summary>
    public static string Stem(HeadMap map)
    {
        var exp = FileNames.Sanitize(map.Experiment.Length == 0 ? "knockout" : map.Experiment);
        return $"heads_{exp}_{FileNames.Sanitize(map.Task)}_{FileNames.Sanitize(map.BlockDesc)}_{(map.Complement ? "all_but" : "alone")}_{FileNames.Sanitize(map.Subword)}";
    }

    /// <summary>Every map of the aggregates as PNG and/or SVG into <paramref name="dir"/>.</summary>
    public static IReadOnlyList<FigureFile> WriteAll(string dir, IReadOnlyList<LayerAggregate> aggregates, FigureOptions? options = null)
    {
        options ??= FigureOptions.Default;
        var maps = Maps(aggregates);
        if (maps.Count == 0) return [];
        Directory.CreateDirectory(dir);
        var files = new List<FigureFile>();
        foreach (var map in maps)
            foreach (var path in Figures.Save(Plot(map, options), Path.Combine(dir, Stem(map)), options))
                files.Add(new FigureFile(map.Complement ? AllButKind : AloneKind, map.Task, map.Experiment, map.Subword, path) { Block = map.BlockDesc });
        return files;
    }
}

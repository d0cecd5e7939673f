namespace ModalFlow.Results;

/// <summary>Where a figure's legend goes.</summary>
public enum LegendPosition { UpperRight, UpperLeft, LowerRight, LowerLeft, Outside, None }

/// <summary>One line of a figure with its band, in data coordinates (the band already clipped to what is possible).</summary>
public sealed record PlotSeries(string Label, SeriesStyle Style, double[] X, double[] Mean, double[] Low, double[] High, int MinN, int MaxN);

/// <summary>The layout decisions of one figure, as data: the y range and where the legend sits.</summary>
/// <param name="Legend">The corner of the data area the legend occupies, or outside (below the plot).</param>
/// <param name="XMin">Data-area x range.</param>
/// <param name="XMax">Data-area x range.</param>
/// <param name="YMin">Data-area y range (includes any headroom made for the legend).</param>
/// <param name="YMax">Data-area y range.</param>
/// <param name="LegendWidth">Legend box as fractions of the data area.</param>
/// <param name="LegendHeight">Legend box as fractions of the data area.</param>
public sealed record LegendLayout(LegendPosition Legend, double XMin, double XMax, double YMin, double YMax, double LegendWidth, double LegendHeight)
{
    /// <summary>The legend's box in data coordinates (empty when it is outside or absent).</summary>
    public (double X0, double X1, double Y0, double Y1)? LegendBox() => Legend switch
    {
        LegendPosition.Outside or LegendPosition.None => null,
        _ => LegendPlacement.Box(Legend, XMin, XMax, YMin, YMax, LegendWidth, LegendHeight),
    };
}

/// <summary>
/// Puts the legend where it covers no data: the first free corner of the data area (upper right, upper left, lower
/// right, lower left) for the figure's lines and bands; if none is free, headroom is added above the data for it;
/// when the legend is too large for that (more than 40% of the height) or the headroom would show impossible values
/// (a probability axis above ~100%), it goes outside, below the plot.
/// </summary>
public static class LegendPlacement
{
    private static readonly LegendPosition[] Corners = [LegendPosition.UpperRight, LegendPosition.UpperLeft, LegendPosition.LowerRight, LegendPosition.LowerLeft];

    /// <summary>Approximate data-area size of a ScottPlot figure of this pixel size (axes, labels and title take the rest).</summary>
    public static (double Width, double Height) DataArea(int figureWidth, int figureHeight) => (Math.Max(50, figureWidth - 95), Math.Max(50, figureHeight - 115));

    /// <summary>
    /// The legend box as fractions (width, height) of the data area: ScottPlot's item height (~20 px for a 12 px
    /// font), symbol (20 px) and padding, ~7 px per label character; a little generous so that "free" means free.
    /// </summary>
    public static (double Width, double Height) BoxFraction(IReadOnlyList<string> labels, int figureWidth, int figureHeight)
    {
        var (w, h) = DataArea(figureWidth, figureHeight);
        int longest = labels.Count == 0 ? 0 : labels.Max(l => l.Length);
        double px = 7.2 * longest + 20 + 5 + 20 + 14;
        double py = 21.0 * labels.Count + 10 + 14;
        return (Math.Min(1, px / w), Math.Min(1, py / h));
    }

    /// <summary>Chooses the legend position and y range for <paramref name="series"/> drawn in [xMin, xMax] × [yMin, yMax].</summary>
    /// <param name="yCeiling">The highest y the axis may show (e.g. a little above 100% for probabilities); headroom
    /// that would pass it is not made and the legend goes outside instead.</param>
    public static LegendLayout Choose(IReadOnlyList<PlotSeries> series, double xMin, double xMax, double yMin, double yMax, (double Width, double Height) box,
        double yCeiling = double.PositiveInfinity)
    {
        if (series.Count == 0 || series.All(s => s.Label.Length == 0)) return new LegendLayout(LegendPosition.None, xMin, xMax, yMin, yMax, 0, 0);
        foreach (var corner in Corners)
        {
            var b = Box(corner, xMin, xMax, yMin, yMax, box.Width, box.Height);
            if (!Covers(series, b)) return new LegendLayout(corner, xMin, xMax, yMin, yMax, box.Width, box.Height);
        }
        if (box.Height <= 0.4 && box.Width < 1)
        {
            // Headroom: raise the top so that the upper fraction box.Height of the new range lies above every value.
            double dataTop = series.SelectMany(s => s.High.Concat(s.Mean)).Where(double.IsFinite).DefaultIfEmpty(yMax).Max();
            double top = Math.Max(yMax, yMin + (dataTop - yMin) / (1 - box.Height) * 1.02);
            var b = Box(LegendPosition.UpperRight, xMin, xMax, yMin, top, box.Width, box.Height);
            if (top <= yCeiling && !Covers(series, b)) return new LegendLayout(LegendPosition.UpperRight, xMin, xMax, yMin, top, box.Width, box.Height);
        }
        return new LegendLayout(LegendPosition.Outside, xMin, xMax, yMin, yMax, box.Width, box.Height);
    }

    /// <summary>The legend box of a corner in data coordinates.</summary>
    public static (double X0, double X1, double Y0, double Y1) Box(LegendPosition corner, double xMin, double xMax, double yMin, double yMax, double width, double height)
    {
        double w = (xMax - xMin) * width, h = (yMax - yMin) * height;
        bool right = corner is LegendPosition.UpperRight or LegendPosition.LowerRight;
        bool upper = corner is LegendPosition.UpperRight or LegendPosition.UpperLeft;
        return (right ? xMax - w : xMin, right ? xMax : xMin + w, upper ? yMax - h : yMin, upper ? yMax : yMin + h);
    }

    /// <summary>Whether any line (sampled between layers) or band of the series enters the box.</summary>
    public static bool Covers(IReadOnlyList<PlotSeries> series, (double X0, double X1, double Y0, double Y1) box)
    {
        const int Steps = 16;
        foreach (var s in series)
        {
            for (int i = 0; i < s.X.Length; i++)
            {
                if (Inside(s.X[i], s.Mean[i], box) || BandCrosses(s.X[i], s.Low[i], s.High[i], box)) return true;
                if (i + 1 == s.X.Length) break;
                for (int k = 1; k < Steps; k++)
                {
                    double t = (double)k / Steps;
                    double x = s.X[i] + (s.X[i + 1] - s.X[i]) * t;
                    if (Inside(x, s.Mean[i] + (s.Mean[i + 1] - s.Mean[i]) * t, box)) return true;
                    if (BandCrosses(x, s.Low[i] + (s.Low[i + 1] - s.Low[i]) * t, s.High[i] + (s.High[i + 1] - s.High[i]) * t, box)) return true;
                }
            }
        }
        return false;
    }

    private static bool Inside(double x, double y, (double X0, double X1, double Y0, double Y1) b) => x >= b.X0 && x <= b.X1 && y >= b.Y0 && y <= b.Y1;

    private static bool BandCrosses(double x, double low, double high, (double X0, double X1, double Y0, double Y1) b) =>
        x >= b.X0 && x <= b.X1 && high >= b.Y0 && low <= b.Y1;
}

using System.Xml.Linq;
using ModalFlow.Results;
using SkiaSharp;
using Xunit;

namespace ModalFlow.Tests.Results;

public class FiguresTests
{
    /// <summary>Set MODALFLOW_KEEP_FIGURES to a folder to keep the figures these tests draw (to look at them).</summary>
    private static void Keep(string dir)
    {
        var keep = Environment.GetEnvironmentVariable("MODALFLOW_KEEP_FIGURES");
        if (string.IsNullOrEmpty(keep)) return;
        Directory.CreateDirectory(keep);
        foreach (var f in Directory.GetFiles(dir)) File.Copy(f, Path.Combine(keep, Path.GetFileName(f)), overwrite: true);
    }

    private static void AssertPng(string path, int width, int height)
    {
        using var bitmap = SKBitmap.Decode(path);
        Assert.NotNull(bitmap);
        Assert.Equal((width, height), (bitmap.Width, bitmap.Height));
        var background = bitmap.GetPixel(1, 1);
        int differing = 0, coloured = 0;
        for (int y = 0; y < bitmap.Height; y += 2)
            for (int x = 0; x < bitmap.Width; x += 2)
            {
                var p = bitmap.GetPixel(x, y);
                if (p != background) differing++;
                if (Math.Max(Math.Max(p.Red, p.Green), p.Blue) - Math.Min(Math.Min(p.Red, p.Green), p.Blue) > 60) coloured++;
            }
        Assert.True(differing > width * height / 400, $"{path}: only {differing} sampled pixels differ from the background");
        Assert.True(coloured > 50, $"{path}: only {coloured} sampled pixels are coloured (no data lines?)");
    }

    private static void AssertSvg(string path, int width, int height)
    {
        var text = File.ReadAllText(path);
        Assert.Contains("<svg", text);
        var root = XDocument.Parse(text).Root!;
        Assert.Equal("svg", root.Name.LocalName);
        Assert.Equal(width.ToString(System.Globalization.CultureInfo.InvariantCulture), (string?)root.Attribute("width"));
        Assert.Equal(height.ToString(System.Globalization.CultureInfo.InvariantCulture), (string?)root.Attribute("height"));
        Assert.Contains("<path", text);
    }

    [Fact]
    public void A_Font_Is_Found_And_Text_Is_Drawn()
    {
        var font = FigureFonts.Resolve();
        Assert.True(font.HasText, $"no font found for the figures ({font})");
        var aggs = Aggregator.Aggregate(SyntheticResults.Knockout(3, tasks: ["ChooseAttr"]));
        var with = Figures.KnockoutPlot(aggs, "ChooseAttr", "exp1");
        var without = Figures.KnockoutPlot(aggs, "ChooseAttr", "exp1");
        without.Title("");
        using var a = SKBitmap.Decode(with.GetImageBytes(640, 480, ScottPlot.ImageFormat.Png));
        using var b = SKBitmap.Decode(without.GetImageBytes(640, 480, ScottPlot.ImageFormat.Png));
        int titleInk = 0;
        for (int y = 0; y < 30; y++)
            for (int x = 200; x < 440; x++)
                if (a.GetPixel(x, y).Red < 128 && b.GetPixel(x, y).Red > 200) titleInk++;
        Assert.True(titleInk > 30, $"the title drew {titleInk} dark pixels; the font renders no glyphs");
    }

    [Fact]
    public void A_Named_Font_File_Is_Used()
    {
        var file = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
        if (!File.Exists(file)) return;   // this check needs the file; the system-font path is tested above
        var font = FigureFonts.Resolve(file);
        Assert.Equal(("DejaVu Sans", file), (font.Family, font.Source));
        Assert.Throws<InputException>(() => FigureFonts.Resolve("/no/such/font.ttf"));
    }

    [Fact]
    public void WriteAll_Draws_Every_Figure_As_Valid_Png_And_Svg()
    {
        using var dir = new TempDir("mf-figures-");
        var aggs = Aggregator.Aggregate(SyntheticResults.Knockout(samplesPerTask: 12));
        var lens = Aggregator.AggregateLens(SyntheticResults.Lens(samplesPerTask: 10));
        var files = Figures.WriteAll(dir.Path, aggs, lens);
        Keep(dir.Path);

        var names = files.Select(f => Path.GetFileName(f.Path)).ToHashSet();
        foreach (var exp in new[] { "exp1", "exp2", "exp3" })
        {
            foreach (var task in ResultNames.PaperTasks.Append("All"))
                Assert.Contains($"knockout_{exp}_{task}_first.png", names);
            Assert.Contains($"knockout_{exp}_panel_first.png", names);
            Assert.Contains($"knockout_{exp}_panel_first.svg", names);
        }
        Assert.Contains("lens_ChooseAttr_raw.png", names);
        Assert.Contains("lens_panel_raw.svg", names);
        Assert.Equal(2 * (3 * (7 + 1) + 7 + 1), files.Count);
        Assert.Equal(files.Count, Directory.GetFiles(dir.Path).Length);   // nothing else left behind (no .tmp)

        foreach (var f in files)
        {
            bool panel = f.Kind.EndsWith("panel", StringComparison.Ordinal);
            int w = panel ? 3 * 480 : 640, h = panel ? 40 + 2 * 360 : 480;
            if (f.Path.EndsWith(".png", StringComparison.Ordinal)) AssertPng(f.Path, w, h);
            else AssertSvg(f.Path, w, h);
        }
        var svg = File.ReadAllText(files.First(f => f.Kind == "knockout_panel" && f.Path.EndsWith(".svg", StringComparison.Ordinal)).Path);
        Assert.Contains("ChooseAttr", svg);   // text is text in the SVG
        Assert.Contains("QueryAttr", svg);
    }

    [Fact]
    public void Lens_Figures_Offer_Raw_And_Norm_And_Panels_Fit_Fewer_Tasks()
    {
        using var dir = new TempDir("mf-figures-");
        var lens = Aggregator.AggregateLens(SyntheticResults.Lens(samplesPerTask: 4, tasks: ["ChooseAttr", "QueryAttr"]));
        var options = new FigureOptions { LensProbability = LensProbability.Norm, Svg = false, Width = 400, Height = 300, PanelCellWidth = 300, PanelCellHeight = 250 };
        var files = Figures.WriteAll(dir.Path, [], lens, options);
        Assert.Equal(["lens_ChooseAttr_norm.png", "lens_QueryAttr_norm.png", "lens_All_norm.png", "lens_panel_norm.png"], files.Select(f => Path.GetFileName(f.Path)));
        AssertPng(dir.File("lens_ChooseAttr_norm.png"), 400, 300);
        AssertPng(dir.File("lens_panel_norm.png"), 2 * 300, 40 + 250);
        Keep(dir.Path);
    }

    [Fact]
    public void A_Condition_Has_The_Same_Colour_Everywhere()
    {
        Assert.Equal("#1f77b4", ResultNames.ConditionColor("Question->Last"));
        Assert.Equal(ResultNames.ConditionColor("True Option->Last"), ResultNames.ConditionColor("True Option->Last"));
        Assert.Equal("Question\u2192Last", ResultNames.ConditionLabel("Question->Last"));
        // The plot's line for a condition carries that colour whatever else is in the plot.
        var aggs = Aggregator.Aggregate(SyntheticResults.Knockout(2, tasks: ["ChooseAttr"]));
        var onlyImage = aggs.Where(a => a.BlockDesc == "Image->Last").ToList();
        foreach (var plot in new[] { Figures.KnockoutPlot(aggs, "ChooseAttr", "exp1"), Figures.KnockoutPlot(onlyImage, "ChooseAttr", "exp1") })
        {
            var line = plot.GetPlottables<ScottPlot.Plottables.Scatter>().Single(s => s.LegendText == "Image\u2192Last");
            Assert.Equal(ScottPlot.Color.FromHex("#ff7f0e"), line.Color);
        }
    }

    [Fact]
    public void A_Single_Layer_Or_Sample_Still_Draws()
    {
        using var dir = new TempDir("mf-figures-");
        var rows = SyntheticResults.Knockout(1, tasks: ["QueryAttr"]).Where(r => r.Layer == 5).ToList();
        var aggs = Aggregator.Aggregate(rows);
        Assert.All(aggs, a => Assert.Equal((1, 0.0), (a.N, a.StdError)));
        var files = Figures.Save(Figures.KnockoutPlot(aggs, "QueryAttr", "exp1"), Path.Combine(dir.Path, "one"));
        AssertPng(files[0], 640, 480);
        Assert.Throws<ArgumentException>(() => Figures.KnockoutPlot(aggs, "ChooseAttr", "exp1"));
    }
}

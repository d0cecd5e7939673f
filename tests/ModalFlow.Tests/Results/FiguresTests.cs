using System.Xml.Linq;
using ModalFlow.Results;
using ModalFlow.Tests.Support;
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

    [SharedFact]
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

    [SharedFact]
    public void A_Named_Font_File_Is_Used()
    {
        var file = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
        if (!File.Exists(file)) return;   // this check needs the file; the system-font path is tested above
        var font = FigureFonts.Resolve(file);
        Assert.Equal(("DejaVu Sans", file), (font.Family, font.Source));
        Assert.Throws<InputException>(() => FigureFonts.Resolve("/no/such/font.ttf"));
    }

    [SharedFact]
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
            int w = panel ? 3 * 480 : 640, h = panel ? Figures.PanelHeaderHeight + 2 * 360 : 480;
            if (f.Path.EndsWith(".png", StringComparison.Ordinal)) AssertPng(f.Path, w, h);
            else AssertSvg(f.Path, w, h);
        }
        var svg = File.ReadAllText(files.First(f => f.Kind == "knockout_panel" && f.Path.EndsWith(".svg", StringComparison.Ordinal)).Path);
        Assert.Contains("ChooseAttr", svg);   // text is text in the SVG
        Assert.Contains("QueryAttr", svg);
    }

    [SharedFact]
    public void Lens_Figures_Offer_Raw_And_Norm_And_Panels_Fit_Fewer_Tasks()
    {
        using var dir = new TempDir("mf-figures-");
        var lens = Aggregator.AggregateLens(SyntheticResults.Lens(samplesPerTask: 4, tasks: ["ChooseAttr", "QueryAttr"]));
        var options = new FigureOptions { LensProbability = LensProbability.Norm, Svg = false, Width = 400, Height = 300, PanelCellWidth = 300, PanelCellHeight = 250 };
        var files = Figures.WriteAll(dir.Path, [], lens, options);
        Assert.Equal(["lens_ChooseAttr_norm.png", "lens_QueryAttr_norm.png", "lens_All_norm.png", "lens_panel_norm.png"], files.Select(f => Path.GetFileName(f.Path)));
        AssertPng(dir.File("lens_ChooseAttr_norm.png"), 400, 300);
        AssertPng(dir.File("lens_panel_norm.png"), 2 * 300, Figures.PanelHeaderHeight + 250);
        Keep(dir.Path);
    }

    [SharedFact]
    public void A_Condition_Has_The_Same_Colour_Everywhere()
    {
        Assert.Equal(ResultNames.ConditionColor("True Option->Last"), ResultNames.ConditionColor("True Option->Last"));
        Assert.Equal("Question\u2192Last", ResultNames.ConditionLabel("Question->Last"));
        // The plot's line for a condition carries that colour whatever else is in the plot.
        var aggs = Aggregator.Aggregate(SyntheticResults.Knockout(2, tasks: ["ChooseAttr"]));
        var onlyImage = aggs.Where(a => a.BlockDesc == "Image->Last").ToList();
        foreach (var plot in new[] { Figures.KnockoutPlot(aggs, "ChooseAttr", "exp1"), Figures.KnockoutPlot(onlyImage, "ChooseAttr", "exp1") })
        {
            var line = plot.GetPlottables<ScottPlot.Plottables.Scatter>().Single(s => s.LegendText == "Image\u2192Last");
            Assert.Equal(ScottPlot.Color.FromHex(ResultNames.ConditionColor("Image->Last")), line.Color);
        }
    }

    /// <summary>
    /// The paper's colours, rebuilt as its code builds them (commit c9a1111). vil/merge_lineplot.py:
    /// <c>palette = sns.color_palette(["#a7c957", "#ffcc00", "#f77f00", "#fe7f2d", "#70d6ff", "#ff70a6"]);
    /// palette = palette[:2] + Set1[0:1] + Set1[1:2] + Set1[2:3] + Set1[7:8]</c>, and per figure
    /// <c>pd.concat([Question->Last, Image->Last, Last->Last])</c> with <c>palette</c> (seaborn ≥ 0.12 takes the first
    /// three for the three hue levels, in order of appearance), Image->Question with <c>palette[3:4]</c>, the patch
    /// conditions (Image Central Object, Image Without Central Object) with <c>palette[4:6]</c>.
    /// last_position_answer_prob.py: <c>hex_colors = ["#f20089", "#5c95ff", "#ffa9a3", "#b9e6ff"]</c> for
    /// Noncapitalized Answer, Capitalized Answer, Noncapitalized False Option, Capitalized False Option.
    /// </summary>
    [SharedFact]
    public void The_Papers_Conditions_Have_The_Papers_Colours()
    {
        string[] set1 = ["#e41a1c", "#377eb8", "#4daf4a", "#984ea3", "#ff7f00", "#ffff33", "#a65628", "#f781bf", "#999999"];   // matplotlib's Set1
        string[] hex = ["#a7c957", "#ffcc00", "#f77f00", "#fe7f2d", "#70d6ff", "#ff70a6"];
        string[] palette = [.. hex[..2], .. set1[0..1], .. set1[1..2], .. set1[2..3], .. set1[7..8]];
        Assert.Equal(palette[..3], new[] { "Question->Last", "Image->Last", "Last->Last" }.Select(ResultNames.ConditionColor));
        Assert.Equal(palette[3..4], new[] { "Image->Question" }.Select(ResultNames.ConditionColor));
        Assert.Equal(palette[4..6], new[] { "Image Central Object->Question", "Image Without Central Object->Question" }
            .Select(b => ResultNames.ConditionColor(PaperFormat.FromPaperBlock(b))));
        Assert.Equal(["#f20089", "#5c95ff", "#ffa9a3", "#b9e6ff"], new[] { "answer_lower", "answer_capital", "false_option_lower", "false_option_capital" }.Select(ResultNames.TokenKindColor));
        Assert.Equal(["Noncapitalized Answer", "Capitalized Answer", "Noncapitalized False Option", "Capitalized False Option"],
            new[] { "answer_lower", "answer_capital", "false_option_lower", "false_option_capital" }.Select(ResultNames.TokenKindLabel));
        Assert.Contains("not in the paper", ResultNames.ConditionStyle("Random Image Patches->Question").ColorSource);
        Assert.Contains("merge_lineplot.py", ResultNames.ConditionStyle("Image->Question").ColorSource);
    }

    [SharedFact]
    public void Lines_That_Overlap_Stay_Distinguishable_Without_Colour()
    {
        string[][] figures =
        [
            ["Question->Last", "Image->Last", "Last->Last"],
            ["Related Image Patches->Question", "Other Image Patches->Question", "Random Image Patches->Question"],
        ];
        foreach (var set in figures)
        {
            var styles = set.Select(ResultNames.ConditionStyle).ToList();
            Assert.Equal(set.Length, styles.Select(s => s.Dash).Distinct().Count());
            Assert.Equal(set.Length, styles.Select(s => s.Marker).Distinct().Count());
        }
        var lens = new[] { "answer_lower", "answer_capital", "false_option_lower", "false_option_capital" }.Select(ResultNames.TokenKindStyle).ToList();
        Assert.Equal(4, lens.Select(s => s.Dash).Distinct().Count());
        Assert.Equal(4, lens.Select(s => s.Marker).Distinct().Count());
        // And the drawn lines carry them: Other vs Random patches in one plot.
        var aggs = Aggregator.Aggregate(SyntheticResults.Knockout(2, tasks: ["ChooseAttr"]).Where(r => r.Experiment == "exp3")
            .Concat(SyntheticResults.Knockout(2, tasks: ["ChooseAttr"]).Where(r => r.BlockDesc == "Other Image Patches->Question").Select(r => r with { BlockDesc = "Random Image Patches->Question" })));
        var lines = Figures.KnockoutPlot(aggs, "ChooseAttr", "exp3").GetPlottables<ScottPlot.Plottables.Scatter>().ToDictionary(l => l.LegendText);
        var other = lines["Other Image Patches\u2192Question"];
        var random = lines["Random Image Patches\u2192Question"];
        Assert.NotEqual(other.MarkerShape, random.MarkerShape);
        Assert.NotEqual(other.LinePattern.Intervals, random.LinePattern.Intervals);
    }

    private static PlotSeries Series(string label, double[] mean, double[]? low = null, double[]? high = null) =>
        new(label, ResultNames.ConditionStyle(label), Enumerable.Range(0, mean.Length).Select(i => (double)i).ToArray(), mean, low ?? mean, high ?? mean, 5, 5);

    [SharedFact]
    public void Legend_Takes_A_Corner_The_Data_Leaves_Free()
    {
        // Flat at 0 (upper corners taken) with a dip at the right end (lower right taken): only lower left is free.
        double[] flat = Enumerable.Repeat(0.0, 40).ToArray();
        double[] dipRight = Enumerable.Range(0, 40).Select(i => i < 30 ? 0.0 : -60.0 * (i - 29) / 10).ToArray();
        var series = new[] { Series("Question->Last", flat), Series("Image->Last", dipRight) };
        var layout = Figures.Layout(series, knockout: true, 640, 480);
        Assert.Equal(LegendPosition.LowerLeft, layout.Legend);
        Assert.False(LegendPlacement.Covers(series, layout.LegendBox()!.Value));
        // Mirror the dip to the left: lower right is the free corner now.
        var mirrored = new[] { Series("Question->Last", flat), Series("Image->Last", dipRight.Reverse().ToArray()) };
        Assert.Equal(LegendPosition.LowerRight, Figures.Layout(mirrored, knockout: true, 640, 480).Legend);
        // A band counts as data too.
        double[] low = dipRight.Select(v => v - 30).ToArray();
        var banded = new[] { Series("Question->Last", flat, flat.Select(_ => -88.0).ToArray(), flat), Series("Image->Last", dipRight, low, dipRight) };
        var l2 = Figures.Layout(banded, knockout: true, 640, 480);
        Assert.NotEqual(LegendPosition.LowerLeft, l2.Legend);
        if (l2.LegendBox() is { } box) Assert.False(LegendPlacement.Covers(banded, box));
    }

    [SharedFact]
    public void Without_A_Free_Corner_The_Legend_Gets_Headroom_Or_Goes_Outside()
    {
        // A zigzag over the whole range covers every corner.
        double[] zig = Enumerable.Range(0, 40).Select(i => i % 2 == 0 ? 0.0 : -80).ToArray();
        var series = new[] { Series("Question->Last", zig), Series("Image->Last", zig.Select(v => v / 2).ToArray()) };
        var layout = Figures.Layout(series, knockout: true, 640, 480);
        Assert.Equal(LegendPosition.UpperRight, layout.Legend);
        Assert.True(layout.YMax > Figures.DataRange(series, true).Max, "headroom above the data");
        Assert.False(LegendPlacement.Covers(series, layout.LegendBox()!.Value));
        // Probabilities may not get an axis far above 100%: the legend goes below the plot instead.
        double[] p = Enumerable.Range(0, 33).Select(i => i % 2 == 0 ? 2.0 : 98).ToArray();
        var lens = new[] { new PlotSeries("Noncapitalized Answer", ResultNames.TokenKindStyle("answer_lower"), Enumerable.Range(0, 33).Select(i => (double)i).ToArray(), p, p, p, 5, 5) };
        var l = Figures.Layout(lens, knockout: false, 640, 480);
        Assert.Equal(LegendPosition.Outside, l.Legend);
        Assert.True(l.YMax <= Figures.LensCeiling);
    }

    [SharedFact]
    public void No_Legend_Covers_Data_In_Any_Figure_Of_A_Paper_Shaped_Run()
    {
        var aggs = Aggregator.Aggregate(SyntheticResults.Knockout(8));
        var lens = Aggregator.AggregateLens(SyntheticResults.Lens(6));
        int corners = 0;
        foreach (var (task, exp) in aggs.Select(a => (a.Task, a.Experiment)).Distinct())
        {
            var series = Figures.KnockoutSeries(aggs, task, exp);
            var layout = Figures.Layout(series, knockout: true, 640, 480);
            if (layout.LegendBox() is { } box) { corners++; Assert.False(LegendPlacement.Covers(series, box), $"{task} {exp}: {layout.Legend}"); }
        }
        foreach (var task in lens.Select(a => a.Task).Distinct())
        {
            var series = Figures.LensSeries(lens, task);
            var layout = Figures.Layout(series, knockout: false, 640, 480);
            if (layout.LegendBox() is { } box) { corners++; Assert.False(LegendPlacement.Covers(series, box), $"lens {task}: {layout.Legend}"); }
        }
        Assert.True(corners > 10, $"only {corners} figures placed their legend inside");
    }

    [SharedFact]
    public void Bands_Stop_At_What_Is_Possible()
    {
        LayerAggregate A(int layer, double mean, double low, double high) => new("T", "e", "Image->Last", "first", layer, 3, mean, 1, low, high);
        var k = Figures.KnockoutSeries([A(0, -90, -131, -49), A(1, -10, -20, 0)], "T", "e").Single();
        Assert.Equal([-100, -20], k.Low);
        Assert.Equal([-49, 0], k.High);
        Assert.True(Figures.DataRange([k], knockout: true).Min >= -103);
        LensAggregate L(int layer, double lowRaw, double highRaw) => new("T", "answer_lower", layer, 3, 0.5, 0.1, lowRaw, highRaw, 0.5, 0.1, 0.4, 0.6);
        var l = Figures.LensSeries([L(0, -0.2, 0.9), L(1, 0.3, 1.4)], "T").Single();
        Assert.Equal([0, 30], l.Low);
        Assert.Equal([90, 100], l.High);
    }

    [SharedFact]
    public void Titles_Say_What_Was_Knocked_Out_The_Window_The_Model_And_N()
    {
        var aggs = Aggregator.Aggregate(SyntheticResults.Knockout(12, tasks: ["ChooseAttr"]));
        var plot = Figures.KnockoutPlot(aggs, "ChooseAttr", "exp1", options: new FigureOptions { ModelName = "llava-1.5-7b" });
        var title = plot.Axes.Title.Label.Text;
        Assert.Equal("ChooseAttr \u2014 Experiment 1: Image/Question/Last \u2192 Last\nwindow 9 \u00b7 llava-1.5-7b \u00b7 N = 12", title);
        Assert.Equal("Experiment 3: Related/Other/Random Image Patches \u2192 Question",
            ResultNames.ExperimentTitle("3", ["Random Image Patches->Question", "Related Image Patches->Question", "Other Image Patches->Question"]));
        Assert.Equal("custom: True/False Option \u2192 Last", ResultNames.ExperimentTitle("custom", ["False Option->Last", "True Option->Last"]));
        var lens = Figures.LensPlot(Aggregator.AggregateLens(SyntheticResults.Lens(4, tasks: ["QueryAttr"])), "QueryAttr");
        Assert.StartsWith("QueryAttr \u2014 Experiment 4: logit lens at the last position (raw)\nN = 4", lens.Axes.Title.Label.Text);
    }

    [SharedFact]
    public void A_Shared_Panel_Axis_Gives_Every_Task_One_Range()
    {
        var aggs = Aggregator.Aggregate(SyntheticResults.Knockout(6));
        var cells = ResultNames.PaperTasks.Select(t => Figures.KnockoutSeries(aggs, t, "exp2")).ToList();
        var shared = Figures.PanelYRanges(cells, knockout: true, shared: true);
        var own = Figures.PanelYRanges(cells, knockout: true, shared: false);
        Assert.Single(shared.Distinct());
        Assert.True(own.Distinct().Count() > 1);
        Assert.All(own, r => Assert.True(shared[0].Min <= r.Min && shared[0].Max >= r.Max));
    }

    [SharedFact]
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

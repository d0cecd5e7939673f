using ModalFlow.Tests.Data;
using ModalFlow.Tests.Support;
using ModalFlow.Vision;
using Xunit;
using Xunit.Abstractions;

namespace ModalFlow.Tests.Vision;

public class AnyresTests(ITestOutputHelper output)
{
    private static AnyresPlan Plan(int w, int h, AnyresArithmetic a) => Anyres.Plan(w, h, Anyres.LlavaNextPinpoints, a);

    /// <summary>
    /// Every row of data/anyres-cases.md's worked-examples table: canvas, grid, resized size, paste offset, feature grid,
    /// unpad cut (side), kept grid, tokens. "transformers" rows there are the rounding release for 110x352 (the doc:
    /// v4.44.2 truncates like the original), so that row is checked against <see cref="AnyresArithmetic.TransformersRound7"/>.
    /// </summary>
    [SharedTheory]
    // W, H, arithmetic, canvas a x b, cols x rows, resized, paste, Hc x Wc, cut, rows?, kept rows x cols, tokens
    [InlineData(500, 375, AnyresArithmetic.LlavaNext, 672, 672, 2, 2, 672, 505, 0, 83, 48, 48, 6, true, 36, 48, 2340)]
    [InlineData(375, 500, AnyresArithmetic.LlavaNext, 672, 672, 2, 2, 505, 672, 83, 0, 48, 48, 6, false, 48, 36, 2352)]
    [InlineData(640, 480, AnyresArithmetic.LlavaNext, 672, 672, 2, 2, 672, 504, 0, 84, 48, 48, 6, true, 36, 48, 2340)]
    [InlineData(500, 334, AnyresArithmetic.LlavaNext, 672, 336, 2, 1, 503, 336, 84, 0, 24, 48, 6, false, 24, 36, 1464)]
    [InlineData(1024, 411, AnyresArithmetic.LlavaNext, 1008, 336, 3, 1, 838, 336, 85, 0, 24, 72, 6, false, 24, 60, 2040)]
    [InlineData(320, 240, AnyresArithmetic.LlavaNext, 336, 672, 1, 2, 336, 252, 0, 210, 48, 24, 15, true, 18, 24, 1026)]
    [InlineData(320, 240, AnyresArithmetic.Transformers, 672, 336, 2, 1, 448, 336, 112, 0, 24, 48, 8, false, 24, 32, 1368)]
    [InlineData(110, 352, AnyresArithmetic.LlavaNext, 336, 672, 1, 2, 210, 672, 63, 0, 48, 24, 5, false, 48, 14, 1296)]
    [InlineData(110, 352, AnyresArithmetic.Transformers, 336, 672, 1, 2, 210, 672, 63, 0, 48, 24, 5, false, 48, 14, 1296)]
    [InlineData(110, 352, AnyresArithmetic.TransformersRound7, 336, 672, 1, 2, 210, 672, 63, 0, 48, 24, 4, false, 48, 16, 1392)]
    // transformers gives the same numbers for the three requested sizes and 500x334, 1024x411:
    [InlineData(500, 375, AnyresArithmetic.Transformers, 672, 672, 2, 2, 672, 505, 0, 83, 48, 48, 6, true, 36, 48, 2340)]
    [InlineData(375, 500, AnyresArithmetic.Transformers, 672, 672, 2, 2, 505, 672, 83, 0, 48, 48, 6, false, 48, 36, 2352)]
    [InlineData(640, 480, AnyresArithmetic.Transformers, 672, 672, 2, 2, 672, 504, 0, 84, 48, 48, 6, true, 36, 48, 2340)]
    [InlineData(500, 334, AnyresArithmetic.Transformers, 672, 336, 2, 1, 503, 336, 84, 0, 24, 48, 6, false, 24, 36, 1464)]
    [InlineData(1024, 411, AnyresArithmetic.Transformers, 1008, 336, 3, 1, 838, 336, 85, 0, 24, 72, 6, false, 24, 60, 2040)]
    public void Plan_Reproduces_The_Worked_Examples(int w, int h, AnyresArithmetic arithmetic, int a, int b, int cols, int rows,
        int rw, int rh, int px, int py, int hc, int wc, int cut, bool cutRows, int keptRows, int keptCols, int tokens)
    {
        var p = Plan(w, h, arithmetic);
        output.WriteLine(p.ToString());
        Assert.Equal((a, b), (p.CanvasWidth, p.CanvasHeight));
        Assert.Equal((cols, rows), (p.GridCols, p.GridRows));
        Assert.Equal(cols * rows + 1, p.CropCount);
        Assert.Equal((rw, rh), (p.ResizedWidth, p.ResizedHeight));
        Assert.Equal((px, py), (p.PasteX, p.PasteY));
        Assert.Equal((hc, wc), (p.FeatureRows, p.FeatureCols));
        Assert.Equal((cut, cutRows ? AnyresUnpadAxis.Rows : AnyresUnpadAxis.Columns), (p.UnpadCut, p.UnpadAxis));
        Assert.Equal((keptRows, keptCols), (p.KeptRows, p.KeptCols));
        Assert.Equal(tokens, p.ImageTokenCount);
        Assert.Equal(576 + keptRows * (keptCols + 1), p.ImageTokenCount);
    }

    /// <summary>The other images of anyres-cases.md, the same in both arithmetics.</summary>
    [SharedTheory]
    [InlineData(1024, 899, 42, 48, 2634)]
    [InlineData(1439, 1439, 48, 48, 2928)]
    [InlineData(800, 533, 32, 48, 2144)]
    [InlineData(1000, 667, 32, 48, 2144)]
    [InlineData(570, 380, 32, 48, 2144)]
    [InlineData(682, 1024, 48, 32, 2160)]
    public void Plan_Other_Sizes_Agree_In_Both_Arithmetics(int w, int h, int keptRows, int keptCols, int tokens)
    {
        foreach (var arithmetic in Enum.GetValues<AnyresArithmetic>())
        {
            var p = Plan(w, h, arithmetic);
            Assert.Equal((672, 672), (p.CanvasWidth, p.CanvasHeight));
            Assert.Equal((keptRows, keptCols, tokens), (p.KeptRows, p.KeptCols, p.ImageTokenCount));
        }
        Assert.Equal((672, 590), (Plan(1024, 899, AnyresArithmetic.LlavaNext).ResizedWidth, Plan(1024, 899, AnyresArithmetic.LlavaNext).ResizedHeight));
    }

    /// <summary>The double trap: 375·(672/500) = 504.00000000000006 → ceil 505 (the exact product would give 504).</summary>
    [SharedFact]
    public void Resize_Uses_Scale_Then_Product_In_Doubles()
    {
        Assert.Equal(504.00000000000006, 375 * (672.0 / 500));
        Assert.Equal(505, Plan(500, 375, AnyresArithmetic.LlavaNext).ResizedHeight);
        Assert.Equal(505, Plan(375, 500, AnyresArithmetic.LlavaNext).ResizedWidth);
    }

    /// <summary>tiny-llava-next case.json (transformers v4.44.2): unpadded_feature_rows/cols and n_image_tokens.</summary>
    [SharedTheory]
    [InlineData("ironing_rel", 2144)]
    [InlineData("tree_attr", 2160)]
    [InlineData("dog_jar", 2928)]
    public void Plan_Matches_Tiny_LlavaNext_Fixture_Cases(string id, int tokens)
    {
        var c = FixtureCase.Load("tiny-llava-next", id);
        var wh = c.Json.GetProperty("image_size_wh").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        foreach (var arithmetic in Enum.GetValues<AnyresArithmetic>())
        {
            var p = Plan(wh[0], wh[1], arithmetic);
            Assert.Equal(c.Json.GetProperty("unpadded_feature_rows").GetInt32(), p.KeptRows);
            Assert.Equal(c.Json.GetProperty("unpadded_feature_cols").GetInt32(), p.KeptCols);
            Assert.Equal(c.NumImageTokens, p.ImageTokenCount);
            Assert.Equal(tokens, p.ImageTokenCount);
        }
    }

    /// <summary>
    /// anyres-cases.md: over the 461 distinct CSV sizes the original and transformers differ only for images with both
    /// sides &lt;= 336 (tie-break): 320x240 1026 vs 1368, 240x320 1376 vs 1032, 240x166 976 vs 1416, 176x144 1076 vs 1320,
    /// 256x256 same count 1176 on a different grid.
    /// </summary>
    [SharedFact]
    public void Csv_Sizes_Differ_Between_Arithmetics_Only_On_The_Documented_Tie_Breaks()
    {
        var sizes = GqaTaskReaderTests.All.Values.SelectMany(t => t.Rows).Select(r => (r.ImageWidth, r.ImageHeight)).Distinct().ToList();
        Assert.Equal(461, sizes.Count);
        var differing = new SortedDictionary<string, string>();
        foreach (var (w, h) in sizes)
        {
            var o = Plan(w, h, AnyresArithmetic.LlavaNext);
            var t = Plan(w, h, AnyresArithmetic.Transformers);
            if (o.CanvasWidth != t.CanvasWidth || o.CanvasHeight != t.CanvasHeight || o.ImageTokenCount != t.ImageTokenCount)
                differing[$"{w}x{h}"] = $"{o.ImageTokenCount} vs {t.ImageTokenCount} ({o.GridCols}x{o.GridRows} vs {t.GridCols}x{t.GridRows})";
            Assert.Equal(t, Plan(w, h, AnyresArithmetic.TransformersRound7) with { Arithmetic = AnyresArithmetic.Transformers }); // no rounding case in the CSVs
        }
        foreach (var kv in differing) output.WriteLine($"{kv.Key}: {kv.Value}");
        Assert.Equal(new Dictionary<string, string>
        {
            ["176x144"] = "1076 vs 1320 (1x2 vs 2x1)",
            ["240x166"] = "976 vs 1416 (1x2 vs 2x1)",
            ["240x320"] = "1376 vs 1032 (1x2 vs 2x1)",
            ["256x256"] = "1176 vs 1176 (1x2 vs 2x1)",
            ["320x240"] = "1026 vs 1368 (1x2 vs 2x1)",
        }, differing);
    }

    /// <summary>
    /// anyres-cases.md: int(round(x, 7)) vs int(x) in unpad disagree for 28 sizes in 100…1300 x 100…1300 (among them
    /// 110x352, 205x656, 205x984, 220x1056, 235x1128, 328x861, 352x110, 352x748) — counted, as here, between the original
    /// and the rounding transformers where both pick the same canvas. On one arithmetic's own canvases the rounding
    /// matters for 31 sizes: 3 more with both sides &lt;= 336 (110x176, 198x176, 205x328 on transformers' canvas), where
    /// the two code bases pick different canvases anyway.
    /// </summary>
    [SharedFact]
    public void Round7_Differs_From_Truncation_On_28_Same_Canvas_Sizes_Up_To_1300()
    {
        var sameCanvas = new List<(int, int)>();
        var ownCanvas = new List<(int, int)>();
        for (int w = 100; w <= 1300; w++)
        {
            for (int h = 100; h <= 1300; h++)
            {
                var o = Plan(w, h, AnyresArithmetic.LlavaNext);
                var t = Plan(w, h, AnyresArithmetic.Transformers);
                var r = Plan(w, h, AnyresArithmetic.TransformersRound7);
                Assert.Equal((t.CanvasWidth, t.CanvasHeight, t.ResizedWidth, t.ResizedHeight), (r.CanvasWidth, r.CanvasHeight, r.ResizedWidth, r.ResizedHeight));
                if ((o.CanvasWidth, o.CanvasHeight) == (r.CanvasWidth, r.CanvasHeight) && (o.KeptRows, o.KeptCols) != (r.KeptRows, r.KeptCols))
                    sameCanvas.Add((w, h));
                if ((t.KeptRows, t.KeptCols) != (r.KeptRows, r.KeptCols)) ownCanvas.Add((w, h));
            }
        }
        output.WriteLine(string.Join(", ", sameCanvas.Select(s => $"{s.Item1}x{s.Item2}")));
        Assert.Equal(28, sameCanvas.Count);
        Assert.Subset(sameCanvas.ToHashSet(), new HashSet<(int, int)> { (110, 352), (205, 656), (205, 984), (220, 1056), (235, 1128), (328, 861), (352, 110), (352, 748) });
        Assert.Equal([(110, 176), (198, 176), (205, 328)], ownCanvas.Except(sameCanvas).Order().ToArray());
    }

    [SharedFact]
    public void Newline_And_Token_Offsets_Follow_The_Unpadded_Layout()
    {
        var p = Plan(500, 375, AnyresArithmetic.LlavaNext); // 36 x 48 kept, rows 6..41
        var newlines = p.NewlineOffsets();
        Assert.Equal(36, newlines.Length);
        Assert.Equal(576 + 48, newlines[0]);
        Assert.Equal(p.ImageTokenCount - 1, newlines[^1]);
        Assert.Equal(-1, p.TokenOffset(5, 0));
        Assert.Equal(576, p.TokenOffset(6, 0));
        Assert.Equal(576 + 49 + 47, p.TokenOffset(7, 47));
        Assert.Equal(-1, p.TokenOffset(42, 10));
        Assert.Throws<ArgumentOutOfRangeException>(() => p.TokenOffset(48, 0));
        // every token offset is used once: base, cells, newlines
        var used = new bool[p.ImageTokenCount];
        for (int i = 0; i < 576; i++) used[i] = true;
        for (int r = 0; r < p.FeatureRows; r++)
            for (int c = 0; c < p.FeatureCols; c++)
                if (p.TokenOffset(r, c) is var o and >= 0) { Assert.False(used[o]); used[o] = true; }
        foreach (var n in newlines) { Assert.False(used[n]); used[n] = true; }
        Assert.All(used, Assert.True);
    }

    [SharedFact]
    public void Bad_Pinpoints_Are_Input_Errors_And_Degenerate_Images_Follow_Python()
    {
        Assert.Equal("image_grid_pinpoints", Assert.Throws<InputException>(() => Anyres.Plan(10, 10, [], AnyresArithmetic.LlavaNext)).Field);
        Assert.Equal("image_grid_pinpoints", Assert.Throws<InputException>(() => Anyres.Plan(10, 10, [(336, 500)], AnyresArithmetic.LlavaNext)).Field);
        // Python's arithmetic, not an error: every effective area is 0, the first least wasteful canvas wins, unpad keeps no column.
        var thin = Plan(1, 5000, AnyresArithmetic.LlavaNext);
        Assert.Equal((336, 672, 1, 672, 48, 0, 576 + 48), (thin.CanvasWidth, thin.CanvasHeight, thin.ResizedWidth, thin.ResizedHeight, thin.KeptRows, thin.KeptCols, thin.ImageTokenCount));
        Assert.Throws<ArgumentOutOfRangeException>(() => Plan(0, 5, AnyresArithmetic.LlavaNext));
    }

    /// <summary>
    /// pixel_values/llava_next_anyres/&lt;stem&gt;.npy [5, 3, 336, 336] (transformers LlavaNextImageProcessor, bit-identical to
    /// LLaVA-NeXT's process_anyres_image): base squashed first, then the 2x2 tiles of the 672x672 canvas row-major.
    /// </summary>
    [SharedTheory]
    [InlineData("extreme_ironing", "extreme_ironing.rgb.png")]
    [InlineData("extreme_ironing", "extreme_ironing.jpg")]
    [InlineData("tree", "tree.png")]
    [InlineData("dog", "dog.rgb.png")]
    [InlineData("dog", "dog.jpg")]
    public void PixelTiles_Equal_The_LlavaNext_Fixture(string stem, string file)
    {
        var golden = NpyArray.Load(SharedData.Fixture("pixel_values", "llava_next_anyres", stem + ".npy"));
        var image = ImageDecoder.Decode(SharedData.Fixture("images", file));
        foreach (var arithmetic in new[] { AnyresArithmetic.LlavaNext, AnyresArithmetic.Transformers })
        {
            var plan = Plan(image.Width, image.Height, arithmetic);
            Assert.Equal(golden.Shape, new long[] { plan.CropCount, 3, 336, 336 });
            var values = Anyres.PixelTiles(image, plan, ImageProcessingOptions.LlavaHf);
            double max = Compare.AllClose(golden.AsFloats(), values, 1e-5, $"{file} anyres ({arithmetic})");
            output.WriteLine($"{file} {plan}: max abs diff {max:E3}");
            Assert.Equal(0, max);
        }
    }

    /// <summary>Geometry only: the pad is black, tiles cover the canvas row-major, the base is a squash.</summary>
    [SharedFact]
    public void GeometryTiles_Pad_Black_And_Cut_The_Canvas_Row_Major()
    {
        var white = new Rgb8(255, 255, 255);
        var image = RgbImage.Filled(320, 240, white);
        var plan = Plan(320, 240, AnyresArithmetic.LlavaNext); // 336x672 canvas, 336x252 at (0, 210): rows 210..461
        var crops = Anyres.GeometryTiles(image, plan);
        Assert.Equal(3, crops.Length);
        Assert.All(crops, c => Assert.Equal((336, 336), (c.Width, c.Height)));
        Assert.Equal(white, crops[0].GetPixel(0, 0));
        Assert.Equal(white, crops[0].GetPixel(335, 335));
        Assert.Equal(Rgb8.Black, crops[1].GetPixel(100, 209));
        Assert.Equal(white, crops[1].GetPixel(100, 210));
        Assert.Equal(white, crops[2].GetPixel(100, 461 - 336));
        Assert.Equal(Rgb8.Black, crops[2].GetPixel(100, 462 - 336));
        Assert.Throws<ArgumentException>(() => Anyres.GeometryTiles(RgbImage.Filled(5, 5, white), plan));
    }

    [SharedFact]
    public void PixelTiles_Reject_Options_That_Do_Not_Give_A_Tile()
    {
        var image = RgbImage.Filled(10, 10, Rgb8.Black);
        var plan = Plan(10, 10, AnyresArithmetic.LlavaNext);
        var options = new ImageProcessingOptions { CropHeight = 224, CropWidth = 224 };
        Assert.Equal("crop_size", Assert.Throws<InputException>(() => Anyres.PixelTiles(image, plan, options)).Field);
    }
}

using System.Text.Json;
using ModalFlow.Families.Qwen2Vl;
using ModalFlow.Tests.Support;
using ModalFlow.Vision;
using Xunit;
using Xunit.Abstractions;

namespace ModalFlow.Tests.Families.Qwen2Vl;

public class Qwen2VlImageProcessorTests(ITestOutputHelper log)
{
    private static readonly Qwen2VlImageProcessor Tiny = new(Qwen2VlImageProcessorOptions.Load(TinyQwen2Vl.Dir));

    [SharedFact]
    public void Fixture_Preprocessor_Config_Is_Read_Field_By_Field()
    {
        var json = JsonDocument.Parse(File.ReadAllText(TinyQwen2Vl.File("preprocessor_config.json"))).RootElement;
        var o = Tiny.Options;
        Assert.Equal(json.GetProperty("min_pixels").GetInt64(), o.MinPixels);
        Assert.Equal(json.GetProperty("max_pixels").GetInt64(), o.MaxPixels);
        Assert.Equal(json.GetProperty("patch_size").GetInt32(), o.PatchSize);
        Assert.Equal(json.GetProperty("merge_size").GetInt32(), o.MergeSize);
        Assert.Equal(json.GetProperty("temporal_patch_size").GetInt32(), o.TemporalPatchSize);
        Assert.Equal(json.GetProperty("resample").GetInt32(), o.Resample);
        Assert.Equal(json.GetProperty("rescale_factor").GetDouble(), o.RescaleFactor);
        Assert.Equal(json.GetProperty("image_mean").EnumerateArray().Select(e => e.GetDouble()), o.ImageMean);
        Assert.Equal(json.GetProperty("image_std").EnumerateArray().Select(e => e.GetDouble()), o.ImageStd);
        Assert.Equal(1176, Tiny.PatchDim);
        o.CheckAgainst(Qwen2VlConfig.Load(TinyQwen2Vl.Dir).Vision);
    }

    /// <summary>transformers' pixel_values and image_grid_thw, from the image file and (JPEGs) from Pillow's decoded pixels.</summary>
    [SharedTheory]
    [MemberData(nameof(TinyQwen2Vl.Cases), MemberType = typeof(TinyQwen2Vl))]
    public void Pixel_Values_And_Grid_Equal_Transformers_From_The_Image_File_And_Decoded_Rgb(string id)
    {
        var c = TinyQwen2Vl.Case(id);
        var expected = c.Array("pixel_values");
        var grid = TinyQwen2Vl.Grid(c);
        var resized = c.Json.GetProperty("geometry").GetProperty("resized_hw").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var files = new List<string> { c.ImagePath };
        var rgb = Path.ChangeExtension(c.ImagePath, ".rgb.png");
        if (File.Exists(rgb)) files.Add(rgb);
        foreach (var file in files)
        {
            var px = Tiny.Preprocess(file);
            Assert.Equal(grid, px.Grid);
            Assert.Equal(resized, new[] { px.Plan.ResizedHeight, px.Plan.ResizedWidth });
            Assert.Equal(expected.Shape, new long[] { px.PatchCount, px.PatchDim });
            Assert.Equal(c.NumImageTokens, px.Plan.ImageTokenCount);
            var d = Compare.AllClose(expected.AsFloats(), px.Values, 1e-5, $"{c} {Path.GetFileName(file)} pixel_values");
            log.WriteLine($"{c} {Path.GetFileName(file)}: grid {px.Grid}, max |Δ| {d:E2}");
        }
    }

    /// <summary>Expected values printed by transformers v4.45.1's own smart_resize (python3 floats) for these inputs.</summary>
    [SharedTheory]
    [InlineData(10000, 10000, 3136, 12845056, 3556, 3556)] // exact arithmetic would give 128·28 = 3584; Python's floats give 127.99… → 127
    [InlineData(28, 5600, 3136, 12845056, 28, 5600)]       // aspect ratio exactly 200 is allowed
    [InlineData(29, 5800, 3136, 12845056, 28, 5796)]
    [InlineData(500, 462, 3136, 12845056, 504, 448)]       // 462 / 28 = 16.5 → 16 (half to even)
    [InlineData(42, 42, 3136, 12845056, 56, 56)]           // 1.5 → 2
    [InlineData(70, 70, 3136, 12845056, 56, 56)]           // 2.5 → 2
    [InlineData(30, 40, 3136, 12845056, 56, 84)]           // below min_pixels: ceil
    [InlineData(28, 28, 3136, 12845056, 56, 56)]
    [InlineData(4000, 3000, 3136, 12845056, 4004, 2996)]
    [InlineData(8000, 6000, 3136, 12845056, 4116, 3080)]   // above max_pixels: floor
    [InlineData(100000, 500, 3136, 12845056, 50680, 252)]
    [InlineData(2000, 700, 3136, 12845056, 1988, 700)]
    [InlineData(1439, 1439, 50176, 112896, 308, 308)]
    [InlineData(380, 570, 50176, 112896, 252, 392)]
    [InlineData(1024, 682, 50176, 112896, 392, 252)]
    [InlineData(700, 2000, 50176, 112896, 196, 560)]
    public void SmartResize_Equals_The_Reference_Function(int h, int w, long min, long max, int rh, int rw)
    {
        Assert.Equal((rh, rw), SmartResize.Compute(h, w, 28, min, max));
        Assert.Equal((rh, rw), Plain(h, w, 28, min, max));
    }

    /// <summary>
    /// The reference's ValueErrors (a side below 28, aspect ratio above 200) and its PIL failure (the floor branch giving
    /// a 0-px side: transformers' smart_resize(5600, 28, 28, 50176, 112896) returns (4732, 0)) are input errors here.
    /// </summary>
    [SharedTheory]
    [InlineData(27, 100, 3136, 12845056)]
    [InlineData(100, 27, 3136, 12845056)]
    [InlineData(3, 1000, 3136, 12845056)]
    [InlineData(28, 5601, 3136, 12845056)]
    [InlineData(5600, 28, 50176, 112896)]
    public void SmartResize_Refuses_What_The_Reference_Cannot_Process(int h, int w, long min, long max)
    {
        var e = Assert.Throws<InputException>(() => SmartResize.Compute(h, w, 28, min, max, "img.jpg"));
        log.WriteLine(e.Message);
        Assert.Equal("img.jpg", e.File);
        Assert.Equal("image size", e.Field);
    }

    /// <summary>Random sizes and pixel limits: the implementation equals a plain transcription with integer half-to-even rounding.</summary>
    [SharedFact]
    public void SmartResize_Equals_A_Plain_Transcription_On_Random_Sizes()
    {
        var rng = new Random(16);
        int checkedCount = 0;
        for (int n = 0; n < 20000; n++)
        {
            int h = rng.Next(28, 5000), w = rng.Next(28, 5000);
            if ((double)Math.Max(h, w) / Math.Min(h, w) > 200) continue;
            long min = rng.Next(1, 200) * 784L, max = min + rng.Next(0, 20000) * 784L;
            var expected = Plain(h, w, 28, min, max);
            if (expected.Height < 1 || expected.Width < 1)
            {
                Assert.Throws<InputException>(() => SmartResize.Compute(h, w, 28, min, max));
                continue;
            }
            Assert.Equal(expected, SmartResize.Compute(h, w, 28, min, max));
            Assert.True(expected.Height % 28 == 0 && expected.Width % 28 == 0);
            checkedCount++;
        }
        Assert.True(checkedCount > 15000, $"{checkedCount} sizes checked");
    }

    /// <summary>
    /// The patch layout against numpy's reshape (t, T, C, gh/m, m, P, gw/m, m, P) + transpose (0, 3, 6, 4, 7, 2, 1, 5, 8),
    /// written as index arithmetic: with rescale and normalise off each value is its source byte.
    /// </summary>
    [SharedFact]
    public void Patch_Layout_Is_The_Reference_Reshape_And_Transpose()
    {
        var proc = new Qwen2VlImageProcessor(Qwen2VlImageProcessorOptions.Instruct with { DoRescale = false, DoNormalize = false });
        int width = 84, height = 56; // already a smart_resize fixed point: no resampling
        var image = RgbImage.Filled(width, height, Rgb8.Black);
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++) image.SetPixel(x, y, new Rgb8((byte)x, (byte)y, (byte)((x * 7 + y * 13) % 256)));
        var px = proc.Preprocess(image);
        const int P = 14, M = 2, T = 2, C = 3;
        int gh = height / P, gw = width / P;
        Assert.Equal(new Qwen2VlImageGrid(1, gh, gw), px.Grid);
        for (int row = 0; row < px.PatchCount; row++)
        {
            // row = ((wr · gw/M + wc) · M + i) · M + j  (t = 0)
            int j = row % M, i = row / M % M, wc = row / (M * M) % (gw / M), wr = row / (M * M) / (gw / M);
            for (int k = 0; k < C * T * P * P; k++)
            {
                int xx = k % P, yy = k / P % P, c = k / (P * P * T);
                int y = (wr * M + i) * P + yy, x = (wc * M + j) * P + xx;
                float expected = image.Pixels[(y * width + x) * 3 + c];
                if (px.Values[row * px.PatchDim + k] != expected)
                    Assert.Fail($"pixel_values[{row}, {k}] = {px.Values[row * px.PatchDim + k]}, expected {expected} (pixel ({x}, {y}) channel {c})");
            }
        }
    }

    [SharedFact]
    public void Token_Count_Is_The_Merged_Grid_Of_The_Resized_Size()
    {
        var proc = Qwen2VlImageProcessor.Instruct();
        foreach (var (w, h) in new[] { (640, 480), (500, 462), (40, 30), (1280, 960), (1439, 1439) })
        {
            var (rh, rw) = Plain(h, w, 28, 3136, 12845056);
            Assert.Equal(rh / 28 * (rw / 28), proc.ImageTokenCount(w, h));
            Assert.Equal(new Qwen2VlImageGrid(1, rh / 14, rw / 14), proc.Plan(w, h).Grid);
        }
    }

    public static TheoryData<string, string> BadPreprocessorConfigs => new()
    {
        { """{"image_processor_type": "CLIPImageProcessor"}""", "image_processor_type" },
        { """{"min_pixels": 3136, "max_pixels": 100}""", "max_pixels" },
        { """{"resample": 2}""", "resample" },
        { """{"min_pixels": 3136, "max_pixels": 12845056, "size": {"min_pixels": 3136, "max_pixels": 1003520}}""", "size.max_pixels" },
        { """{"min_pixels": 3136, "size": {"shortest_edge": 56}}""", "size.shortest_edge" },
        { """{"patch_size": 0}""", "patch_size" },
        { """{"merge_size": "two"}""", "merge_size" },
        { """{"image_std": [0.5, 0.5]}""", "image_std" },
    };

    [SharedTheory]
    [MemberData(nameof(BadPreprocessorConfigs))]
    public void Bad_Preprocessor_Config_Is_An_Input_Error_Naming_The_File_And_Field(string json, string field)
    {
        using var dir = new TempFolder();
        var file = Path.Combine(dir.Path, Qwen2VlImageProcessorOptions.FileName);
        File.WriteAllText(file, json);
        var e = Assert.Throws<InputException>(() => Qwen2VlImageProcessorOptions.Load(dir.Path));
        log.WriteLine(e.Message);
        Assert.Equal(file, e.File);
        Assert.Equal(field, e.Field);
    }

    [SharedFact]
    public void Consistent_Size_Block_Is_Accepted_And_Missing_File_Gives_Class_Defaults()
    {
        using var dir = new TempFolder();
        Assert.Equal(new Qwen2VlImageProcessorOptions(), Qwen2VlImageProcessorOptions.Load(dir.Path));
        File.WriteAllText(Path.Combine(dir.Path, Qwen2VlImageProcessorOptions.FileName),
            """{"min_pixels": 3136, "max_pixels": 12845056, "size": {"shortest_edge": 3136, "longest_edge": 12845056}}""");
        var o = Qwen2VlImageProcessorOptions.Load(dir.Path);
        Assert.Equal((3136L, 12845056L), (o.MinPixels, o.MaxPixels));
    }

    [SharedFact]
    public void Processor_That_Cuts_Other_Patches_Than_The_Model_Is_An_Input_Error()
    {
        var vision = Qwen2VlConfig.Load(TinyQwen2Vl.Dir).Vision;
        var e = Assert.Throws<InputException>(() => (Qwen2VlImageProcessorOptions.Instruct with { MergeSize = 3 }).CheckAgainst(vision, "p.json"));
        Assert.Equal("merge_size", e.Field);
        Assert.Contains("spatial_merge_size = 2", e.Message);
    }

    [SharedFact]
    public void Without_Resize_The_Image_Must_Already_Be_A_Multiple_Of_28()
    {
        var proc = new Qwen2VlImageProcessor(Qwen2VlImageProcessorOptions.Instruct with { DoResize = false });
        Assert.Equal(new Qwen2VlImageGrid(1, 4, 6), proc.Plan(84, 56).Grid);
        Assert.Equal("image size", Assert.Throws<InputException>(() => proc.Plan(85, 56)).Field);
    }

    /// <summary>smart_resize transcribed plainly: round half to even with integers, then Python's float floor/ceil branches.</summary>
    private static (int Height, int Width) Plain(int h, int w, int factor, long min, long max)
    {
        static long RoundDiv(int v, int f)
        {
            long q = v / f, twice = 2L * (v % f);
            return twice > f || (twice == f && q % 2 == 1) ? q + 1 : q;
        }
        long hb = RoundDiv(h, factor) * factor, wb = RoundDiv(w, factor) * factor;
        if (hb * wb > max)
        {
            double beta = Math.Sqrt((double)h * w / max);
            hb = (long)Math.Floor(h / beta / factor) * factor;
            wb = (long)Math.Floor(w / beta / factor) * factor;
        }
        else if (hb * wb < min)
        {
            double beta = Math.Sqrt((double)min / ((double)h * w));
            hb = (long)Math.Ceiling(h * beta / factor) * factor;
            wb = (long)Math.Ceiling(w * beta / factor) * factor;
        }
        return ((int)hb, (int)wb);
    }

    private sealed class TempFolder : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("mf-qwen2vl-").FullName;
        public void Dispose() => Directory.Delete(Path, true);
    }
}

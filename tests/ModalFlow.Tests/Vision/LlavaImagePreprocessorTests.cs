using System.Text.Json;
using ModalFlow.Tests.Support;
using ModalFlow.Vision;
using Xunit;
using Xunit.Abstractions;

namespace ModalFlow.Tests.Vision;

public class LlavaImagePreprocessorTests(ITestOutputHelper output)
{
    /// <summary>
    /// pixel_values/llava15_pad/&lt;stem&gt;.npy [1, 3, 336, 336] were made by LLaVA's process_images ("pad") with
    /// transformers 4.44.2 and Pillow 9.4. Checked from the Pillow-decoded .rgb.png and from the original file.
    /// </summary>
    [SharedTheory]
    [InlineData("extreme_ironing", "extreme_ironing.rgb.png")]
    [InlineData("extreme_ironing", "extreme_ironing.jpg")]
    [InlineData("tree", "tree.png")]
    [InlineData("dog", "dog.rgb.png")]
    [InlineData("dog", "dog.jpg")]
    public void Preprocess_Pad_Matches_Reference_PixelValues(string stem, string file)
    {
        var golden = NpyArray.Load(SharedData.Fixture("pixel_values", "llava15_pad", stem + ".npy"));
        Assert.Equal(new long[] { 1, 3, 336, 336 }, golden.Shape);

        var result = LlavaImagePreprocessor.Llava15Pad().Preprocess(SharedData.Fixture("images", file));

        Assert.Equal(new[] { 3, 336, 336 }, result.Shape);
        Assert.Equal(ImageMode.Pad, result.Mode);
        double max = Compare.AllClose(golden.AsFloats(), result.PixelValues, 1e-5, $"{file} llava15_pad pixel_values");
        output.WriteLine($"{file}: max abs diff vs llava15_pad/{stem}.npy = {max:E3}");
    }

    /// <summary>
    /// manifest.json → preprocessing → llava15_pad_vs_hf_clip_no_pad_max_abs_diff: the difference between the pad
    /// golden and llava-hf's plain CLIPImageProcessor (no padding) output, as measured by the fixture builders.
    /// </summary>
    [SharedTheory]
    [InlineData("extreme_ironing", "extreme_ironing.rgb.png", 3.7225985527038574)]
    [InlineData("tree", "tree.png", 3.611896514892578)]
    [InlineData("dog", "dog.rgb.png", 0.0)]
    public void Preprocess_Crop_Differs_From_Pad_Golden_By_Manifest_MaxDiff(string stem, string file, double expectedMaxDiff)
    {
        var golden = NpyArray.Load(SharedData.Fixture("pixel_values", "llava15_pad", stem + ".npy")).AsFloats();
        var crop = new LlavaImagePreprocessor(ImageProcessingOptions.LlavaHf, ImageMode.Crop).Preprocess(SharedData.Fixture("images", file));
        Assert.Equal(new[] { 3, 336, 336 }, crop.Shape);
        double max = Compare.MaxAbsDiff(golden, crop.PixelValues);
        output.WriteLine($"{file}: crop vs pad golden max abs diff {max:R} (manifest {expectedMaxDiff:R})");
        Assert.InRange(max, expectedMaxDiff - 1e-4, expectedMaxDiff + 1e-4);
    }

    [SharedFact]
    public void Options_Defaults_Equal_LlavaHf_PreprocessorConfig()
    {
        foreach (var path in new[]
                 {
                     SharedData.Fixture("tiny-llava-1.5", "preprocessor_config.json"),
                     SharedData.DataFile("model-configs", "llava-hf__llava-1.5-7b-hf", "preprocessor_config.json"),
                 })
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            var j = doc.RootElement;
            var fromJson = new ImageProcessingOptions
            {
                DoResize = j.GetProperty("do_resize").GetBoolean(),
                ShortestEdge = j.GetProperty("size").GetProperty("shortest_edge").GetInt32(),
                Resample = j.GetProperty("resample").GetInt32(),
                DoCenterCrop = j.GetProperty("do_center_crop").GetBoolean(),
                CropHeight = j.GetProperty("crop_size").GetProperty("height").GetInt32(),
                CropWidth = j.GetProperty("crop_size").GetProperty("width").GetInt32(),
                DoRescale = j.GetProperty("do_rescale").GetBoolean(),
                RescaleFactor = j.GetProperty("rescale_factor").GetDouble(),
                DoNormalize = j.GetProperty("do_normalize").GetBoolean(),
                ImageMean = j.GetProperty("image_mean").EnumerateArray().Select(e => e.GetDouble()).ToArray(),
                ImageStd = j.GetProperty("image_std").EnumerateArray().Select(e => e.GetDouble()).ToArray(),
                DoConvertRgb = j.GetProperty("do_convert_rgb").GetBoolean(),
            };
            Assert.Equal(new ImageProcessingOptions(), fromJson);
            Assert.Equal(1.0 / 255, fromJson.RescaleFactor); // "0.00392156862745098" is 1/255 to the last bit
        }
    }

    [SharedFact]
    public void PadColor_Is_Int_Of_Clip_Mean_Times_255()
    {
        Assert.Equal(new Rgb8(122, 116, 104), ImageProcessingOptions.LlavaHf.PadColor);
    }

    [SharedFact]
    public void Options_Validate_Rejects_Unimplemented_Settings_Naming_The_Field()
    {
        var e = Assert.Throws<InputException>(() => new ImageProcessingOptions { Resample = 2 }.Validate("preprocessor_config.json"));
        Assert.Equal("resample", e.Field);
        Assert.Equal("preprocessor_config.json", e.File);
        Assert.Contains("only 3 (PIL BICUBIC)", e.Message);

        Assert.Equal("image_mean", Assert.Throws<InputException>(() => new ImageProcessingOptions { ImageMean = [0.5, 0.5] }.Validate()).Field);
        Assert.Equal("image_std", Assert.Throws<InputException>(() => new ImageProcessingOptions { ImageStd = [0.5, 0, 0.5] }.Validate()).Field);
        Assert.Equal("size.shortest_edge", Assert.Throws<InputException>(() => new ImageProcessingOptions { ShortestEdge = 0 }.Validate()).Field);
        Assert.Equal("do_convert_rgb", Assert.Throws<InputException>(() => new ImageProcessingOptions { DoConvertRgb = false }.Validate()).Field);
    }

    /// <summary>transformers get_resize_output_image_size(default_to_square=False): int(336 * long / short).</summary>
    [SharedTheory]
    [InlineData(380, 570, 336, 336, 504)]    // landscape, exact
    [InlineData(1024, 682, 336, 504, 336)]   // portrait, 504.49 truncated
    [InlineData(1439, 1439, 336, 336, 336)]  // square
    [InlineData(375, 500, 336, 336, 448)]
    [InlineData(533, 800, 336, 336, 504)]    // 504.32
    [InlineData(667, 1000, 336, 336, 503)]   // 503.748...: truncation, not rounding
    [InlineData(1, 1000, 336, 336, 336000)]
    [InlineData(3, 1, 336, 1008, 336)]
    public void ShortestEdgeResizeSize_Matches_Transformers(int h, int w, int edge, int expectedH, int expectedW)
    {
        Assert.Equal((expectedH, expectedW), LlavaImagePreprocessor.ShortestEdgeResizeSize(h, w, edge));
    }

    [SharedFact]
    public void Plan_Pad_Centres_Landscape_And_Portrait_With_Floor_Offsets()
    {
        var pad = LlavaImagePreprocessor.Llava15Pad();
        // 570x380: canvas 570x570, image at (0, 95), resized to 336x336, crop a no-op.
        Assert.Equal(new ImageGeometry(570, 380, 570, 570, 0, 95, 336, 336, 0, 0, 336, 336), pad.Plan(570, 380));
        // 682x1024: canvas 1024, image at ((1024-682)//2, 0) = (171, 0).
        Assert.Equal(new ImageGeometry(682, 1024, 1024, 1024, 171, 0, 336, 336, 0, 0, 336, 336), pad.Plan(682, 1024));
        // odd difference: 5x2 -> canvas 5x5, top = (5-2)//2 = 1.
        Assert.Equal(1, pad.Plan(5, 2).PadTop);

        var crop = new LlavaImagePreprocessor(ImageProcessingOptions.LlavaHf, ImageMode.Crop);
        // 570x380 -> 504x336, left = (504-336)//2 = 84.
        Assert.Equal(new ImageGeometry(570, 380, 570, 380, 0, 0, 504, 336, 84, 0, 336, 336), crop.Plan(570, 380));
        // 682x1024 -> 336x504, top = 84; 1000x667 -> 503x336, left = (503-336)//2 = 83.
        Assert.Equal(84, crop.Plan(682, 1024).CropTop);
        Assert.Equal(83, crop.Plan(1000, 667).CropLeft);
    }

    /// <summary>
    /// transformers center_crop pads a too-small image with zeros: top_pad = ceil((crop - h) / 2), i.e. the window
    /// starts at (h - crop) // 2 < 0. Odd differences put the extra zero row / column first.
    /// </summary>
    [SharedFact]
    public void CenterCrop_Larger_Than_Image_Pads_With_Zeros_Like_Transformers()
    {
        var options = new ImageProcessingOptions { DoResize = false, CropHeight = 7, CropWidth = 4 };
        var p = new LlavaImagePreprocessor(options, ImageMode.Crop);
        var src = RgbImage.Filled(6, 2, new Rgb8(9, 9, 9)); // w 6 >= 4: cropped at left (6-4)//2 = 1; h 2 < 7: padded
        src.SetPixel(1, 0, new Rgb8(50, 60, 70));

        var g = p.Plan(6, 2);
        Assert.Equal((1, -3), (g.CropLeft, g.CropTop)); // (2-7)//2 = -3: rows 0..2 zero, image rows at 3..4, rows 5..6 zero
        var fitted = p.ApplyGeometry(src);
        Assert.Equal((4, 7), (fitted.Width, fitted.Height));
        for (int y = 0; y < 7; y++)
        {
            for (int x = 0; x < 4; x++)
            {
                var expected = y is 3 or 4 ? new Rgb8(9, 9, 9) : Rgb8.Black;
                if (y == 3 && x == 0) expected = new Rgb8(50, 60, 70);
                Assert.Equal(expected, fitted.GetPixel(x, y));
            }
        }
    }

    /// <summary>The public geometry + ToPixelValues is the whole pipeline (so a mask can take the same geometry).</summary>
    [SharedFact]
    public void ApplyGeometry_Then_ToPixelValues_Equals_Preprocess()
    {
        var p = LlavaImagePreprocessor.Llava15Pad();
        var image = ImageDecoder.Decode(SharedData.Fixture("images", "extreme_ironing.rgb.png"));
        var fitted = p.ApplyGeometry(image);
        Assert.Equal((336, 336), (fitted.Width, fitted.Height));
        Assert.Equal(p.Preprocess(image).PixelValues, p.ToPixelValues(fitted));
    }

    /// <summary>A white box mask through the pad geometry with a black background: the band of the original stays white.</summary>
    [SharedFact]
    public void ApplyGeometry_Mask_With_Black_Pad_Marks_Only_The_Image_Area()
    {
        var p = LlavaImagePreprocessor.Llava15Pad();
        var mask = RgbImage.Filled(570, 380, new Rgb8(255, 255, 255));
        var fitted = p.ApplyGeometry(mask, Rgb8.Black);
        // image rows 95..474 of 570 -> 336 * 95/570 = 56 .. 336 * 475/570 = 280 (bicubic blurs a pixel or two at the edges)
        Assert.Equal(Rgb8.Black, fitted.GetPixel(100, 10));
        Assert.Equal(new Rgb8(255, 255, 255), fitted.GetPixel(100, 168));
        Assert.Equal(Rgb8.Black, fitted.GetPixel(100, 330));
        Assert.Equal(new Rgb8(255, 255, 255), fitted.GetPixel(0, 60));
        Assert.Equal(Rgb8.Black, fitted.GetPixel(0, 52));
    }

    [SharedFact]
    public void ToPixelValues_Rescales_In_Double_And_Normalises_In_Float32()
    {
        var p = LlavaImagePreprocessor.Llava15Pad();
        var image = new RgbImage(2, 1, [0, 128, 255, 17, 200, 3]);
        var v = p.ToPixelValues(image); // [3, 1, 2]
        float Expected(int value, int c) =>
            ((float)(value * (1.0 / 255)) - (float)ImageProcessingOptions.ClipMean[c]) / (float)ImageProcessingOptions.ClipStd[c];
        Assert.Equal(new[] { Expected(0, 0), Expected(17, 0), Expected(128, 1), Expected(200, 1), Expected(255, 2), Expected(3, 2) }, v);
    }

    [SharedFact]
    public void Preprocess_MissingFile_Throws_InputException_Naming_It()
    {
        var path = Path.Combine(Path.GetTempPath(), "modalflow-no-such-dir", "missing.jpg");
        var e = Assert.Throws<InputException>(() => LlavaImagePreprocessor.Llava15Pad().Preprocess(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("expected a JPEG or PNG image", e.Message);
    }
}

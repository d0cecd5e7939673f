using ModalFlow.Families.LlavaOnevision;
using ModalFlow.Tests.Support;
using ModalFlow.Vision;
using Xunit;
using Xunit.Abstractions;

namespace ModalFlow.Tests.Families.LlavaOnevision;

public class LlavaOnevisionImageProcessorTests(ITestOutputHelper log)
{
    private static readonly LlavaOnevisionImageProcessor Processor = OnevisionFixture.Processor();

    public static TheoryData<string> Cases => OnevisionFixture.Cases();

    /// <summary>The lossless decoded RGB of the case's image: &lt;stem&gt;.rgb.png for JPEGs, the PNG itself otherwise.</summary>
    private static string DecodedRgbPath(FixtureCase c)
    {
        var rgb = Path.ChangeExtension(c.ImagePath, ".rgb.png");
        return File.Exists(rgb) ? rgb : c.ImagePath;
    }

    [SharedTheory]
    [MemberData(nameof(Cases))]
    public void Pixel_Values_From_The_Decoded_Rgb_Match_Transformers(string id)
    {
        var c = OnevisionFixture.Case(id);
        var expected = c.Array("pixel_values");
        var actual = Processor.Preprocess(DecodedRgbPath(c));
        Assert.Equal(expected.Shape, actual.Shape);
        var d = Compare.AllClose(expected.AsFloats(), actual.Values, 1e-5, $"{id} pixel_values");
        log.WriteLine($"{id}: {actual.Plan}; max |Δ| {d:E2}");
    }

    [SharedTheory]
    [MemberData(nameof(Cases))]
    public void Pixel_Values_From_The_Jpeg_Or_Png_File_Match_Transformers(string id)
    {
        var c = OnevisionFixture.Case(id);
        var actual = Processor.Preprocess(c.ImagePath);
        var d = Compare.AllClose(c.Array("pixel_values").AsFloats(), actual.Values, 1e-5, $"{id} pixel_values from {Path.GetFileName(c.ImagePath)}");
        log.WriteLine($"{id} from {Path.GetFileName(c.ImagePath)}: max |Δ| {d:E2}");
    }

    [SharedTheory]
    [MemberData(nameof(Cases))]
    public void Plan_Matches_The_Case_Geometry_And_Image_Sizes(string id)
    {
        var c = OnevisionFixture.Case(id);
        var (w, h) = OnevisionFixture.ImageSize(c);
        var plan = Processor.Plan(w, h);
        var g = c.Json.GetProperty("geometry");
        Assert.Equal(g.GetProperty("best_resolution_hw")[0].GetInt32(), plan.CanvasHeight);
        Assert.Equal(g.GetProperty("best_resolution_hw")[1].GetInt32(), plan.CanvasWidth);
        Assert.Equal(g.GetProperty("grid_rows").GetInt32(), plan.GridRows);
        Assert.Equal(g.GetProperty("grid_cols").GetInt32(), plan.GridCols);
        Assert.Equal(g.GetProperty("num_tiles_incl_base").GetInt32(), plan.CropCount);
        Assert.Equal(g.GetProperty("base_tokens").GetInt32(), plan.BaseTokenCount);
        Assert.Equal(c.NumImageTokens, plan.ImageTokenCount);
        Assert.Equal(c.Array("image_sizes").AsLongs(), new long[] { plan.Height, plan.Width });
    }

    /// <summary>
    /// Two of the three transformers-made fixtures are odd-difference cases (570x380 → 448x299 in a 448x336 canvas:
    /// 37 px, padded to 335; 682x1024 → 299x448 in 336x448), so their pixel parity above is parity of the quirk itself.
    /// A corrected padding (remainder on the far side, full tiles) would move every pixel of the last tile row / column.
    /// </summary>
    [SharedTheory]
    [InlineData("ironing_rel", true, false)]
    [InlineData("tree_attr", false, true)]
    [InlineData("dog_jar", false, false)]
    public void Fixture_Cases_Cover_The_One_Pixel_Short_Canvas_And_A_Corrected_Pad_Would_Not_Match(string id, bool rowShort, bool colShort)
    {
        var c = OnevisionFixture.Case(id);
        var image = ImageDecoder.Decode(DecodedRgbPath(c));
        var plan = Processor.Plan(image.Width, image.Height);
        Assert.Equal(rowShort, plan.LastRowStretched);
        Assert.Equal(colShort, plan.LastColumnStretched);

        var o = Processor.Options;
        var expected = c.Array("pixel_values").AsFloats();
        var quirk = OnevisionReference.PixelValues(OnevisionReference.Crops(image, o.Pinpoints, o.TileSize), o.Normalization.RescaleFactor,
            [.. o.Normalization.ImageMean], [.. o.Normalization.ImageStd]);
        var corrected = OnevisionReference.PixelValues(OnevisionReference.Crops(image, o.Pinpoints, o.TileSize, fullPadding: true),
            o.Normalization.RescaleFactor, [.. o.Normalization.ImageMean], [.. o.Normalization.ImageStd]);
        Compare.AllClose(expected, quirk, 1e-5, $"{id}: the plain v4.45.1 path");
        double dCorrected = Compare.MaxAbsDiff(expected, corrected);
        log.WriteLine($"{id}: {plan}; a corrected pad differs by {dCorrected:E2}");
        if (rowShort || colShort) Assert.True(dCorrected > 0.05, $"{id}: the corrected pad should not match the fixture (max |Δ| {dCorrected})");
        else Assert.Equal(0.0, dCorrected);
    }

    public static TheoryData<int, int> OddSizes()
    {
        // Sizes whose resize leaves an odd difference to the canvas on one or both axes (asserted in the test).
        var data = new TheoryData<int, int>();
        foreach (var (w, h) in new[] { (500, 349), (349, 500), (101, 38), (38, 101), (230, 114), (1000, 72), (72, 1000), (333, 336), (113, 337), (250, 251), (2000, 700) })
            data.Add(w, h);
        return data;
    }

    /// <summary>Odd padding differences (tile short by 1 px, then stretched) on noise images: the processor equals the plain path bit for bit.</summary>
    [SharedTheory]
    [MemberData(nameof(OddSizes))]
    public void Odd_Padding_Sizes_Match_The_Plain_Reference_Path(int w, int h)
    {
        var plan = Processor.Plan(w, h);
        Assert.True(plan.LastRowStretched || plan.LastColumnStretched, $"{w}x{h} is not an odd-difference case: {plan}");
        var image = Noise(w, h, seed: w * 7919 + h);
        var o = Processor.Options;
        var expected = OnevisionReference.PixelValues(OnevisionReference.Crops(image, o.Pinpoints, o.TileSize), o.Normalization.RescaleFactor,
            [.. o.Normalization.ImageMean], [.. o.Normalization.ImageStd]);
        var actual = Processor.Preprocess(image);
        Assert.Equal(expected.Length, actual.Values.Length);
        Compare.AllClose(expected, actual.Values, 0, $"{w}x{h}");
        Assert.Equal(OnevisionReference.SelectBestResolution(h, w, o.Pinpoints), (plan.CanvasHeight, plan.CanvasWidth));
        log.WriteLine(plan.ToString());
    }

    internal static RgbImage Noise(int w, int h, int seed)
    {
        var px = new byte[w * h * 3];
        new Random(seed).NextBytes(px);
        return new RgbImage(w, h, px);
    }
}

using ModalFlow.Tests.Support;
using ModalFlow.Vision;
using Xunit;
using Xunit.Abstractions;

namespace ModalFlow.Tests.Vision;

public class ImageDecoderTests(ITestOutputHelper output)
{
    // ---- parity with Pillow -------------------------------------------------------------------------------

    /// <summary>The fixtures' &lt;stem&gt;.rgb.png are Pillow 9.4's own decode of the JPEG, saved losslessly.</summary>
    [SharedTheory]
    [InlineData("extreme_ironing")]
    [InlineData("dog")]
    public void Decode_FixtureJpeg_Equals_Pillow_Decode_Saved_As_RgbPng(string stem)
    {
        var jpeg = ImageDecoder.Decode(SharedData.Fixture("images", stem + ".jpg"));
        var pillow = ImageDecoder.Decode(SharedData.Fixture("images", stem + ".rgb.png"));
        AssertSamePixels(pillow, jpeg, stem);
    }

    /// <summary>
    /// Expected SHA-256 of the RGB8 bytes, recorded at test-writing time with Oracle/pilimg.c: the system
    /// libjpeg-turbo 2.1.5 (the build Debian 12's python3-pil 9.4 links) driven with Pillow's settings, and
    /// Pillow's PNG unpack/convert rules. pilimg reproduces the fixtures' .rgb.png byte for byte. waterview.jpg is
    /// the progressive one; tree.png is an 8-bit RGB PNG (the pixel_values fixture's input).
    /// </summary>
    [SharedTheory]
    [InlineData("1159529.jpg", 800, 533, "e81febc71a60df93d70f9c7b4f6899201a0ebf1a17847caa05ce5d2dbcdefabc")]
    [InlineData("2351608.jpg", 375, 500, "843ce02ea741256acd57ae5219d724e43d88c2b668c828e4c4379f135cb2ca44")]
    [InlineData("2358679.jpg", 500, 334, "5182f47f32e56ee634f6db0a742fd9952a39634be3b21277c7c883f87df02c1e")]
    [InlineData("2370134.jpg", 500, 375, "703310bf215efd42a06d872920e732808235285479a6655cdb284303185631e6")]
    [InlineData("2371269.jpg", 500, 375, "e8534f8778caab7d1c8996562e5c6981a3bc82990b2921f5f160f7b122de35fa")]
    [InlineData("COCO_val2014_000000100081.jpg", 640, 480, "f707aa1fa90ed89f2f8321d7115fae6b8ddc8f321cd3400324ca8654bf8f11f8")]
    [InlineData("example2_dog.jpg", 1439, 1439, "2d9474ee7a83147e5f336dddc5c98a8da5dee215a9bb0dccc8b7dfcf2d30885d")]
    [InlineData("extreme_ironing.jpg", 570, 380, "98fc1b8497687cf50613912267c1ce4352cd442bfbcc4718c06723b5786fb1b6")]
    [InlineData("llava_v1_5_radar.jpg", 1024, 899, "a89411b9c532100265a378242a6620ea3675208679c4792ff8c58c741bdaf17e")]
    [InlineData("waterview.jpg", 1000, 667, "6f34d0737e4ebc23590832c48abae25fabab59a2ecf476d635caad703d876868")]
    public void Decode_DataJpegs_Incl_Progressive_Equal_Pillow_Libjpeg_Decode(string name, int width, int height, string sha256)
    {
        var image = ImageDecoder.Decode(SharedData.DataFile("images", name));
        Assert.Equal((width, height), (image.Width, image.Height));
        Assert.Equal(sha256, VisionTestFiles.Sha256(image.Pixels));
    }

    [SharedFact]
    public void Decode_TreePng_Equals_Pillow_Rgb()
    {
        var image = ImageDecoder.Decode(SharedData.Fixture("images", "tree.png"));
        Assert.Equal((682, 1024), (image.Width, image.Height));
        Assert.Equal("ad01e6c77a5e8bf379365d639ff100b5befc0b51aea95575cd81a85fc79b621a", VisionTestFiles.Sha256(image.Pixels));
    }

    /// <summary>
    /// Synthetic files (TestImages/README.md) covering the JPEG and PNG variants Pillow opens; expected SHA-256
    /// from Oracle/pilimg.c as above. Equal hashes across rows are expected: e.g. every 8-bit-or-deeper RGB/RGBA PNG
    /// was written from the same picture, and Pillow keeps the high byte of 16-bit samples.
    /// </summary>
    [SharedTheory]
    [InlineData("grey.jpg", 61, 47, "785c3c4dcc20a449a35d54056c56069f2333864f3a77926b0da55b34297dc13b")]
    [InlineData("grey_progressive.jpg", 61, 47, "785c3c4dcc20a449a35d54056c56069f2333864f3a77926b0da55b34297dc13b")]
    [InlineData("rgb_progressive.jpg", 203, 101, "40fd99bcf12c695bd82c6fe0f8830be5dfe32e97e2b04b8befa6a3ed6c9edb84")]
    [InlineData("rgb420_progressive.jpg", 67, 45, "555fe4f2f7a18d925433f19f702ef41ed6ebd14800254d2d72d9c152e0f51ec6")]
    [InlineData("rgb_arith.jpg", 67, 45, "555fe4f2f7a18d925433f19f702ef41ed6ebd14800254d2d72d9c152e0f51ec6")]
    [InlineData("rgb_exif_orientation6.jpg", 67, 45, "555fe4f2f7a18d925433f19f702ef41ed6ebd14800254d2d72d9c152e0f51ec6")]
    [InlineData("rgb411.jpg", 67, 45, "2c9e6d9ea5ff73364a6d2f5c8e84828c407ca8bdcef37f5a60f36922aa1d6873")]
    [InlineData("rgb422.jpg", 67, 45, "2b09f1b66fd2f48829d273364a42f86041df03620c8ed4b97b400f8fdf175a4e")]
    [InlineData("rgb440.jpg", 67, 45, "fb7920d97482ad8bb57dcbe066ae3973e5ff1b4ee04f7da0b1fc467039a04d65")]
    [InlineData("cmyk.jpg", 59, 43, "f6ab6d3f8d82d5ac2da9007ebb6f532ac21f224b1a3ee7da9c8fe545bbbe5f07")]
    [InlineData("cmyk_plain.jpg", 59, 43, "1b865aa2aab8c94cbc461a7e5fde29d04810531e0ecb44b48b2737a3eea8e8ee")]
    [InlineData("cmyk_no_adobe.jpg", 59, 43, "1b865aa2aab8c94cbc461a7e5fde29d04810531e0ecb44b48b2737a3eea8e8ee")]
    [InlineData("rgba8.png", 37, 23, "d1cb187b3231ab5e4f042f915e8035a70166b04a375012515ccf20173357f538")]
    [InlineData("rgba16.png", 37, 23, "d1cb187b3231ab5e4f042f915e8035a70166b04a375012515ccf20173357f538")]
    [InlineData("rgb16.png", 37, 23, "d1cb187b3231ab5e4f042f915e8035a70166b04a375012515ccf20173357f538")]
    [InlineData("rgb8_trns.png", 37, 23, "d1cb187b3231ab5e4f042f915e8035a70166b04a375012515ccf20173357f538")]
    [InlineData("rgb8_interlaced.png", 37, 23, "d1cb187b3231ab5e4f042f915e8035a70166b04a375012515ccf20173357f538")]
    [InlineData("rgb8_gama.png", 37, 23, "d1cb187b3231ab5e4f042f915e8035a70166b04a375012515ccf20173357f538")]
    [InlineData("grey8.png", 37, 23, "d11292eb63cbbfabf60f77b998fe12703897a7dcfa26eb0dc89814591175f848")]
    [InlineData("greyalpha8.png", 37, 23, "d11292eb63cbbfabf60f77b998fe12703897a7dcfa26eb0dc89814591175f848")]
    [InlineData("greyalpha16.png", 37, 23, "d11292eb63cbbfabf60f77b998fe12703897a7dcfa26eb0dc89814591175f848")]
    [InlineData("grey4.png", 37, 23, "2c65580a674c50464126e542912bbfcf7503dc29f67b1bbf48721cbc201096d0")]
    [InlineData("grey2.png", 37, 23, "b6512cdd0c004b93fc241f44593fc6505a6b4f23ef19a564d5fe439eca746c2c")]
    [InlineData("grey1.png", 37, 23, "ec181d8c1a7c0defe96f61fd65e744b08818f4f9386d7ff9be1d3cad9fe37aa3")]
    [InlineData("palette8.png", 37, 23, "2c73d1674f068b0a6b829acfb0ff9825d526db7d1daba419a205f0668dc3941c")]
    [InlineData("palette8_trns.png", 37, 23, "2c73d1674f068b0a6b829acfb0ff9825d526db7d1daba419a205f0668dc3941c")]
    [InlineData("palette4.png", 37, 23, "4db4f6e67708f103faced648cf2111b7c36f464cddd954790f37b22e905ae315")]
    public void Decode_JpegAndPngVariants_Equal_Pillow_ConvertRgb(string name, int width, int height, string sha256)
    {
        var image = ImageDecoder.Decode(VisionTestFiles.TestImage(name));
        Assert.Equal((width, height), (image.Width, image.Height));
        Assert.Equal(sha256, VisionTestFiles.Sha256(image.Pixels));
    }

    /// <summary>
    /// rgba8.png's alpha is (13x + 7y) mod 256, so pixel (0, 0) is fully transparent but stores colour (0, 0, 182).
    /// Pillow's convert("RGB") keeps that colour; a premultiplied decode would give (0, 0, 0).
    /// </summary>
    [SharedFact]
    public void Decode_RgbaPng_Drops_Alpha_Without_Premultiplying()
    {
        var image = ImageDecoder.Decode(VisionTestFiles.TestImage("rgba8.png"));
        Assert.Equal(new Rgb8(0, 0, 182), image.GetPixel(0, 0));
        // (1, 0): alpha 13, colour (255 * 1 / 36, 0, 37 + 182).
        Assert.Equal(new Rgb8(7, 0, 219), image.GetPixel(1, 0));
    }

    /// <summary>rgb_exif_orientation6.jpg says "rotate 90°" in EXIF; Pillow's open/convert ignores that, so must we.</summary>
    [SharedFact]
    public void Decode_Ignores_Exif_Orientation()
    {
        var rotated = ImageDecoder.Decode(VisionTestFiles.TestImage("rgb_exif_orientation6.jpg"));
        var plain = ImageDecoder.Decode(VisionTestFiles.TestImage("rgb420_progressive.jpg"));
        Assert.Equal((67, 45), (rotated.Width, rotated.Height));
        AssertSamePixels(plain, rotated, "EXIF-rotated vs plain");
    }

    // ---- bad input -------------------------------------------------------------------------------------------

    [SharedFact]
    public void Decode_MissingFile_Throws_Naming_File_And_Expectation()
    {
        using var dir = VisionTestFiles.NewTempDir();
        var path = dir.File("no-such-image.jpg");
        var e = Assert.Throws<InputException>(() => ImageDecoder.Decode(path));
        AssertNames(e, path, "expected a JPEG or PNG image", "does not exist");
    }

    [SharedFact]
    public void Decode_Directory_Throws_Naming_It()
    {
        using var dir = VisionTestFiles.NewTempDir();
        var e = Assert.Throws<InputException>(() => ImageDecoder.Decode(dir.Path));
        AssertNames(e, dir.Path, "expected a JPEG or PNG image", "directory");
    }

    [SharedFact]
    public void Decode_ZeroByteFile_Throws_Naming_File_And_Expectation()
    {
        using var dir = VisionTestFiles.NewTempDir();
        var path = dir.File("empty.jpg");
        File.WriteAllBytes(path, []);
        var e = Assert.Throws<InputException>(() => ImageDecoder.Decode(path));
        AssertNames(e, path, "expected a JPEG or PNG image", "empty (0 bytes)");
    }

    [SharedFact]
    public void Decode_TextFileNamedJpg_Throws_Naming_File_And_Expectation()
    {
        using var dir = VisionTestFiles.NewTempDir();
        var path = dir.File("notes.jpg");
        File.WriteAllText(path, "Is the man to the right or to the left of the car?\n");
        var e = Assert.Throws<InputException>(() => ImageDecoder.Decode(path));
        AssertNames(e, path, "expected a JPEG or PNG image", "starts with", "\"Is the m\"", $"{new FileInfo(path).Length} bytes long");
    }

    [SharedFact]
    public void Decode_GifBytes_Throws_Saying_Only_Jpeg_And_Png()
    {
        var gif = "GIF89a"u8.ToArray().Concat(new byte[20]).ToArray();
        var e = Assert.Throws<InputException>(() => ImageDecoder.Decode(gif, "frame.gif"));
        AssertNames(e, "frame.gif", "expected a JPEG or PNG image", "GIF");
    }

    /// <summary>Pillow raises "image file is truncated"; Skia would return a partly filled image, so this must throw.</summary>
    [SharedTheory]
    [InlineData(0.5)]
    [InlineData(0.9)]
    [InlineData(0.99)]
    public void Decode_TruncatedBaselineJpeg_Throws_Naming_File_And_Length(double keep)
    {
        using var dir = VisionTestFiles.NewTempDir();
        var bytes = File.ReadAllBytes(SharedData.Fixture("images", "extreme_ironing.jpg"));
        int n = (int)(bytes.Length * keep);
        var path = dir.File("extreme_ironing_truncated.jpg");
        File.WriteAllBytes(path, bytes[..n]);
        var e = Assert.Throws<InputException>(() => ImageDecoder.Decode(path));
        AssertNames(e, path, "expected a complete JPEG image of 570x380 pixels", $"ends after {n} bytes", "truncated");
        output.WriteLine(e.Message);
    }

    [SharedFact]
    public void Decode_TruncatedProgressiveJpeg_Throws_Naming_File()
    {
        using var dir = VisionTestFiles.NewTempDir();
        var bytes = File.ReadAllBytes(SharedData.DataFile("images", "waterview.jpg"));
        var path = dir.File("waterview_truncated.jpg");
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);
        var e = Assert.Throws<InputException>(() => ImageDecoder.Decode(path));
        AssertNames(e, path, "expected a complete", "JPEG image of 1000x667 pixels", "truncated or damaged");
        output.WriteLine(e.Message);
    }

    [SharedFact]
    public void Decode_JpegCutInsideHeader_Throws_Naming_File_And_Length()
    {
        using var dir = VisionTestFiles.NewTempDir();
        var bytes = File.ReadAllBytes(SharedData.Fixture("images", "extreme_ironing.jpg"));
        var path = dir.File("header_only.jpg");
        File.WriteAllBytes(path, bytes[..100]);
        var e = Assert.Throws<InputException>(() => ImageDecoder.Decode(path));
        AssertNames(e, path, "expected a JPEG or PNG image", "ends after 100 bytes", "header");
    }

    [SharedFact]
    public void Decode_TruncatedPng_Throws_Naming_File()
    {
        using var dir = VisionTestFiles.NewTempDir();
        var bytes = File.ReadAllBytes(SharedData.Fixture("images", "tree.png"));
        var path = dir.File("tree_truncated.png");
        File.WriteAllBytes(path, bytes[..(bytes.Length / 3)]);
        var e = Assert.Throws<InputException>(() => ImageDecoder.Decode(path));
        AssertNames(e, path, "expected a complete PNG image of 682x1024 pixels", "truncated");
    }

    [SharedFact]
    public void Decode_16BitGreyscalePng_Is_Rejected_With_Reason()
    {
        var path = VisionTestFiles.TestImage("grey16.png");
        var e = Assert.Throws<InputException>(() => ImageDecoder.Decode(path));
        AssertNames(e, path, "16-bit greyscale PNG", "mode \"I\"", "convert it to 8 bits");
    }

    private static void AssertNames(InputException e, string file, params string[] parts)
    {
        Assert.Equal(file, e.File);
        Assert.Equal("image", e.Field);
        Assert.Contains(file, e.Message);
        foreach (var part in parts) Assert.Contains(part, e.Message);
    }

    private static void AssertSamePixels(RgbImage expected, RgbImage actual, string what)
    {
        Assert.Equal((expected.Width, expected.Height), (actual.Width, actual.Height));
        int differing = 0, first = -1;
        for (int i = 0; i < expected.Pixels.Length; i++)
        {
            if (expected.Pixels[i] != actual.Pixels[i])
            {
                if (first < 0) first = i;
                differing++;
            }
        }
        Assert.True(differing == 0,
            $"{what}: {differing} bytes differ; first at byte {first} (pixel {first / 3 % expected.Width}, {first / 3 / expected.Width}, " +
            $"channel {first % 3}): expected {(first >= 0 ? expected.Pixels[first] : 0)}, actual {(first >= 0 ? actual.Pixels[first] : 0)}");
    }
}

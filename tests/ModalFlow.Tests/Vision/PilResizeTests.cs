using ModalFlow.Tests.Support;
using ModalFlow.Vision;
using Xunit;
using Xunit.Abstractions;

namespace ModalFlow.Tests.Vision;

public class PilResizeTests(ITestOutputHelper output)
{
    /// <summary>
    /// Expected FNV-1a-64 of the output bytes, recorded at test-writing time by Oracle/resample_harness.c, which
    /// compiles Pillow 9.4.0's src/libImaging/Resample.c unmodified (git show 9.4.0:src/libImaging/Resample.c) and calls
    /// ImagingResample(im, W, H, BICUBIC, box=(0, 0, w, h)) as Image.resize does (same size: a copy). The inputs are
    /// regenerated here with the harness's xorshift32 (<see cref="HarnessImage"/>): even cases pure noise (clipping),
    /// odd cases a gradient plus 3 bits of noise. Sizes: 1-pixel images, width-only / height-only changes, up- and
    /// downscales by odd factors, and the shapes LLaVA sees (570x380 → 504x336, 682x1024 → 336x504, ...).
    /// </summary>
    [SharedTheory]
    [InlineData(0, 1, 1, 1, 1, 0x5362FC50BC4EDC30UL)]
    [InlineData(1, 1, 1, 5, 3, 0xA232646DF5499B6AUL)]
    [InlineData(2, 1, 1, 336, 336, 0x520B4682D627F383UL)]
    [InlineData(3, 7, 1, 3, 1, 0x779FAC3F53E70584UL)]
    [InlineData(4, 1, 9, 1, 4, 0x7655CAAEAAC067DDUL)]
    [InlineData(5, 3, 3, 7, 7, 0xA27D6CE1EA2A1202UL)]
    [InlineData(6, 5, 4, 5, 9, 0xC324AA4DDD845770UL)]
    [InlineData(7, 9, 5, 4, 5, 0xCFC07AD5CAFFC653UL)]
    [InlineData(8, 16, 16, 3, 3, 0x87CB921F4F3C8933UL)]
    [InlineData(9, 17, 13, 336, 257, 0x216328415C2FFBB1UL)]
    [InlineData(10, 570, 380, 504, 336, 0xAA8FED59362D5C34UL)]
    [InlineData(11, 380, 570, 336, 504, 0xB15FCDB9119B72DAUL)]
    [InlineData(12, 682, 1024, 336, 504, 0xA4F22A40787319A8UL)]
    [InlineData(13, 1024, 682, 504, 336, 0x1CB9C0D92D98A7C9UL)]
    [InlineData(14, 1439, 1439, 336, 336, 0xD5C06E90C3A278F1UL)]
    [InlineData(15, 500, 375, 448, 336, 0x7FEAA987495B1C29UL)]
    [InlineData(16, 375, 500, 336, 448, 0x9A79B6033A3709EEUL)]
    [InlineData(17, 800, 533, 504, 336, 0xDC724120EF539FF9UL)]
    [InlineData(18, 640, 480, 448, 336, 0x30DC527B90840B0AUL)]
    [InlineData(19, 2, 2, 1, 1, 0xD2D0115073DE8C93UL)]
    [InlineData(20, 2, 3, 1, 1, 0x8808474CE39D2B7EUL)]
    [InlineData(21, 11, 7, 10, 6, 0xA458C9C45E6E0974UL)]
    [InlineData(22, 333, 334, 336, 337, 0xFD63CB64F9A2D643UL)]
    [InlineData(23, 337, 335, 336, 336, 0xAD62A1660B598363UL)]
    [InlineData(24, 101, 50, 1, 1, 0xC3154D518DAD4DCAUL)]
    [InlineData(25, 50, 101, 2, 2, 0x0ACE3DE0DF0F2CA1UL)]
    [InlineData(26, 4, 4, 13, 2, 0x04E2DFD888DF75FDUL)]
    [InlineData(27, 13, 2, 4, 4, 0x58EA7177245A490DUL)]
    [InlineData(28, 1000, 667, 504, 336, 0x458B8C86A76EF8B8UL)]
    [InlineData(29, 36, 1000, 336, 9333, 0x98B77E34339FD1EBUL)]
    public void Bicubic_Equals_Pillow94_Resample_C(int index, int w, int h, int outW, int outH, ulong expectedFnv)
    {
        var src = HarnessImage(index, w, h);
        var resized = PilResize.Bicubic(src, outW, outH);
        Assert.Equal((outW, outH), (resized.Width, resized.Height));
        Assert.Equal(expectedFnv, Fnv1a64(resized.Pixels));
    }

    [SharedTheory]
    [InlineData(1, 1)]
    [InlineData(7, 3)]
    [InlineData(336, 336)]
    public void Bicubic_SameSize_Is_An_Identical_Copy(int w, int h)
    {
        var src = HarnessImage(0, w, h);
        var resized = PilResize.Bicubic(src, w, h);
        Assert.NotSame(src, resized);
        Assert.NotSame(src.Pixels, resized.Pixels);
        Assert.Equal(src.Pixels, resized.Pixels);
    }

    /// <summary>Weights are normalised per output pixel, so a flat image stays flat — also 0 and 255 (no clipping drift).</summary>
    [SharedTheory]
    [InlineData(1, 1, 5, 3)]
    [InlineData(570, 380, 504, 336)]
    [InlineData(682, 1024, 336, 504)]
    [InlineData(13, 2, 4, 4)]
    [InlineData(3, 100, 3, 7)]
    [InlineData(100, 3, 9, 3)]
    public void Bicubic_ConstantImage_Stays_Constant(int w, int h, int outW, int outH)
    {
        foreach (var color in new[] { new Rgb8(0, 0, 0), new Rgb8(255, 255, 255), new Rgb8(122, 116, 104), new Rgb8(1, 254, 77) })
        {
            var resized = PilResize.Bicubic(RgbImage.Filled(w, h, color), outW, outH);
            for (int y = 0; y < outH; y++)
            {
                for (int x = 0; x < outW; x++) Assert.Equal(color, resized.GetPixel(x, y));
            }
        }
    }

    [SharedFact]
    public void Bicubic_OnePixel_Upscales_To_Its_Colour()
    {
        var src = RgbImage.Filled(1, 1, new Rgb8(200, 3, 90));
        var resized = PilResize.Bicubic(src, 7, 4);
        Assert.All(Enumerable.Range(0, 28), i => Assert.Equal(new Rgb8(200, 3, 90), resized.GetPixel(i % 7, i / 7)));
    }

    /// <summary>
    /// A width-only change skips the vertical pass, so each row is resized on its own: equal to resizing every row
    /// as a 1-pixel-high image. Likewise a height-only change works column by column.
    /// </summary>
    [SharedTheory]
    [InlineData(37, 11, 19)]
    [InlineData(37, 11, 80)]
    public void Bicubic_WidthOnly_And_HeightOnly_Work_Per_Row_And_Per_Column(int w, int h, int newSize)
    {
        var src = HarnessImage(1, w, h);

        var widthOnly = PilResize.Bicubic(src, newSize, h);
        for (int y = 0; y < h; y++)
        {
            var row = new RgbImage(w, 1, src.Row(y).ToArray());
            Assert.Equal(PilResize.Bicubic(row, newSize, 1).Pixels, widthOnly.Row(y).ToArray());
        }

        var heightOnly = PilResize.Bicubic(src, w, newSize);
        for (int x = 0; x < w; x++)
        {
            var column = new RgbImage(1, h, Enumerable.Range(0, h).SelectMany(y => src.Row(y).Slice(x * 3, 3).ToArray()).ToArray());
            var expected = PilResize.Bicubic(column, 1, newSize);
            for (int y = 0; y < newSize; y++) Assert.Equal(expected.GetPixel(0, y), heightOnly.GetPixel(x, y));
        }
    }

    /// <summary>
    /// Against a plain double-precision implementation of the same formula (rounded to bytes after each pass): the
    /// 22-bit fixed-point weights may move a value across a rounding boundary, so allow 1 per pass, and almost all
    /// bytes must agree exactly.
    /// </summary>
    [SharedTheory]
    [InlineData(1, 570, 380, 504, 336, 2)]
    [InlineData(3, 37, 23, 101, 23, 1)]
    [InlineData(3, 37, 23, 37, 61, 1)]
    [InlineData(5, 1439, 1439, 336, 336, 2)]
    [InlineData(7, 9, 5, 4, 5, 1)]
    public void Bicubic_Equals_Double_Precision_Reference_Within_Rounding(int index, int w, int h, int outW, int outH, int tolerance)
    {
        var src = HarnessImage(index, w, h);
        var fast = PilResize.Bicubic(src, outW, outH);
        var reference = ReferenceResize(src, outW, outH);
        int max = 0, differing = 0;
        for (int i = 0; i < fast.Pixels.Length; i++)
        {
            int d = Math.Abs(fast.Pixels[i] - reference.Pixels[i]);
            max = Math.Max(max, d);
            if (d != 0) differing++;
        }
        output.WriteLine($"{w}x{h} -> {outW}x{outH}: max diff {max}, {differing} of {fast.Pixels.Length} bytes differ");
        Assert.True(max <= tolerance, $"max diff {max} > {tolerance}");
        Assert.True(differing <= fast.Pixels.Length / 1000 + 1, $"{differing} of {fast.Pixels.Length} bytes differ");
    }

    [SharedFact]
    public void Coefficients_Fixed_Point_Weights_Sum_To_One_Within_Rounding()
    {
        foreach (var (inSize, outSize) in new[] { (570, 504), (380, 336), (1439, 336), (3, 7), (1, 336), (336, 336), (13, 4) })
        {
            var c = PilResize.Coefficients.Compute(inSize, outSize);
            for (int o = 0; o < outSize; o++)
            {
                long sum = 0;
                for (int t = 0; t < c.Count[o]; t++) sum += c.Weights[o * c.KernelSize + t];
                Assert.InRange(sum, (1L << PilResize.PrecisionBits) - c.Count[o], (1L << PilResize.PrecisionBits) + c.Count[o]);
                Assert.True(c.Start[o] >= 0 && c.Start[o] + c.Count[o] <= inSize);
            }
        }
    }

    [SharedFact]
    public void Bicubic_Rejects_Empty_Target()
    {
        var src = RgbImage.Filled(3, 3, Rgb8.Black);
        Assert.Throws<ArgumentOutOfRangeException>(() => PilResize.Bicubic(src, 0, 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => PilResize.Bicubic(src, 3, -1));
    }

    // ---- helpers -------------------------------------------------------------------------------------------

    /// <summary>Oracle/resample_harness.c's test image for case <paramref name="index"/>.</summary>
    internal static RgbImage HarnessImage(int index, int w, int h)
    {
        uint state = 0x9E3779B9u ^ (uint)(index + 1);
        byte Next()
        {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            return (byte)(state >> 24);
        }
        var p = new byte[w * h * 3];
        for (int y = 0; y < h; y++)
        {
            for (int x = 0; x < w; x++)
            {
                for (int c = 0; c < 3; c++)
                {
                    byte r = Next();
                    p[(y * w + x) * 3 + c] = index % 2 == 0 ? r : (byte)(x * 200 / w + y * 48 / h + (r & 7));
                }
            }
        }
        return new RgbImage(w, h, p);
    }

    private static ulong Fnv1a64(byte[] bytes)
    {
        ulong hash = 1469598103934665603UL;
        foreach (byte b in bytes)
        {
            hash ^= b;
            hash *= 1099511628211UL;
        }
        return hash;
    }

    /// <summary>
    /// Independent reference: separable bicubic (a = -0.5) with support 2 * max(1, in/out), taps normalised per
    /// output pixel, double accumulation, round half up and clamp after each pass; horizontal first.
    /// </summary>
    private static RgbImage ReferenceResize(RgbImage src, int outW, int outH)
    {
        var img = src;
        if (outW != img.Width)
        {
            var dst = new byte[outW * img.Height * 3];
            for (int y = 0; y < img.Height; y++)
            {
                for (int x = 0; x < outW; x++)
                {
                    var (lo, w) = Taps(img.Width, outW, x);
                    for (int c = 0; c < 3; c++)
                    {
                        double acc = 0;
                        for (int t = 0; t < w.Length; t++) acc += w[t] * img.Pixels[(y * img.Width + lo + t) * 3 + c];
                        dst[(y * outW + x) * 3 + c] = ToByte(acc);
                    }
                }
            }
            img = new RgbImage(outW, img.Height, dst);
        }
        if (outH != img.Height)
        {
            var dst = new byte[img.Width * outH * 3];
            for (int y = 0; y < outH; y++)
            {
                var (lo, w) = Taps(img.Height, outH, y);
                for (int x = 0; x < img.Width; x++)
                {
                    for (int c = 0; c < 3; c++)
                    {
                        double acc = 0;
                        for (int t = 0; t < w.Length; t++) acc += w[t] * img.Pixels[((lo + t) * img.Width + x) * 3 + c];
                        dst[(y * img.Width + x) * 3 + c] = ToByte(acc);
                    }
                }
            }
            img = new RgbImage(img.Width, outH, dst);
        }
        return img;

        static byte ToByte(double v) => (byte)Math.Clamp(Math.Floor(v + 0.5), 0, 255);

        static (int Lo, double[] W) Taps(int inSize, int outSize, int o)
        {
            double scale = (double)inSize / outSize, stretch = Math.Max(1.0, scale), support = 2.0 * stretch;
            double center = (o + 0.5) * scale;
            int lo = Math.Max(0, (int)Math.Floor(center - support + 0.5));
            int hi = Math.Min(inSize, (int)Math.Floor(center + support + 0.5));
            var w = new double[hi - lo];
            for (int i = lo; i < hi; i++) w[i - lo] = Keys((i + 0.5 - center) / stretch);
            double sum = w.Sum();
            for (int i = 0; i < w.Length; i++) w[i] /= sum;
            return (lo, w);
        }

        static double Keys(double x)
        {
            x = Math.Abs(x);
            return x < 1 ? 1.5 * x * x * x - 2.5 * x * x + 1 : x < 2 ? -0.5 * x * x * x + 2.5 * x * x - 4 * x + 2 : 0;
        }
    }
}

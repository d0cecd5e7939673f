namespace ModalFlow.Vision;

/// <summary>
/// Pillow 9.4's <c>Image.resize(size, Image.BICUBIC)</c> for 8-bit RGB images, bit for bit: a port of
/// <c>ImagingResample</c> (libImaging/Resample.c) for the whole-image box and the bicubic filter.
/// <list type="bullet">
/// <item>Separable: a horizontal pass (only over the source rows the vertical pass will read) into an 8-bit
///   intermediate image, then a vertical pass. A pass whose dimension does not change is skipped; same size
///   in both is a copy.</item>
/// <item>Filter: Keys cubic with a = -0.5, support 2, stretched by the downscale factor
///   (<c>support * max(1, in/out)</c>); each output pixel's taps are normalised to sum 1.</item>
/// <item>Weights in fixed point with <see cref="PrecisionBits"/> = 22 fraction bits, rounded half away from zero;
///   sums start at 0.5 (1 &lt;&lt; 21) and are shifted right by 22 and clipped to 0..255 after each pass.</item>
/// </list>
/// Coefficients are computed once per output column and row, so the cost is one integer multiply-add per tap.
/// </summary>
public static class PilResize
{
    /// <summary>Pillow's PRECISION_BITS = 32 - 8 - 2: 8 bits of pixel, 2 bits of headroom for negative / &gt;1 lobes.</summary>
    public const int PrecisionBits = 32 - 8 - 2;

    /// <summary>Half-width of the bicubic filter at scale 1 (Pillow's <c>BICUBIC.support</c>).</summary>
    public const double BicubicSupport = 2.0;

    /// <summary>Resizes to <paramref name="width"/> x <paramref name="height"/> with Pillow's BICUBIC.</summary>
    public static RgbImage Bicubic(RgbImage src, int width, int height)
    {
        ArgumentNullException.ThrowIfNull(src);
        if (width < 1 || height < 1)
        {
            // Pillow: ValueError("height and width must be > 0")
            throw new ArgumentOutOfRangeException(nameof(width), $"resize target must be at least 1x1, got {width}x{height}");
        }
        if (width == src.Width && height == src.Height) return src.Clone(); // Image.resize: same size -> self.copy()

        bool needHorizontal = width != src.Width;
        bool needVertical = height != src.Height;
        var horizontal = Coefficients.Compute(src.Width, width);
        var vertical = Coefficients.Compute(src.Height, height);

        // Source rows the vertical pass reads: [firstRow, lastRow).
        int firstRow = vertical.Start[0];
        int lastRow = vertical.Start[height - 1] + vertical.Count[height - 1];

        RgbImage image = src;
        int rowOffset = 0; // vertical taps index rows of `image` relative to this row
        if (needHorizontal)
        {
            image = HorizontalPass(src, firstRow, lastRow - firstRow, horizontal);
            rowOffset = firstRow;
        }
        if (needVertical)
        {
            image = VerticalPass(image, rowOffset, height, vertical);
        }
        return image;
    }

    /// <summary>
    /// Per-output-pixel taps of one dimension: output i reads inputs Start[i] .. Start[i] + Count[i] - 1 with
    /// weights Weights[i * KernelSize + t] (fixed point, <see cref="PrecisionBits"/> fraction bits).
    /// </summary>
    internal sealed class Coefficients
    {
        public required int KernelSize { get; init; }
        public required int[] Start { get; init; }
        public required int[] Count { get; init; }
        public required int[] Weights { get; init; }

        /// <summary>The normalised double weights before fixed-point rounding (for tests and a reference path).</summary>
        public required double[] Exact { get; init; }

        /// <summary>Pillow's precompute_coeffs + normalize_coeffs_8bpc for box [0, inSize) and BICUBIC.</summary>
        public static Coefficients Compute(int inSize, int outSize)
        {
            // Pillow passes the box edges as C floats: (double)(float(in) - float(0)) / outSize.
            double scale = (double)(float)inSize / outSize;
            double filterScale = Math.Max(scale, 1.0);
            double support = BicubicSupport * filterScale;
            int kernelSize = (int)Math.Ceiling(support) * 2 + 1;

            var start = new int[outSize];
            var count = new int[outSize];
            var exact = new double[checked(outSize * kernelSize)];
            var weights = new int[exact.Length];
            double invFilterScale = 1.0 / filterScale;
            for (int o = 0; o < outSize; o++)
            {
                double center = (o + 0.5) * scale; // + box left edge, which is 0
                // (int) truncates toward zero, as C does; then clamp to the image.
                int lo = (int)(center - support + 0.5);
                if (lo < 0) lo = 0;
                int hi = (int)(center + support + 0.5);
                if (hi > inSize) hi = inSize;
                int n = hi - lo;

                var k = exact.AsSpan(o * kernelSize, kernelSize);
                double sum = 0.0;
                for (int t = 0; t < n; t++)
                {
                    double w = Cubic((t + lo - center + 0.5) * invFilterScale);
                    k[t] = w;
                    sum += w;
                }
                if (sum != 0.0)
                {
                    for (int t = 0; t < n; t++) k[t] /= sum;
                }
                for (int t = 0; t < n; t++)
                {
                    double v = k[t] * (1 << PrecisionBits);
                    weights[o * kernelSize + t] = k[t] < 0 ? (int)(-0.5 + v) : (int)(0.5 + v);
                }
                start[o] = lo;
                count[o] = n;
            }
            return new Coefficients { KernelSize = kernelSize, Start = start, Count = count, Weights = weights, Exact = exact };
        }
    }

    /// <summary>Keys' cubic convolution kernel with a = -0.5, in the operation order of Pillow's bicubic_filter.</summary>
    internal static double Cubic(double x)
    {
        const double a = -0.5;
        if (x < 0.0) x = -x;
        if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
        if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
        return 0.0;
    }

    /// <summary>Pillow's clip8: drop the fraction bits (arithmetic shift), clamp to a byte.</summary>
    internal static byte Clip8(int acc)
    {
        int v = acc >> PrecisionBits;
        return v < 0 ? (byte)0 : v > 255 ? (byte)255 : (byte)v;
    }

    private const int Half = 1 << (PrecisionBits - 1);

    /// <summary>Rows [firstRow, firstRow + rows) of <paramref name="src"/>, resampled horizontally.</summary>
    private static RgbImage HorizontalPass(RgbImage src, int firstRow, int rows, Coefficients c)
    {
        int outWidth = c.Start.Length;
        var dst = new byte[checked(outWidth * rows * 3)];
        byte[] s = src.Pixels;
        int[] weights = c.Weights;
        int ks = c.KernelSize;
        for (int y = 0; y < rows; y++)
        {
            int srcRow = (firstRow + y) * src.Stride;
            int dstRow = y * outWidth * 3;
            for (int o = 0; o < outWidth; o++)
            {
                int r = Half, g = Half, b = Half;
                int p = srcRow + c.Start[o] * 3;
                int kw = o * ks;
                int n = c.Count[o];
                for (int t = 0; t < n; t++, p += 3)
                {
                    int w = weights[kw + t];
                    r += s[p] * w;
                    g += s[p + 1] * w;
                    b += s[p + 2] * w;
                }
                int d = dstRow + o * 3;
                dst[d] = Clip8(r);
                dst[d + 1] = Clip8(g);
                dst[d + 2] = Clip8(b);
            }
        }
        return new RgbImage(outWidth, rows, dst);
    }

    /// <summary>
    /// Vertical pass: output row o = sum over taps t of weight(o, t) * row (Start[o] - rowOffset + t) of <paramref name="src"/>.
    /// Accumulates whole rows at a time (integer sums, so the order does not change the result).
    /// </summary>
    private static RgbImage VerticalPass(RgbImage src, int rowOffset, int outHeight, Coefficients c)
    {
        int stride = src.Stride;
        var dst = new byte[checked(stride * outHeight)];
        var acc = new int[stride];
        byte[] s = src.Pixels;
        int ks = c.KernelSize;
        for (int o = 0; o < outHeight; o++)
        {
            Array.Fill(acc, Half);
            int first = c.Start[o] - rowOffset;
            int n = c.Count[o];
            for (int t = 0; t < n; t++)
            {
                int w = c.Weights[o * ks + t];
                var row = s.AsSpan((first + t) * stride, stride);
                for (int i = 0; i < row.Length; i++) acc[i] += row[i] * w;
            }
            var outRow = dst.AsSpan(o * stride, stride);
            for (int i = 0; i < outRow.Length; i++) outRow[i] = Clip8(acc[i]);
        }
        return new RgbImage(src.Width, outHeight, dst);
    }
}

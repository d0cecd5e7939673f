namespace ModalFlow.Families.Qwen2Vl;

/// <summary>
/// transformers v4.45.1 <c>smart_resize</c> (image_processing_qwen2_vl.py): both sides become multiples of
/// <c>factor</c> with the area inside [min_pixels, max_pixels], keeping the aspect ratio as closely as possible.
/// All arithmetic in double, exactly as Python does it: <c>round</c> is round-half-to-even (462 / 28 = 16.5 → 16),
/// the shrink branch floors, the grow branch ceils.
/// </summary>
public static class SmartResize
{
    /// <summary>The reference's limit on max(h, w) / min(h, w).</summary>
    public const double MaxAspectRatio = 200;

    /// <summary>(resized height, resized width) for an image of <paramref name="height"/> x <paramref name="width"/>.</summary>
    /// <param name="source">The image, named in error messages.</param>
    /// <exception cref="InputException">
    /// A side below <paramref name="factor"/> or an aspect ratio above 200 (the reference's ValueErrors), or a result
    /// with an empty side (the reference then fails inside PIL: "height and width must be &gt; 0").
    /// </exception>
    public static (int Height, int Width) Compute(int height, int width, int factor, long minPixels, long maxPixels, string? source = null)
    {
        if (factor < 1) throw new ArgumentOutOfRangeException(nameof(factor), factor, "expected a positive factor");
        if (height < factor || width < factor)
            throw new InputException(source, "image size",
                $"{width}x{height} px: both sides must be at least {factor} px for Qwen2-VL's smart_resize (the reference raises ValueError)");
        double ratio = (double)Math.Max(height, width) / Math.Min(height, width);
        if (ratio > MaxAspectRatio)
            throw new InputException(source, "image size",
                $"{width}x{height} px: aspect ratio {ratio:R} exceeds {MaxAspectRatio} (the reference raises ValueError)");

        long hBar = RoundHalfEven((double)height / factor) * factor;
        long wBar = RoundHalfEven((double)width / factor) * factor;
        long area = (long)height * width;
        if (hBar * wBar > maxPixels)
        {
            double beta = Math.Sqrt((double)area / maxPixels);
            hBar = (long)Math.Floor(height / beta / factor) * factor;
            wBar = (long)Math.Floor(width / beta / factor) * factor;
        }
        else if (hBar * wBar < minPixels)
        {
            double beta = Math.Sqrt((double)minPixels / area);
            hBar = (long)Math.Ceiling(height * beta / factor) * factor;
            wBar = (long)Math.Ceiling(width * beta / factor) * factor;
        }
        if (hBar < 1 || wBar < 1)
            throw new InputException(source, "image size",
                $"{width}x{height} px: smart_resize with max_pixels {maxPixels} gives {wBar}x{hBar}, an empty side (the reference fails in PIL's resize)");
        if (hBar > int.MaxValue || wBar > int.MaxValue)
            throw new InputException(source, "image size", $"{width}x{height} px: smart_resize gives {wBar}x{hBar}, too large");
        return ((int)hBar, (int)wBar);
    }

    /// <summary>Python's <c>round(x)</c> for a float: to the nearest integer, ties to even.</summary>
    private static long RoundHalfEven(double x) => (long)Math.Round(x, MidpointRounding.ToEven);
}

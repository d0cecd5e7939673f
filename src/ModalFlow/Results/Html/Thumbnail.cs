using ModalFlow.Vision;
using SkiaSharp;

namespace ModalFlow.Results.Html;

/// <summary>An 8-bit picture as a small JPEG data URI for the page (downscaled, never upscaled).</summary>
internal static class Thumbnail
{
    /// <summary>A <c>data:image/jpeg;base64,…</c> URI of <paramref name="image"/> with its longer side at most <paramref name="maxSide"/>.</summary>
    public static string JpegDataUri(RgbImage image, int maxSide, int quality)
    {
        ArgumentNullException.ThrowIfNull(image);
        var info = new SKImageInfo(image.Width, image.Height, SKColorType.Rgba8888, SKAlphaType.Opaque);
        using var bitmap = new SKBitmap(info);
        var rgba = new byte[image.Width * image.Height * 4];
        var px = image.Pixels;
        for (int i = 0, j = 0; i < px.Length; i += 3, j += 4)
        {
            rgba[j] = px[i];
            rgba[j + 1] = px[i + 1];
            rgba[j + 2] = px[i + 2];
            rgba[j + 3] = 255;
        }
        System.Runtime.InteropServices.Marshal.Copy(rgba, 0, bitmap.GetPixels(), rgba.Length);
        double scale = Math.Min(1.0, (double)maxSide / Math.Max(image.Width, image.Height));
        using var scaled = scale < 1.0
            ? bitmap.Resize(new SKImageInfo(Math.Max(1, (int)Math.Round(image.Width * scale)), Math.Max(1, (int)Math.Round(image.Height * scale)), SKColorType.Rgba8888, SKAlphaType.Opaque),
                new SKSamplingOptions(SKCubicResampler.Mitchell))
            : null;
        using var encoded = (scaled ?? bitmap).Encode(SKEncodedImageFormat.Jpeg, quality);
        return "data:image/jpeg;base64," + Convert.ToBase64String(encoded.AsSpan());
    }

    /// <summary>
    /// A figure (PNG file) as a lossy WebP data URI (quality 90), downscaled to at most <paramref name="maxWidth"/>
    /// pixels wide: a third of the PNG's bytes for line plots, with no visible loss.
    /// </summary>
    public static string FigureDataUri(string path, int maxWidth)
    {
        using var original = SKBitmap.Decode(path) ?? throw new InputException(path, "figure", "is not a readable PNG");
        int width = Math.Min(maxWidth, original.Width), height = Math.Max(1, (int)Math.Round(original.Height * (double)width / original.Width));
        using var scaled = width == original.Width ? null
            : original.Resize(new SKImageInfo(width, height, original.ColorType, original.AlphaType), new SKSamplingOptions(SKCubicResampler.Mitchell));
        using var encoded = (scaled ?? original).Encode(SKEncodedImageFormat.Webp, 90);
        return "data:image/webp;base64," + Convert.ToBase64String(encoded.AsSpan());
    }
}

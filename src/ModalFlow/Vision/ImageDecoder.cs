using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using SkiaSharp;

namespace ModalFlow.Vision;

/// <summary>
/// Decodes JPEG and PNG files to the pixels Pillow 9.4's <c>Image.open(p).convert("RGB")</c> gives (the reference
/// LLaVA / Hugging Face pipelines decode that way).
/// <para>
/// Skia decodes into RGBA8888 with <see cref="SKAlphaType.Unpremul"/> and no colour space (so no colour management,
/// like Pillow), then the alpha byte is dropped — Pillow's <c>convert("RGB")</c> drops alpha without compositing.
/// Verified byte for byte against Pillow's decoder (libjpeg-turbo 2.1.5 with Pillow's settings, Pillow's PNG
/// unpackers; see tests/ModalFlow.Tests/Vision): baseline, progressive and arithmetic-coded JPEG, 4:4:4 / 4:2:2 /
/// 4:4:0 / 4:2:0 / 4:1:1, greyscale and CMYK/YCCK JPEG (Pillow always assumes Adobe-inverted CMYK, as Skia does);
/// PNG RGB/RGBA/grey/grey+alpha at 1–16 bits, palette (with and without tRNS), interlaced, with gAMA/cHRM.
/// EXIF orientation is ignored, as Pillow does.
/// </para>
/// <para>
/// Rejected with an <see cref="InputException"/>: missing or empty files, anything but JPEG/PNG (GIF, WebP, BMP,
/// … are not checked against Pillow), truncated or corrupt files (Pillow raises "image file is truncated";
/// Skia would hand back a partly grey image), 16-bit greyscale PNG (Pillow reads it as mode "I" and its
/// <c>convert("RGB")</c> clips each 16-bit value to 0..255, which cannot be reproduced from Skia's 8-bit output),
/// and images above Pillow's decompression-bomb limit.
/// </para>
/// </summary>
public static class ImageDecoder
{
    /// <summary>Pillow raises <c>DecompressionBombError</c> above 2 * <c>Image.MAX_IMAGE_PIXELS</c> (89,478,485).</summary>
    public const long MaxPixels = 2L * 89_478_485;

    private const string Field = "image";
    private const string Expected = "expected a JPEG or PNG image";

    private static ReadOnlySpan<byte> PngSignature => [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>Decodes the file at <paramref name="path"/>; every problem with the file is an <see cref="InputException"/> naming it.</summary>
    public static RgbImage Decode(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (Directory.Exists(path))
        {
            throw new InputException(path, Field, $"{Expected} file; this is a directory");
        }
        if (!File.Exists(path))
        {
            throw new InputException(path, Field, $"{Expected} file; the file does not exist");
        }
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InputException(path, Field, $"{Expected} file; it cannot be read ({e.Message})", e);
        }
        return Decode(bytes, path);
    }

    /// <summary>
    /// Decodes an encoded JPEG/PNG held in memory (for example an image column of a Parquet file).
    /// <paramref name="source"/> names it in error messages (a path, or "file.parquet row 17").
    /// </summary>
    public static RgbImage Decode(byte[] encoded, string source)
    {
        ArgumentNullException.ThrowIfNull(encoded);
        ArgumentException.ThrowIfNullOrEmpty(source);
        var format = Sniff(encoded, source);
        if (format == SKEncodedImageFormat.Png) CheckPngHeader(encoded, source);

        // The codec takes over the stream's native object (also when creation fails), so the stream is not disposed here.
        var stream = new SKMemoryStream(encoded);
        using var codec = SKCodec.Create(stream, out var created);
        if (codec is null)
        {
            throw created == SKCodecResult.IncompleteInput
                ? new InputException(source, Field, $"{Expected}; the file ends after {encoded.Length} bytes, inside the {Name(format)} header")
                : new InputException(source, Field, $"{Expected}; the {Name(format)} header is invalid ({created}) in this {encoded.Length}-byte file");
        }
        if (codec.EncodedFormat != format)
        {
            throw new InputException(source, Field, $"{Expected}; the file starts like a {Name(format)} but decodes as {codec.EncodedFormat}");
        }

        int width = codec.Info.Width, height = codec.Info.Height;
        long pixelCount = (long)width * height;
        if (width < 1 || height < 1)
        {
            throw new InputException(source, Field, $"{Expected} of at least 1x1 pixels; the header says {width}x{height}");
        }
        if (pixelCount > MaxPixels)
        {
            throw new InputException(source, Field,
                $"{Expected} of at most {MaxPixels:N0} pixels (Pillow's decompression-bomb limit); this one is {width}x{height} = {pixelCount:N0}");
        }

        // No colour space: Skia then does no colour management (Pillow does none either). Unpremul: the colour
        // channels come back as stored, whatever the alpha, and Pillow's convert("RGB") just drops alpha.
        var info = new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul, colorspace: null);
        int rgbaLength = checked(width * height * 4);
        byte[] rgba = ArrayPool<byte>.Shared.Rent(rgbaLength);
        try
        {
            SKCodecResult result;
            unsafe
            {
                fixed (byte* p = rgba)
                {
                    result = codec.GetPixels(info, (IntPtr)p, info.RowBytes, new SKCodecOptions(SKZeroInitialized.No));
                }
            }
            switch (result)
            {
                case SKCodecResult.Success:
                    break;
                case SKCodecResult.IncompleteInput:
                    // Pillow raises OSError("image file is truncated") here (ImageFile.LOAD_TRUNCATED_IMAGES is False).
                    throw new InputException(source, Field,
                        $"expected a complete {Name(format)} image of {width}x{height} pixels; the file ends after {encoded.Length} bytes, " +
                        "before all pixels were decoded (truncated; Pillow rejects it too: \"image file is truncated\")");
                case SKCodecResult.ErrorInInput:
                case SKCodecResult.InvalidInput:
                    throw new InputException(source, Field,
                        $"expected a complete, valid {Name(format)} image of {width}x{height} pixels; the decoder found corrupt or missing data " +
                        $"({result}) in this {encoded.Length}-byte file — it is probably truncated or damaged");
                default:
                    throw new InputException(source, Field,
                        $"{Expected} that can be decoded to RGB; decoding this {width}x{height} {Name(format)} failed ({result})");
            }

            var rgb = new byte[checked(width * height * 3)];
            DropAlpha(rgba.AsSpan(0, rgbaLength), rgb);
            return new RgbImage(width, height, rgb);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rgba);
        }
    }

    /// <summary>Pillow's rgba2rgb: keep R, G, B; drop A.</summary>
    private static void DropAlpha(ReadOnlySpan<byte> rgba, Span<byte> rgb)
    {
        int n = rgb.Length / 3;
        for (int i = 0; i < n; i++)
        {
            rgb[i * 3] = rgba[i * 4];
            rgb[i * 3 + 1] = rgba[i * 4 + 1];
            rgb[i * 3 + 2] = rgba[i * 4 + 2];
        }
    }

    private static SKEncodedImageFormat Sniff(byte[] b, string source)
    {
        if (b.Length == 0)
        {
            throw new InputException(source, Field, $"{Expected}; the file is empty (0 bytes)");
        }
        if (b[0] == 0xFF && (b.Length < 2 || b[1] == 0xD8))
        {
            if (b.Length < 3) throw new InputException(source, Field, $"{Expected}; the file ends after {b.Length} bytes");
            return SKEncodedImageFormat.Jpeg;
        }
        if (b[0] == 0x89)
        {
            int n = Math.Min(b.Length, PngSignature.Length);
            if (b.AsSpan(0, n).SequenceEqual(PngSignature[..n]))
            {
                if (n < PngSignature.Length) throw new InputException(source, Field, $"{Expected}; the file ends after {b.Length} bytes");
                return SKEncodedImageFormat.Png;
            }
        }
        string? other = StartsWith(b, "GIF8") ? "GIF"
            : StartsWith(b, "BM") ? "BMP"
            : StartsWith(b, "RIFF") && b.Length >= 12 && Encoding.ASCII.GetString(b, 8, 4) == "WEBP" ? "WebP"
            : StartsWith(b, "II*\0") || StartsWith(b, "MM\0*") ? "TIFF"
            : b.Length >= 12 && Encoding.ASCII.GetString(b, 4, 4) == "ftyp" ? "HEIF/AVIF"
            : null;
        if (other is not null)
        {
            throw new InputException(source, Field,
                $"{Expected}; this is a {other} file (only JPEG and PNG decoding is checked against Pillow)");
        }
        throw new InputException(source, Field, $"{Expected}; the file starts with {Describe(b)} and is {b.Length} bytes long");
    }

    /// <summary>Rejects what Skia cannot decode the way Pillow does: 16-bit greyscale (Pillow mode "I", clipped to 0..255).</summary>
    private static void CheckPngHeader(byte[] b, string source)
    {
        // signature (8) | IHDR length (4) | "IHDR" (4) | width (4) | height (4) | bit depth (1) | colour type (1)
        if (b.Length < 26) return; // let Skia report the truncation
        if (Encoding.ASCII.GetString(b, 12, 4) != "IHDR") return;
        int bitDepth = b[24], colorType = b[25];
        if (colorType == 0 && bitDepth == 16)
        {
            throw new InputException(source, Field,
                $"{Expected} with 1-8 bit greyscale, or RGB / RGBA / grey+alpha / palette at any depth; this is a 16-bit greyscale PNG " +
                $"({BinaryPrimitives.ReadInt32BigEndian(b.AsSpan(16))}x{BinaryPrimitives.ReadInt32BigEndian(b.AsSpan(20))}), which Pillow 9.4 " +
                "opens as mode \"I\" and clips to 0..255 in convert(\"RGB\") — not reproducible here; convert it to 8 bits first");
        }
    }

    private static bool StartsWith(byte[] b, string ascii)
    {
        if (b.Length < ascii.Length) return false;
        for (int i = 0; i < ascii.Length; i++)
        {
            if (b[i] != ascii[i]) return false;
        }
        return true;
    }

    private static string Describe(byte[] b)
    {
        int n = Math.Min(8, b.Length);
        var hex = Convert.ToHexString(b, 0, n);
        var text = new string(b.Take(n).Select(c => c is >= 0x20 and < 0x7F ? (char)c : '.').ToArray());
        return $"0x{hex} (\"{text}\")";
    }

    private static string Name(SKEncodedImageFormat f) => f == SKEncodedImageFormat.Jpeg ? "JPEG" : f.ToString().ToUpperInvariant();
}

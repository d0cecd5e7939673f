namespace ModalFlow.Vision;

/// <summary>An 8-bit RGB colour (what Pillow's "RGB" mode stores per pixel).</summary>
public readonly record struct Rgb8(byte R, byte G, byte B)
{
    public static readonly Rgb8 Black = new(0, 0, 0);

    public override string ToString() => $"({R}, {G}, {B})";
}

/// <summary>
/// An 8-bit RGB image, interleaved and row-major: pixel (x, y) channel c is <c>Pixels[(y * Width + x) * 3 + c]</c>.
/// This is exactly the memory of a Pillow "RGB" image as <c>np.asarray(img)</c> gives it ([height, width, 3] uint8).
/// </summary>
public sealed class RgbImage
{
    public const int Channels = 3;

    public int Width { get; }
    public int Height { get; }

    /// <summary>[Height, Width, 3] uint8, row-major. Owned by the image; mutate only through code that owns it.</summary>
    public byte[] Pixels { get; }

    /// <param name="pixels">Width * Height * 3 bytes; the image keeps (does not copy) the array.</param>
    public RgbImage(int width, int height, byte[] pixels)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        if (width < 1 || height < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(width), $"image size must be at least 1x1, got {width}x{height}");
        }
        long expected = (long)width * height * Channels;
        if (pixels.LongLength != expected)
        {
            throw new ArgumentException($"a {width}x{height} RGB image needs {expected} bytes, got {pixels.LongLength}", nameof(pixels));
        }
        Width = width;
        Height = height;
        Pixels = pixels;
    }

    /// <summary>A new image of one colour (Pillow's <c>Image.new("RGB", (w, h), color)</c>).</summary>
    public static RgbImage Filled(int width, int height, Rgb8 color)
    {
        if (width < 1 || height < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(width), $"image size must be at least 1x1, got {width}x{height}");
        }
        var pixels = new byte[checked(width * height * Channels)];
        if (color != Rgb8.Black)
        {
            for (int i = 0; i < pixels.Length; i += Channels)
            {
                pixels[i] = color.R;
                pixels[i + 1] = color.G;
                pixels[i + 2] = color.B;
            }
        }
        return new RgbImage(width, height, pixels);
    }

    /// <summary>Bytes per row (Width * 3; rows are packed, no padding).</summary>
    public int Stride => Width * Channels;

    public Rgb8 GetPixel(int x, int y)
    {
        CheckInside(x, y);
        int i = (y * Width + x) * Channels;
        return new Rgb8(Pixels[i], Pixels[i + 1], Pixels[i + 2]);
    }

    public void SetPixel(int x, int y, Rgb8 color)
    {
        CheckInside(x, y);
        int i = (y * Width + x) * Channels;
        Pixels[i] = color.R;
        Pixels[i + 1] = color.G;
        Pixels[i + 2] = color.B;
    }

    /// <summary>Row <paramref name="y"/> as a span of Width * 3 bytes.</summary>
    public Span<byte> Row(int y)
    {
        if ((uint)y >= (uint)Height) throw new ArgumentOutOfRangeException(nameof(y), $"row {y} outside 0..{Height - 1}");
        return Pixels.AsSpan(y * Stride, Stride);
    }

    public RgbImage Clone() => new(Width, Height, (byte[])Pixels.Clone());

    /// <summary>
    /// Pillow's <c>Image.paste(src, (left, top))</c> for two RGB images without a mask: copies the part of
    /// <paramref name="src"/> that falls inside this image; offsets may be negative or push it partly outside.
    /// </summary>
    public void Paste(RgbImage src, int left, int top)
    {
        ArgumentNullException.ThrowIfNull(src);
        int x0 = Math.Max(0, left), y0 = Math.Max(0, top);
        int x1 = Math.Min(Width, left + src.Width), y1 = Math.Min(Height, top + src.Height);
        if (x0 >= x1 || y0 >= y1) return;
        int bytes = (x1 - x0) * Channels;
        for (int y = y0; y < y1; y++)
        {
            src.Pixels.AsSpan(((y - top) * src.Width + (x0 - left)) * Channels, bytes)
                .CopyTo(Pixels.AsSpan((y * Width + x0) * Channels, bytes));
        }
    }

    public override string ToString() => $"RgbImage {Width}x{Height}";

    private void CheckInside(int x, int y)
    {
        if ((uint)x >= (uint)Width || (uint)y >= (uint)Height)
        {
            throw new ArgumentOutOfRangeException(nameof(x), $"pixel ({x}, {y}) outside a {Width}x{Height} image");
        }
    }
}

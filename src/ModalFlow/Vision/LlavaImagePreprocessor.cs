namespace ModalFlow.Vision;

/// <summary>How an image is fitted to the square model input.</summary>
public enum ImageMode
{
    /// <summary>
    /// LLaVA-1.5 as the paper runs it (LLaVA's <c>process_images</c>, <c>image_aspect_ratio="pad"</c>):
    /// <c>expand2square</c> onto a square of side max(w, h) filled with int(mean * 255) = (122, 116, 104), then the
    /// CLIP steps (resize, center crop — a no-op after padding —, rescale, normalise).
    /// </summary>
    Pad,

    /// <summary>llava-hf's <c>CLIPImageProcessor</c> alone: no padding, the center crop cuts the long side.</summary>
    Crop,
}

/// <summary>
/// Where the pixels go, stage by stage, for one input size: the optional square pad, the shortest-edge resize and
/// the center crop. Sizes are (width, height) like PIL; offsets are in the coordinates of the stage's output.
/// </summary>
/// <param name="PadLeft">x of the original image on the padded canvas (0 without padding).</param>
/// <param name="PadTop">y of the original image on the padded canvas.</param>
/// <param name="CropLeft">
/// x of the crop window in the resized image; negative when the resized image is narrower than the crop (then the
/// window's left part is zero padding, as transformers' <c>center_crop</c> does).
/// </param>
/// <param name="CropTop">y of the crop window in the resized image (may be negative, see <paramref name="CropLeft"/>).</param>
public sealed record ImageGeometry(
    int OriginalWidth, int OriginalHeight,
    int PaddedWidth, int PaddedHeight, int PadLeft, int PadTop,
    int ResizedWidth, int ResizedHeight,
    int CropLeft, int CropTop, int OutputWidth, int OutputHeight);

/// <summary>The model input for one image.</summary>
/// <param name="PixelValues">float32 [3, Height, Width], channel-major (CHW), R then G then B — one row of HF's pixel_values.</param>
/// <param name="Source">The file the image came from, when known.</param>
public sealed record PreprocessedImage(
    float[] PixelValues, int Height, int Width, ImageMode Mode, ImageGeometry Geometry, string? Source)
{
    public int OriginalWidth => Geometry.OriginalWidth;
    public int OriginalHeight => Geometry.OriginalHeight;

    /// <summary>[3, Height, Width].</summary>
    public int[] Shape => [RgbImage.Channels, Height, Width];
}

/// <summary>
/// LLaVA-1.5 image preprocessing, bit-exact to the Python reference (LLaVA's <c>process_images</c> and transformers
/// v4.44.2 <c>CLIPImageProcessor</c> with Pillow 9.4): decode → geometry (<see cref="ApplyGeometry"/>: pad, resize,
/// crop, all on 8-bit RGB) → <see cref="ToPixelValues"/> (rescale, normalise to float32 CHW).
/// The geometry is public on its own so that other 8-bit pictures (a painted box mask) can take exactly the same path.
/// </summary>
public sealed class LlavaImagePreprocessor
{
    public ImageProcessingOptions Options { get; }
    public ImageMode Mode { get; }

    /// <summary>Per channel, the float32 model value of each byte 0..255 (rescale and normalise depend on nothing else).</summary>
    private readonly float[][] _lookup;

    /// <summary>expand2square's background (unused in <see cref="ImageMode.Crop"/>).</summary>
    private readonly Rgb8 _padColor;

    public LlavaImagePreprocessor(ImageProcessingOptions options, ImageMode mode)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (!Enum.IsDefined(mode)) throw new ArgumentOutOfRangeException(nameof(mode), mode, "unknown image mode");
        Options = options.Validate();
        Mode = mode;
        _lookup = BuildLookup(options);
        _padColor = mode == ImageMode.Pad ? options.PadColor : Rgb8.Black;
    }

    /// <summary>LLaVA-1.5 "pad" with llava-hf's CLIP settings: the paper's preprocessing.</summary>
    public static LlavaImagePreprocessor Llava15Pad() => new(ImageProcessingOptions.LlavaHf, ImageMode.Pad);

    /// <summary>Decodes <paramref name="path"/> (see <see cref="ImageDecoder"/>) and preprocesses it.</summary>
    public PreprocessedImage Preprocess(string path) => Preprocess(ImageDecoder.Decode(path), path);

    /// <param name="source">The file the image came from, kept in the result for error messages and records.</param>
    public PreprocessedImage Preprocess(RgbImage image, string? source = null)
    {
        ArgumentNullException.ThrowIfNull(image);
        var geometry = Plan(image.Width, image.Height);
        var fitted = ApplyGeometry(image, geometry, _padColor);
        return new PreprocessedImage(ToPixelValues(fitted), fitted.Height, fitted.Width, Mode, geometry, source);
    }

    /// <summary>The stage sizes and offsets for an input of <paramref name="width"/> x <paramref name="height"/>.</summary>
    public ImageGeometry Plan(int width, int height)
    {
        if (width < 1 || height < 1) throw new ArgumentOutOfRangeException(nameof(width), $"image size must be at least 1x1, got {width}x{height}");

        // LLaVA expand2square: paste at ((side - w) // 2, (side - h) // 2) on a side x side canvas.
        int paddedWidth = width, paddedHeight = height, padLeft = 0, padTop = 0;
        if (Mode == ImageMode.Pad && width != height)
        {
            int side = Math.Max(width, height);
            padLeft = (side - width) / 2;
            padTop = (side - height) / 2;
            paddedWidth = paddedHeight = side;
        }

        int resizedWidth = paddedWidth, resizedHeight = paddedHeight;
        if (Options.DoResize)
        {
            (resizedHeight, resizedWidth) = ShortestEdgeResizeSize(paddedHeight, paddedWidth, Options.ShortestEdge);
        }

        int cropLeft = 0, cropTop = 0, outputWidth = resizedWidth, outputHeight = resizedHeight;
        if (Options.DoCenterCrop)
        {
            // transformers center_crop: top = (h - crop_h) // 2 (floor), the same formula when the image is smaller
            // than the crop, where it pads with zeros (its top_pad = ceil((crop_h - h) / 2) = -top).
            cropTop = FloorDiv(resizedHeight - Options.CropHeight, 2);
            cropLeft = FloorDiv(resizedWidth - Options.CropWidth, 2);
            outputWidth = Options.CropWidth;
            outputHeight = Options.CropHeight;
        }

        return new ImageGeometry(width, height, paddedWidth, paddedHeight, padLeft, padTop,
            resizedWidth, resizedHeight, cropLeft, cropTop, outputWidth, outputHeight);
    }

    /// <summary>
    /// Pad (in <see cref="ImageMode.Pad"/>), resize and crop, on 8-bit RGB: the image just before rescale/normalise
    /// (Options.CropWidth x CropHeight with the default options). <paramref name="padColor"/> overrides the
    /// expand2square background (default: <see cref="ImageProcessingOptions.PadColor"/>), e.g. black for a mask.
    /// </summary>
    public RgbImage ApplyGeometry(RgbImage image, Rgb8? padColor = null)
    {
        ArgumentNullException.ThrowIfNull(image);
        return ApplyGeometry(image, Plan(image.Width, image.Height), padColor ?? _padColor);
    }

    private RgbImage ApplyGeometry(RgbImage image, ImageGeometry g, Rgb8 padColor)
    {
        var current = image;
        if (g.PaddedWidth != image.Width || g.PaddedHeight != image.Height)
        {
            var canvas = RgbImage.Filled(g.PaddedWidth, g.PaddedHeight, padColor);
            canvas.Paste(image, g.PadLeft, g.PadTop);
            current = canvas;
        }
        if (Options.DoResize)
        {
            current = PilResize.Bicubic(current, g.ResizedWidth, g.ResizedHeight);
        }
        if (Options.DoCenterCrop)
        {
            current = CenterCrop(current, g.CropLeft, g.CropTop, g.OutputWidth, g.OutputHeight);
        }
        return ReferenceEquals(current, image) ? image.Clone() : current;
    }

    /// <summary>
    /// Rescale and normalise as transformers does: <c>x = float32(v * rescale_factor)</c> (product in double),
    /// then <c>(x - float32(mean[c])) / float32(std[c])</c> in float32. Returns [3, H, W] CHW.
    /// </summary>
    public float[] ToPixelValues(RgbImage image)
    {
        ArgumentNullException.ThrowIfNull(image);
        int plane = image.Width * image.Height;
        var result = new float[checked(plane * RgbImage.Channels)]; // [3, H, W]
        byte[] px = image.Pixels;                                    // [H, W, 3]
        float[] r = _lookup[0], g = _lookup[1], b = _lookup[2];
        for (int i = 0; i < plane; i++)
        {
            result[i] = r[px[i * 3]];
            result[plane + i] = g[px[i * 3 + 1]];
            result[2 * plane + i] = b[px[i * 3 + 2]];
        }
        return result;
    }

    /// <summary>
    /// transformers <c>get_resize_output_image_size(image, size, default_to_square=False)</c>: the shorter side
    /// becomes <paramref name="shortestEdge"/>, the longer <c>int(shortest_edge * long / short)</c> (Python true
    /// division in double, truncated). Returns (height, width) like transformers.
    /// </summary>
    public static (int Height, int Width) ShortestEdgeResizeSize(int height, int width, int shortestEdge)
    {
        if (height < 1 || width < 1 || shortestEdge < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(height), $"sizes must be at least 1, got {height}x{width} -> {shortestEdge}");
        }
        bool portraitOrSquare = width <= height;
        int shortSide = portraitOrSquare ? width : height;
        int longSide = portraitOrSquare ? height : width;
        int newLong = (int)((double)((long)shortestEdge * longSide) / shortSide);
        return portraitOrSquare ? (newLong, shortestEdge) : (shortestEdge, newLong);
    }

    /// <summary>
    /// The window [left, left + width) x [top, top + height) of <paramref name="src"/>; parts outside the source are
    /// zero (black), as transformers' center_crop pads a too-small image.
    /// </summary>
    private static RgbImage CenterCrop(RgbImage src, int left, int top, int width, int height)
    {
        if (left == 0 && top == 0 && width == src.Width && height == src.Height) return src;
        var dst = RgbImage.Filled(width, height, Rgb8.Black);
        dst.Paste(src, -left, -top);
        return dst;
    }

    private static int FloorDiv(int a, int b) => (int)Math.Floor((double)a / b);

    private static float[][] BuildLookup(ImageProcessingOptions o)
    {
        var table = new float[RgbImage.Channels][];
        for (int c = 0; c < RgbImage.Channels; c++)
        {
            float mean = (float)o.ImageMean[c], std = (float)o.ImageStd[c];
            table[c] = new float[256];
            for (int v = 0; v < 256; v++)
            {
                float x = o.DoRescale ? (float)(v * o.RescaleFactor) : v;
                if (o.DoNormalize) x = (x - mean) / std;
                table[c][v] = x;
            }
        }
        return table;
    }
}

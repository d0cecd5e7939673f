namespace ModalFlow.Vision;

/// <summary>
/// The CLIP image-processor settings (Hugging Face <c>CLIPImageProcessor</c>), flattened from
/// <c>preprocessor_config.json</c>: <c>size.shortest_edge</c> → <see cref="ShortestEdge"/>,
/// <c>crop_size.height/width</c> → <see cref="CropHeight"/>/<see cref="CropWidth"/>, the rest one to one.
/// Defaults equal llava-hf/llava-1.5-7b-hf's preprocessor_config.json (= openai/clip-vit-large-patch14-336).
/// </summary>
public sealed record ImageProcessingOptions
{
    /// <summary>CLIP's (OpenAI) per-channel mean, <c>OPENAI_CLIP_MEAN</c>.</summary>
    public static readonly IReadOnlyList<double> ClipMean = [0.48145466, 0.4578275, 0.40821073];

    /// <summary>CLIP's (OpenAI) per-channel standard deviation, <c>OPENAI_CLIP_STD</c>.</summary>
    public static readonly IReadOnlyList<double> ClipStd = [0.26862954, 0.26130258, 0.27577711];

    /// <summary>PIL's <c>Image.BICUBIC</c> (<c>resample: 3</c>), the only filter implemented.</summary>
    public const int PilBicubic = 3;

    /// <summary>The llava-hf LLaVA-1.5 settings (all defaults).</summary>
    public static ImageProcessingOptions LlavaHf { get; } = new();

    /// <summary><c>do_resize</c>: resize so the shorter side is <see cref="ShortestEdge"/>.</summary>
    public bool DoResize { get; init; } = true;

    /// <summary><c>size.shortest_edge</c>.</summary>
    public int ShortestEdge { get; init; } = 336;

    /// <summary><c>resample</c>: PIL filter id; only 3 (BICUBIC) is implemented.</summary>
    public int Resample { get; init; } = PilBicubic;

    /// <summary><c>do_center_crop</c>.</summary>
    public bool DoCenterCrop { get; init; } = true;

    /// <summary><c>crop_size.height</c>.</summary>
    public int CropHeight { get; init; } = 336;

    /// <summary><c>crop_size.width</c>.</summary>
    public int CropWidth { get; init; } = 336;

    /// <summary><c>do_rescale</c>.</summary>
    public bool DoRescale { get; init; } = true;

    /// <summary><c>rescale_factor</c> (1/255 = 0.00392156862745098), applied in double before the cast to float32.</summary>
    public double RescaleFactor { get; init; } = 1.0 / 255;

    /// <summary><c>do_normalize</c>.</summary>
    public bool DoNormalize { get; init; } = true;

    /// <summary><c>image_mean</c>, three values (R, G, B); cast to float32 before use, as transformers does.</summary>
    public IReadOnlyList<double> ImageMean { get; init; } = ClipMean;

    /// <summary><c>image_std</c>, three values (R, G, B); cast to float32 before use.</summary>
    public IReadOnlyList<double> ImageStd { get; init; } = ClipStd;

    /// <summary><c>do_convert_rgb</c>: images are always decoded to RGB, so only true is implemented.</summary>
    public bool DoConvertRgb { get; init; } = true;

    /// <summary>
    /// LLaVA's <c>expand2square</c> background: <c>tuple(int(x * 255) for x in image_processor.image_mean)</c>,
    /// (122, 116, 104) for CLIP's mean.
    /// </summary>
    public Rgb8 PadColor => new(MeanByte(0), MeanByte(1), MeanByte(2));

    /// <summary>
    /// Throws an <see cref="InputException"/> naming <paramref name="sourceFile"/> (the preprocessor_config.json the
    /// values came from, when known) and the JSON field, for anything out of range or not implemented. Returns this.
    /// </summary>
    public ImageProcessingOptions Validate(string? sourceFile = null)
    {
        void Fail(string field, string problem) => throw new InputException(sourceFile, field, problem);

        if (ShortestEdge < 1) Fail("size.shortest_edge", $"must be at least 1, got {ShortestEdge}");
        if (Resample != PilBicubic) Fail("resample", $"only 3 (PIL BICUBIC) is implemented, got {Resample}");
        if (CropHeight < 1 || CropWidth < 1) Fail("crop_size", $"height and width must be at least 1, got {CropHeight}x{CropWidth}");
        if (!double.IsFinite(RescaleFactor)) Fail("rescale_factor", $"must be finite, got {RescaleFactor}");
        if (ImageMean is null || ImageMean.Count != 3) Fail("image_mean", $"must have 3 values (R, G, B), got {ImageMean?.Count ?? 0}");
        if (ImageStd is null || ImageStd.Count != 3) Fail("image_std", $"must have 3 values (R, G, B), got {ImageStd?.Count ?? 0}");
        for (int c = 0; c < 3; c++)
        {
            if (!double.IsFinite(ImageMean![c])) Fail("image_mean", $"value {c} must be finite, got {ImageMean[c]}");
            if (!double.IsFinite(ImageStd![c]) || (float)ImageStd[c] == 0f) Fail("image_std", $"value {c} must be finite and non-zero, got {ImageStd[c]}");
        }
        if (!DoConvertRgb) Fail("do_convert_rgb", "only true is implemented (images are always decoded to RGB)");
        return this;
    }

    private byte MeanByte(int c)
    {
        double v = ImageMean[c] * 255; // Python int(): truncation toward zero
        if (!(v >= 0 && v < 256))
        {
            throw new InputException(null, "image_mean", $"expected values in [0, 1] for the pad colour int(mean * 255); value {c} is {ImageMean[c]}");
        }
        return (byte)(int)v;
    }

    public bool Equals(ImageProcessingOptions? other) =>
        other is not null && DoResize == other.DoResize && ShortestEdge == other.ShortestEdge && Resample == other.Resample
        && DoCenterCrop == other.DoCenterCrop && CropHeight == other.CropHeight && CropWidth == other.CropWidth
        && DoRescale == other.DoRescale && RescaleFactor.Equals(other.RescaleFactor) && DoNormalize == other.DoNormalize
        && ImageMean.SequenceEqual(other.ImageMean) && ImageStd.SequenceEqual(other.ImageStd) && DoConvertRgb == other.DoConvertRgb;

    public override int GetHashCode() =>
        HashCode.Combine(HashCode.Combine(DoResize, ShortestEdge, Resample, DoCenterCrop, CropHeight, CropWidth, DoRescale, RescaleFactor),
            DoNormalize, DoConvertRgb, ImageMean.Count > 0 ? ImageMean[0] : 0, ImageStd.Count > 0 ? ImageStd[0] : 0);

    public override string ToString() =>
        $"ImageProcessingOptions {{ do_resize={DoResize}, shortest_edge={ShortestEdge}, resample={Resample}, do_center_crop={DoCenterCrop}, " +
        $"crop={CropHeight}x{CropWidth}, do_rescale={DoRescale}, rescale_factor={RescaleFactor:R}, do_normalize={DoNormalize}, " +
        $"image_mean=[{string.Join(", ", ImageMean.Select(v => v.ToString("R")))}], image_std=[{string.Join(", ", ImageStd.Select(v => v.ToString("R")))}] }}";
}

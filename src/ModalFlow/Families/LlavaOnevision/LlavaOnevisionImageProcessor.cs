using ModalFlow.Vision;

namespace ModalFlow.Families.LlavaOnevision;

/// <summary>The model input for one image.</summary>
/// <param name="Values">float32 [<see cref="OnevisionImagePlan.CropCount"/>, 3, S, S]: base first, then the tiles row-major (CHW, R G B).</param>
/// <param name="Plan">The geometry (canvas, tiles, padding, token count).</param>
/// <param name="Source">The file the image came from, when known.</param>
public sealed record OnevisionPixelValues(float[] Values, OnevisionImagePlan Plan, string? Source)
{
    /// <summary>[crops, 3, S, S].</summary>
    public long[] Shape => [Plan.CropCount, RgbImage.Channels, Plan.TileSize, Plan.TileSize];

    /// <summary>transformers' <c>image_sizes</c> row: (height, width) of the original image.</summary>
    public (int Height, int Width) ImageSizeHw => (Plan.Height, Plan.Width);
}

/// <summary>
/// transformers v4.45.1 <c>LlavaOnevisionImageProcessor</c> for one image, bit-exact with Pillow 9.4 bicubic:
/// <see cref="OnevisionTiles.Cut"/> (base squashed to S x S, then the canvas tiles row-major, with v4.45.1's
/// 1-px-short padding), then rescale and normalise each crop in float32.
/// </summary>
public sealed class LlavaOnevisionImageProcessor
{
    private readonly LlavaImagePreprocessor _normalizer;

    public LlavaOnevisionImageProcessor(LlavaOnevisionProcessorOptions options, int patchSize, int anyresMax = 9)
    {
        ArgumentNullException.ThrowIfNull(options);
        Options = options;
        PatchSize = patchSize;
        AnyresMax = anyresMax;
        _normalizer = new LlavaImagePreprocessor(options.Normalization, ImageMode.Crop);
        OnevisionImagePlan.Create(options.TileSize, options.TileSize, options.Pinpoints, options.TileSize, patchSize, anyresMax); // validates now
    }

    /// <summary>The processor of a model folder: its preprocessor_config.json, checked against the model's config.</summary>
    public static LlavaOnevisionImageProcessor Load(string modelDir, LlavaOnevisionConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return new LlavaOnevisionImageProcessor(LlavaOnevisionProcessorOptions.Load(modelDir, config), config.Vision.PatchSize, config.AnyresMax);
    }

    public LlavaOnevisionProcessorOptions Options { get; }
    public int PatchSize { get; }
    public int AnyresMax { get; }

    /// <summary>The geometry of a <paramref name="width"/> x <paramref name="height"/> image.</summary>
    public OnevisionImagePlan Plan(int width, int height) =>
        OnevisionImagePlan.Create(width, height, Options.Pinpoints, Options.TileSize, PatchSize, AnyresMax);

    /// <summary>Decodes <paramref name="path"/> (Pillow-exact, see <see cref="ImageDecoder"/>) and preprocesses it.</summary>
    public OnevisionPixelValues Preprocess(string path) => Preprocess(ImageDecoder.Decode(path), path);

    public OnevisionPixelValues Preprocess(RgbImage image, string? source = null)
    {
        ArgumentNullException.ThrowIfNull(image);
        var plan = Plan(image.Width, image.Height);
        var crops = OnevisionTiles.Cut(image, plan);
        int length = RgbImage.Channels * plan.TileSize * plan.TileSize;
        var values = new float[checked(crops.Length * length)]; // [crops, 3, S, S]
        for (int i = 0; i < crops.Length; i++) _normalizer.ToPixelValues(crops[i]).CopyTo(values, i * length);
        return new OnevisionPixelValues(values, plan, source);
    }
}

using System.Text.Json;
using ModalFlow.Vision;

namespace ModalFlow.Families.Qwen2Vl;

/// <summary>
/// <c>Qwen2VLImageProcessor</c> settings (preprocessor_config.json). Defaults equal transformers v4.45.1 class defaults
/// (min_pixels 56·56, max_pixels 28·28·1280, OpenAI-CLIP mean/std, bicubic); <see cref="Instruct"/> is the
/// preprocessor of the published Qwen2-VL-{2B,7B,72B}-Instruct checkpoints.
/// </summary>
public sealed record Qwen2VlImageProcessorOptions
{
    public const string FileName = "preprocessor_config.json";
    public const string ProcessorType = "Qwen2VLImageProcessor";

    public bool DoResize { get; init; } = true;
    /// <summary>PIL filter id; only 3 (BICUBIC) is implemented.</summary>
    public int Resample { get; init; } = ImageProcessingOptions.PilBicubic;
    public bool DoRescale { get; init; } = true;
    public double RescaleFactor { get; init; } = 1.0 / 255;
    public bool DoNormalize { get; init; } = true;
    public IReadOnlyList<double> ImageMean { get; init; } = ImageProcessingOptions.ClipMean;
    public IReadOnlyList<double> ImageStd { get; init; } = ImageProcessingOptions.ClipStd;
    public bool DoConvertRgb { get; init; } = true;
    /// <summary>smart_resize's lower bound on rh·rw (v4.45.1 reads the top-level key, not <c>size</c>).</summary>
    public long MinPixels { get; init; } = 56 * 56;
    /// <summary>smart_resize's upper bound on rh·rw.</summary>
    public long MaxPixels { get; init; } = 28 * 28 * 1280;
    public int PatchSize { get; init; } = 14;
    public int TemporalPatchSize { get; init; } = 2;
    public int MergeSize { get; init; } = 2;

    /// <summary>smart_resize's factor: both resized sides are multiples of it (28).</summary>
    public int Factor => PatchSize * MergeSize;

    /// <summary>Qwen/Qwen2-VL-{2B,7B,72B}-Instruct: min_pixels 3136 (56·56), max_pixels 12845056 (28·28·16384).</summary>
    public static Qwen2VlImageProcessorOptions Instruct { get; } = new() { MinPixels = 56 * 56, MaxPixels = 28 * 28 * 16384 };

    /// <summary>The rescale / normalise part as the shared CLIP options (the per-byte float32 values are computed there).</summary>
    public ImageProcessingOptions Normalization => new()
    {
        DoResize = false,
        DoCenterCrop = false,
        Resample = Resample,
        DoRescale = DoRescale,
        RescaleFactor = RescaleFactor,
        DoNormalize = DoNormalize,
        ImageMean = ImageMean,
        ImageStd = ImageStd,
        DoConvertRgb = DoConvertRgb,
    };

    /// <summary>Throws <see cref="InputException"/> naming <paramref name="file"/> and the field; returns this.</summary>
    public Qwen2VlImageProcessorOptions Validate(string? file = null)
    {
        Normalization.Validate(file);
        if (PatchSize < 1) throw new InputException(file, "patch_size", $"{PatchSize} must be a positive integer");
        if (TemporalPatchSize < 1) throw new InputException(file, "temporal_patch_size", $"{TemporalPatchSize} must be a positive integer");
        if (MergeSize < 1) throw new InputException(file, "merge_size", $"{MergeSize} must be a positive integer");
        if (MinPixels < 1) throw new InputException(file, "min_pixels", $"{MinPixels} must be a positive integer");
        if (MaxPixels < MinPixels) throw new InputException(file, "max_pixels", $"{MaxPixels} must be at least min_pixels = {MinPixels}");
        return this;
    }

    /// <summary>The model must cut patches the way the processor lays them out.</summary>
    public void CheckAgainst(Qwen2VlVisionConfig vision, string? file = null)
    {
        ArgumentNullException.ThrowIfNull(vision);
        foreach (var (field, own, model, modelField) in new[]
        {
            ("patch_size", PatchSize, vision.PatchSize, "patch_size"),
            ("temporal_patch_size", TemporalPatchSize, vision.TemporalPatchSize, "temporal_patch_size"),
            ("merge_size", MergeSize, vision.SpatialMergeSize, "spatial_merge_size"),
        })
        {
            if (own != model)
                throw new InputException(file, field, $"{own} differs from config.json's vision_config.{modelField} = {model}");
        }
    }

    /// <summary>
    /// Reads <paramref name="pathOrDir"/> (a folder with preprocessor_config.json, or the file). Without the file: the
    /// class defaults. A <c>size</c> block, when present, must agree with min_pixels / max_pixels (v4.45.1 ignores it;
    /// newer transformers read it, so a disagreement would make the two versions resize differently).
    /// </summary>
    public static Qwen2VlImageProcessorOptions Load(string pathOrDir)
    {
        var file = Directory.Exists(pathOrDir) ? Path.Combine(pathOrDir, FileName) : pathOrDir;
        if (!System.IO.File.Exists(file)) return new Qwen2VlImageProcessorOptions();
        JsonDocument doc;
        try { doc = JsonDocument.Parse(System.IO.File.ReadAllText(file)); }
        catch (JsonException e) { throw new InputException(file, null, $"is not valid JSON (line {e.LineNumber + 1}): {e.Message}", e); }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new InputException(file, null, "expected a JSON object");
            var type = Str(root, file, "image_processor_type");
            if (type is not null && type != ProcessorType)
                throw new InputException(file, "image_processor_type", $"'{type}' is not supported here; expected '{ProcessorType}'");
            var d = new Qwen2VlImageProcessorOptions();
            var options = d with
            {
                DoResize = Bool(root, file, "do_resize") ?? d.DoResize,
                Resample = Int(root, file, "resample") ?? d.Resample,
                DoRescale = Bool(root, file, "do_rescale") ?? d.DoRescale,
                RescaleFactor = Double(root, file, "rescale_factor") ?? d.RescaleFactor,
                DoNormalize = Bool(root, file, "do_normalize") ?? d.DoNormalize,
                ImageMean = Triple(root, file, "image_mean") ?? d.ImageMean,
                ImageStd = Triple(root, file, "image_std") ?? d.ImageStd,
                DoConvertRgb = Bool(root, file, "do_convert_rgb") ?? d.DoConvertRgb,
                MinPixels = Long(root, file, "min_pixels") ?? d.MinPixels,
                MaxPixels = Long(root, file, "max_pixels") ?? d.MaxPixels,
                PatchSize = Int(root, file, "patch_size") ?? d.PatchSize,
                TemporalPatchSize = Int(root, file, "temporal_patch_size") ?? d.TemporalPatchSize,
                MergeSize = Int(root, file, "merge_size") ?? d.MergeSize,
            };
            CheckSizeBlock(root, file, options);
            return options.Validate(file);
        }
    }

    private static void CheckSizeBlock(JsonElement root, string file, Qwen2VlImageProcessorOptions o)
    {
        if (!root.TryGetProperty("size", out var size) || size.ValueKind == JsonValueKind.Null) return;
        if (size.ValueKind != JsonValueKind.Object) throw new InputException(file, "size", $"{size.GetRawText()}; expected {{\"min_pixels\": N, \"max_pixels\": N}}");
        foreach (var (key, alias, value) in new[] { ("min_pixels", "shortest_edge", o.MinPixels), ("max_pixels", "longest_edge", o.MaxPixels) })
        {
            foreach (var k in new[] { key, alias })
            {
                var v = Long(size, file, k, "size.");
                if (v is not null && v != value)
                    throw new InputException(file, "size." + k, $"{v} differs from {key} = {value}; transformers versions disagree on which one applies");
            }
        }
    }

    private static string? Str(JsonElement o, string file, string key) => !o.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null ? null
        : v.ValueKind == JsonValueKind.String ? v.GetString() : throw new InputException(file, key, $"{v.GetRawText()}; expected a string");

    private static bool? Bool(JsonElement o, string file, string key) => !o.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null ? null
        : v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean() : throw new InputException(file, key, $"{v.GetRawText()}; expected true or false");

    private static long? Long(JsonElement o, string file, string key, string prefix = "") => !o.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null ? null
        : v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out var i) ? i
        : throw new InputException(file, prefix + key, $"{v.GetRawText()}; expected an integer");

    private static int? Int(JsonElement o, string file, string key) => !o.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null ? null
        : v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var i) ? i
        : throw new InputException(file, key, $"{v.GetRawText()}; expected an integer");

    private static double? Double(JsonElement o, string file, string key) => !o.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null ? null
        : v.ValueKind == JsonValueKind.Number ? v.GetDouble() : throw new InputException(file, key, $"{v.GetRawText()}; expected a number");

    private static IReadOnlyList<double>? Triple(JsonElement o, string file, string key)
    {
        if (!o.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind == JsonValueKind.Array && v.GetArrayLength() == 3 && v.EnumerateArray().All(x => x.ValueKind == JsonValueKind.Number))
            return v.EnumerateArray().Select(x => x.GetDouble()).ToArray();
        throw new InputException(file, key, $"{v.GetRawText()}; expected three numbers (R, G, B)");
    }
}

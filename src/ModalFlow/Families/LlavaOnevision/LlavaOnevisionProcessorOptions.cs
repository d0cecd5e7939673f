using System.Text.Json;
using ModalFlow.Checkpoints;
using ModalFlow.Vision;

namespace ModalFlow.Families.LlavaOnevision;

/// <summary>
/// preprocessor_config.json of a LLaVA-OneVision folder (transformers v4.45.1 <c>LlavaOnevisionImageProcessor</c>):
/// the tile size <c>size: {height, width}</c> (square, = vision_config.image_size), the pinpoints (must equal the
/// model's), PIL bicubic, rescale and normalise. Class defaults where a key is absent — but the file itself is required:
/// the class default mean/std are CLIP's while the published checkpoints use 0.5, so guessing would change the numbers.
/// </summary>
public sealed record LlavaOnevisionProcessorOptions
{
    public const string FileName = PreprocessorConfig.FileName;
    public const string ProcessorType = "LlavaOnevisionImageProcessor";

    /// <summary>S: <c>size.height</c> = <c>size.width</c>; every crop is resized to S x S.</summary>
    public int TileSize { get; init; } = 384;

    /// <summary>(height, width) canvases, in file order.</summary>
    public IReadOnlyList<(int Height, int Width)> Pinpoints { get; init; } =
        [.. LlavaOnevisionConfig.DefaultImageGridPinpoints.Select(p => (p[0], p[1]))];

    /// <summary>Rescale / normalise (the geometry fields of this record are not used by it).</summary>
    public ImageProcessingOptions Normalization { get; init; } = new();

    /// <summary>Reads <c>preprocessor_config.json</c> of <paramref name="modelDir"/> and checks it against <paramref name="config"/>.</summary>
    /// <exception cref="InputException">No file, a field that is not implemented, or a tile size / pinpoints the model cannot unpack.</exception>
    public static LlavaOnevisionProcessorOptions Load(string modelDir, LlavaOnevisionConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var file = Directory.Exists(modelDir) ? Path.Combine(modelDir, FileName) : modelDir;
        if (!File.Exists(file))
            throw new InputException(file, null,
                "not found; LLaVA-OneVision needs the folder's preprocessor_config.json (its image_mean / image_std differ from the class defaults)");
        JsonDocument doc;
        try { doc = JsonDocument.Parse(File.ReadAllText(file)); }
        catch (JsonException e) { throw new InputException(file, null, $"is not valid JSON (line {e.LineNumber + 1}): {e.Message}", e); }
        catch (IOException e) { throw new InputException(file, null, "could not be read: " + e.Message, e); }
        using (doc) return Parse(doc.RootElement, file, config);
    }

    internal static LlavaOnevisionProcessorOptions Parse(JsonElement root, string file, LlavaOnevisionConfig config)
    {
        if (root.ValueKind != JsonValueKind.Object) throw new InputException(file, null, "expected a JSON object");
        var type = Str(root, file, "image_processor_type");
        if (type is not null && type != ProcessorType)
            throw new InputException(file, "image_processor_type", $"'{type}' is not supported for LLaVA-OneVision; expected {ProcessorType}");

        int tile = 384;
        if (root.TryGetProperty("size", out var size) && size.ValueKind != JsonValueKind.Null)
        {
            // get_image_patches reads size["height"] as the tile side: the dict form with equal sides is the only one that works.
            if (size.ValueKind != JsonValueKind.Object || !size.TryGetProperty("height", out var h) || !size.TryGetProperty("width", out var w)
                || !h.TryGetInt32(out var hv) || !w.TryGetInt32(out var wv) || hv != wv || hv < 1)
                throw new InputException(file, "size", $"{size.GetRawText()}; expected {{\"height\": S, \"width\": S}} with one positive tile side S");
            tile = hv;
        }
        if (tile != config.Vision.ImageSize)
            throw new InputException(file, "size", $"{tile}x{tile} tiles do not match vision_config.image_size = {config.Vision.ImageSize}");

        var pinpoints = ReadPinpoints(root, file) ?? [.. LlavaOnevisionConfig.DefaultImageGridPinpoints.Select(p => (p[0], p[1]))];
        if (!pinpoints.SequenceEqual(config.Pinpoints))
            throw new InputException(file, "image_grid_pinpoints",
                $"{Show(pinpoints)} differs from config.json's {Show(config.Pinpoints)}: the processor would choose canvases the model cannot unpack");

        // do_resize / do_pad false make v4.45.1 fail (stacking unequal tiles, an unbound variable), so only true is accepted.
        foreach (var key in new[] { "do_resize", "do_pad", "do_convert_rgb" })
        {
            if (Bool(root, file, key) == false) throw new InputException(file, key, "false is not supported; expected true");
        }
        var d = new ImageProcessingOptions();
        var normalization = new ImageProcessingOptions
        {
            Resample = Int(root, file, "resample") ?? d.Resample,
            DoRescale = Bool(root, file, "do_rescale") ?? d.DoRescale,
            RescaleFactor = Double(root, file, "rescale_factor") ?? d.RescaleFactor,
            DoNormalize = Bool(root, file, "do_normalize") ?? d.DoNormalize,
            ImageMean = Triple(root, file, "image_mean") ?? d.ImageMean,
            ImageStd = Triple(root, file, "image_std") ?? d.ImageStd,
        };
        normalization.Validate(file);
        return new LlavaOnevisionProcessorOptions { TileSize = tile, Pinpoints = pinpoints, Normalization = normalization };
    }

    private static string Show(IEnumerable<(int Height, int Width)> ps) => "[" + string.Join(", ", ps.Select(p => $"[{p.Height}, {p.Width}]")) + "]";

    private static (int, int)[]? ReadPinpoints(JsonElement root, string file)
    {
        if (!root.TryGetProperty("image_grid_pinpoints", out var v) || v.ValueKind == JsonValueKind.Null) return null;
        bool ok = v.ValueKind == JsonValueKind.Array && v.EnumerateArray().All(p => p.ValueKind == JsonValueKind.Array && p.GetArrayLength() == 2
            && p.EnumerateArray().All(x => x.ValueKind == JsonValueKind.Number && x.TryGetInt32(out _)));
        if (!ok) throw new InputException(file, "image_grid_pinpoints", $"{v.GetRawText()}; expected a list of [height, width] integer pairs");
        return [.. v.EnumerateArray().Select(p => (p[0].GetInt32(), p[1].GetInt32()))];
    }

    private static string? Str(JsonElement o, string file, string key) => !o.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null ? null
        : v.ValueKind == JsonValueKind.String ? v.GetString() : throw new InputException(file, key, $"{v.GetRawText()}; expected a string");

    private static bool? Bool(JsonElement o, string file, string key) => !o.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null ? null
        : v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean() : throw new InputException(file, key, $"{v.GetRawText()}; expected true or false");

    private static int? Int(JsonElement o, string file, string key) => !o.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null ? null
        : v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var i) ? i : throw new InputException(file, key, $"{v.GetRawText()}; expected an integer");

    private static double? Double(JsonElement o, string file, string key) => !o.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null ? null
        : v.ValueKind == JsonValueKind.Number ? v.GetDouble() : throw new InputException(file, key, $"{v.GetRawText()}; expected a number");

    private static double[]? Triple(JsonElement o, string file, string key)
    {
        if (!o.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind == JsonValueKind.Array && v.GetArrayLength() == 3 && v.EnumerateArray().All(x => x.ValueKind == JsonValueKind.Number))
            return [.. v.EnumerateArray().Select(x => x.GetDouble())];
        throw new InputException(file, key, $"{v.GetRawText()}; expected three numbers (R, G, B)");
    }
}

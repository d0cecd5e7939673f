using System.Text.Json;
using ModalFlow.Vision;

namespace ModalFlow.Checkpoints;

/// <summary>
/// preprocessor_config.json (transformers' CLIPImageProcessor, or for a LLaVA-NeXT model LlavaNextImageProcessor,
/// whose per-crop steps are the same) → <see cref="ImageProcessingOptions"/>.
/// Accepts the current dict form (<c>size: {shortest_edge}</c>, <c>crop_size: {height, width}</c>) and the old
/// scalar form (<c>size: 336</c>, <c>crop_size: 336</c>) that transformers upgrades on load.
/// </summary>
public static class PreprocessorConfig
{
    public const string FileName = "preprocessor_config.json";

    /// <summary>Reads the folder's preprocessor config; without one, CLIP defaults at the vision tower's image size.</summary>
    /// <param name="anyresPinpoints">
    /// The model's <c>image_grid_pinpoints</c> for a LLaVA-NeXT model (null otherwise): then LlavaNextImageProcessor is
    /// accepted, and its own <c>image_grid_pinpoints</c>, when present, must equal the model's.
    /// </param>
    public static ImageProcessingOptions Load(string modelDir, ClipVisionConfig vision, out bool fromFile,
        IReadOnlyList<IReadOnlyList<int>>? anyresPinpoints = null)
    {
        var file = Path.Combine(modelDir, FileName);
        fromFile = File.Exists(file);
        if (!fromFile)
            return new ImageProcessingOptions { ShortestEdge = vision.ImageSize, CropHeight = vision.ImageSize, CropWidth = vision.ImageSize };
        JsonDocument doc;
        try { doc = JsonDocument.Parse(File.ReadAllText(file)); }
        catch (JsonException e) { throw new InputException(file, null, $"is not valid JSON (line {e.LineNumber + 1}): {e.Message}", e); }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new InputException(file, null, "expected a JSON object");
            var type = Str(root, file, "image_processor_type") ?? Str(root, file, "feature_extractor_type");
            if (anyresPinpoints is not null)
            {
                if (type is not null && type is not ("LlavaNextImageProcessor" or "CLIPImageProcessor"))
                    throw new InputException(file, "image_processor_type", $"'{type}' is not supported for a LLaVA-NeXT model; expected LlavaNextImageProcessor");
                CheckPinpoints(root, file, anyresPinpoints);
            }
            else if (type is not null && type is not ("CLIPImageProcessor" or "CLIPFeatureExtractor"))
                throw new InputException(file, "image_processor_type", $"'{type}' is not supported; expected CLIPImageProcessor");
            var d = new ImageProcessingOptions();
            int shortest = d.ShortestEdge, cropH = d.CropHeight, cropW = d.CropWidth;
            if (root.TryGetProperty("size", out var size))
            {
                if (size.ValueKind == JsonValueKind.Number) shortest = size.GetInt32();
                else if (size.ValueKind == JsonValueKind.Object && size.TryGetProperty("shortest_edge", out var se) && se.ValueKind == JsonValueKind.Number) shortest = se.GetInt32();
                else throw new InputException(file, "size", $"{size.GetRawText()}; expected {{\"shortest_edge\": N}} (height/width resizes are not what CLIP uses)");
            }
            if (root.TryGetProperty("crop_size", out var crop))
            {
                if (crop.ValueKind == JsonValueKind.Number) cropH = cropW = crop.GetInt32();
                else if (crop.ValueKind == JsonValueKind.Object && crop.TryGetProperty("height", out var ch) && crop.TryGetProperty("width", out var cw)
                         && ch.ValueKind == JsonValueKind.Number && cw.ValueKind == JsonValueKind.Number)
                {
                    cropH = ch.GetInt32();
                    cropW = cw.GetInt32();
                }
                else throw new InputException(file, "crop_size", $"{crop.GetRawText()}; expected {{\"height\": N, \"width\": N}} or N");
            }
            var options = d with
            {
                DoResize = Bool(root, file, "do_resize") ?? d.DoResize,
                ShortestEdge = shortest,
                Resample = Int(root, file, "resample") ?? d.Resample,
                DoCenterCrop = Bool(root, file, "do_center_crop") ?? d.DoCenterCrop,
                CropHeight = cropH,
                CropWidth = cropW,
                DoRescale = Bool(root, file, "do_rescale") ?? d.DoRescale,
                RescaleFactor = Double(root, file, "rescale_factor") ?? d.RescaleFactor,
                DoNormalize = Bool(root, file, "do_normalize") ?? d.DoNormalize,
                ImageMean = Triple(root, file, "image_mean") ?? d.ImageMean,
                ImageStd = Triple(root, file, "image_std") ?? d.ImageStd,
                DoConvertRgb = Bool(root, file, "do_convert_rgb") ?? d.DoConvertRgb,
            };
            options.Validate(file);
            if (options.DoCenterCrop && (options.CropHeight != vision.ImageSize || options.CropWidth != vision.ImageSize))
                throw new InputException(file, "crop_size", $"{options.CropWidth}x{options.CropHeight} does not match the vision tower's image_size {vision.ImageSize}");
            return options;
        }
    }

    private static void CheckPinpoints(JsonElement root, string file, IReadOnlyList<IReadOnlyList<int>> model)
    {
        if (!root.TryGetProperty("image_grid_pinpoints", out var v) || v.ValueKind == JsonValueKind.Null) return;
        static string Show(IEnumerable<IEnumerable<int>> ps) => "[" + string.Join(", ", ps.Select(p => "[" + string.Join(", ", p) + "]")) + "]";
        int[][]? own = v.ValueKind == JsonValueKind.Array && v.EnumerateArray().All(p => p.ValueKind == JsonValueKind.Array
                && p.EnumerateArray().All(x => x.ValueKind == JsonValueKind.Number && x.TryGetInt32(out _)))
            ? v.EnumerateArray().Select(p => p.EnumerateArray().Select(x => x.GetInt32()).ToArray()).ToArray()
            : null;
        if (own is null)
            throw new InputException(file, "image_grid_pinpoints", $"{v.GetRawText()}; expected a list of [a, b] integer pairs");
        if (own.Length != model.Count || own.Zip(model).Any(t => !t.First.SequenceEqual(t.Second)))
            throw new InputException(file, "image_grid_pinpoints",
                $"{Show(own)} differs from config.json's {Show(model)}: the processor would choose canvases the model cannot unpack");
    }

    private static string? Str(JsonElement o, string file, string key) => !o.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null ? null
        : v.ValueKind == JsonValueKind.String ? v.GetString() : throw new InputException(file, key, $"{v.GetRawText()}; expected a string");

    private static bool? Bool(JsonElement o, string file, string key) => !o.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null ? null
        : v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean() : throw new InputException(file, key, $"{v.GetRawText()}; expected true or false");

    private static int? Int(JsonElement o, string file, string key) => !o.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null ? null
        : v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var i) ? i : throw new InputException(file, key, $"{v.GetRawText()}; expected an integer");

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

using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using ModalFlow.Checkpoints;

namespace ModalFlow.Families.LlavaOnevision;

/// <summary>
/// A llava-hf <c>LlavaOnevisionForConditionalGeneration</c> config.json (model_type "llava_onevision"), with
/// transformers v4.45.1's class defaults for every omitted field: <c>LlavaOnevisionConfig</c> at the top level,
/// <c>Qwen2Config</c> inside <c>text_config</c> (→ <see cref="Text"/>, a <see cref="LlamaTextConfig"/> with q/k/v
/// biases), <c>SiglipVisionConfig</c> inside <c>vision_config</c> (→ <see cref="Vision"/>). Immutable;
/// <see cref="Load"/> / <see cref="Parse"/> validate and throw <see cref="InputException"/> on anything not implemented.
/// </summary>
public sealed partial record LlavaOnevisionConfig
{
    public const string Architecture = "LlavaOnevisionForConditionalGeneration";
    public const string OnevisionModelType = "llava_onevision";

    /// <summary>The only aspect-ratio mode implemented; transformers v4.45.1's processor hard-codes its 9 in the token count.</summary>
    public const string AnyresMax9 = "anyres_max_9";

    /// <summary>v4.45.1's default pinpoints, (height, width) = (384·i, 384·j) for i, j in 1..6, row-major.</summary>
    public static readonly IReadOnlyList<IReadOnlyList<int>> DefaultImageGridPinpoints =
        [.. from i in Enumerable.Range(1, 6) from j in Enumerable.Range(1, 6) select (IReadOnlyList<int>)[384 * i, 384 * j]];

    [JsonPropertyName("architectures")] public IReadOnlyList<string>? Architectures { get; init; }
    [JsonPropertyName("model_type")] public string? ModelType { get; init; }
    [JsonPropertyName("image_token_index")] public int ImageTokenIndex { get; init; } = 151646;
    [JsonPropertyName("video_token_index")] public int VideoTokenIndex { get; init; } = 151647;
    [JsonPropertyName("projector_hidden_act")] public string ProjectorHiddenAct { get; init; } = "gelu";
    [JsonPropertyName("vision_feature_select_strategy")] public string VisionFeatureSelectStrategy { get; init; } = "full";
    [JsonPropertyName("vision_feature_layer")] public JsonElement? VisionFeatureLayerRaw { get; init; }
    [JsonPropertyName("vision_aspect_ratio")] public string VisionAspectRatio { get; init; } = AnyresMax9;

    /// <summary>Candidate canvases as the file lists them, each [height, width] (transformers' reading).</summary>
    [JsonPropertyName("image_grid_pinpoints")] public IReadOnlyList<IReadOnlyList<int>>? ImageGridPinpointsRaw { get; init; }

    /// <summary>Top-level flag (default false); the decoder's tying follows <see cref="LlamaTextConfig.TieWordEmbeddings"/>.</summary>
    [JsonPropertyName("tie_word_embeddings")] public bool TieWordEmbeddings { get; init; }

    /// <summary>Written by the llava-hf converter (true); v4.45.1 ignores it and always appends <c>image_newline</c>.</summary>
    [JsonPropertyName("use_image_newline_parameter")] public bool? UseImageNewlineParameter { get; init; }
    [JsonPropertyName("torch_dtype")] public string? TorchDType { get; init; }

    /// <summary>The Qwen2 decoder (Qwen2Config defaults; q/k/v biases, no o_proj bias).</summary>
    [JsonIgnore] public LlamaTextConfig Text { get; init; } = Qwen2Text.Defaults;

    /// <summary>The SigLIP tower.</summary>
    [JsonIgnore] public SiglipVisionConfig Vision { get; init; } = SiglipVisionConfig.OnevisionDefault;

    /// <summary>Index into SigLIP's hidden states (0 = embeddings, i = after encoder layer i-1; negative from the end).</summary>
    [JsonIgnore]
    public int VisionFeatureLayer => VisionFeatureLayerRaw is { ValueKind: JsonValueKind.Number } e ? e.GetInt32() : -1;

    /// <summary>Encoder layers run to reach <see cref="VisionFeatureLayer"/> (the hidden state's index from the front).</summary>
    [JsonIgnore]
    public int VisionLayersUsed => VisionFeatureLayer >= 0 ? VisionFeatureLayer : Vision.NumHiddenLayers + 1 + VisionFeatureLayer;

    /// <summary>The pinpoints as (height, width).</summary>
    [JsonIgnore]
    public IReadOnlyList<(int Height, int Width)> Pinpoints => [.. (ImageGridPinpointsRaw ?? DefaultImageGridPinpoints).Select(p => (p[0], p[1]))];

    /// <summary>N of "anyres_max_N".</summary>
    [JsonIgnore]
    public int AnyresMax => AnyresMaxPattern().Match(VisionAspectRatio) is { Success: true } m && int.TryParse(m.Groups[1].Value, out var v) ? v : 0;

    /// <summary>The language model's lm_head shares embed_tokens (transformers ties through the decoder's own config).</summary>
    [JsonIgnore] public bool TiedEmbeddings => Text.TieWordEmbeddings;

    /// <summary>The geometry of a <paramref name="width"/> x <paramref name="height"/> image (no pixels needed).</summary>
    public OnevisionImagePlan PlanImage(int width, int height) =>
        OnevisionImagePlan.Create(width, height, Pinpoints, Vision.ImageSize, Vision.PatchSize, AnyresMax);

    /// <summary>
    /// How many <c>&lt;image&gt;</c> tokens a <paramref name="width"/> x <paramref name="height"/> image expands to
    /// (= the processor's <c>_get_number_of_features</c> = the rows <c>pack_image_features</c> returns).
    /// </summary>
    public int ImageTokenCount(int width, int height) => PlanImage(width, height).ImageTokenCount;

    /// <summary>Whether a parsed config.json names this family (architectures or model_type).</summary>
    public static bool Describes(JsonElement root) =>
        root.ValueKind == JsonValueKind.Object
        && (ArchitecturesOf(root).Contains(Architecture)
            || (root.TryGetProperty("model_type", out var mt) && mt.ValueKind == JsonValueKind.String && mt.GetString() == OnevisionModelType));

    /// <summary>Reads and validates config.json from a checkpoint folder (or the file itself).</summary>
    public static LlavaOnevisionConfig Load(string pathOrDir)
    {
        var file = LlavaConfig.ReadText(Directory.Exists(pathOrDir) ? Path.Combine(pathOrDir, "config.json") : pathOrDir, out var text);
        return Parse(text, file);
    }

    /// <summary>Parses and validates config.json text; <paramref name="file"/> names it in error messages.</summary>
    public static LlavaOnevisionConfig Parse(string json, string file = "config.json")
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(json, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true }); }
        catch (JsonException e) { throw new InputException(file, null, $"is not valid JSON (line {e.LineNumber + 1}): {e.Message}", e); }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new InputException(file, null, "expected a JSON object at the top level");
            CheckArchitecture(root, file);
            var config = Bind<LlavaOnevisionConfig>(root, file, "") with
            {
                Text = Qwen2Text.Parse(Block(root, "text_config", file), file),
                Vision = Block(root, "vision_config", file) is { } v ? ParseVision(v, file) : SiglipVisionConfig.OnevisionDefault,
            };
            config.Validate(file);
            return config;
        }
    }

    private void Validate(string file)
    {
        Text.Validate(file, "text_config.", "qwen2");
        Vision.Validate(file);
        if (VisionFeatureLayerRaw is { } v && (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out _)))
            throw new InputException(file, "vision_feature_layer", $"{v.GetRawText()} is not supported; expected one integer layer index");
        int n = Vision.NumHiddenLayers;
        if (VisionFeatureLayer < -(n + 1) || VisionFeatureLayer > n)
            throw new InputException(file, "vision_feature_layer", $"{VisionFeatureLayer} is out of range for {n} SigLIP layers (expected -{n + 1}..{n})");
        if (VisionFeatureSelectStrategy != "full")
            throw new InputException(file, "vision_feature_select_strategy", VisionFeatureSelectStrategy == "default"
                ? "'default' is not supported: SigLIP has no CLS token, so 'default' would drop a real patch and the base tile would no longer be a square grid (transformers' pack_image_features raises); expected 'full'"
                : $"'{VisionFeatureSelectStrategy}'; expected 'full'");
        if (ProjectorHiddenAct != "gelu")
            throw new InputException(file, "projector_hidden_act", $"'{ProjectorHiddenAct}' is not supported; expected 'gelu'");
        if (AnyresMax != 9)
            throw new InputException(file, "vision_aspect_ratio",
                $"'{VisionAspectRatio}' is not supported; expected '{AnyresMax9}' (transformers v4.45.1's processor counts image tokens with 9 whatever the config says)");
        if (UseImageNewlineParameter == false)
            throw new InputException(file, "use_image_newline_parameter",
                "false is not supported; transformers v4.45.1 ignores this flag and always appends image_newline after every feature row");
        if (ImageTokenIndex < 0 || ImageTokenIndex >= Text.VocabSize)
            throw new InputException(file, "image_token_index", $"{ImageTokenIndex} must be a token id below text_config.vocab_size = {Text.VocabSize}");
        if (ImageGridPinpointsRaw is { Count: 0 })
            throw new InputException(file, "image_grid_pinpoints", "is empty; expected a list of [height, width] canvas sizes in pixels");
        int tile = Vision.ImageSize;
        foreach (var p in ImageGridPinpointsRaw ?? [])
        {
            if (p is null || p.Count != 2 || p.Any(x => x <= 0 || x % tile != 0))
                throw new InputException(file, "image_grid_pinpoints",
                    $"[{(p is null ? "null" : string.Join(", ", p))}] is not supported; expected [height, width] pairs of positive multiples of vision_config.image_size = {tile}");
        }
    }

    private static SiglipVisionConfig ParseVision(JsonElement block, string file)
    {
        // LlavaOnevisionConfig fills a missing model_type with "siglip_vision_model".
        var vision = Bind<SiglipVisionConfig>(block, file, "vision_config.");
        return block.TryGetProperty("model_type", out _) ? vision : vision with { ModelType = SiglipVisionConfig.SiglipModelType };
    }

    private static void CheckArchitecture(JsonElement root, string file)
    {
        var archs = ArchitecturesOf(root);
        if (archs.Length > 0 && !(archs.Length == 1 && archs[0] == Architecture))
            throw new InputException(file, "architectures", $"[{string.Join(", ", archs)}] is not supported here; expected [\"{Architecture}\"]");
        string? type = root.TryGetProperty("model_type", out var mt) && mt.ValueKind == JsonValueKind.String ? mt.GetString() : null;
        if (type is not null && type != OnevisionModelType)
            throw new InputException(file, "model_type", $"'{type}' is not supported here; expected '{OnevisionModelType}'");
        if (archs.Length == 0 && type is null)
            throw new InputException(file, "architectures", $"missing (and no model_type); expected [\"{Architecture}\"]");
    }

    private static string[] ArchitecturesOf(JsonElement root) =>
        root.TryGetProperty("architectures", out var a) && a.ValueKind == JsonValueKind.Array
            ? a.EnumerateArray().Where(x => x.ValueKind == JsonValueKind.String).Select(x => x.GetString()!).ToArray()
            : [];

    /// <summary>A nested config block; null when absent or null (then the class builds its default).</summary>
    internal static JsonElement? Block(JsonElement root, string name, string file)
    {
        if (!root.TryGetProperty(name, out var e) || e.ValueKind == JsonValueKind.Null) return null;
        if (e.ValueKind != JsonValueKind.Object) throw new InputException(file, name, $"{e.GetRawText()}; expected a JSON object");
        return e;
    }

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    internal static T Bind<T>(JsonElement element, string file, string fieldPrefix)
    {
        try { return element.Deserialize<T>(JsonOptions)!; }
        catch (JsonException e)
        {
            var message = e.Message;
            int cut = message.IndexOf(". ", StringComparison.Ordinal);
            throw new InputException(file, fieldPrefix + e.Path?.TrimStart('$', '.'), "has the wrong type: " + (cut > 0 ? message[..(cut + 1)] : message), e);
        }
    }

    [GeneratedRegex("^anyres_max_([0-9]+)$")]
    private static partial Regex AnyresMaxPattern();
}

using System.Text.Json;
using System.Text.Json.Serialization;

namespace ModalFlow.Checkpoints;

/// <summary>
/// A llava-hf <c>LlavaForConditionalGeneration</c> config.json, with transformers' LlavaConfig defaults.
/// Immutable; <see cref="Load"/> validates it and throws <see cref="InputException"/> on anything not implemented.
/// </summary>
public sealed record LlavaConfig
{
    public const string LlavaArchitecture = "LlavaForConditionalGeneration";

    [JsonPropertyName("architectures")] public IReadOnlyList<string>? Architectures { get; init; }
    [JsonPropertyName("model_type")] public string ModelType { get; init; } = "llava";
    [JsonPropertyName("image_token_index")] public int ImageTokenIndex { get; init; } = 32000;
    [JsonPropertyName("pad_token_id")] public int? PadTokenId { get; init; }
    [JsonPropertyName("projector_hidden_act")] public string ProjectorHiddenAct { get; init; } = "gelu";
    [JsonPropertyName("multimodal_projector_bias")] public bool MultimodalProjectorBias { get; init; } = true;
    [JsonPropertyName("vision_feature_select_strategy")] public string VisionFeatureSelectStrategy { get; init; } = "default";
    [JsonPropertyName("vision_feature_layer")] public JsonElement? VisionFeatureLayerRaw { get; init; }
    [JsonPropertyName("tie_word_embeddings")] public bool TieWordEmbeddings { get; init; }
    [JsonPropertyName("torch_dtype")] public string? TorchDType { get; init; }
    [JsonPropertyName("text_config")] public LlamaTextConfig? TextConfigRaw { get; init; }
    [JsonPropertyName("vision_config")] public ClipVisionConfig? VisionConfigRaw { get; init; }

    [JsonIgnore] public LlamaTextConfig Text => TextConfigRaw ?? new LlamaTextConfig();
    [JsonIgnore] public ClipVisionConfig Vision => VisionConfigRaw ?? ClipVisionConfig.LlavaDefault;

    /// <summary>Index into CLIP's hidden states (0 = embeddings after pre-layernorm; negative from the end).</summary>
    [JsonIgnore]
    public int VisionFeatureLayer => VisionFeatureLayerRaw is { ValueKind: JsonValueKind.Number } e ? e.GetInt32() : -2;

    /// <summary>Whether CLS is dropped ("default") or kept ("full").</summary>
    [JsonIgnore] public bool DropClsToken => VisionFeatureSelectStrategy == "default";

    /// <summary>Image tokens one image contributes to the sequence.</summary>
    [JsonIgnore] public int ImageTokensPerImage => Vision.NumPatches + (DropClsToken ? 0 : 1);

    /// <summary>Text decoder's lm_head shares the embedding matrix.</summary>
    [JsonIgnore] public bool TiedEmbeddings => TieWordEmbeddings || Text.TieWordEmbeddings;

    /// <summary>Number of CLIP encoder layers actually run to produce the selected features.</summary>
    [JsonIgnore]
    public int VisionLayersUsed => VisionFeatureLayer >= 0 ? VisionFeatureLayer : Vision.NumHiddenLayers + 1 + VisionFeatureLayer;

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>Reads and validates config.json from a checkpoint folder (or the file itself).</summary>
    public static LlavaConfig Load(string pathOrDir)
    {
        var file = Directory.Exists(pathOrDir) ? Path.Combine(pathOrDir, "config.json") : pathOrDir;
        if (!File.Exists(file))
            throw new InputException(file, null, "config.json not found; expected a Hugging Face checkpoint folder with config.json");
        string text;
        try { text = File.ReadAllText(file); }
        catch (IOException e) { throw new InputException(file, null, "could not be read: " + e.Message, e); }
        return Parse(text, file);
    }

    public static LlavaConfig Parse(string json, string file = "config.json")
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(json, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true }); }
        catch (JsonException e) { throw new InputException(file, null, $"is not valid JSON (line {e.LineNumber + 1}): {e.Message}", e); }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new InputException(file, null, "expected a JSON object at the top level");
            CheckArchitecture(doc.RootElement, file);
            LlavaConfig config;
            try { config = doc.RootElement.Deserialize<LlavaConfig>(JsonOptions)!; }
            catch (JsonException e)
            {
                throw new InputException(file, e.Path?.TrimStart('$', '.'), "has the wrong type: " + FirstSentence(e.Message), e);
            }
            config.Validate(file);
            return config;
        }
    }

    private static void CheckArchitecture(JsonElement root, string file)
    {
        string? modelType = root.TryGetProperty("model_type", out var mt) && mt.ValueKind == JsonValueKind.String ? mt.GetString() : null;
        var archs = root.TryGetProperty("architectures", out var a) && a.ValueKind == JsonValueKind.Array
            ? a.EnumerateArray().Where(x => x.ValueKind == JsonValueKind.String).Select(x => x.GetString()!).ToArray()
            : [];
        if (archs.Contains("LlavaLlamaForCausalLM") || root.TryGetProperty("mm_vision_tower", out _))
            throw new InputException(file, "architectures",
                "this is an original LLaVA checkpoint (LlavaLlamaForCausalLM, mm_* keys); this build loads llava-hf " +
                "LlavaForConditionalGeneration folders only");
        if (archs.Contains("LlavaNextForConditionalGeneration") || modelType == "llava_next")
            throw new InputException(file, "architectures",
                "LlavaNextForConditionalGeneration (anyres) is not supported by this build; expected LlavaForConditionalGeneration");
        if (archs.Length > 0 && !archs.Contains(LlavaArchitecture))
            throw new InputException(file, "architectures", $"[{string.Join(", ", archs)}] is not supported; expected {LlavaArchitecture}");
        if (modelType is not null && modelType != "llava")
            throw new InputException(file, "model_type", $"'{modelType}' is not supported; expected 'llava'");
        if (archs.Length == 0 && modelType is null)
            throw new InputException(file, "architectures", $"missing (and no model_type); expected [\"{LlavaArchitecture}\"]");
    }

    private void Validate(string file)
    {
        Text.Validate(file);
        Vision.Validate(file);
        if (VisionFeatureLayerRaw is { } v && v.ValueKind != JsonValueKind.Number)
            throw new InputException(file, "vision_feature_layer", $"{v.GetRawText()} is not supported; expected one integer layer index");
        int n = Vision.NumHiddenLayers;
        if (VisionFeatureLayer < -(n + 1) || VisionFeatureLayer > n)
            throw new InputException(file, "vision_feature_layer", $"{VisionFeatureLayer} is out of range for {n} CLIP layers (expected -{n + 1}..{n})");
        if (VisionFeatureSelectStrategy is not ("default" or "full"))
            throw new InputException(file, "vision_feature_select_strategy", $"'{VisionFeatureSelectStrategy}'; expected 'default' or 'full'");
        if (ProjectorHiddenAct != "gelu")
            throw new InputException(file, "projector_hidden_act", $"'{ProjectorHiddenAct}' is not supported; expected 'gelu'");
        if (ImageTokenIndex < 0)
            throw new InputException(file, "image_token_index", $"{ImageTokenIndex} must be a non-negative token id");
    }

    private static string FirstSentence(string message)
    {
        int i = message.IndexOf(". ", StringComparison.Ordinal);
        return i > 0 ? message[..(i + 1)] : message;
    }
}

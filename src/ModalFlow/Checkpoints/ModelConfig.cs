using System.Text.Json;
using System.Text.Json.Serialization;

namespace ModalFlow.Checkpoints;

/// <summary>
/// Llama decoder settings (the llava-hf <c>text_config</c> block). Defaults equal transformers'
/// <c>LlamaConfig</c> class defaults, because llava-hf files omit every field equal to them.
/// </summary>
public sealed record LlamaTextConfig
{
    [JsonPropertyName("model_type")] public string ModelType { get; init; } = "llama";
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; } = 32000;
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; init; } = 4096;
    [JsonPropertyName("intermediate_size")] public int IntermediateSize { get; init; } = 11008;
    [JsonPropertyName("num_hidden_layers")] public int NumHiddenLayers { get; init; } = 32;
    [JsonPropertyName("num_attention_heads")] public int NumAttentionHeads { get; init; } = 32;
    /// <summary>null means "same as heads" (multi-head attention), as in transformers.</summary>
    [JsonPropertyName("num_key_value_heads")] public int? NumKeyValueHeadsRaw { get; init; }
    /// <summary>null means hidden_size / heads.</summary>
    [JsonPropertyName("head_dim")] public int? HeadDimRaw { get; init; }
    [JsonPropertyName("hidden_act")] public string HiddenAct { get; init; } = "silu";
    [JsonPropertyName("max_position_embeddings")] public int MaxPositionEmbeddings { get; init; } = 2048;
    [JsonPropertyName("rms_norm_eps")] public double RmsNormEps { get; init; } = 1e-6;
    [JsonPropertyName("rope_theta")] public double RopeTheta { get; init; } = 10000.0;
    [JsonPropertyName("rope_scaling")] public RopeScaling? RopeScaling { get; init; }
    [JsonPropertyName("attention_bias")] public bool AttentionBias { get; init; }
    [JsonPropertyName("mlp_bias")] public bool MlpBias { get; init; }
    [JsonPropertyName("tie_word_embeddings")] public bool TieWordEmbeddings { get; init; }

    /// <summary>Qwen2 decoders: biases on the q/k/v projections only (o_proj has none); set by the family, not read from JSON.</summary>
    [JsonIgnore] public bool QkvBias { get; init; }
    [JsonPropertyName("bos_token_id")] public int? BosTokenId { get; init; } = 1;
    [JsonPropertyName("eos_token_id")] public JsonElement? EosTokenIdRaw { get; init; }
    [JsonPropertyName("pad_token_id")] public int? PadTokenId { get; init; }
    [JsonPropertyName("torch_dtype")] public string? TorchDType { get; init; }

    [JsonIgnore] public int NumKeyValueHeads => NumKeyValueHeadsRaw ?? NumAttentionHeads;
    [JsonIgnore] public int HeadDim => HeadDimRaw ?? HiddenSize / NumAttentionHeads;

    /// <summary>End-of-sequence ids (transformers allows one id or a list); default 2 as LlamaConfig.</summary>
    [JsonIgnore]
    public IReadOnlyList<int> EosTokenIds => EosTokenIdRaw switch
    {
        null => [2],
        { ValueKind: JsonValueKind.Number } e => [e.GetInt32()],
        { ValueKind: JsonValueKind.Array } e => e.EnumerateArray().Select(x => x.GetInt32()).ToArray(),
        _ => [],
    };

    /// <summary>M-RoPE (Qwen2-VL): how the rotary half-dimension is split between the t, h and w position axes; null = 1-D RoPE.</summary>
    [JsonIgnore] public IReadOnlyList<int>? MropeSection => RopeScaling?.MropeSection;

    /// <param name="p">Field prefix in messages: "text_config." (llava-hf) or "" (original LLaVA: top-level keys).</param>
    /// <param name="modelTypes">The decoder model types the calling family accepts (default: llama).</param>
    internal void Validate(string file, string p = "text_config.", params string[] modelTypes)
    {
        if (modelTypes.Length == 0) modelTypes = ["llama"];
        if (!modelTypes.Contains(ModelType))
            throw new InputException(file, p + "model_type", $"'{ModelType}' is not supported here; expected {string.Join(" or ", modelTypes.Select(t => $"'{t}'"))}");
        if (HiddenAct != "silu")
            throw new InputException(file, p + "hidden_act", $"'{HiddenAct}' is not supported; expected 'silu'");
        Positive(file, p + "vocab_size", VocabSize);
        Positive(file, p + "hidden_size", HiddenSize);
        Positive(file, p + "intermediate_size", IntermediateSize);
        Positive(file, p + "num_hidden_layers", NumHiddenLayers);
        Positive(file, p + "num_attention_heads", NumAttentionHeads);
        Positive(file, p + "num_key_value_heads", NumKeyValueHeads);
        if (NumAttentionHeads % NumKeyValueHeads != 0)
            throw new InputException(file, p + "num_key_value_heads", $"{NumKeyValueHeads} must divide num_attention_heads = {NumAttentionHeads}");
        if (HeadDimRaw is null && HiddenSize % NumAttentionHeads != 0)
            throw new InputException(file, p + "hidden_size", $"{HiddenSize} must be a multiple of num_attention_heads = {NumAttentionHeads}");
        if (HeadDim % 2 != 0)
            throw new InputException(file, p + "head_dim", $"{HeadDim} must be even for rotary embeddings");
        if (!(RmsNormEps > 0)) throw new InputException(file, p + "rms_norm_eps", $"{RmsNormEps} must be > 0");
        if (!(RopeTheta > 0)) throw new InputException(file, p + "rope_theta", $"{RopeTheta} must be > 0");
        RopeScaling?.Validate(file, p + "rope_scaling");
        if (MropeSection is { } sections && sections.Sum() != HeadDim / 2)
            throw new InputException(file, p + "rope_scaling.mrope_section",
                $"[{string.Join(", ", sections)}] sums to {sections.Sum()}; expected head_dim / 2 = {HeadDim / 2}");
    }

    internal static void Positive(string file, string field, int value)
    {
        if (value <= 0) throw new InputException(file, field, $"{value} must be a positive integer");
    }
}

/// <summary>
/// <c>rope_scaling</c>. Implemented: none/"default", "linear", "llama3". Anything else is rejected
/// loudly: silently ignoring it would give wrong numbers on long contexts.
/// </summary>
public sealed record RopeScaling
{
    [JsonPropertyName("rope_type")] public string? RopeType { get; init; }
    /// <summary>Older configs name the type "type".</summary>
    [JsonPropertyName("type")] public string? LegacyType { get; init; }
    [JsonPropertyName("factor")] public double? Factor { get; init; }
    [JsonPropertyName("low_freq_factor")] public double? LowFreqFactor { get; init; }
    [JsonPropertyName("high_freq_factor")] public double? HighFreqFactor { get; init; }
    [JsonPropertyName("original_max_position_embeddings")] public int? OriginalMaxPositionEmbeddings { get; init; }
    /// <summary>Qwen2-VL M-RoPE: rotary half-dimension split between the (t, h, w) axes.</summary>
    [JsonPropertyName("mrope_section")] public IReadOnlyList<int>? MropeSection { get; init; }

    /// <summary>"mrope" (Qwen2-VL's original spelling; transformers rewrites it to "default") counts as default.</summary>
    [JsonIgnore] public string Type => (RopeType ?? LegacyType) switch { null or "mrope" => "default", var t => t };

    internal void Validate(string file, string field)
    {
        switch (Type)
        {
            case "default":
                if (MropeSection is { } m && (m.Count != 3 || m.Any(x => x <= 0)))
                    throw new InputException(file, field + ".mrope_section", $"[{string.Join(", ", m)}]; expected three positive integers (t, h, w)");
                return;
            case "linear":
                if (Factor is not > 0) throw new InputException(file, field + ".factor", "a positive number is required for rope_type 'linear'");
                return;
            case "llama3":
                if (Factor is not > 0 || LowFreqFactor is not > 0 || HighFreqFactor is not > 0 || OriginalMaxPositionEmbeddings is not > 0)
                    throw new InputException(file, field, "rope_type 'llama3' needs factor, low_freq_factor, high_freq_factor and original_max_position_embeddings (all positive)");
                if (HighFreqFactor <= LowFreqFactor)
                    throw new InputException(file, field + ".high_freq_factor", "must be greater than low_freq_factor");
                return;
            default:
                throw new InputException(file, field + ".rope_type",
                    $"'{Type}' is not implemented (supported: default, linear, llama3); refusing to ignore it, which would change the numbers");
        }
    }
}

/// <summary>CLIP vision tower settings (<c>vision_config</c>); defaults equal transformers' CLIPVisionConfig.</summary>
public sealed record ClipVisionConfig
{
    [JsonPropertyName("model_type")] public string ModelType { get; init; } = "clip_vision_model";
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; init; } = 768;
    [JsonPropertyName("intermediate_size")] public int IntermediateSize { get; init; } = 3072;
    [JsonPropertyName("num_hidden_layers")] public int NumHiddenLayers { get; init; } = 12;
    [JsonPropertyName("num_attention_heads")] public int NumAttentionHeads { get; init; } = 12;
    [JsonPropertyName("num_channels")] public int NumChannels { get; init; } = 3;
    [JsonPropertyName("image_size")] public int ImageSize { get; init; } = 224;
    [JsonPropertyName("patch_size")] public int PatchSize { get; init; } = 32;
    [JsonPropertyName("hidden_act")] public string HiddenAct { get; init; } = "quick_gelu";
    [JsonPropertyName("layer_norm_eps")] public double LayerNormEps { get; init; } = 1e-5;
    [JsonPropertyName("projection_dim")] public int ProjectionDim { get; init; } = 512;

    [JsonIgnore] public int PatchesPerSide => ImageSize / PatchSize;
    [JsonIgnore] public int NumPatches => PatchesPerSide * PatchesPerSide;
    [JsonIgnore] public int HeadDim => HiddenSize / NumAttentionHeads;

    /// <summary>The LLaVA-1.5 tower (CLIP ViT-L/14-336), transformers' LlavaConfig default.</summary>
    public static ClipVisionConfig LlavaDefault => new()
    {
        IntermediateSize = 4096,
        HiddenSize = 1024,
        PatchSize = 14,
        ImageSize = 336,
        NumHiddenLayers = 24,
        NumAttentionHeads = 16,
        ProjectionDim = 768,
    };

    /// <summary>
    /// The vision settings of a CLIP model folder (an original LLaVA's <c>mm_vision_tower</c>): its config.json is a
    /// full <c>CLIPConfig</c> (model_type "clip", settings in <c>vision_config</c>) or a <c>CLIPVisionConfig</c>
    /// (model_type "clip_vision_model"). Null when the folder has no config.json.
    /// </summary>
    public static (ClipVisionConfig Config, string File)? LoadFromClipFolder(string dir)
    {
        var file = Path.Combine(dir, "config.json");
        if (!File.Exists(file)) return null;
        LlavaConfig.ReadText(file, out var text);
        JsonDocument doc;
        try { doc = JsonDocument.Parse(text, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true }); }
        catch (JsonException e) { throw new InputException(file, null, $"is not valid JSON (line {e.LineNumber + 1}): {e.Message}", e); }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new InputException(file, null, "expected a JSON object at the top level");
            string? type = root.TryGetProperty("model_type", out var mt) && mt.ValueKind == JsonValueKind.String ? mt.GetString() : null;
            JsonElement element;
            string prefix;
            if (root.TryGetProperty("vision_config", out var vc) && vc.ValueKind == JsonValueKind.Object && type is null or "clip")
                (element, prefix) = (vc, "vision_config.");
            else if (type == "clip_vision_model")
                (element, prefix) = (root, "");
            else
                throw new InputException(file, "model_type",
                    $"'{type}' with{(root.TryGetProperty("vision_config", out _) ? "" : "out")} vision_config is not a CLIP tower; expected model_type 'clip' with a vision_config block, or 'clip_vision_model'");
            ClipVisionConfig config;
            try { config = element.Deserialize<ClipVisionConfig>(Options)!; }
            catch (JsonException e) { throw new InputException(file, prefix + e.Path?.TrimStart('$', '.'), "has the wrong type: " + e.Message, e); }
            config.Validate(file);
            return (config, file);
        }
    }

    private static readonly JsonSerializerOptions Options = new()
    {
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    internal void Validate(string file)
    {
        const string p = "vision_config.";
        if (ModelType != "clip_vision_model")
            throw new InputException(file, p + "model_type", $"'{ModelType}' is not supported; expected 'clip_vision_model'");
        if (HiddenAct is not ("quick_gelu" or "gelu"))
            throw new InputException(file, p + "hidden_act", $"'{HiddenAct}' is not supported; expected 'quick_gelu' or 'gelu'");
        LlamaTextConfig.Positive(file, p + "hidden_size", HiddenSize);
        LlamaTextConfig.Positive(file, p + "intermediate_size", IntermediateSize);
        LlamaTextConfig.Positive(file, p + "num_hidden_layers", NumHiddenLayers);
        LlamaTextConfig.Positive(file, p + "num_attention_heads", NumAttentionHeads);
        LlamaTextConfig.Positive(file, p + "patch_size", PatchSize);
        if (NumChannels != 3) throw new InputException(file, p + "num_channels", $"{NumChannels}; expected 3 (RGB)");
        if (ImageSize <= 0 || ImageSize % PatchSize != 0)
            throw new InputException(file, p + "image_size", $"{ImageSize} must be a positive multiple of patch_size = {PatchSize}");
        if (HiddenSize % NumAttentionHeads != 0)
            throw new InputException(file, p + "hidden_size", $"{HiddenSize} must be a multiple of num_attention_heads = {NumAttentionHeads}");
    }
}

using System.Text.Json;
using System.Text.Json.Serialization;
using ModalFlow.Checkpoints;

namespace ModalFlow.Families.Qwen2Vl;

/// <summary>
/// A Qwen2-VL config.json (<c>Qwen2VLForConditionalGeneration</c>): the decoder's fields at the top level plus
/// <c>vision_config</c> and the special token ids. Defaults equal transformers v4.45.1 <c>Qwen2VLConfig</c> class
/// defaults (<c>save_pretrained</c> omits them). <see cref="Load"/> validates and throws <see cref="InputException"/>
/// on anything not implemented. <see cref="Text"/> is the decoder's <see cref="LlamaTextConfig"/>.
/// </summary>
public sealed record Qwen2VlConfig
{
    public const string Architecture = "Qwen2VLForConditionalGeneration";
    public const string ModelTypeName = "qwen2_vl";

    [JsonPropertyName("architectures")] public IReadOnlyList<string>? Architectures { get; init; }
    [JsonPropertyName("model_type")] public string? ModelType { get; init; } = ModelTypeName;
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; } = 152064;
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; init; } = 8192;
    [JsonPropertyName("intermediate_size")] public int IntermediateSize { get; init; } = 29568;
    [JsonPropertyName("num_hidden_layers")] public int NumHiddenLayers { get; init; } = 80;
    [JsonPropertyName("num_attention_heads")] public int NumAttentionHeads { get; init; } = 64;
    /// <summary>An explicit null means "same as heads" (transformers' backward compatibility); absent means 8.</summary>
    [JsonPropertyName("num_key_value_heads")] public int? NumKeyValueHeadsRaw { get; init; } = 8;
    [JsonPropertyName("hidden_act")] public string HiddenAct { get; init; } = "silu";
    [JsonPropertyName("max_position_embeddings")] public int MaxPositionEmbeddings { get; init; } = 32768;
    [JsonPropertyName("initializer_range")] public double InitializerRange { get; init; } = 0.02;
    [JsonPropertyName("rms_norm_eps")] public double RmsNormEps { get; init; } = 1e-5;
    [JsonPropertyName("use_cache")] public bool UseCache { get; init; } = true;
    [JsonPropertyName("tie_word_embeddings")] public bool TieWordEmbeddings { get; init; }
    [JsonPropertyName("rope_theta")] public double RopeTheta { get; init; } = 1000000.0;
    [JsonPropertyName("use_sliding_window")] public bool UseSlidingWindow { get; init; }
    [JsonPropertyName("sliding_window")] public int? SlidingWindow { get; init; } = 4096;
    [JsonPropertyName("max_window_layers")] public int MaxWindowLayers { get; init; } = 80;
    [JsonPropertyName("attention_dropout")] public double AttentionDropout { get; init; }
    /// <summary>Must carry <c>mrope_section</c> (v4.45.1 reads it unconditionally); "mrope" counts as "default".</summary>
    [JsonPropertyName("rope_scaling")] public RopeScaling? RopeScaling { get; init; }
    [JsonPropertyName("vision_config")] public Qwen2VlVisionConfig? VisionConfigRaw { get; init; }

    // PretrainedConfig defaults (None); the multimodal ids have no class default: get_rope_index reads them from the file.
    [JsonPropertyName("bos_token_id")] public int? BosTokenId { get; init; }
    /// <summary>One id or a list.</summary>
    [JsonPropertyName("eos_token_id")] public JsonElement? EosTokenIdRaw { get; init; }
    [JsonPropertyName("pad_token_id")] public int? PadTokenId { get; init; }
    [JsonPropertyName("image_token_id")] public int? ImageTokenIdRaw { get; init; }
    [JsonPropertyName("video_token_id")] public int? VideoTokenIdRaw { get; init; }
    [JsonPropertyName("vision_start_token_id")] public int? VisionStartTokenIdRaw { get; init; }
    [JsonPropertyName("vision_end_token_id")] public int? VisionEndTokenId { get; init; }
    [JsonPropertyName("vision_token_id")] public int? VisionTokenId { get; init; }
    [JsonPropertyName("torch_dtype")] public string? TorchDType { get; init; }

    [JsonIgnore] public Qwen2VlVisionConfig Vision => VisionConfigRaw ?? new Qwen2VlVisionConfig();
    [JsonIgnore] public int NumKeyValueHeads => NumKeyValueHeadsRaw ?? NumAttentionHeads;

    /// <summary><c>&lt;|image_pad|&gt;</c>: one per merged image token (validated present).</summary>
    [JsonIgnore] public int ImageTokenId => ImageTokenIdRaw ?? throw Missing("image_token_id");
    [JsonIgnore] public int VideoTokenId => VideoTokenIdRaw ?? throw Missing("video_token_id");
    /// <summary><c>&lt;|vision_start|&gt;</c>, right before an image block.</summary>
    [JsonIgnore] public int VisionStartTokenId => VisionStartTokenIdRaw ?? throw Missing("vision_start_token_id");

    /// <summary>Where the config came from, for messages.</summary>
    [JsonIgnore] public string File { get; init; } = "config.json";

    /// <summary>
    /// The decoder settings: Qwen2 with q/k/v biases (no o_proj bias), head_dim = hidden / heads (v4.45.1 ignores a
    /// <c>head_dim</c> key), M-RoPE from <c>rope_scaling.mrope_section</c>. Without <c>eos_token_id</c> the list of end
    /// ids is empty (not LlamaConfig's 2).
    /// </summary>
    [JsonIgnore]
    public LlamaTextConfig Text => new()
    {
        ModelType = ModelTypeName,
        VocabSize = VocabSize,
        HiddenSize = HiddenSize,
        IntermediateSize = IntermediateSize,
        NumHiddenLayers = NumHiddenLayers,
        NumAttentionHeads = NumAttentionHeads,
        NumKeyValueHeadsRaw = NumKeyValueHeads,
        HeadDimRaw = null,
        HiddenAct = HiddenAct,
        MaxPositionEmbeddings = MaxPositionEmbeddings,
        RmsNormEps = RmsNormEps,
        RopeTheta = RopeTheta,
        RopeScaling = RopeScaling,
        AttentionBias = false,
        MlpBias = false,
        QkvBias = true,
        TieWordEmbeddings = TieWordEmbeddings,
        BosTokenId = BosTokenId,
        EosTokenIdRaw = EosTokenIdRaw ?? EmptyList,
        PadTokenId = PadTokenId,
        TorchDType = TorchDType,
    };

    private static readonly JsonElement EmptyList = JsonDocument.Parse("[]").RootElement.Clone();

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>Reads and validates config.json from a checkpoint folder (or the file itself).</summary>
    public static Qwen2VlConfig Load(string pathOrDir)
    {
        var file = LlavaConfig.ReadText(Directory.Exists(pathOrDir) ? Path.Combine(pathOrDir, "config.json") : pathOrDir, out var text);
        return Parse(text, file);
    }

    /// <summary>Parses and validates config.json text; <paramref name="file"/> names it in error messages.</summary>
    public static Qwen2VlConfig Parse(string json, string file = "config.json")
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(json, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true }); }
        catch (JsonException e) { throw new InputException(file, null, $"is not valid JSON (line {e.LineNumber + 1}): {e.Message}", e); }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new InputException(file, null, "expected a JSON object at the top level");
            Qwen2VlConfig config;
            try { config = doc.RootElement.Deserialize<Qwen2VlConfig>(JsonOptions)! with { File = file }; }
            catch (JsonException e)
            {
                throw new InputException(file, e.Path?.TrimStart('$', '.'), "has the wrong type: " + e.Message.Split(". ")[0], e);
            }
            config.Validate(file);
            return config;
        }
    }

    /// <summary>Throws <see cref="InputException"/> naming <paramref name="file"/> and the field for anything not implemented.</summary>
    public void Validate(string file)
    {
        var archs = Architectures ?? [];
        if (archs.Count > 0 && !(archs.Count == 1 && archs[0] == Architecture))
            throw new InputException(file, "architectures", $"[{string.Join(", ", archs)}] is not supported here; expected [\"{Architecture}\"]");
        if (ModelType is not (null or ModelTypeName))
            throw new InputException(file, "model_type", $"'{ModelType}' is not supported here; expected '{ModelTypeName}'");
        if (archs.Count == 0 && ModelType is null)
            throw new InputException(file, "architectures", $"missing (and no model_type); expected [\"{Architecture}\"]");
        if (NumKeyValueHeadsRaw is null && !(NumAttentionHeads > 0))
            throw new InputException(file, "num_attention_heads", $"{NumAttentionHeads} must be a positive integer");

        if (RopeScaling?.MropeSection is null)
            throw new InputException(file, "rope_scaling.mrope_section",
                "missing; Qwen2-VL's M-RoPE needs the split of the rotary half-dimension between the t, h and w axes (e.g. [16, 24, 24])");
        if (RopeScaling.Type != "default")
            throw new InputException(file, "rope_scaling.rope_type", $"'{RopeScaling.Type}' is not implemented with M-RoPE; expected 'default' (or 'mrope')");
        Text.Validate(file, "", ModelTypeName);

        if (UseSlidingWindow)
            throw new InputException(file, "use_sliding_window", "true is not implemented (sliding-window attention); expected false");
        if (VisionConfigRaw is null && Vision.HiddenSize != HiddenSize)
            throw new InputException(file, "vision_config", $"missing; the default vision tower outputs {Vision.HiddenSize} features but hidden_size is {HiddenSize}");
        Vision.Validate(file);
        if (Vision.HiddenSize != HiddenSize)
            throw new InputException(file, "vision_config.hidden_size",
                $"{Vision.HiddenSize} must equal hidden_size = {HiddenSize}: the merger's outputs replace image-token embeddings");

        foreach (var (field, id) in new[] { ("image_token_id", ImageTokenIdRaw), ("video_token_id", VideoTokenIdRaw), ("vision_start_token_id", VisionStartTokenIdRaw) })
        {
            if (id is null) throw Missing(field, file);
            if (id < 0 || id >= VocabSize) throw new InputException(file, field, $"{id} is outside the vocabulary 0..{VocabSize - 1}");
        }
        if (ImageTokenIdRaw == VisionStartTokenIdRaw || ImageTokenIdRaw == VideoTokenIdRaw)
            throw new InputException(file, "image_token_id", $"{ImageTokenIdRaw} must differ from vision_start_token_id and video_token_id");
    }

    private InputException Missing(string field) => Missing(field, File);

    private static InputException Missing(string field, string file) =>
        new(file, field, "missing; Qwen2-VL's config.json names the multimodal token ids (transformers has no default for them)");
}

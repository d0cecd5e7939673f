using System.Text.Json.Serialization;
using ModalFlow.Checkpoints;

namespace ModalFlow.Families.LlavaOnevision;

/// <summary>
/// SigLIP vision tower settings (<c>vision_config</c>, model_type "siglip_vision_model"). Defaults equal transformers
/// v4.45.1 <c>SiglipVisionConfig</c>'s class defaults, which apply to every field a <c>vision_config</c> block omits;
/// <see cref="OnevisionDefault"/> is what <c>LlavaOnevisionConfig</c> builds when the block is absent altogether.
/// </summary>
public sealed record SiglipVisionConfig
{
    public const string SiglipModelType = "siglip_vision_model";

    [JsonPropertyName("model_type")] public string ModelType { get; init; } = SiglipModelType;
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; init; } = 768;
    [JsonPropertyName("intermediate_size")] public int IntermediateSize { get; init; } = 3072;
    [JsonPropertyName("num_hidden_layers")] public int NumHiddenLayers { get; init; } = 12;
    [JsonPropertyName("num_attention_heads")] public int NumAttentionHeads { get; init; } = 12;
    [JsonPropertyName("num_channels")] public int NumChannels { get; init; } = 3;
    [JsonPropertyName("image_size")] public int ImageSize { get; init; } = 224;
    [JsonPropertyName("patch_size")] public int PatchSize { get; init; } = 16;
    [JsonPropertyName("hidden_act")] public string HiddenAct { get; init; } = "gelu_pytorch_tanh";
    [JsonPropertyName("layer_norm_eps")] public double LayerNormEps { get; init; } = 1e-6;

    /// <summary>
    /// Not a SiglipVisionConfig argument in v4.45.1 but read by <c>SiglipVisionTransformer</c> when present; absent
    /// means the attention-pooling head exists (its weights are then in the checkpoint). The head only makes the
    /// pooled output, never a hidden state, so LLaVA-OneVision's features do not depend on it.
    /// </summary>
    [JsonPropertyName("vision_use_head")] public bool? VisionUseHead { get; init; }

    /// <summary>Whether the tower has the <c>head.*</c> pooling weights (absent flag = true, as transformers).</summary>
    [JsonIgnore] public bool HasHead => VisionUseHead ?? true;

    /// <summary>n = image_size // patch_size (the stride-14 conv of a 384 tile gives 27 and ignores the last 6 px).</summary>
    [JsonIgnore] public int PatchesPerSide => ImageSize / PatchSize;

    [JsonIgnore] public int NumPatches => PatchesPerSide * PatchesPerSide;

    [JsonIgnore] public int HeadDim => HiddenSize / NumAttentionHeads;

    /// <summary>Whether the MLP uses the tanh approximation of GELU (<c>gelu_pytorch_tanh</c>) rather than erf (<c>gelu</c>).</summary>
    [JsonIgnore] public bool TanhGelu => HiddenAct == "gelu_pytorch_tanh";

    /// <summary>transformers v4.45.1 <c>LlavaOnevisionConfig</c>'s tower when vision_config is absent (SigLIP so400m/14-384).</summary>
    public static SiglipVisionConfig OnevisionDefault { get; } = new()
    {
        HiddenSize = 1152,
        IntermediateSize = 4304,
        PatchSize = 14,
        ImageSize = 384,
        NumHiddenLayers = 26,
        NumAttentionHeads = 14,
        VisionUseHead = false,
    };

    internal void Validate(string file)
    {
        const string p = "vision_config.";
        if (ModelType != SiglipModelType)
            throw new InputException(file, p + "model_type", $"'{ModelType}' is not supported for LLaVA-OneVision; expected '{SiglipModelType}'");
        if (HiddenAct is not ("gelu_pytorch_tanh" or "gelu"))
            throw new InputException(file, p + "hidden_act", $"'{HiddenAct}' is not supported; expected 'gelu_pytorch_tanh' or 'gelu'");
        LlamaTextConfig.Positive(file, p + "hidden_size", HiddenSize);
        LlamaTextConfig.Positive(file, p + "intermediate_size", IntermediateSize);
        LlamaTextConfig.Positive(file, p + "num_hidden_layers", NumHiddenLayers);
        LlamaTextConfig.Positive(file, p + "num_attention_heads", NumAttentionHeads);
        LlamaTextConfig.Positive(file, p + "patch_size", PatchSize);
        if (NumChannels != 3) throw new InputException(file, p + "num_channels", $"{NumChannels}; expected 3 (RGB)");
        if (ImageSize < PatchSize)
            throw new InputException(file, p + "image_size", $"{ImageSize} must be at least patch_size = {PatchSize}");
        if (HiddenSize % NumAttentionHeads != 0)
            throw new InputException(file, p + "hidden_size", $"{HiddenSize} must be a multiple of num_attention_heads = {NumAttentionHeads}");
        if (!(LayerNormEps > 0)) throw new InputException(file, p + "layer_norm_eps", $"{LayerNormEps} must be > 0");
    }
}

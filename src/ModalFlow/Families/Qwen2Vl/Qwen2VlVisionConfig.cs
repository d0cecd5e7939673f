using System.Text.Json.Serialization;
using ModalFlow.Checkpoints;

namespace ModalFlow.Families.Qwen2Vl;

/// <summary>
/// Qwen2-VL's vision tower settings (<c>vision_config</c>). Defaults equal transformers v4.45.1
/// <c>Qwen2VLVisionConfig</c> class defaults (the 7B tower), because saved configs omit every field equal to them.
/// </summary>
public sealed record Qwen2VlVisionConfig
{
    [JsonPropertyName("model_type")] public string? ModelType { get; init; } = "qwen2_vl";
    [JsonPropertyName("depth")] public int Depth { get; init; } = 32;
    [JsonPropertyName("embed_dim")] public int EmbedDim { get; init; } = 1280;
    /// <summary>The merger's output width; must equal the decoder's hidden_size.</summary>
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; init; } = 3584;
    [JsonPropertyName("hidden_act")] public string HiddenAct { get; init; } = "quick_gelu";
    /// <summary>MLP width = int(embed_dim * mlp_ratio), as transformers (the file may hold an int or a float).</summary>
    [JsonPropertyName("mlp_ratio")] public double MlpRatio { get; init; } = 4;
    [JsonPropertyName("num_heads")] public int NumHeads { get; init; } = 16;
    [JsonPropertyName("in_channels")] public int InChannels { get; init; } = 3;
    [JsonPropertyName("patch_size")] public int PatchSize { get; init; } = 14;
    [JsonPropertyName("spatial_merge_size")] public int SpatialMergeSize { get; init; } = 2;
    [JsonPropertyName("temporal_patch_size")] public int TemporalPatchSize { get; init; } = 2;

    /// <summary>The activations implemented for the vision MLP.</summary>
    public static readonly IReadOnlyList<string> SupportedActivations = ["quick_gelu", "gelu"];

    [JsonIgnore] public int HeadDim => EmbedDim / NumHeads;
    [JsonIgnore] public int MlpHiddenDim => (int)(EmbedDim * MlpRatio);

    /// <summary>Values per patch: in_channels · temporal_patch_size · patch_size² (1176 for 3 · 2 · 14²).</summary>
    [JsonIgnore] public int PatchInputDim => InChannels * TemporalPatchSize * PatchSize * PatchSize;

    /// <summary>Patches merged into one decoder token: spatial_merge_size².</summary>
    [JsonIgnore] public int PatchesPerToken => SpatialMergeSize * SpatialMergeSize;

    /// <summary>The merger's input width: embed_dim · spatial_merge_size².</summary>
    [JsonIgnore] public int MergedDim => EmbedDim * PatchesPerToken;

    internal void Validate(string file)
    {
        const string p = "vision_config.";
        if (ModelType is not (null or "qwen2_vl"))
            throw new InputException(file, p + "model_type", $"'{ModelType}' is not supported; expected 'qwen2_vl'");
        if (!SupportedActivations.Contains(HiddenAct))
            throw new InputException(file, p + "hidden_act", $"'{HiddenAct}' is not supported; expected {string.Join(" or ", SupportedActivations.Select(a => $"'{a}'"))}");
        LlamaTextConfig.Positive(file, p + "depth", Depth);
        LlamaTextConfig.Positive(file, p + "embed_dim", EmbedDim);
        LlamaTextConfig.Positive(file, p + "hidden_size", HiddenSize);
        LlamaTextConfig.Positive(file, p + "num_heads", NumHeads);
        LlamaTextConfig.Positive(file, p + "patch_size", PatchSize);
        LlamaTextConfig.Positive(file, p + "spatial_merge_size", SpatialMergeSize);
        LlamaTextConfig.Positive(file, p + "temporal_patch_size", TemporalPatchSize);
        if (InChannels != 3) throw new InputException(file, p + "in_channels", $"{InChannels}; expected 3 (RGB)");
        if (!(double.IsFinite(MlpRatio) && MlpRatio > 0) || MlpHiddenDim < 1)
            throw new InputException(file, p + "mlp_ratio", $"{MlpRatio} must be a positive number giving an MLP width of at least 1");
        if (EmbedDim % NumHeads != 0)
            throw new InputException(file, p + "embed_dim", $"{EmbedDim} must be a multiple of num_heads = {NumHeads}");
        // The 2-D rotary embedding gives each of the h and w axes head_dim / 4 frequencies, each used twice.
        if (HeadDim % 4 != 0)
            throw new InputException(file, p + "num_heads", $"head_dim = embed_dim / num_heads = {HeadDim} must be a multiple of 4 for the 2-D vision rotary embedding");
    }
}

using ModalFlow.Checkpoints;
using TorchSharp;
using static TorchSharp.torch;

namespace ModalFlow.Models;

/// <summary>
/// LLaVA (llava-hf <c>LlavaForConditionalGeneration</c>): CLIP vision tower → 2-layer GELU projector → Llama decoder.
/// The module tree uses the llava-hf file key names (<c>vision_tower.vision_model.*</c>,
/// <c>multi_modal_projector.*</c>, <c>language_model.model.*</c>, <c>language_model.lm_head.*</c>).
/// </summary>
public sealed class LlavaModel : ExplicitModule
{
    private LlavaModel(LlavaConfig cfg, WeightSource src) : base("llava")
    {
        Config = cfg;
        VisionTower = new ClipVisionTower(cfg.Vision, src, "vision_tower.vision_model.");
        Projector = new MultiModalProjector(src, "multi_modal_projector.", cfg.Vision.HiddenSize, cfg.Text.HiddenSize, cfg.MultimodalProjectorBias);
        LanguageModel = new LlamaDecoder(cfg.Text, src, "language_model.", cfg.TiedEmbeddings);
        var tower = new Group("vision_tower");
        tower.Add("vision_model", VisionTower);
        register_module("vision_tower", tower);
        register_module("multi_modal_projector", Projector);
        register_module("language_model", LanguageModel);
        DType = src.DType;
        Device = src.Device;
    }

    public LlavaConfig Config { get; }
    public ClipVisionTower VisionTower { get; }
    public MultiModalProjector Projector { get; }
    public LlamaDecoder LanguageModel { get; }
    public ScalarType DType { get; }
    public Device Device { get; }

    /// <summary>Builds the tree from <paramref name="src"/> and checks that every tensor matched (throws otherwise).</summary>
    public static LlavaModel Build(LlavaConfig cfg, WeightSource src)
    {
        var model = new LlavaModel(cfg, src);
        try
        {
            src.Finish();
        }
        catch
        {
            model.Dispose();
            throw;
        }
        return model;
    }

    /// <summary>
    /// Loads weights from a checkpoint folder (single or sharded safetensors) or one .safetensors file,
    /// converted to <paramref name="dtype"/> on <paramref name="device"/>; the key format is detected.
    /// </summary>
    public static LlavaModel Load(LlavaConfig cfg, string checkpointPath, ScalarType dtype, Device device)
    {
        using var checkpoint = SafetensorsCheckpoint.Open(checkpointPath);
        var map = KeyMap.Detect(checkpoint.Contains, checkpoint.Path);
        return Build(cfg, new CheckpointWeightSource(checkpoint, map, dtype, device));
    }

    /// <summary>
    /// Image features as placed into the sequence: pixels [T, 3, S, S] → [T, K, D_text]
    /// (CLIP hidden state <c>vision_feature_layer</c>, CLS dropped for "default", then the projector).
    /// </summary>
    public Tensor EncodeImages(Tensor pixels)
    {
        using var features = VisionFeatures(pixels);
        return Projector.Forward(features);
    }

    /// <summary>The selected CLIP features (projector input) [T, K, D_vision], for parity checks.</summary>
    public Tensor VisionFeatures(Tensor pixels)
    {
        using var scope = NewDisposeScope();
        var hidden = VisionTower.HiddenState(pixels.to(DType, Device), Config.VisionLayersUsed);
        if (Config.DropClsToken) hidden = hidden[.., 1.., ..];
        return hidden.contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The merged input sequence [1, N, D]: text embeddings of <paramref name="ids"/> with the single image
    /// placeholder at <paramref name="placeholderIndex"/> replaced in place by <paramref name="imageFeatures"/> [K, D].
    /// </summary>
    public Tensor EmbedSequence(IReadOnlyList<long> ids, int placeholderIndex, Tensor imageFeatures)
    {
        if (placeholderIndex < 0 || placeholderIndex >= ids.Count)
            throw new ArgumentOutOfRangeException(nameof(placeholderIndex), $"{placeholderIndex} is outside the {ids.Count} prompt ids");
        long vocab = LanguageModel.VocabSize;
        for (int i = 0; i < ids.Count; i++)
        {
            if (i != placeholderIndex && (ids[i] < 0 || ids[i] >= vocab))
                throw new ArgumentException($"token id {ids[i]} at index {i} is outside the vocabulary (0..{vocab - 1})");
        }
        using var scope = NewDisposeScope();
        var before = tensor(ids.Take(placeholderIndex).ToArray(), dtype: ScalarType.Int64, device: Device);
        var after = tensor(ids.Skip(placeholderIndex + 1).ToArray(), dtype: ScalarType.Int64, device: Device);
        var parts = new List<Tensor>();
        if (before.numel() > 0) parts.Add(LanguageModel.Embed(before));
        parts.Add(imageFeatures.reshape(-1, LanguageModel.HiddenSize).to(DType));
        if (after.numel() > 0) parts.Add(LanguageModel.Embed(after));
        return cat(parts, 0).unsqueeze(0).MoveToOuterDisposeScope();
    }
}

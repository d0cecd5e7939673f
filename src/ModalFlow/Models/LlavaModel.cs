using ModalFlow.Checkpoints;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ModalFlow.Models;

/// <summary>
/// LLaVA (llava-hf <c>LlavaForConditionalGeneration</c>) and LLaVA-NeXT (<c>LlavaNextForConditionalGeneration</c>):
/// CLIP vision tower → 2-layer GELU projector → Llama decoder; NeXT adds the learned <c>image_newline</c> and packs
/// its tiles with <see cref="PackNextFeatures"/>. The module tree uses the llava-hf file key names
/// (<c>vision_tower.vision_model.*</c>, <c>multi_modal_projector.*</c>, <c>language_model.model.*</c>,
/// <c>language_model.lm_head.*</c>, <c>image_newline</c>); other checkpoint formats (transformers ≥ 4.52, original
/// LLaVA) reach it through a <see cref="KeyMap"/>.
/// </summary>
public sealed class LlavaModel : ExplicitModule
{
    private LlavaModel(LlavaConfig cfg, WeightSource src) : base("llava")
    {
        Config = cfg;
        VisionTower = new ClipVisionTower(cfg.Vision, src, "vision_tower.vision_model.");
        Projector = new MultiModalProjector(src, "multi_modal_projector.", cfg.Vision.HiddenSize, cfg.Text.HiddenSize, cfg.MultimodalProjectorBias);
        LanguageModel = new LlamaDecoder(cfg.Text, src, "language_model.", cfg.TiedEmbeddings);
        if (cfg.IsNext)
        {
            ImageNewline = new Parameter(src.Take("image_newline", cfg.Text.HiddenSize), requires_grad: false);
            register_parameter("image_newline", ImageNewline);
        }
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

    /// <summary>NeXT's learned row separator [D_text]; null for LLaVA-1.5.</summary>
    public Parameter? ImageNewline { get; }
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
    /// Loads weights from a checkpoint folder (single or sharded safetensors or PyTorch .bin) or one weight file,
    /// converted to <paramref name="dtype"/> on <paramref name="device"/>; the key names are detected and must match
    /// the config's format. An original LLaVA checkpoint without the CLIP tower takes it from
    /// <paramref name="visionTowerPath"/>, else from the folder <see cref="VisionTowerLocator"/> finds beside the model.
    /// </summary>
    public static LlavaModel Load(LlavaConfig cfg, string checkpointPath, ScalarType dtype, Device device, string? visionTowerPath = null)
    {
        using var checkpoint = TensorCheckpoint.Open(checkpointPath);
        var map = KeyMap.Detect(checkpoint.Contains, checkpoint.Path, cfg);
        if (!cfg.IsOriginal || checkpoint.Contains(map.ToFile(KeyMap.VisionTowerProbe)))
            return Build(cfg, new CheckpointWeightSource(checkpoint, map, dtype, device));

        // Original LLaVA-1.5: the tower is openai/clip-vit-large-patch14-336's own file (vision_model.* names).
        var modelDir = Directory.Exists(checkpointPath) ? checkpointPath : Path.GetDirectoryName(Path.GetFullPath(checkpointPath))!;
        var towerDir = VisionTowerLocator.Locate(modelDir, cfg.MmVisionTower!, visionTowerPath)
            ?? throw VisionTowerLocator.NotFound(modelDir, cfg.MmVisionTower!);
        using var tower = TensorCheckpoint.Open(towerDir);
        return Build(cfg, new CheckpointWeightSource(
            [new CheckpointPart(tower, KeyMap.ClipFolder, "vision_tower."), new CheckpointPart(checkpoint, map)], dtype, device));
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

    /// <summary>
    /// LLaVA-NeXT: the image features as placed into the sequence, [<see cref="NextGrid.ImageTokens"/>, D_text], from
    /// the crops [<see cref="NextGrid.Tiles"/>, 3, S, S] (base image first, then the grid tiles row-major).
    /// </summary>
    public Tensor EncodeNextImage(Tensor pixels, NextGrid grid)
    {
        using var projected = EncodeImages(pixels);
        return PackNextFeatures(projected, grid);
    }

    /// <summary>
    /// transformers' <c>pack_image_features</c> (= LLaVA-NeXT's "spatial_unpad" merge) for one image: projected tiles
    /// [T, P², D] → [base P² features; for each kept grid row: its kept features, then <c>image_newline</c>] [K, D].
    /// </summary>
    public Tensor PackNextFeatures(Tensor projectedTiles, NextGrid grid)
    {
        if (ImageNewline is null) throw new InvalidOperationException("PackNextFeatures needs a LLaVA-NeXT model (this one has no image_newline)");
        ArgumentNullException.ThrowIfNull(grid);
        int side = Config.Vision.PatchesPerSide;
        long d = LanguageModel.HiddenSize;
        if (grid.PatchesPerSide != side)
            throw new ArgumentException($"grid has {grid.PatchesPerSide} patches per tile side; the vision tower gives {side}");
        if (projectedTiles.dim() != 3 || projectedTiles.shape[0] != grid.Tiles || projectedTiles.shape[1] != side * side || projectedTiles.shape[2] != d)
            throw new ArgumentException($"projected tiles must be [{grid.Tiles}, {side * side}, {d}] for {grid}, got [{string.Join(", ", projectedTiles.shape)}]");
        using var scope = NewDisposeScope();
        var baseFeatures = projectedTiles[0];                                              // [P², D]
        var features = projectedTiles[1..]
            .reshape(grid.GridRows, grid.GridCols, side, side, d)                          // [rows, cols, P, P, D]
            .permute(0, 2, 1, 3, 4)                                                        // [rows, P, cols, P, D]
            .reshape(grid.FeatureRows, grid.FeatureCols, d);                               // [Hc, Wc, D] image layout
        var kept = features[grid.RowStart..grid.RowEnd, grid.ColStart..grid.ColEnd];       // [kr, kc, D]
        var newline = ImageNewline.to(kept.dtype).reshape(1, 1, d).expand(grid.KeptRows, 1, d); // [kr, 1, D]
        var rows = cat([kept, newline], 1).reshape(-1, d);                                 // [kr·(kc+1), D]
        return cat([baseFeatures, rows], 0).contiguous().MoveToOuterDisposeScope();        // [K, D]
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
    public Tensor EmbedSequence(IReadOnlyList<long> ids, int placeholderIndex, Tensor imageFeatures) =>
        LanguageModel.EmbedWithImage(ids, placeholderIndex, imageFeatures);
}

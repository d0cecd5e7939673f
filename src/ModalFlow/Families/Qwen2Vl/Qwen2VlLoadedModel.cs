using ModalFlow.Checkpoints;
using ModalFlow.Inference;
using ModalFlow.Models;
using ModalFlow.Vision;
using static TorchSharp.torch;

namespace ModalFlow.Families.Qwen2Vl;

/// <summary>A Qwen2-VL folder with its weights: the ViT + PatchMerger once per image, then the M-RoPE Qwen2 decoder.</summary>
public sealed class Qwen2VlLoadedModel : LoadedModel
{
    private readonly LlamaDecoder _decoder;

    private Qwen2VlLoadedModel(Qwen2VlModelFolder folder, Qwen2VlVisionTower tower, LlamaDecoder decoder) : base(folder)
    {
        QwenFolder = folder;
        Tower = tower;
        _decoder = decoder;
    }

    public Qwen2VlModelFolder QwenFolder { get; }
    public Qwen2VlVisionTower Tower { get; }
    public override ITextDecoder Decoder => _decoder;

    /// <summary>Keys as the hub stores them: <c>visual.*</c> (tower), <c>model.*</c> (decoder), lm_head tied to embed_tokens.</summary>
    internal static Qwen2VlLoadedModel Load(Qwen2VlModelFolder folder, LoadOptions options)
    {
        using var checkpoint = TensorCheckpoint.Open(folder.Directory);
        var src = new CheckpointWeightSource(checkpoint, KeyMap.LlavaHf, options.DType, options.DeviceOrCpu);
        var tower = new Qwen2VlVisionTower(folder.Config.Vision, src);
        var decoder = new LlamaDecoder(folder.Config.Text, src, "", folder.Config.TieWordEmbeddings);
        try
        {
            src.Finish();
        }
        catch
        {
            tower.Dispose();
            decoder.Dispose();
            throw;
        }
        return new Qwen2VlLoadedModel(folder, tower, decoder);
    }

    public override PreparedInput Prepare(RgbImage image, string question, ImageMode? mode = null, string? source = null)
    {
        var plan = QwenFolder.PlanImage(image.Width, image.Height, mode);
        var (prompt, layout) = QwenFolder.BuildLayout(question, plan.ImageTokens, source);
        var pixels = QwenFolder.Processor.Preprocess(image, source);
        using var scope = NewDisposeScope();
        var features = Tower.Encode(pixels.ToTensor(_decoder.DType, _decoder.Device), pixels.Grid);           // [K, D]
        var embeds = _decoder.EmbedWithImage(layout.PromptIds.Select(i => (long)i).ToArray(), layout.PlaceholderIndex, features);
        var rope = Qwen2VlRopeIndex.ForOneImage(layout.SeqLen, layout.Image.Start, pixels.Grid, QwenFolder.Config.Vision.SpatialMergeSize);
        var positions = PositionIds.FromAxes([rope.Axis(0).ToArray(), rope.Axis(1).ToArray(), rope.Axis(2).ToArray()]);
        return new PreparedInput(layout, embeds.DetachFromDisposeScope(), positions, plan, prompt, source);
    }

    public override void Dispose()
    {
        Tower.Dispose();
        _decoder.Dispose();
    }
}

using ModalFlow.Checkpoints;
using ModalFlow.Inference;
using ModalFlow.Models;
using ModalFlow.Vision;
using static TorchSharp.torch;

namespace ModalFlow.Families.LlavaOnevision;

/// <summary>A LLaVA-OneVision folder with its weights: SigLIP + projector + packing once per image, then the Qwen2 decoder.</summary>
public sealed class LlavaOnevisionLoadedModel : LoadedModel
{
    private readonly LlamaDecoder _decoder;

    private LlavaOnevisionLoadedModel(LlavaOnevisionModelFolder folder, LlavaOnevisionVision vision, LlamaDecoder decoder) : base(folder)
    {
        OnevisionFolder = folder;
        Vision = vision;
        _decoder = decoder;
    }

    public LlavaOnevisionModelFolder OnevisionFolder { get; }
    public LlavaOnevisionVision Vision { get; }
    public override ITextDecoder Decoder => _decoder;

    /// <summary>Keys as llava-hf stores them: vision_tower.*, multi_modal_projector.*, image_newline, language_model.* (lm_head tied).</summary>
    internal static LlavaOnevisionLoadedModel Load(LlavaOnevisionModelFolder folder, LoadOptions options)
    {
        using var checkpoint = TensorCheckpoint.Open(folder.Directory);
        var src = new CheckpointWeightSource(checkpoint, KeyMap.LlavaHf, options.DType, options.DeviceOrCpu);
        var vision = new LlavaOnevisionVision(folder.Config, src);
        var decoder = new LlamaDecoder(folder.Config.Text, src, "language_model.", folder.Config.TiedEmbeddings);
        try
        {
            src.Finish();
        }
        catch
        {
            vision.Dispose();
            decoder.Dispose();
            throw;
        }
        return new LlavaOnevisionLoadedModel(folder, vision, decoder);
    }

    public override PreparedInput Prepare(RgbImage image, string question, ImageMode? mode = null, string? source = null)
    {
        var plan = OnevisionFolder.PlanImage(image.Width, image.Height, mode);
        var (prompt, layout) = OnevisionFolder.BuildLayout(question, plan.ImageTokens, source);
        var pixels = OnevisionFolder.Processor.Preprocess(image, source);
        using var scope = NewDisposeScope();
        var features = Vision.EncodeImage(pixels);                                                              // [K, D]
        var embeds = _decoder.EmbedWithImage(layout.PromptIds.Select(i => (long)i).ToArray(), layout.PlaceholderIndex, features);
        return new PreparedInput(layout, embeds.DetachFromDisposeScope(), PositionIds.Sequential(layout.SeqLen), plan, prompt, source);
    }

    public override void Dispose()
    {
        Vision.Dispose();
        _decoder.Dispose();
    }
}

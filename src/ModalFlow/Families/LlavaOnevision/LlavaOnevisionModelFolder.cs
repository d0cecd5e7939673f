using ModalFlow.Data;
using ModalFlow.Inference;
using ModalFlow.Text;
using ModalFlow.Vision;

namespace ModalFlow.Families.LlavaOnevision;

/// <summary>A LLaVA-OneVision folder's small files: config, processor options (SigLIP mean/std), Qwen2 tokenizer, chat template.</summary>
public sealed class LlavaOnevisionModelFolder : ModelFolder
{
    private LlavaOnevisionModelFolder(string directory, LlavaOnevisionConfig config, LlavaOnevisionImageProcessor processor,
        ITextTokenizer tokenizer, ConversationTemplate template)
        : base(LlavaOnevisionFamily.Instance, directory, tokenizer, template)
    {
        Config = config;
        Processor = processor;
    }

    public LlavaOnevisionConfig Config { get; }
    public LlavaOnevisionImageProcessor Processor { get; }

    public override string Architecture => LlavaOnevisionConfig.Architecture;
    public override string Variant => "LLaVA-OneVision (llava-hf)";

    public override DecoderInfo Decoder
    {
        get
        {
            var t = Config.Text;
            return new DecoderInfo(t.NumHiddenLayers, t.NumAttentionHeads, t.NumKeyValueHeads, t.HeadDim, t.HiddenSize, t.IntermediateSize,
                t.VocabSize, t.MaxPositionEmbeddings, t.EosTokenIds, t.RopeTheta, "1-D RoPE");
        }
    }

    public override string Preprocessing(ImageMode? mode)
    {
        if (mode is { } m)
            throw new InputException(Directory, "--image-mode",
                $"'{m.ToString().ToLowerInvariant()}' does not apply to LLaVA-OneVision (its images go through {Config.VisionAspectRatio} tiling); expected auto");
        return Config.VisionAspectRatio;
    }

    public override ImagePlan PlanImage(int width, int height, ImageMode? mode = null)
    {
        var preprocessing = Preprocessing(mode);
        var p = Config.PlanImage(width, height);
        return new ImagePlan(width, height, p.ImageTokenCount, preprocessing,
            $"canvas {p.CanvasWidth}x{p.CanvasHeight} ({p.GridRows}x{p.GridCols} tiles of {p.TileSize}), unpadded {p.UnpaddedRows}x{p.UnpaddedCols}" +
            (p.Interpolated ? $", shrunk to {p.PackedRows}x{p.PackedCols}" : "") + $" + {p.PackedRows} newlines, after {p.BaseTokenCount} base tokens");
    }

    public override IObjectPatchMapper PatchMapper(ImageMode? mode = null)
    {
        Preprocessing(mode);
        return LlavaOnevisionPatchMapper.ForModel(Config);
    }

    public override ModelView View(RgbImage image, ImageMode? mode = null)
    {
        Preprocessing(mode);
        return LlavaOnevisionModelView.Of(Config, image);
    }

    public override string Fingerprint() => Checkpoints.Fingerprint.OfCheckpoint(Directory);

    public override IReadOnlyList<KeyValuePair<string, string>> Describe()
    {
        var v = Config.Vision;
        return
        [
            new("vision", $"SigLIP {v.NumHiddenLayers} layers, hidden {v.HiddenSize}, {v.ImageSize}px / {v.PatchSize}px patches, features from hidden state {Config.VisionFeatureLayer} ({Config.VisionFeatureSelectStrategy})"),
            new("image processing", $"{Config.VisionAspectRatio}: best pinpoint of {Config.Pinpoints.Count}, base + tiles, unpad, bilinear shrink above ratio 1.1, newline per row"),
        ];
    }

    protected override LoadedModel LoadWeights(LoadOptions options) => LlavaOnevisionLoadedModel.Load(this, options);

    public static new LlavaOnevisionModelFolder Read(string directory, LoadOptions options)
    {
        var config = LlavaOnevisionConfig.Load(directory);
        var processor = LlavaOnevisionImageProcessor.Load(directory, config);
        var tokenizer = TokenizerLoader.Load(directory, options.TokenizerFile);
        if (tokenizer.VocabularySize > config.Text.VocabSize)
            throw new InputException(Path.Combine(directory, "config.json"), "text_config.vocab_size",
                $"{config.Text.VocabSize} is smaller than the tokenizer's {tokenizer.VocabularySize} tokens ({tokenizer.SourcePath})");
        var template = ConversationTemplate.Get(options.Template ?? TemplateName);
        return new LlavaOnevisionModelFolder(directory, config, processor, tokenizer, template);
    }

    /// <summary>llava-hf OneVision's chat template (no system turn).</summary>
    public const string TemplateName = "llava_onevision";
}

using ModalFlow.Data;
using ModalFlow.Inference;
using ModalFlow.Text;
using ModalFlow.Vision;

namespace ModalFlow.Families.Qwen2Vl;

/// <summary>A Qwen2-VL folder's small files: config, preprocessor (min/max pixels), Qwen2 tokenizer, chat template.</summary>
public sealed class Qwen2VlModelFolder : ModelFolder
{
    private Qwen2VlModelFolder(string directory, Qwen2VlConfig config, Qwen2VlImageProcessor processor, ITextTokenizer tokenizer, ConversationTemplate template)
        : base(Qwen2VlFamily.Instance, directory, tokenizer, template)
    {
        Config = config;
        Processor = processor;
    }

    public Qwen2VlConfig Config { get; }
    public Qwen2VlImageProcessor Processor { get; }

    public override string Architecture => Qwen2VlConfig.Architecture;
    public override string Variant => "Qwen2-VL";

    public override DecoderInfo Decoder
    {
        get
        {
            var t = Config.Text;
            return new DecoderInfo(t.NumHiddenLayers, t.NumAttentionHeads, t.NumKeyValueHeads, t.HeadDim, t.HiddenSize, t.IntermediateSize,
                t.VocabSize, t.MaxPositionEmbeddings, t.EosTokenIds, t.RopeTheta,
                $"M-RoPE: 3-D (t, h, w) ids from the image grid (get_rope_index), mrope_section [{string.Join(", ", t.MropeSection ?? [])}]");
        }
    }

    public override string Preprocessing(ImageMode? mode)
    {
        if (mode is { } m)
            throw new InputException(Directory, "--image-mode",
                $"'{m.ToString().ToLowerInvariant()}' does not apply to Qwen2-VL (its images are resized by smart_resize); expected auto");
        return $"smart_resize[{Processor.Options.MinPixels},{Processor.Options.MaxPixels}]";
    }

    public override ImagePlan PlanImage(int width, int height, ImageMode? mode = null)
    {
        var preprocessing = Preprocessing(mode);
        var p = Processor.Plan(width, height, Directory);
        return new ImagePlan(width, height, p.ImageTokenCount, preprocessing,
            $"resized to {p.ResizedWidth}x{p.ResizedHeight}, {p.Grid.H}x{p.Grid.W} patches of {p.PatchSize} px merged {p.MergeSize}x{p.MergeSize} → {p.MergedRows}x{p.MergedCols} tokens");
    }

    public override IObjectPatchMapper PatchMapper(ImageMode? mode = null)
    {
        Preprocessing(mode);
        return new Qwen2VlPatchMapper(Processor);
    }

    public override ModelView View(RgbImage image, ImageMode? mode = null)
    {
        Preprocessing(mode);
        return Qwen2VlModelView.Of(Processor, image, Directory);
    }

    public override string Fingerprint() => Checkpoints.Fingerprint.OfCheckpoint(Directory);

    public override IReadOnlyList<KeyValuePair<string, string>> Describe()
    {
        var v = Config.Vision;
        var o = Processor.Options;
        return
        [
            new("vision", $"Qwen2-VL ViT {v.Depth} blocks, width {v.EmbedDim}, {v.NumHeads} heads, 2-D rotary, {v.PatchSize}px patches x {v.TemporalPatchSize} frames, PatchMerger {v.SpatialMergeSize}x{v.SpatialMergeSize} → {v.HiddenSize}"),
            new("image processing", $"smart_resize to multiples of {o.Factor}, min_pixels {o.MinPixels}, max_pixels {o.MaxPixels} (--min-pixels / --max-pixels), PIL bicubic, CLIP mean/std"),
            new("image tokens", $"<|image_pad|> {Config.ImageTokenId} between <|vision_start|> {Config.VisionStartTokenId} and <|vision_end|>"),
        ];
    }

    protected override LoadedModel LoadWeights(LoadOptions options) => Qwen2VlLoadedModel.Load(this, options);

    public static new Qwen2VlModelFolder Read(string directory, LoadOptions options)
    {
        var config = Qwen2VlConfig.Load(directory);
        var processorOptions = Qwen2VlImageProcessorOptions.Load(directory);
        processorOptions = processorOptions with
        {
            MinPixels = options.MinPixels ?? processorOptions.MinPixels,
            MaxPixels = options.MaxPixels ?? processorOptions.MaxPixels,
        };
        processorOptions.Validate(Path.Combine(directory, Qwen2VlImageProcessorOptions.FileName));
        processorOptions.CheckAgainst(config.Vision, Path.Combine(directory, Qwen2VlImageProcessorOptions.FileName));
        var tokenizer = TokenizerLoader.Load(directory, options.TokenizerFile);
        if (tokenizer.VocabularySize > config.VocabSize)
            throw new InputException(Path.Combine(directory, "config.json"), "vocab_size",
                $"{config.VocabSize} is smaller than the tokenizer's {tokenizer.VocabularySize} tokens ({tokenizer.SourcePath})");
        var template = ConversationTemplate.Get(options.Template ?? TemplateName);
        return new Qwen2VlModelFolder(directory, config, new Qwen2VlImageProcessor(processorOptions), tokenizer, template);
    }

    /// <summary>The Qwen2-VL-Instruct chat template (system "You are a helpful assistant.").</summary>
    public const string TemplateName = "qwen2_vl";
}

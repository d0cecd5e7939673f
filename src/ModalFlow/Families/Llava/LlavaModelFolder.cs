using ModalFlow.Checkpoints;
using ModalFlow.Data;
using ModalFlow.Inference;
using ModalFlow.Models;
using ModalFlow.Text;
using ModalFlow.Vision;

namespace ModalFlow.Families.Llava;

/// <summary>
/// A LLaVA / LLaVA-NeXT folder's small files: config (llava-hf or original), tokenizer, CLIP image options, the paper's
/// conversation template; for original folders also the CLIP tower folder, for NeXT the anyres arithmetic.
/// </summary>
public sealed class LlavaModelFolder : ModelFolder
{
    private LlavaModelFolder(string directory, LlavaConfig config, ITextTokenizer tokenizer, ImageProcessingOptions imageOptions,
        bool imageOptionsFromFile, ConversationTemplate template, AnyresArithmetic anyres, string? visionTowerDirectory)
        : base(LlavaFamily.Instance, directory, tokenizer, template)
    {
        Config = config;
        ImageOptions = imageOptions;
        ImageOptionsFromFile = imageOptionsFromFile;
        AnyresArithmetic = anyres;
        VisionTowerDirectory = visionTowerDirectory;
    }

    public LlavaConfig Config { get; }
    public ImageProcessingOptions ImageOptions { get; }
    public bool ImageOptionsFromFile { get; }

    /// <summary>LLaVA-NeXT: which anyres arithmetic plans this folder's images (see <see cref="LoadOptions.Anyres"/>).</summary>
    public AnyresArithmetic AnyresArithmetic { get; }

    /// <summary>
    /// Original LLaVA folders: the CLIP folder found for <c>mm_vision_tower</c> (null when none was found; the weights
    /// may hold the tower themselves). Null for llava-hf folders.
    /// </summary>
    public string? VisionTowerDirectory { get; }

    public override string Architecture => Config.Architectures?.FirstOrDefault() ?? Config.ModelType;

    public override string Variant => (Config.IsNext ? "LLaVA-NeXT" : "LLaVA-1.5") + (Config.IsOriginal ? " (original LLaVA format)" : " (llava-hf)");

    public override DecoderInfo Decoder => new(Config.Text.NumHiddenLayers, Config.Text.NumAttentionHeads, Config.Text.NumKeyValueHeads,
        Config.Text.HeadDim, Config.Text.HiddenSize, Config.Text.IntermediateSize, Config.Text.VocabSize, Config.Text.MaxPositionEmbeddings,
        Config.Text.EosTokenIds, Config.Text.RopeTheta, "1-D RoPE" + (Config.Text.RopeScaling is { } r ? $" ({r.Type} scaling)" : ""));

    /// <summary>
    /// LLaVA-1.5's image mode: the requested one, or the folder's own (<see cref="LlavaConfig.DefaultImageMode"/>: pad for
    /// llava-hf, the original config's image_aspect_ratio). NeXT folders have no image mode (anyres): asking one is an error.
    /// </summary>
    public ImageMode ResolveImageMode(ImageMode? requested)
    {
        if (Config.IsNext && requested is { } m)
            throw new InputException(Directory, "--image-mode",
                $"'{m.ToString().ToLowerInvariant()}' does not apply to a LLaVA-NeXT folder (its images go through anyres tiling); expected auto");
        return requested ?? Config.DefaultImageMode;
    }

    public override string Preprocessing(ImageMode? mode)
    {
        var resolved = ResolveImageMode(mode);   // also refuses an explicit mode for NeXT
        return Config.IsNext ? "anyres/" + AnyresName(AnyresArithmetic) : resolved.ToString().ToLowerInvariant();
    }

    public override ImagePlan PlanImage(int width, int height, ImageMode? mode = null)
    {
        var preprocessing = Preprocessing(mode);
        if (!Config.IsNext)
        {
            var side = Config.Vision.PatchesPerSide;
            return new ImagePlan(width, height, Config.ImageTokensPerImage, preprocessing,
                $"{side}x{side} patches of {Config.Vision.PatchSize} px" + (Config.DropClsToken ? "" : " + CLS"));
        }
        var plan = PlanAnyres(width, height);
        return new ImagePlan(width, height, plan.ImageTokenCount, preprocessing, plan.ToString());
    }

    public override IObjectPatchMapper PatchMapper(ImageMode? mode = null) => Config.IsNext
        ? ObjectPatchMapper.LlavaNextAnyres(AnyresArithmetic, Pinpoints, PatchGrid.FromVision(Config.Vision))
        : new ObjectPatchMapper(ImagePreprocessor(ResolveImageMode(mode)), PatchGrid.FromVision(Config.Vision));

    public override ModelView View(RgbImage image, ImageMode? mode = null) => LlavaModelView.Of(this, image, mode);

    /// <summary>The folder's fingerprint and, for an original checkpoint whose CLIP tower lives in its own folder, the tower's too.</summary>
    public override string Fingerprint()
    {
        var model = Checkpoints.Fingerprint.OfCheckpoint(Directory);
        return VisionTowerDirectory is null ? model : model + "+tower:" + Checkpoints.Fingerprint.OfCheckpoint(VisionTowerDirectory);
    }

    public override string WeightFormat
    {
        get
        {
            using var checkpoint = TensorCheckpoint.Open(Directory);
            return KeyMap.Detect(checkpoint.Contains, checkpoint.Path, Config).Name;
        }
    }

    public override int? FixedImageTokenCount => Config.IsNext ? null : Config.ImageTokensPerImage;

    public override string? SeparateVisionTower
    {
        get
        {
            if (!Config.IsOriginal) return null;
            using var checkpoint = TensorCheckpoint.Open(Directory);
            var map = KeyMap.Detect(checkpoint.Contains, checkpoint.Path, Config);
            return checkpoint.Contains(map.ToFile(KeyMap.VisionTowerProbe)) ? "in the checkpoint"
                : VisionTowerDirectory ?? $"NOT FOUND (mm_vision_tower '{Config.MmVisionTower}'; pass --vision-tower DIR)";
        }
    }

    public override IReadOnlyList<KeyValuePair<string, string>> Describe()
    {
        var tower = SeparateVisionTower;
        return
        [
            .. tower is null ? Array.Empty<KeyValuePair<string, string>>() : [new("CLIP tower", tower)],
            new("vision", $"CLIP {Config.Vision.NumHiddenLayers} layers, hidden {Config.Vision.HiddenSize}, {Config.Vision.ImageSize}px / {Config.Vision.PatchSize}px patches, features from hidden state {Config.VisionFeatureLayer} ({Config.VisionFeatureSelectStrategy}); settings from {Config.VisionConfigSource}"),
            new("image processing", ImageOptionsFromFile ? "preprocessor_config.json" : "CLIP defaults (no preprocessor_config.json)"),
            .. Config.IsNext ? [new KeyValuePair<string, string>("anyres", $"{AnyresName(AnyresArithmetic)} arithmetic, pinpoints {string.Join(" ", Pinpoints.Select(p => $"{p.A}x{p.B}"))}")] : Array.Empty<KeyValuePair<string, string>>(),
        ];
    }

    protected override LoadedModel LoadWeights(LoadOptions options) => LlavaLoadedModel.Load(this, options);

    /// <summary>LLaVA-NeXT: the anyres plan (canvas, tiles, unpad, token count) of a width×height image.</summary>
    public AnyresPlan PlanAnyres(int width, int height)
    {
        if (!Config.IsNext) throw new InvalidOperationException("anyres planning needs a LLaVA-NeXT model");
        return Anyres.Plan(width, height, Pinpoints, AnyresArithmetic, Config.Vision.ImageSize, Config.Vision.PatchesPerSide);
    }

    /// <summary>LLaVA-1.5 preprocessing (one crop). A LLaVA-NeXT model needs anyres tiles: it throws there.</summary>
    public LlavaImagePreprocessor ImagePreprocessor(ImageMode mode) => !Config.IsNext ? new(ImageOptions, mode)
        : throw new NotSupportedException($"{Directory}: LLaVA-NeXT needs anyres preprocessing (base image + tiles), not a single crop");

    /// <summary>
    /// LLaVA-NeXT: the feature grid of an <paramref name="originalWidth"/>×<paramref name="originalHeight"/> image on the
    /// chosen <paramref name="canvasWidth"/>×<paramref name="canvasHeight"/> pinpoint. Throws for a LLaVA-1.5 model.
    /// </summary>
    public NextGrid NextGridFor(int canvasWidth, int canvasHeight, int originalWidth, int originalHeight) =>
        Config.NextGridFor(canvasWidth, canvasHeight, originalWidth, originalHeight);

    /// <summary>Image tokens of a width×height image (fixed for LLaVA-1.5; from the anyres plan for NeXT).</summary>
    public int ImageTokensFor(int width, int height) => PlanImage(width, height).ImageTokens;

    private IReadOnlyList<(int A, int B)> Pinpoints => Config.ImageGridPinpoints.Select(p => (p[0], p[1])).ToList();

    private static string AnyresName(AnyresArithmetic a) => a switch
    {
        AnyresArithmetic.LlavaNext => "llava-next",
        AnyresArithmetic.Transformers => "transformers",
        _ => a.ToString().ToLowerInvariant(),
    };

    /// <summary>Reads config, tokenizer and image options (no weights).</summary>
    public static new LlavaModelFolder Read(string dir, LoadOptions? options = null)
    {
        options ??= new LoadOptions();
        if (!System.IO.Directory.Exists(dir))
            throw new InputException(dir, null, "model folder not found; expected a folder with config.json, *.safetensors or pytorch_model*.bin and tokenizer files");
        string? towerDir = null;
        var config = LlavaConfig.LoadWithTowerLocator(dir, id => towerDir = VisionTowerLocator.Locate(dir, id, options.VisionTowerPath));
        // Original LLaVA reads CLIPImageProcessor from the tower's folder; a model folder's own file wins when present.
        var imageDir = towerDir is not null && !File.Exists(Path.Combine(dir, PreprocessorConfig.FileName))
            && File.Exists(Path.Combine(towerDir, PreprocessorConfig.FileName)) ? towerDir : dir;
        var imageOptions = PreprocessorConfig.Load(imageDir, config.Vision, out bool fromFile, config.IsNext ? config.ImageGridPinpoints : null);
        var tokenizer = TokenizerLoader.Load(dir, options.TokenizerFile);
        if (tokenizer.VocabularySize > config.Text.VocabSize)
            throw new InputException(Path.Combine(dir, "config.json"), config.IsOriginal ? "vocab_size" : "text_config.vocab_size",
                $"{config.Text.VocabSize} is smaller than the tokenizer's {tokenizer.VocabularySize} tokens ({tokenizer.SourcePath})");
        var template = options.Template is { } name
            ? ConversationTemplate.Get(name)
            : ConversationTemplate.DefaultFor(tokenizer);
        // Each checkpoint's own ecosystem by default: transformers for llava-hf, LLaVA-NeXT's code for originals.
        var anyres = options.Anyres ?? (config.IsOriginal ? AnyresArithmetic.LlavaNext : AnyresArithmetic.Transformers);
        return new LlavaModelFolder(dir, config, tokenizer, imageOptions, fromFile, template, anyres, towerDir);
    }
}

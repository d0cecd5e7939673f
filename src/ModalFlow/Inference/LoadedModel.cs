using ModalFlow.Checkpoints;
using ModalFlow.Models;
using ModalFlow.Platform;
using ModalFlow.Text;
using ModalFlow.Vision;
using static TorchSharp.torch;

namespace ModalFlow.Inference;

/// <summary>How to load a checkpoint folder.</summary>
public sealed record LoadOptions
{
    /// <summary>Compute dtype (weights are converted once on load). float32 for parity, bfloat16 for 7B on CPU.</summary>
    public ScalarType DType { get; init; } = ScalarType.Float32;
    public Device? Device { get; init; }
    /// <summary>Conversation template name; null = by tokenizer family (vicuna_v1 for Llama-2, llava_llama_3 for Llama-3).</summary>
    public string? Template { get; init; }
    /// <summary>An explicit tokenizer file (e.g. Meta's Llama-3 ranks file for a folder that has only tokenizer.json).</summary>
    public string? TokenizerFile { get; init; }

    /// <summary>
    /// LLaVA-NeXT anyres arithmetic; null = the checkpoint's own ecosystem (llava-hf folders: transformers v4.44, what
    /// their users get in Python and what the fixtures hold; original LLaVA folders: LLaVA-NeXT's, what the paper ran).
    /// </summary>
    public AnyresArithmetic? Anyres { get; init; }

    /// <summary>
    /// Original LLaVA checkpoints: the CLIP folder that <c>mm_vision_tower</c> names (config.json + model.safetensors or
    /// pytorch_model.bin, <c>vision_model.*</c> names). Null: a sibling folder named like the id's last component
    /// (see <see cref="VisionTowerLocator"/>). Ignored for llava-hf folders.
    /// </summary>
    public string? VisionTowerPath { get; init; }
}

/// <summary>
/// A checkpoint folder's small files, loaded and validated: config, tokenizer, image processing options and the
/// paper's conversation template. No weights: enough for layouts and position sets (`modalflow positions`).
/// </summary>
public sealed record ModelFolder(string Directory, LlavaConfig Config, ITextTokenizer Tokenizer, ImageProcessingOptions ImageOptions,
    bool ImageOptionsFromFile, ConversationTemplate Template)
{
    /// <summary>
    /// Original LLaVA folders: the CLIP folder found for <c>mm_vision_tower</c> (null when none was found; the weights
    /// may hold the tower themselves). Null for llava-hf folders.
    /// </summary>
    public string? VisionTowerDirectory { get; init; }

    /// <summary>LLaVA-NeXT: which anyres arithmetic plans this folder's images (see <see cref="LoadOptions.Anyres"/>).</summary>
    public AnyresArithmetic AnyresArithmetic { get; init; } = AnyresArithmetic.Transformers;

    /// <summary>LLaVA-NeXT: the anyres plan (canvas, tiles, unpad, token count) of a width×height image.</summary>
    public AnyresPlan PlanAnyres(int width, int height)
    {
        if (!Config.IsNext) throw new InvalidOperationException("anyres planning needs a LLaVA-NeXT model");
        var pinpoints = Config.ImageGridPinpoints.Select(p => (p[0], p[1])).ToList();
        return Anyres.Plan(width, height, pinpoints, AnyresArithmetic, Config.Vision.ImageSize, Config.Vision.PatchesPerSide);
    }

    /// <summary>The paper's object-patch sets for this model: LLaVA-1.5 pad/crop geometry, or NeXT anyres with this folder's arithmetic.</summary>
    public ModalFlow.Data.ObjectPatchMapper PatchMapper(ImageMode mode) => Config.IsNext
        ? ModalFlow.Data.ObjectPatchMapper.LlavaNextAnyres(AnyresArithmetic, Config.ImageGridPinpoints.Select(p => (p[0], p[1])).ToList(), ModalFlow.Data.PatchGrid.FromVision(Config.Vision))
        : new ModalFlow.Data.ObjectPatchMapper(ImagePreprocessor(mode), ModalFlow.Data.PatchGrid.FromVision(Config.Vision));

    /// <summary>Image tokens of a width×height image (fixed for LLaVA-1.5; from the anyres plan for NeXT).</summary>
    public int ImageTokensFor(int width, int height) => Config.IsNext ? PlanAnyres(width, height).ImageTokenCount : Config.ImageTokensPerImage;

    public static ModelFolder Read(string dir, LoadOptions? options = null)
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
        return new ModelFolder(dir, config, tokenizer, imageOptions, fromFile, template)
        {
            // Each checkpoint's own ecosystem by default: transformers for llava-hf, LLaVA-NeXT's code for originals.
            AnyresArithmetic = options.Anyres ?? (config.IsOriginal ? ModalFlow.Vision.AnyresArithmetic.LlavaNext : ModalFlow.Vision.AnyresArithmetic.Transformers),
            VisionTowerDirectory = towerDir,
        };
    }

    /// <summary>LLaVA-1.5 preprocessing (one 336² crop). A LLaVA-NeXT model needs anyres tiles: it throws there.</summary>
    public LlavaImagePreprocessor ImagePreprocessor(ImageMode mode) => !Config.IsNext ? new(ImageOptions, mode)
        : throw new NotSupportedException($"{Directory}: LLaVA-NeXT needs anyres preprocessing (base image + tiles), which is not wired into this path yet");

    /// <summary>
    /// LLaVA-NeXT: the feature grid of an <paramref name="originalWidth"/>×<paramref name="originalHeight"/> image on the
    /// chosen <paramref name="canvasWidth"/>×<paramref name="canvasHeight"/> pinpoint; its
    /// <see cref="NextGrid.ImageTokens"/> is the image's token count. Throws for a LLaVA-1.5 model.
    /// </summary>
    public NextGrid NextGridFor(int canvasWidth, int canvasHeight, int originalWidth, int originalHeight) =>
        Config.NextGridFor(canvasWidth, canvasHeight, originalWidth, originalHeight);

    /// <summary>Image tokens of one image: fixed for LLaVA-1.5; for LLaVA-NeXT from <paramref name="grid"/> (required there).</summary>
    public int ImageTokenCount(NextGrid? grid = null) => Config.IsNext
        ? (grid ?? throw new ArgumentNullException(nameof(grid), "a LLaVA-NeXT image's token count depends on its grid (ModelFolder.NextGridFor)")).ImageTokens
        : grid is null ? Config.ImageTokensPerImage : throw new ArgumentException("a LLaVA-1.5 model has no anyres grid", nameof(grid));
}

/// <summary>A model folder with its weights loaded: the one entry point the CLI and experiments use.</summary>
public sealed class LoadedModel : IDisposable
{
    private LoadedModel(ModelFolder folder, LlavaModel model)
    {
        Folder = folder;
        Model = model;
    }

    public ModelFolder Folder { get; }
    public LlavaModel Model { get; }
    public string Directory => Folder.Directory;
    public LlavaConfig Config => Folder.Config;
    public ITextTokenizer Tokenizer => Folder.Tokenizer;
    public ImageProcessingOptions ImageOptions => Folder.ImageOptions;
    public ConversationTemplate Template => Folder.Template;

    public static LoadedModel Load(string dir, LoadOptions? options = null)
    {
        options ??= new LoadOptions();
        TorchRuntime.Initialize();
        var folder = ModelFolder.Read(dir, options);
        var model = LlavaModel.Load(folder.Config, dir, options.DType, options.Device ?? CPU, folder.VisionTowerDirectory ?? options.VisionTowerPath);
        return new LoadedModel(folder, model);
    }

    public LlavaImagePreprocessor ImagePreprocessor(ImageMode mode) => Folder.ImagePreprocessor(mode);

    public void Dispose() => Model.Dispose();
}

using ModalFlow.Data;
using ModalFlow.Families;
using ModalFlow.Text;
using ModalFlow.Vision;

namespace ModalFlow.Inference;

/// <summary>The decoder a folder describes, known before its weights load.</summary>
/// <param name="PositionScheme">How position ids are built, in words (e.g. "1-D RoPE", "M-RoPE (t, h, w), sections [16, 24, 24]").</param>
public sealed record DecoderInfo(int Layers, int Heads, int KeyValueHeads, int HeadDim, int Hidden, int Intermediate, int Vocab,
    int MaxPositions, IReadOnlyList<int> EosTokenIds, double RopeTheta, string PositionScheme);

/// <summary>How one image of a given size becomes image tokens, decided without pixels or weights.</summary>
/// <param name="ImageTokens">K: the length of the image-token block.</param>
/// <param name="Preprocessing">What the pixels go through, as recorded in run manifests (e.g. "pad", "crop",
/// "anyres/transformers", "smart_resize", "anyres_max_9").</param>
/// <param name="Geometry">The token geometry in words (grid, tiles, unpadded rows, newlines).</param>
public sealed record ImagePlan(int Width, int Height, int ImageTokens, string Preprocessing, string Geometry);

/// <summary>
/// A checkpoint folder's small files, read and validated by its family: config, tokenizer, chat template, image
/// preprocessing and image-token geometry. No weights: enough for layouts, position and patch sets
/// (`modalflow positions`, `inspect`). <see cref="Load"/> gives the <see cref="LoadedModel"/>.
/// </summary>
public abstract class ModelFolder
{
    protected ModelFolder(IModelFamily family, string directory, ITextTokenizer tokenizer, ConversationTemplate template)
    {
        Family = family;
        Directory = directory;
        Tokenizer = tokenizer;
        Template = template;
    }

    public IModelFamily Family { get; }
    public string Directory { get; }
    public ITextTokenizer Tokenizer { get; }
    public ConversationTemplate Template { get; }

    /// <summary>The architecture config.json names (e.g. LlavaForConditionalGeneration).</summary>
    public abstract string Architecture { get; }

    /// <summary>The family and variant in words (e.g. "LLaVA-NeXT (llava-hf)").</summary>
    public abstract string Variant { get; }

    public abstract DecoderInfo Decoder { get; }

    /// <summary>
    /// The preprocessing this folder applies for a requested image mode (null = the folder's own): the one place the
    /// default is decided. Throws an <see cref="InputException"/> for a mode the family does not have.
    /// </summary>
    public abstract string Preprocessing(ImageMode? mode);

    /// <summary>The image-token plan of a <paramref name="width"/> x <paramref name="height"/> image.</summary>
    public abstract ImagePlan PlanImage(int width, int height, ImageMode? mode = null);

    /// <summary>Experiment 3's object patches under this folder's preprocessing (the paper's exact-red rule).</summary>
    public abstract IObjectPatchMapper PatchMapper(ImageMode? mode = null);

    /// <summary>
    /// What the vision tower saw of <paramref name="image"/> under this folder's preprocessing (the crops as 8-bit
    /// pictures) and which pixels each image token covers: for reports and checks, no weights needed.
    /// </summary>
    public abstract ModelView View(RgbImage image, ImageMode? mode = null);

    /// <summary>What identifies the weights a run used (folder files, plus e.g. an original LLaVA's CLIP folder).</summary>
    public abstract string Fingerprint();

    /// <summary>How the weight files name their tensors (e.g. llava-hf, original, transformers).</summary>
    public virtual string WeightFormat => "transformers";

    /// <summary>
    /// Where the vision tower's weights come from when not from this folder's checkpoint (original LLaVA-1.5: the CLIP
    /// folder; "in the checkpoint" or a NOT FOUND message when it was looked for), else null.
    /// </summary>
    public virtual string? SeparateVisionTower => null;

    /// <summary>The image-token count when it does not depend on the image size (LLaVA-1.5), else null.</summary>
    public virtual int? FixedImageTokenCount => null;

    /// <summary>Family-specific lines for `inspect` (key → value), after the common ones.</summary>
    public abstract IReadOnlyList<KeyValuePair<string, string>> Describe();

    /// <summary>Loads the weights (converted once to the compute dtype, on the device; mapped where <see cref="LoadOptions.MapWeights"/> asks).</summary>
    public LoadedModel Load(LoadOptions options)
    {
        LoadedModel model;
        using (Checkpoints.SafetensorsFile.MappingWeights(options.MapWeights))    // every checkpoint the family opens
            model = LoadWeights(options);
        Platform.TorchRuntime.TrimNativeHeap();         // what loading freed goes back now: glibc keeps freed memory (TorchRuntime)
        return model;
    }

    /// <summary>The family's own loading (<see cref="Load"/> sets up what every family shares).</summary>
    protected abstract LoadedModel LoadWeights(LoadOptions options);

    /// <summary>The paper's prompt for <paramref name="question"/> with a <paramref name="width"/> x <paramref name="height"/> image, and its layout.</summary>
    public (string Prompt, SequenceLayout Layout) BuildLayout(string question, int width, int height, ImageMode? mode = null, string? source = null) =>
        BuildLayout(question, PlanImage(width, height, mode).ImageTokens, source);

    /// <summary>The paper's prompt and its layout for an image block of <paramref name="imageTokens"/> tokens.</summary>
    public (string Prompt, SequenceLayout Layout) BuildLayout(string question, int imageTokens, string? source = null)
    {
        if (string.IsNullOrWhiteSpace(question))
            throw new InputException(source, "question", "is empty; expected the question text");
        var prompt = PaperPrompt.Build(Template, question);
        var layout = SequenceLayout.FromPrompt(Tokenizer, prompt, imageTokens, question, source: source, imageTag: Template.ImageTag);
        if (layout.SeqLen > Decoder.MaxPositions)
            throw new InputException(source, "question", $"the prompt needs {layout.SeqLen} positions; the model allows max_position_embeddings = {Decoder.MaxPositions}");
        return (prompt, layout);
    }

    /// <summary>Reads a checkpoint folder with the family its config.json names.</summary>
    public static ModelFolder Read(string directory, LoadOptions? options = null) => ModelFamilies.Open(directory, options ?? new LoadOptions());
}

using ModalFlow.Models;
using ModalFlow.Text;
using ModalFlow.Vision;
using static TorchSharp.torch;

namespace ModalFlow.Inference;

/// <summary>
/// One (image, question) pair made ready for the model: the paper's prompt, its sequence layout, and the merged
/// input embeddings [1, N, D]. The vision tower and projector run once here, never again per knockout.
/// </summary>
public sealed class PreparedInput : IDisposable
{
    private PreparedInput(SequenceLayout layout, string? imageSource, AnyresPlan? anyres, Tensor embeds, string prompt)
    {
        Layout = layout;
        ImageSource = imageSource;
        Anyres = anyres;
        Embeds = embeds;
        Prompt = prompt;
    }

    public SequenceLayout Layout { get; }
    /// <summary>The image file, when known.</summary>
    public string? ImageSource { get; }

    /// <summary>LLaVA-NeXT: the anyres plan of this image (canvas, tiles, unpad); null for LLaVA-1.5.</summary>
    public AnyresPlan? Anyres { get; }
    public string Prompt { get; }

    /// <summary>[1, N, D] in the model dtype.</summary>
    public Tensor Embeds { get; }

    /// <param name="mode">Null: the folder's own (<see cref="LlavaConfig.DefaultImageMode"/>).</param>
    public static PreparedInput Create(LoadedModel m, string imagePath, string question, ImageMode? mode = null)
    {
        if (m.Config.IsNext) return CreateNext(m, ImageDecoder.Decode(imagePath), question, imagePath);
        var image = m.ImagePreprocessor(mode ?? m.Config.DefaultImageMode).Preprocess(imagePath);
        return Create(m, image, question);
    }

    /// <summary>The paper's prompt for <paramref name="question"/> and its sequence layout (no image needed; LLaVA-1.5).</summary>
    public static (string Prompt, SequenceLayout Layout) BuildLayout(ModelFolder f, string question, string? source = null)
    {
        if (f.Config.IsNext)
            throw new NotSupportedException($"{f.Directory}: a LLaVA-NeXT layout depends on the image's grid; use BuildLayout(folder, question, grid)");
        return BuildLayout(f, question, f.ImageTokenCount(), source);
    }

    /// <summary>The layout for an image of width×height pixels (LLaVA-1.5 or NeXT).</summary>
    public static (string Prompt, SequenceLayout Layout) BuildLayout(ModelFolder f, string question, int width, int height, string? source = null) =>
        f.Config.IsNext ? BuildLayout(f, question, NextGrid.FromPlan(f.PlanAnyres(width, height)), source) : BuildLayout(f, question, source);

    /// <summary>The same for a LLaVA-NeXT image whose canvas and size give <paramref name="grid"/> (see <see cref="ModelFolder.NextGridFor"/>).</summary>
    public static (string Prompt, SequenceLayout Layout) BuildLayout(ModelFolder f, string question, NextGrid grid, string? source = null) =>
        BuildLayout(f, question, f.ImageTokenCount(grid), source);

    private static (string Prompt, SequenceLayout Layout) BuildLayout(ModelFolder f, string question, int imageTokens, string? source)
    {
        if (string.IsNullOrWhiteSpace(question))
            throw new InputException(source, "question", "is empty; expected the question text");
        var prompt = PaperPrompt.Build(f.Template, question);
        var layout = SequenceLayout.FromPrompt(f.Tokenizer, prompt, imageTokens, question, source: source);
        if (layout.SeqLen > f.Config.Text.MaxPositionEmbeddings)
            throw new InputException(source, "question", $"the prompt needs {layout.SeqLen} positions; the model allows max_position_embeddings = {f.Config.Text.MaxPositionEmbeddings}");
        return (prompt, layout);
    }

    public static PreparedInput Create(LoadedModel m, PreprocessedImage image, string question)
    {
        var (prompt, layout) = BuildLayout(m.Folder, question, image.Source);
        using var scope = NewDisposeScope();
        var pixels = tensor(image.PixelValues, [1, 3, image.Height, image.Width]);
        var features = m.Model.EncodeImages(pixels)[0];                                    // [K, D]
        var embeds = m.Model.EmbedSequence(layout.PromptIds.Select(i => (long)i).ToArray(), layout.PlaceholderIndex, features);
        return new PreparedInput(layout, image.Source, null, embeds.DetachFromDisposeScope(), prompt);
    }

    /// <summary>
    /// LLaVA-NeXT: anyres plan (the folder's arithmetic) → base + tiles → CLIP + projector → unpad + newlines; the
    /// image-token count, and so the layout, follow the plan.
    /// </summary>
    public static PreparedInput CreateNext(LoadedModel m, RgbImage image, string question, string? source = null)
    {
        var plan = m.Folder.PlanAnyres(image.Width, image.Height);
        var grid = NextGrid.FromPlan(plan);
        var (prompt, layout) = BuildLayout(m.Folder, question, grid, source);
        var pixelValues = ModalFlow.Vision.Anyres.PixelTiles(image, plan, m.ImageOptions);
        using var scope = NewDisposeScope();
        var pixels = tensor(pixelValues, [plan.CropCount, 3, plan.TileSize, plan.TileSize]);
        var features = m.Model.EncodeNextImage(pixels, grid);                                 // [K, D]
        var embeds = m.Model.EmbedSequence(layout.PromptIds.Select(i => (long)i).ToArray(), layout.PlaceholderIndex, features);
        return new PreparedInput(layout, source, plan, embeds.DetachFromDisposeScope(), prompt);
    }

    public void Dispose() => Embeds.Dispose();
}

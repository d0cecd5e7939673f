using ModalFlow.Checkpoints;
using ModalFlow.Inference;
using ModalFlow.Models;
using ModalFlow.Vision;
using static TorchSharp.torch;

namespace ModalFlow.Families.Llava;

/// <summary>A LLaVA / LLaVA-NeXT folder with its weights: CLIP + projector once per image, then the Llama decoder.</summary>
public sealed class LlavaLoadedModel : LoadedModel
{
    private LlavaLoadedModel(LlavaModelFolder folder, LlavaModel model) : base(folder)
    {
        LlavaFolder = folder;
        Model = model;
    }

    public LlavaModelFolder LlavaFolder { get; }
    public LlavaModel Model { get; }
    public LlavaConfig Config => LlavaFolder.Config;
    public ImageProcessingOptions ImageOptions => LlavaFolder.ImageOptions;
    public override ITextDecoder Decoder => Model.LanguageModel;

    /// <summary>Reads <paramref name="dir"/> as a LLaVA folder and loads its weights.</summary>
    public static new LlavaLoadedModel Load(string dir, LoadOptions? options = null)
    {
        options ??= new LoadOptions();
        Platform.TorchRuntime.Initialize();
        return (LlavaLoadedModel)LlavaModelFolder.Read(dir, options).Load(options);
    }

    internal static LlavaLoadedModel Load(LlavaModelFolder folder, LoadOptions options)
    {
        var model = LlavaModel.Load(folder.Config, folder.Directory, options.DType, options.DeviceOrCpu, folder.VisionTowerDirectory ?? options.VisionTowerPath);
        return new LlavaLoadedModel(folder, model);
    }

    public LlavaImagePreprocessor ImagePreprocessor(ImageMode mode) => LlavaFolder.ImagePreprocessor(mode);

    public override PreparedInput Prepare(RgbImage image, string question, ImageMode? mode = null, string? source = null)
    {
        if (Config.IsNext) return PrepareNext(image, question, source);
        var resolved = LlavaFolder.ResolveImageMode(mode);
        return Prepare(ImagePreprocessor(resolved).Preprocess(image, source), question, resolved);
    }

    /// <summary>LLaVA-1.5 from already preprocessed pixels (one crop).</summary>
    public PreparedInput Prepare(PreprocessedImage image, string question, ImageMode? mode = null)
    {
        var plan = LlavaFolder.PlanImage(image.Width, image.Height, mode);
        var (prompt, layout) = LlavaFolder.BuildLayout(question, plan.ImageTokens, image.Source);
        using var scope = NewDisposeScope();
        var pixels = tensor(image.PixelValues, [1, 3, image.Height, image.Width]);
        var features = Model.EncodeImages(pixels)[0];                                       // [K, D]
        var embeds = Model.EmbedSequence(layout.PromptIds.Select(i => (long)i).ToArray(), layout.PlaceholderIndex, features);
        return new PreparedInput(layout, embeds.DetachFromDisposeScope(), PositionIds.Sequential(layout.SeqLen), plan, prompt, image.Source);
    }

    /// <summary>
    /// LLaVA-NeXT: anyres plan (the folder's arithmetic) → base + tiles → CLIP + projector → unpad + newlines; the
    /// image-token count, and so the layout, follow the plan.
    /// </summary>
    public PreparedInput PrepareNext(RgbImage image, string question, string? source = null)
    {
        var anyres = LlavaFolder.PlanAnyres(image.Width, image.Height);
        var plan = LlavaFolder.PlanImage(image.Width, image.Height);
        var (prompt, layout) = LlavaFolder.BuildLayout(question, plan.ImageTokens, source);
        var pixelValues = Anyres.PixelTiles(image, anyres, ImageOptions);
        using var scope = NewDisposeScope();
        var pixels = tensor(pixelValues, [anyres.CropCount, 3, anyres.TileSize, anyres.TileSize]);
        var features = Model.EncodeNextImage(pixels, NextGrid.FromPlan(anyres));           // [K, D]
        var embeds = Model.EmbedSequence(layout.PromptIds.Select(i => (long)i).ToArray(), layout.PlaceholderIndex, features);
        return new PreparedInput(layout, embeds.DetachFromDisposeScope(), PositionIds.Sequential(layout.SeqLen), plan, prompt, source);
    }

    public override void Dispose() => Model.Dispose();
}

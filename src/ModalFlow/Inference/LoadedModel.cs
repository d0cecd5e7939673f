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
}

/// <summary>
/// Everything a checkpoint folder provides, loaded and validated: config, weights, tokenizer, image processing
/// options and the paper's conversation template. The one entry point the CLI and experiments use.
/// </summary>
public sealed class LoadedModel : IDisposable
{
    private LoadedModel(string dir, LlavaConfig config, LlavaModel model, ITextTokenizer tokenizer,
        ImageProcessingOptions imageOptions, bool imageOptionsFromFile, ConversationTemplate template)
    {
        Directory = dir;
        Config = config;
        Model = model;
        Tokenizer = tokenizer;
        ImageOptions = imageOptions;
        ImageOptionsFromFile = imageOptionsFromFile;
        Template = template;
    }

    public string Directory { get; }
    public LlavaConfig Config { get; }
    public LlavaModel Model { get; }
    public ITextTokenizer Tokenizer { get; }
    public ImageProcessingOptions ImageOptions { get; }
    public bool ImageOptionsFromFile { get; }
    public ConversationTemplate Template { get; }

    public static LoadedModel Load(string dir, LoadOptions? options = null)
    {
        options ??= new LoadOptions();
        if (!System.IO.Directory.Exists(dir))
            throw new InputException(dir, null, "model folder not found; expected a folder with config.json, *.safetensors and tokenizer files");
        TorchRuntime.Initialize();
        var config = LlavaConfig.Load(dir);
        var imageOptions = PreprocessorConfig.Load(dir, config.Vision, out bool fromFile);
        var tokenizer = TokenizerLoader.Load(dir, options.TokenizerFile);
        if (tokenizer.VocabularySize > config.Text.VocabSize)
            throw new InputException(Path.Combine(dir, "config.json"), "text_config.vocab_size",
                $"{config.Text.VocabSize} is smaller than the tokenizer's {tokenizer.VocabularySize} tokens ({tokenizer.SourcePath})");
        var template = options.Template is { } name
            ? ConversationTemplate.Get(name)
            : tokenizer.Kind == TokenizerKind.Tiktoken ? ConversationTemplate.LlavaLlama3 : ConversationTemplate.VicunaV1;
        var model = LlavaModel.Load(config, dir, options.DType, options.Device ?? CPU);
        return new LoadedModel(dir, config, model, tokenizer, imageOptions, fromFile, template);
    }

    public LlavaImagePreprocessor ImagePreprocessor(ImageMode mode) => new(ImageOptions, mode);

    public void Dispose() => Model.Dispose();
}

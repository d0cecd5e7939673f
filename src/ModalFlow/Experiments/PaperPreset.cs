using ModalFlow.Checkpoints;
using ModalFlow.Families.Llava;
using ModalFlow.Inference;
using ModalFlow.Vision;

namespace ModalFlow.Experiments;

/// <summary>What <c>--preset paper</c> chose for a recognised model, and why.</summary>
/// <param name="Model">Which of the paper's four models the config's geometry is.</param>
/// <param name="Window">Knockout window k (vil/merge_lineplot.py: 9 for the 13B model, 7 for the others).</param>
/// <param name="MaxNewTokens">The greedy answer's limit for the correctness filter (InformationFlow.py --max_new_tokens 128).</param>
/// <param name="DType">float16: LLaVA's load_pretrained_model loads the paper's models in fp16.</param>
/// <param name="ImageMode">LLaVA-1.5: pad (the original configs' image_aspect_ratio); null for NeXT.</param>
/// <param name="Anyres">NeXT: LLaVA-NeXT's own anyres arithmetic (the paper's code base); null for LLaVA-1.5.</param>
/// <param name="Ci">Confidence bands as seaborn's lineplot draws them (bootstrap of the mean, 1,000 resamples, 95 %).</param>
public sealed record PaperSettings(string Model, int Window, int MaxNewTokens, string DType, ImageMode? ImageMode, AnyresArithmetic? Anyres, string Ci)
{
    public override string ToString() =>
        $"{Model}: window {Window}, max new tokens {MaxNewTokens}, dtype {DType}, " +
        (ImageMode is { } m ? $"image mode {m.ToString().ToLowerInvariant()}" : $"anyres {Anyres switch { AnyresArithmetic.LlavaNext => "llava-next", _ => Anyres?.ToString() }}") +
        $", {Ci} confidence bands";
}

/// <summary>
/// The paper's settings for its four models (FightingFighting/cross-modal-information-flow-in-MLLM @ c9a1111:
/// InformationFlow.py, vil/merge_lineplot.py), recognised by config geometry — a renamed folder or a llava-hf conversion
/// of the same model gets the same settings; anything else is refused rather than guessed.
/// </summary>
public static class PaperPreset
{
    public const string Name = "paper";

    /// <summary>The settings for <paramref name="folder"/>'s model.</summary>
    /// <exception cref="InputException">Not one of LLaVA-1.5-7b/13b, LLaVA-v1.6-Vicuna-7b, Llama3-LLaVA-NeXT-8b.</exception>
    public static PaperSettings For(ModelFolder folder)
    {
        var llava = folder as LlavaModelFolder;
        if ((llava is null ? null : Recognise(llava.Config)) is not { } m)
            throw new InputException(Path.Combine(folder.Directory, "config.json"), "geometry",
                $"--preset paper: this {folder.Variant} ({folder.Decoder.Layers} layers, hidden {folder.Decoder.Hidden}, vocab {folder.Decoder.Vocab}) " +
                "is not one of the paper's four models (LLaVA-1.5-7b, LLaVA-1.5-13b, LLaVA-v1.6-Vicuna-7b, Llama3-LLaVA-NeXT-8b); set --window, --dtype and --max-new-tokens yourself");
        bool next = llava!.Config.IsNext;
        return new PaperSettings(m.Name, m.Window, 128, "f16",
            next ? null : ImageMode.Pad, next ? AnyresArithmetic.LlavaNext : null, "bootstrap");
    }

    /// <summary>The paper model a LLaVA config's geometry is, or null (CLIP ViT-L/14-336 tower in all four).</summary>
    public static (string Name, int Window)? Recognise(LlavaConfig c)
    {
        var v = c.Vision;
        var t = c.Text;
        if (v is not { ImageSize: 336, PatchSize: 14, HiddenSize: 1024, NumHiddenLayers: 24 }) return null;
        bool vicunaVocab = t.VocabSize is 32000 or 32064, llama3Vocab = t.VocabSize is >= 128256 and <= 128320;
        return (c.IsNext, t.NumHiddenLayers, t.HiddenSize, t.NumKeyValueHeads) switch
        {
            (false, 32, 4096, 32) when vicunaVocab => ("LLaVA-1.5-7b", 7),
            (false, 40, 5120, 40) when vicunaVocab => ("LLaVA-1.5-13b", 9),
            (true, 32, 4096, 32) when vicunaVocab => ("LLaVA-v1.6-Vicuna-7b", 7),
            (true, 32, 4096, 8) when llama3Vocab => ("Llama3-LLaVA-NeXT-8b", 7),
            _ => null,
        };
    }

    /// <summary><paramref name="o"/> with the paper's settings for its model.</summary>
    public static RunOptions Apply(RunOptions o, PaperSettings s) => o with
    {
        Window = s.Window,
        MaxNewTokens = s.MaxNewTokens,
        DType = s.DType,
        ImageMode = s.ImageMode,
        Anyres = s.Anyres,
        Preset = Name,
    };
}

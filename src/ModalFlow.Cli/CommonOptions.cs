using System.CommandLine;
using ModalFlow.Inference;
using ModalFlow.Tracing;
using ModalFlow.Vision;
using TorchSharp;

namespace ModalFlow.Cli;

/// <summary>Options several commands share, typed and validated once.</summary>
public static class CommonOptions
{
    public static readonly Option<bool> Verbose = new("--verbose") { Description = "Print stack traces with errors", Recursive = true };

    public static Option<string> Model() => new("--model") { Description = "Checkpoint folder (llava-hf or original LLaVA: config.json, *.safetensors or pytorch_model*.bin, tokenizer.model)", Required = true };
    public static Option<string> Image() => new("--image") { Description = "Image file (JPEG or PNG)", Required = true };
    public static Option<string> Question() => new("--question") { Description = "The question, as in the paper's CSVs", Required = true };
    public static Option<bool> Json() => new("--json") { Description = "Print exactly one JSON object on stdout" };

    public static Option<string> ImageMode() => new Option<string>("--image-mode")
    {
        Description = "auto: the folder's own (original LLaVA: its image_aspect_ratio; llava-hf: pad); pad: LLaVA-1.5 as the paper (expand to square); crop: shortest-edge resize + centre crop (llava-hf processor, LLaVA 'square')",
        DefaultValueFactory = _ => "auto",
    }.AcceptOnlyFromAmong("auto", "pad", "crop");

    public static Option<string> DType() => new Option<string>("--dtype")
    {
        Description = "Compute dtype: f32 (parity) or bf16 (half the memory, ~2x faster matmuls on this CPU)",
        DefaultValueFactory = _ => "f32",
    }.AcceptOnlyFromAmong("f32", "bf16");

    public static Option<string> Engine() => new Option<string>("--engine")
    {
        Description = "fast: exact suffix recomputation (default); naive: full forward per knockout (the reference)",
        DefaultValueFactory = _ => "fast",
    }.AcceptOnlyFromAmong("fast", "naive");

    /// <summary>Null for "auto" (the folder decides).</summary>
    public static ModalFlow.Vision.ImageMode? ParseImageMode(string s) => s switch
    {
        "crop" => ModalFlow.Vision.ImageMode.Crop,
        "pad" => ModalFlow.Vision.ImageMode.Pad,
        _ => null,
    };

    /// <summary>--tokenizer and --anyres, shared by every command that reads a model folder.</summary>
    public static readonly Option<string?> Tokenizer = new("--tokenizer") { Description = "Explicit tokenizer file (e.g. Meta's Llama-3 tokenizer.model for a folder without one)", Recursive = true };

    public static readonly Option<string?> AnyresMode = new Option<string?>("--anyres")
    {
        Description = "LLaVA-NeXT anyres arithmetic: transformers (llava-hf default) or llava-next (the original code the paper ran)",
        Recursive = true,
    }.AcceptOnlyFromAmong("transformers", "llava-next");

    public static readonly Option<string?> VisionTower = new("--vision-tower")
    {
        Description = "Original LLaVA checkpoints: the CLIP folder mm_vision_tower names (default: a sibling folder named like its last component, e.g. ../clip-vit-large-patch14-336)",
        Recursive = true,
    };

    public static LoadOptions Load(string dtype, ParseResult? parse = null) => new()
    {
        VisionTowerPath = parse?.GetValue(VisionTower),
        DType = dtype == "bf16" ? torch.ScalarType.BFloat16 : torch.ScalarType.Float32,
        TokenizerFile = parse?.GetValue(Tokenizer),
        Anyres = parse?.GetValue(AnyresMode) switch
        {
            "llava-next" => ModalFlow.Vision.AnyresArithmetic.LlavaNext,
            "transformers" => ModalFlow.Vision.AnyresArithmetic.Transformers,
            _ => null,
        },
    };

    public static KnockoutEngineKind ParseEngine(string s) => s == "naive" ? KnockoutEngineKind.Naive : KnockoutEngineKind.Fast;
}

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

    public static Option<string> Model() => new("--model") { Description = "Checkpoint folder (llava-hf: config.json, *.safetensors, tokenizer.model)", Required = true };
    public static Option<string> Image() => new("--image") { Description = "Image file (JPEG or PNG)", Required = true };
    public static Option<string> Question() => new("--question") { Description = "The question, as in the paper's CSVs", Required = true };
    public static Option<bool> Json() => new("--json") { Description = "Print exactly one JSON object on stdout" };

    public static Option<string> ImageMode() => new Option<string>("--image-mode")
    {
        Description = "pad: LLaVA-1.5 as the paper (expand to square); crop: llava-hf processor (no padding)",
        DefaultValueFactory = _ => "pad",
    }.AcceptOnlyFromAmong("pad", "crop");

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

    public static ModalFlow.Vision.ImageMode ParseImageMode(string s) => s == "crop" ? ModalFlow.Vision.ImageMode.Crop : ModalFlow.Vision.ImageMode.Pad;

    public static LoadOptions Load(string dtype) => new() { DType = dtype == "bf16" ? torch.ScalarType.BFloat16 : torch.ScalarType.Float32 };

    public static KnockoutEngineKind ParseEngine(string s) => s == "naive" ? KnockoutEngineKind.Naive : KnockoutEngineKind.Fast;
}

using ModalFlow.Checkpoints;
using ModalFlow.Vision;
using static TorchSharp.torch;

namespace ModalFlow.Inference;

/// <summary>How to load a checkpoint folder. Family-specific settings are ignored by the other families.</summary>
public sealed record LoadOptions
{
    /// <summary>Compute dtype (weights are converted once on load). float32 for parity; bfloat16 / float16 for 7B models.</summary>
    public ScalarType DType { get; init; } = ScalarType.Float32;

    /// <summary>Where weights and every tensor live (null = CPU).</summary>
    public Device? Device { get; init; }

    /// <summary>Conversation template name; null = the family's own (vicuna_v1 / llava_llama_3 by tokenizer for LLaVA).</summary>
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
    /// (see <see cref="VisionTowerLocator"/>). Ignored for other folders.
    /// </summary>
    public string? VisionTowerPath { get; init; }

    /// <summary>Qwen2-VL: the image area bounds of smart_resize (null = preprocessor_config.json's).</summary>
    public int? MinPixels { get; init; }

    /// <inheritdoc cref="MinPixels"/>
    public int? MaxPixels { get; init; }

    /// <summary>
    /// Safetensors weights stored in the compute dtype become views of a copy-on-write memory mapping of their file instead
    /// of copies (<see cref="SafetensorsFile"/>): no copy on load, pages read from the page cache on first use. Off by
    /// default: a weight file rewritten in place while the model is in use would then fault the process instead of
    /// failing with a message.
    /// </summary>
    public bool MapWeights { get; init; }

    public Device DeviceOrCpu => Device ?? CPU;
}

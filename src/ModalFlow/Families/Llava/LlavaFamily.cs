using ModalFlow.Checkpoints;
using ModalFlow.Inference;

namespace ModalFlow.Families.Llava;

/// <summary>
/// LLaVA-1.5 and LLaVA-NeXT (Vicuna or Llama-3 decoders), llava-hf and original LLaVA folders: the paper's four models.
/// CLIP tower → GELU projector → Llama decoder; single-crop pad/crop preprocessing or NeXT anyres tiles + newlines.
/// </summary>
public sealed class LlavaFamily : IModelFamily
{
    public static LlavaFamily Instance { get; } = new();

    private LlavaFamily() { }

    public string Name => "llava";

    public IReadOnlyList<string> Architectures { get; } =
        [LlavaConfig.LlavaArchitecture, LlavaConfig.LlavaNextArchitecture, LlavaConfig.OriginalArchitecture];

    /// <summary>Every Llava* architecture and llava* model type not claimed before, and original configs (mm_vision_tower):
    /// LlavaConfig then accepts or refuses them precisely (e.g. an original LlavaMistralForCausalLM).</summary>
    public bool Claims(ConfigIdentity config) =>
        config.Architectures.Any(a => a.StartsWith("Llava", StringComparison.Ordinal))
        || (config.Architectures.Count == 0 && config.ModelType is { } t && t.StartsWith("llava", StringComparison.Ordinal))
        || config.Keys.Contains("mm_vision_tower");

    public ModelFolder Open(string directory, LoadOptions options) => LlavaModelFolder.Read(directory, options);
}

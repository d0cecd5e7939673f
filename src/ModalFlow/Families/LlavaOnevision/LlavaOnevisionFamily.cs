using ModalFlow.Inference;

namespace ModalFlow.Families.LlavaOnevision;

/// <summary>
/// LLaVA-OneVision (<c>LlavaOnevisionForConditionalGeneration</c>): SigLIP tower (no CLS, last layer, "full"), the
/// anyres_max_9 tiling with unpad, bilinear shrink and a newline per row, a GELU projector, a Qwen2 decoder (1-D RoPE),
/// the Qwen2 tokenizer and llava-hf's OneVision chat template (no system turn).
/// </summary>
public sealed class LlavaOnevisionFamily : IModelFamily
{
    public static LlavaOnevisionFamily Instance { get; } = new();

    private LlavaOnevisionFamily() { }

    public string Name => "llava-onevision";

    public IReadOnlyList<string> Architectures { get; } = [LlavaOnevisionConfig.Architecture];

    public bool Claims(ConfigIdentity config) =>
        config.Architectures.Contains(LlavaOnevisionConfig.Architecture)
        || (config.Architectures.Count == 0 && config.ModelType == LlavaOnevisionConfig.OnevisionModelType);

    public ModelFolder Open(string directory, LoadOptions options) => LlavaOnevisionModelFolder.Read(directory, options);
}

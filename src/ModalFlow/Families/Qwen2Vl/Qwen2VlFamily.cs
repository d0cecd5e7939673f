using ModalFlow.Inference;

namespace ModalFlow.Families.Qwen2Vl;

/// <summary>
/// Qwen2-VL (<c>Qwen2VLForConditionalGeneration</c>): smart_resize + 14-px patches, a ViT with 2-D rotary embeddings and a
/// 2×2 PatchMerger, the image block between &lt;|vision_start|&gt; and &lt;|vision_end|&gt;, a Qwen2 decoder with M-RoPE
/// (3-D position ids from the image grid), the Qwen2 byte-level BPE tokenizer and the Qwen2-VL-Instruct chat template.
/// </summary>
public sealed class Qwen2VlFamily : IModelFamily
{
    public static Qwen2VlFamily Instance { get; } = new();

    private Qwen2VlFamily() { }

    public string Name => "qwen2-vl";

    public IReadOnlyList<string> Architectures { get; } = [Qwen2VlConfig.Architecture];

    public bool Claims(ConfigIdentity config) =>
        config.Architectures.Contains(Qwen2VlConfig.Architecture)
        || (config.Architectures.Count == 0 && config.ModelType == Qwen2VlConfig.ModelTypeName);

    public ModelFolder Open(string directory, LoadOptions options) => Qwen2VlModelFolder.Read(directory, options);
}

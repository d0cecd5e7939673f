using ModalFlow.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace ModalFlow.Families.Qwen2Vl;

/// <summary>
/// transformers' <c>PatchMerger</c> (keys <c>merger.</c>): LayerNorm each patch (<c>ln_q</c>, eps 1e-6), concatenate the
/// merge² consecutive patches of one merge window (the processor put them next to each other), then
/// <c>mlp.0</c> (Linear) · GELU (erf) · <c>mlp.2</c> (Linear to the decoder's hidden size).
/// </summary>
public sealed class Qwen2VlPatchMerger : ExplicitModule
{
    private readonly LayerNormLayer ln_q;
    private readonly Dense mlp0, mlp2;
    private readonly long _mergedDim;

    public Qwen2VlPatchMerger(Qwen2VlVisionConfig cfg, WeightSource src, string prefix) : base(prefix)
    {
        _mergedDim = cfg.MergedDim;
        ln_q = new LayerNormLayer(src, prefix + "ln_q.", cfg.EmbedDim, Qwen2VlVisionBlock.LayerNormEps);
        var mlp = new Group(prefix + "mlp.");
        mlp0 = mlp.Add("0", new Dense(src, prefix + "mlp.0.", _mergedDim, _mergedDim, hasBias: true));
        mlp2 = mlp.Add("2", new Dense(src, prefix + "mlp.2.", _mergedDim, cfg.HiddenSize, hasBias: true));
        register_module("ln_q", ln_q);
        register_module("mlp", mlp);
    }

    /// <summary>[N, embed] → [N / merge², hidden].</summary>
    public Tensor Forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var merged = ln_q.Forward(x).reshape(-1, _mergedDim);                      // [N / merge², embed · merge²]
        var h = nn.functional.gelu(mlp0.Forward(merged));
        return mlp2.Forward(h).MoveToOuterDisposeScope();
    }
}

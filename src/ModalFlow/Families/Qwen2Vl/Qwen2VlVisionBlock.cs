using ModalFlow.Models;
using ModalFlow.Platform;
using TorchSharp;
using static TorchSharp.torch;

namespace ModalFlow.Families.Qwen2Vl;

/// <summary>
/// One Qwen2-VL vision block (transformers v4.45.1 <c>Qwen2VLVisionBlock</c>, eager attention):
/// x + proj(attn(norm1(x))), then x + fc2(act(fc1(norm2(x)))). Attention is bidirectional within each segment
/// (one image frame), q and k rotated by the 2-D vision rotary embedding; keys <c>blocks.{i}.</c>
/// </summary>
public sealed class Qwen2VlVisionBlock : ExplicitModule
{
    /// <summary>Qwen2-VL's vision LayerNorms (norm1, norm2, merger.ln_q) use eps 1e-6, not the config's.</summary>
    public const double LayerNormEps = 1e-6;

    private readonly LayerNormLayer norm1, norm2;
    private readonly Dense qkv, proj, fc1, fc2;
    private readonly int _heads, _headDim;
    private readonly bool _quickGelu;

    public Qwen2VlVisionBlock(Qwen2VlVisionConfig cfg, WeightSource src, string prefix) : base(prefix)
    {
        long d = cfg.EmbedDim;
        _heads = cfg.NumHeads;
        _headDim = cfg.HeadDim;
        _quickGelu = cfg.HiddenAct == "quick_gelu";
        norm1 = new LayerNormLayer(src, prefix + "norm1.", d, LayerNormEps);
        norm2 = new LayerNormLayer(src, prefix + "norm2.", d, LayerNormEps);
        var attn = new Group(prefix + "attn.");
        qkv = attn.Add("qkv", new Dense(src, prefix + "attn.qkv.", d, 3 * d, hasBias: true));
        proj = attn.Add("proj", new Dense(src, prefix + "attn.proj.", d, d, hasBias: true));
        var mlp = new Group(prefix + "mlp.");
        fc1 = mlp.Add("fc1", new Dense(src, prefix + "mlp.fc1.", d, cfg.MlpHiddenDim, hasBias: true));
        fc2 = mlp.Add("fc2", new Dense(src, prefix + "mlp.fc2.", cfg.MlpHiddenDim, d, hasBias: true));
        register_module("norm1", norm1);
        register_module("norm2", norm2);
        register_module("attn", attn);
        register_module("mlp", mlp);
    }

    /// <param name="x">[N, embed]: every patch of every image, in processor order.</param>
    /// <param name="cos">[N, 1, head_dim] float32 (see <see cref="Qwen2VlVisionTower"/>).</param>
    /// <param name="sin">[N, 1, head_dim] float32.</param>
    /// <param name="segments">(start, length) row ranges that attend to each other: one per image frame.</param>
    public Tensor Forward(Tensor x, Tensor cos, Tensor sin, IReadOnlyList<(long Start, long Length)> segments)
    {
        using var scope = NewDisposeScope();
        long n = x.shape[0];
        var parts = qkv.Forward(norm1.Forward(x)).reshape(n, 3, _heads, _headDim).permute(1, 0, 2, 3).unbind(0); // 3 x [N, heads, hd]
        var q = Rotate(parts[0], cos, sin).transpose(0, 1);                      // [heads, N, hd]
        var k = Rotate(parts[1], cos, sin).transpose(0, 1);
        var v = parts[2].transpose(0, 1);
        var outputs = new List<Tensor>(segments.Count);
        var scale = Scalars.Of(Math.Sqrt(_headDim));
        foreach (var (start, length) in segments)
        {
            // The reference masks other frames with finfo.min (exp → exactly 0), so each frame alone is the same.
            var qs = q.narrow(1, start, length);
            var ks = k.narrow(1, start, length);
            var vs = v.narrow(1, start, length);
            var probs = matmul(qs, ks.transpose(1, 2)).div(scale).softmax(-1, ScalarType.Float32).to(q.dtype); // [heads, s, s]
            outputs.Add(matmul(probs, vs));                                    // [heads, s, hd]
        }
        var attn = (outputs.Count == 1 ? outputs[0] : cat(outputs, 1)).transpose(0, 1).reshape(n, -1); // [N, embed]
        x = x.add(proj.Forward(attn), Scalars.One);
        var m = fc1.Forward(norm2.Forward(x));
        m = _quickGelu ? m.mul(sigmoid(m.mul(Scalars.Of(1.702)))) : nn.functional.gelu(m);
        x = x.add(fc2.Forward(m), Scalars.One);
        return x.MoveToOuterDisposeScope();
    }

    /// <summary><c>apply_rotary_pos_emb_vision</c>: in float32, t·cos + rotate_half(t)·sin, cast back.</summary>
    private static Tensor Rotate(Tensor t, Tensor cos, Tensor sin)
    {
        var t32 = t.to(ScalarType.Float32);
        long half = t32.shape[^1] / 2;
        var rotated = cat([t32.narrow(-1, half, half).neg(), t32.narrow(-1, 0, half)], -1);
        return t32.mul(cos).add(rotated.mul(sin), Scalars.One).to(t.dtype);
    }
}

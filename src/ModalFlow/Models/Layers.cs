using ModalFlow.Platform;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ModalFlow.Models;

/// <summary>
/// A module whose children and parameters are registered explicitly, under checkpoint key names only.
/// TorchSharp's default <c>RegisterComponents</c> would also register every private field under its C# name,
/// which would put a second, wrong name on the same tensors.
/// </summary>
public abstract class ExplicitModule(string name) : nn.Module(name)
{
    protected override void RegisterComponents() { }
}

/// <summary>
/// Leaf modules whose parameters are taken from a <see cref="WeightSource"/> under the checkpoint's own key
/// names. Registered by name, so <c>named_parameters()</c> of the model reproduces the checkpoint key tree.
/// </summary>
public abstract class WeightModule(string name) : ExplicitModule(name)
{
    protected Parameter Param(WeightSource source, string prefix, string name, params long[] shape)
    {
        var p = new Parameter(source.Take(prefix + name, shape), requires_grad: source.Trainable);
        register_parameter(name, p);
        return p;
    }
}

/// <summary><c>nn.Linear</c>: weight [out, in], optional bias [out].</summary>
public sealed class Dense : WeightModule
{
    public readonly Parameter weight;
    public readonly Parameter? bias;

    public Dense(WeightSource source, string prefix, long inFeatures, long outFeatures, bool hasBias) : base(prefix)
    {
        weight = Param(source, prefix, "weight", outFeatures, inFeatures);
        if (hasBias) bias = Param(source, prefix, "bias", outFeatures);
    }

    /// <param name="rowExact">Decoding: each row's bits independent of the other rows (<see cref="Linear.Apply"/>).</param>
    public Tensor Forward(Tensor x, bool rowExact = false) => Linear.Apply(x, weight, bias, rowExact);
}

/// <summary><c>nn.functional.linear</c>, with a faster route for the few-row batches the knockout engine runs on CPU.</summary>
public static class Linear
{
    /// <summary>
    /// Row counts served as (W·xᵀ)ᵀ on CPU. For 2–48 rows the x·Wᵀ GEMM of libtorch-cpu's MKL runs 2–3× slower than the
    /// weight stream (measured with bench/ModalFlow.Bench "bw", hidden 512: 16 rows 35 → 13 ms per 16 layers, 64 rows
    /// equal); the same product with the weight as the left operand streams it once. One row stays on the GEMV path,
    /// which is already at the memory bound, and larger batches are compute-bound either way.
    /// </summary>
    public const int MaxSkinnyRows = 48;

    /// <param name="rowExact">
    /// Decoding's products: each row computed in one fixed order whatever the row count (<see cref="FewRowProduct"/> for
    /// 1–8 float32 rows on CPU), so that sequences decoded together get the bits they get alone; elsewhere as without it.
    /// </param>
    public static Tensor Apply(Tensor x, Tensor weight, Tensor? bias = null, bool rowExact = false)
    {
        long inFeatures = x.shape[^1], rows = inFeatures == 0 ? 0 : x.numel() / inFeatures;
        bool exact = rowExact && FewRowProduct.Serves(x, weight, rows);
        if (!exact && (rows < 2 || rows > MaxSkinnyRows || x.device_type != DeviceType.CPU))
            return nn.functional.linear(x, weight, bias);
        using var scope = NewDisposeScope();
        var y = exact ? FewRowProduct.Apply(x.reshape(rows, inFeatures), weight)
            : matmul(weight, x.reshape(rows, inFeatures).t()).t();                                           // [rows, out], transposed layout
        if (bias is not null) y = y.add(bias, Scalars.One);
        return y.contiguous().reshape([.. x.shape[..^1], weight.shape[0]]).MoveToOuterDisposeScope();
    }
}

/// <summary><c>nn.LayerNorm</c> with affine weight and bias.</summary>
public sealed class LayerNormLayer : WeightModule
{
    public readonly Parameter weight;
    public readonly Parameter bias;
    private readonly long _dim;
    private readonly double _eps;

    public LayerNormLayer(WeightSource source, string prefix, long dim, double eps) : base(prefix)
    {
        weight = Param(source, prefix, "weight", dim);
        bias = Param(source, prefix, "bias", dim);
        _dim = dim;
        _eps = eps;
    }

    public Tensor Forward(Tensor x) => nn.functional.layer_norm(x, [_dim], weight, bias, _eps);
}

/// <summary>Llama RMSNorm, computed in float32 and cast back before the gain, exactly as transformers.</summary>
public sealed class RmsNormLayer : WeightModule
{
    public readonly Parameter weight;
    private readonly double _eps;

    public RmsNormLayer(WeightSource source, string prefix, long dim, double eps) : base(prefix)
    {
        weight = Param(source, prefix, "weight", dim);
        _eps = eps;
    }

    public Tensor Forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var x32 = x.to(ScalarType.Float32);
        var variance = x32.pow(Scalars.Of(2)).mean([-1], keepdim: true);   // not square(): its 2 is a temporary Scalar (Scalars)
        var normed = (x32 * rsqrt(variance.add(Scalars.Of(_eps), Scalars.One))).to(x.dtype);
        return (weight * normed).MoveToOuterDisposeScope();
    }
}

/// <summary>An embedding table [rows, dim] (token embeddings, CLIP position table).</summary>
public sealed class EmbeddingTable : WeightModule
{
    public readonly Parameter weight;

    public EmbeddingTable(WeightSource source, string prefix, long rows, long dim) : base(prefix)
    {
        weight = Param(source, prefix, "weight", rows, dim);
    }

    public long Rows => weight.shape[0];

    /// <summary>Rows for <paramref name="ids"/> of any shape: result shape = ids.shape + [dim].</summary>
    public Tensor Forward(Tensor ids)
    {
        using var flat = ids.reshape(-1);
        using var rows = weight.index_select(0, flat);
        return rows.reshape([.. ids.shape, weight.shape[1]]);
    }
}

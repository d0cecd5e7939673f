using ModalFlow.Checkpoints;
using ModalFlow.Platform;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ModalFlow.Models;

/// <summary>
/// Named intervention and observation points of a decoder forward (TransformerLens-style names in comments).
/// Interventions are data passed in per call; nothing is patched into the model.
/// </summary>
public sealed class DecoderHooks
{
    /// <summary>
    /// <c>blocks.{l}.attn.hook_mask</c>: given the layer and its default additive causal mask [1, 1, q, k],
    /// return the additive mask to add to the scaled scores instead ([B or 1, 1 or heads, q, k]), or null to keep it.
    /// </summary>
    public Func<int, Tensor, Tensor?>? AttentionMask { get; init; }

    /// <summary><c>blocks.{l}.attn.hook_pattern</c>: attention probabilities [B, heads, q, k] (valid during the call only).</summary>
    public Action<int, Tensor>? AttentionPattern { get; init; }

    /// <summary><c>blocks.{l}.hook_resid_post</c>: residual stream after layer l, [B, q, D] (valid during the call only).</summary>
    public Action<int, Tensor>? ResidualPost { get; init; }
}

/// <summary>
/// Keys and values of every layer for positions [0, Length) of one sequence (batch 1), post-rotary. A
/// <see cref="Fork"/> reads its parent's tensors without owning them and appends into its own, so greedy decoding can
/// continue from a clean run's cache while the clean prefix stays intact for the knockouts.
/// </summary>
public sealed class KvCache : IDisposable
{
    // An appended layer keeps its keys/values in a buffer with room to spare (Keys/Values are views of its filled part), so
    // that decoding writes each new position in place instead of copying the whole cache at every step.
    private const long MinSpare = 64;
    private readonly Tensor?[] _bufferK, _bufferV;
    private readonly bool[] _owned;                                          // Keys/Values[l] are this cache's views (not a parent's)

    public KvCache(int layers)
    {
        Keys = new Tensor?[layers];
        Values = new Tensor?[layers];
        _bufferK = new Tensor?[layers];
        _bufferV = new Tensor?[layers];
        _owned = new bool[layers];
    }

    /// <summary>Per layer [1, kv_heads, Length, head_dim].</summary>
    public Tensor?[] Keys { get; }
    public Tensor?[] Values { get; }
    public long Length => Keys[0]?.shape[2] ?? 0;

    /// <summary>A cache that starts as this one (shared, not copied) and owns only what is appended to it.</summary>
    public KvCache Fork()
    {
        var fork = new KvCache(Keys.Length);
        Array.Copy(Keys, fork.Keys, Keys.Length);
        Array.Copy(Values, fork.Values, Values.Length);
        return fork;
    }

    /// <summary>
    /// Appends new K/V [1, kv_heads, q, hd] of layer <paramref name="layer"/> (copied). The first fill of an empty layer is
    /// stored exactly; a later append (decoding) copies the layer once into a buffer with room for more, then writes in place.
    /// </summary>
    public void Append(int layer, Tensor k, Tensor v)
    {
        var oldK = Keys[layer];
        var oldV = Values[layer];
        long len = oldK?.shape[2] ?? 0, total = len + k.shape[2];
        var bufferK = _bufferK[layer];
        if (bufferK is null || bufferK.shape[2] < total)
        {
            long capacity = len == 0 ? total : total + Math.Max(MinSpare, total / 4);
            var newK = NewBuffer(k, capacity);
            var newV = NewBuffer(v, capacity);
            if (oldK is not null)
            {
                using (var into = newK.narrow(2, 0, len)) into.copy_(oldK);
                using (var into = newV.narrow(2, 0, len)) into.copy_(oldV!);
            }
            _bufferK[layer]?.Dispose();
            _bufferV[layer]?.Dispose();
            _bufferK[layer] = bufferK = newK;
            _bufferV[layer] = newV;
        }
        using (var into = bufferK.narrow(2, len, k.shape[2])) into.copy_(k);
        using (var into = _bufferV[layer]!.narrow(2, len, v.shape[2])) into.copy_(v);
        Keys[layer] = bufferK.narrow(2, 0, total).DetachFromDisposeScope();
        Values[layer] = _bufferV[layer]!.narrow(2, 0, total).DetachFromDisposeScope();
        if (_owned[layer])
        {
            oldK?.Dispose();
            oldV?.Dispose();
        }
        _owned[layer] = true;
    }

    private static Tensor NewBuffer(Tensor like, long capacity) =>
        empty([like.shape[0], like.shape[1], capacity, like.shape[3]], like.dtype, like.device).DetachFromDisposeScope();

    public void Dispose()
    {
        for (int l = 0; l < Keys.Length; l++)
        {
            if (_owned[l])
            {
                Keys[l]?.Dispose();
                Values[l]?.Dispose();
            }
            _bufferK[l]?.Dispose();
            _bufferV[l]?.Dispose();
        }
        Array.Clear(Keys);
        Array.Clear(Values);
        Array.Clear(_bufferK);
        Array.Clear(_bufferV);
        Array.Clear(_owned);
    }
}

/// <summary>Rotary tables for a run of absolute positions: cos, sin [q, head_dim] in the model dtype.</summary>
public readonly record struct RotaryTables(Tensor Cos, Tensor Sin);

/// <summary>
/// The Llama-architecture decoder of a VLM (Llama / Vicuna / Llama-3 in LLaVA, Qwen2 in OneVision and Qwen2-VL; keys
/// under <c>{prefix}model.*</c> and <c>{prefix}lm_head</c>): embed_tokens, layers (RMSNorm, rotary, grouped-query
/// attention, SiLU-gated MLP), final norm, lm_head. Computation follows transformers' eager LlamaModel / Qwen2Model:
/// scores = QKᵀ/√d + additive mask, softmax in float32, masked entries = dtype min. Qwen2 differences are config
/// switches: q/k/v biases (<see cref="LlamaTextConfig.QkvBias"/>) and M-RoPE (<see cref="LlamaTextConfig.MropeSection"/>:
/// the rotary half-dimension split between the t, h, w position axes).
/// </summary>
public sealed class LlamaDecoder : ExplicitModule, ITextDecoder
{
    private readonly LlamaTextConfig _cfg;
    private readonly EmbeddingTable embed_tokens;
    private readonly ModuleList<LlamaDecoderLayer> layers = new();
    private readonly RmsNormLayer norm;
    private readonly Dense? lm_head;
    private readonly Tensor _invFreq;   // [head_dim/2] float32
    private readonly int[]? _mropeSection;

    public LlamaDecoder(LlamaTextConfig cfg, WeightSource src, string prefix, bool tiedEmbeddings) : base(prefix)
    {
        _cfg = cfg;
        var model = new Group(prefix + "model.");
        embed_tokens = model.Add("embed_tokens", new EmbeddingTable(src, prefix + "model.embed_tokens.", cfg.VocabSize, cfg.HiddenSize));
        for (int i = 0; i < cfg.NumHiddenLayers; i++)
            layers.Add(new LlamaDecoderLayer(cfg, src, $"{prefix}model.layers.{i}.", i));
        model.Add("layers", layers);
        norm = model.Add("norm", new RmsNormLayer(src, prefix + "model.norm.", cfg.HiddenSize, cfg.RmsNormEps));
        register_module("model", model);
        if (!tiedEmbeddings)
        {
            lm_head = new Dense(src, prefix + "lm_head.", cfg.HiddenSize, cfg.VocabSize, false);
            register_module("lm_head", lm_head);
        }
        DType = src.DType;
        Device = src.Device;
        _mropeSection = cfg.MropeSection?.ToArray();
        using (var inv = Rotary.InverseFrequencies(cfg))
            _invFreq = inv.to(Device).DetachFromDisposeScope();
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) _invFreq.Dispose();
        base.Dispose(disposing);
    }

    public LlamaTextConfig Config => _cfg;
    public int NumLayers => _cfg.NumHiddenLayers;
    public int NumHeads => _cfg.NumAttentionHeads;
    public int NumKeyValueHeads => _cfg.NumKeyValueHeads;
    public long HiddenSize => _cfg.HiddenSize;
    public long VocabSize => _cfg.VocabSize;
    public ScalarType DType { get; }
    public Device Device { get; }
    public LlamaDecoderLayer Layer(int i) => layers[i];

    /// <summary>3 for M-RoPE (Qwen2-VL), else 1: the axes the position ids must have.</summary>
    public int PositionAxes => _mropeSection is null ? 1 : 3;

    /// <summary>The output embedding [vocab, D] (lm_head, or embed_tokens when tied).</summary>
    public Tensor OutputEmbedding => lm_head?.weight ?? embed_tokens.weight;

    public Tensor Embed(Tensor ids) => embed_tokens.Forward(ids);

    public Tensor FinalNorm(Tensor h) => norm.Forward(h);

    /// <summary>Logits from a residual (already normed or not: the caller decides; the logit lens needs both).</summary>
    public Tensor Unembed(Tensor h) => lm_head is null ? Linear.Apply(h, embed_tokens.weight) : lm_head.Forward(h);

    /// <summary>cos/sin for sequential positions [start, start+count) (1-D RoPE only).</summary>
    public RotaryTables RotaryFor(long start, long count) =>
        RotaryFor(PositionIds.Sequential((int)(start + count), PositionAxes), (int)start, (int)count);

    /// <summary>
    /// cos/sin [count, head_dim] for positions [start, start+count) of <paramref name="positions"/>, as transformers'
    /// LlamaRotaryEmbedding (1 axis) or Qwen2-VL's M-RoPE (3 axes: the frequencies of each section of the half
    /// dimension come from its axis, <c>apply_multimodal_rotary_pos_emb</c>).
    /// </summary>
    public RotaryTables RotaryFor(PositionIds positions, int start, int count)
    {
        ArgumentNullException.ThrowIfNull(positions);
        if (positions.Axes != PositionAxes)
            throw new ArgumentException(_mropeSection is null
                ? $"this decoder uses 1-D rotary positions; got {positions.Axes} axes"
                : $"this decoder uses M-RoPE: pass its 3-D (t, h, w) position ids (got {positions.Axes} axis); 1-D ids silently give other numbers");
        using var scope = NewDisposeScope();
        Tensor Freqs(int axis)
        {
            var pos = tensor(positions.Axis(axis).Slice(start, count).ToArray(), device: Device).to(ScalarType.Float32);
            return pos.unsqueeze(1) * _invFreq.unsqueeze(0);                                   // [q, hd/2]
        }
        Tensor freqs;
        if (_mropeSection is not { } sections) freqs = Freqs(0);
        else
        {
            // Column j of the half dimension takes its frequency from axis t, h or w by section (mrope_section).
            var parts = new List<Tensor>();
            int at = 0;
            for (int a = 0; a < 3; a++)
            {
                parts.Add(Freqs(a)[.., at..(at + sections[a])]);
                at += sections[a];
            }
            freqs = cat(parts, 1);                                                               // [q, hd/2]
        }
        var emb = cat([freqs, freqs], 1);                                                        // [q, hd]
        var cos = emb.cos().to(DType).MoveToOuterDisposeScope();
        var sin = emb.sin().to(DType).MoveToOuterDisposeScope();
        return new RotaryTables(cos, sin);
    }

    /// <summary>Full forward at sequential positions 0..N-1 (1-D RoPE decoders only).</summary>
    public DecoderOutput Forward(Tensor inputsEmbeds, DecoderHooks? hooks = null, KvCache? fillCache = null, bool keepResiduals = false) =>
        Forward(inputsEmbeds, SequentialFor(inputsEmbeds.shape[1]), hooks, fillCache, keepResiduals);

    /// <summary>
    /// Full forward of a batch of embedded sequences [B, N, D] at <paramref name="positions"/>.
    /// Returns the final normed hidden state of the last position [B, D] and logits there.
    /// </summary>
    public DecoderOutput Forward(Tensor inputsEmbeds, PositionIds positions, DecoderHooks? hooks = null, KvCache? fillCache = null, bool keepResiduals = false,
        AttentionKernel attention = AttentionKernel.Fused)
    {
        using var scope = NewDisposeScope();
        long n = inputsEmbeds.shape[1];
        if (positions.Length != n) throw new ArgumentException($"{positions.Length} position ids for {n} positions", nameof(positions));
        var rot = RotaryFor(positions, 0, (int)n);
        var causal = Masks.Causal(n, 0, DType, Device);
        var h = inputsEmbeds.to(DType);
        var residuals = keepResiduals ? new List<Tensor> { h.clone() } : null;
        for (int l = 0; l < NumLayers; l++)
        {
            var mask = hooks?.AttentionMask?.Invoke(l, causal) ?? causal;
            var (next, k, v) = layers[l].Forward(h, rot, mask, hooks?.AttentionPattern, attention);
            fillCache?.Append(l, k, v);
            h = next;
            hooks?.ResidualPost?.Invoke(l, h);
            residuals?.Add(h);
        }
        var last = h[.., -1, ..];                                                     // [B, D]
        var normedLast = FinalNorm(last);
        var logits = Unembed(normedLast);
        return new DecoderOutput(
            logits.MoveToOuterDisposeScope(),
            normedLast.MoveToOuterDisposeScope(),
            residuals?.Select(r => r.MoveToOuterDisposeScope()).ToList());
    }

    /// <summary>
    /// Final normed hidden states of every position [B, N, D] (training: right-padded batches are exact for every
    /// position before the padding, because attention is causal). Gradients flow when parameters are trainable.
    /// </summary>
    public Tensor ForwardAll(Tensor inputsEmbeds, Tensor? mask = null)
    {
        using var scope = NewDisposeScope();
        long n = inputsEmbeds.shape[1];
        var rot = RotaryFor(SequentialFor(n), 0, (int)n);
        var causal = mask ?? Masks.Causal(n, 0, DType, Device);
        var h = inputsEmbeds.to(DType);
        for (int l = 0; l < NumLayers; l++) h = layers[l].Forward(h, rot, causal, null, AttentionKernel.Eager).Hidden;   // the toy model was trained so
        return FinalNorm(h).MoveToOuterDisposeScope();
    }

    /// <summary>Incremental decoding at sequential positions after the cache (1-D RoPE decoders only).</summary>
    public Tensor Extend(Tensor embeds, KvCache cache) =>
        Extend(embeds, cache, SequentialFor(cache.Length + embeds.shape[1]).Slice((int)cache.Length, (int)embeds.shape[1]));

    /// <summary>
    /// Runs new positions [past, past+q) of one sequence on top of a <see cref="KvCache"/> of [0, past) and
    /// appends their keys/values: incremental decoding. embeds [1, q, D] at <paramref name="positions"/> (length q)
    /// → logits of the last new position [1, vocab].
    /// </summary>
    public Tensor Extend(Tensor embeds, KvCache cache, PositionIds positions)
    {
        using var scope = NewDisposeScope();
        long past = cache.Length, q = embeds.shape[1];
        if (positions.Length != q) throw new ArgumentException($"{positions.Length} position ids for {q} new positions", nameof(positions));
        var rot = RotaryFor(positions, 0, (int)q);
        var mask = Masks.Causal(q, past, DType, Device);
        var h = embeds.to(DType);
        for (int l = 0; l < NumLayers; l++)
        {
            h = layers[l].ForwardAppending(h, rot, mask, cache);
        }
        return Linear.Apply(FinalNorm(h[.., -1, ..]), OutputEmbedding, rowExact: true).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Lockstep decoding of several sequences, one new token each: embeds [B, 1, D], sequence i on
    /// <paramref name="caches"/>[i] (appended to) at <paramref name="positions"/>[i] (length 1) → logits [B, vocab]. The
    /// projections read each weight once for all B; attention runs per sequence on its own cache. On CPU float32 every
    /// row equals what <see cref="Extend(Tensor, KvCache, PositionIds)"/> gives that sequence alone, bit for bit
    /// (<see cref="FewRowProduct"/>; row-wise norms and elementwise ops).
    /// </summary>
    public Tensor ExtendMany(Tensor embeds, IReadOnlyList<KvCache> caches, IReadOnlyList<PositionIds> positions)
    {
        using var scope = NewDisposeScope();
        if (embeds.dim() != 3 || embeds.shape[0] != caches.Count || embeds.shape[1] != 1 || positions.Count != caches.Count)
            throw new ArgumentException($"expected embeds [{caches.Count}, 1, D] and {caches.Count} position ids, got [{string.Join(", ", embeds.shape)}] and {positions.Count}", nameof(embeds));
        var tables = positions.Select(p => RotaryFor(p, 0, 1)).ToArray();                          // each [1, hd]
        var rows = new RotaryTables(cat(tables.Select(t => t.Cos).ToArray(), 0), cat(tables.Select(t => t.Sin).ToArray(), 0));   // [B, hd]
        var masks = caches.Select(c => Masks.Causal(1, c.Length, DType, Device)).ToArray();
        var h = embeds.to(DType);
        for (int l = 0; l < NumLayers; l++)
            h = layers[l].ForwardAppendingMany(h, rows, masks, caches);
        return Linear.Apply(FinalNorm(h[.., -1, ..]), OutputEmbedding, rowExact: true).MoveToOuterDisposeScope();
    }

    public Tensor ForwardSuffix(int layer, Tensor h, RotaryTables rot, Tensor mask, Tensor prefixKeys, Tensor prefixValues, bool lastRowOnly = false) =>
        layers[layer].ForwardSuffix(h, rot, mask, prefixKeys, prefixValues, lastRowOnly);

    /// <summary>0..n-1: the ids of a sequence without an image grid. An M-RoPE decoder refuses to guess them.</summary>
    private PositionIds SequentialFor(long n) => _mropeSection is null
        ? PositionIds.Sequential((int)n)
        : throw new InvalidOperationException("this decoder uses M-RoPE: pass the input's 3-D (t, h, w) position ids explicitly (1-D ids silently give other numbers)");
}

/// <summary>Result of a decoder forward. Residuals (when kept): L+1 tensors [B, N, D], row 0 = embeddings.</summary>
public sealed record DecoderOutput(Tensor LastLogits, Tensor LastNormedHidden, IReadOnlyList<Tensor>? Residuals) : IDisposable
{
    public void Dispose()
    {
        LastLogits.Dispose();
        LastNormedHidden.Dispose();
        if (Residuals is not null) foreach (var r in Residuals) r.Dispose();
    }
}

/// <summary>Additive attention masks: 0 = may attend, dtype's most negative finite value = blocked.</summary>
public static class Masks
{
    /// <summary>Causal mask [1, 1, q, past+q] for queries at positions past..past+q-1 over keys 0..past+q-1.</summary>
    public static Tensor Causal(long q, long past, ScalarType dtype, Device device)
    {
        using var scope = NewDisposeScope();
        // Row i is absolute position past+i; it may not see columns j > past+i: the strict upper part above diagonal past.
        var blocked = ones([q, past + q], dtype: ScalarType.Bool, device: device).triu(past + 1);                  // [q, past+q]
        var mask = zeros([q, past + q], dtype: dtype, device: device).masked_fill(blocked, Scalars.Of(MinValue(dtype)));
        return mask.reshape(1, 1, q, past + q).MoveToOuterDisposeScope();
    }

    /// <summary>The most negative finite value of a floating dtype (transformers' torch.finfo(dtype).min).</summary>
    public static double MinValue(ScalarType dtype) => dtype switch
    {
        ScalarType.Float32 => float.MinValue,
        ScalarType.Float64 => double.MinValue,
        ScalarType.BFloat16 => -3.3895313892515355e38,
        ScalarType.Float16 => -65504.0,
        _ => throw new ArgumentException($"not a floating dtype: {dtype}"),
    };
}

/// <summary>Rotary position embeddings (transformers' LlamaRotaryEmbedding, with rope_scaling variants).</summary>
public static class Rotary
{
    /// <summary>inv_freq [head_dim/2] float32 = 1 / theta^(2i/d), then the configured scaling.</summary>
    public static Tensor InverseFrequencies(LlamaTextConfig cfg)
    {
        using var scope = NewDisposeScope();
        int dim = cfg.HeadDim;
        var evens = Enumerable.Range(0, dim / 2).Select(i => 2L * i).ToArray();
        var exponents = tensor(evens).to(ScalarType.Float32).div(Scalars.Of(dim));
        var invFreq = pow(tensor((float)cfg.RopeTheta), exponents).reciprocal();
        var rs = cfg.RopeScaling;
        switch (rs?.Type ?? "default")
        {
            case "default":
                break;
            case "linear":
                invFreq = invFreq.div(Scalars.Of(rs!.Factor!.Value));
                break;
            case "llama3":
                {
                    double factor = rs!.Factor!.Value, low = rs.LowFreqFactor!.Value, high = rs.HighFreqFactor!.Value;
                    double oldLen = rs.OriginalMaxPositionEmbeddings!.Value;
                    double lowWavelen = oldLen / low, highWavelen = oldLen / high;
                    var wavelen = tensor((float)(2 * Math.PI)).div(invFreq);                   // python float / f32 tensor, as transformers
                    var scaled = where(wavelen.gt(Scalars.Of(lowWavelen)), invFreq.div(Scalars.Of(factor)), invFreq);
                    var smooth = tensor((float)oldLen).div(wavelen).sub(Scalars.Of(low)).div(Scalars.Of(high - low));
                    var smoothed = smooth.neg().add(Scalars.One, Scalars.One).mul(scaled).div(Scalars.Of(factor)).add(smooth * scaled, Scalars.One);
                    var medium = wavelen.ge(Scalars.Of(highWavelen)).logical_and(wavelen.le(Scalars.Of(lowWavelen)));
                    invFreq = where(medium, smoothed, scaled);
                    break;
                }
            default:
                throw new InvalidOperationException($"rope_type {rs!.Type} passed validation but is not implemented");
        }
        return invFreq.to(ScalarType.Float32).MoveToOuterDisposeScope();
    }

    /// <summary>x [B, heads, q, hd] rotated "rotate_half" style with cos/sin [q, hd].</summary>
    public static Tensor Apply(Tensor x, RotaryTables rot)
    {
        using var scope = NewDisposeScope();
        long half = x.shape[^1] / 2;
        var x1 = x[TensorIndex.Ellipsis, ..(int)half];
        var x2 = x[TensorIndex.Ellipsis, (int)half..];
        var rotated = cat([-x2, x1], -1);
        return (x * rot.Cos).add(rotated * rot.Sin, Scalars.One).MoveToOuterDisposeScope();
    }
}

/// <summary>One Llama decoder layer: x + attn(rms1(x)); x + mlp(rms2(x)).</summary>
public sealed class LlamaDecoderLayer : ExplicitModule
{
    private readonly Dense q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj;
    private readonly RmsNormLayer input_layernorm, post_attention_layernorm;
    private readonly int _heads, _kvHeads, _headDim;

    public LlamaDecoderLayer(LlamaTextConfig cfg, WeightSource src, string prefix, int index) : base(prefix)
    {
        Index = index;
        long d = cfg.HiddenSize;
        _heads = cfg.NumAttentionHeads;
        _kvHeads = cfg.NumKeyValueHeads;
        _headDim = cfg.HeadDim;
        var attn = new Group(prefix + "self_attn.");
        q_proj = attn.Add("q_proj", new Dense(src, prefix + "self_attn.q_proj.", d, (long)_heads * _headDim, cfg.AttentionBias || cfg.QkvBias));
        k_proj = attn.Add("k_proj", new Dense(src, prefix + "self_attn.k_proj.", d, (long)_kvHeads * _headDim, cfg.AttentionBias || cfg.QkvBias));
        v_proj = attn.Add("v_proj", new Dense(src, prefix + "self_attn.v_proj.", d, (long)_kvHeads * _headDim, cfg.AttentionBias || cfg.QkvBias));
        o_proj = attn.Add("o_proj", new Dense(src, prefix + "self_attn.o_proj.", (long)_heads * _headDim, d, cfg.AttentionBias));
        var mlp = new Group(prefix + "mlp.");
        gate_proj = mlp.Add("gate_proj", new Dense(src, prefix + "mlp.gate_proj.", d, cfg.IntermediateSize, cfg.MlpBias));
        up_proj = mlp.Add("up_proj", new Dense(src, prefix + "mlp.up_proj.", d, cfg.IntermediateSize, cfg.MlpBias));
        down_proj = mlp.Add("down_proj", new Dense(src, prefix + "mlp.down_proj.", cfg.IntermediateSize, d, cfg.MlpBias));
        input_layernorm = new RmsNormLayer(src, prefix + "input_layernorm.", d, cfg.RmsNormEps);
        post_attention_layernorm = new RmsNormLayer(src, prefix + "post_attention_layernorm.", d, cfg.RmsNormEps);
        register_module("self_attn", attn);
        register_module("mlp", mlp);
        register_module("input_layernorm", input_layernorm);
        register_module("post_attention_layernorm", post_attention_layernorm);
    }

    public int Index { get; }

    /// <summary>
    /// h [B, q, D], the whole sequence, at positions given by <paramref name="rot"/>; <paramref name="mask"/> additive
    /// [B|1, 1|heads, q, q]. Returns the new residual and this call's K/V [B, kv_heads, q, hd]. (Decoding on top of a cache:
    /// <see cref="ForwardAppending"/>; a knockout's suffix on a clean prefix: <see cref="ForwardSuffix"/>.)
    /// </summary>
    public (Tensor Hidden, Tensor Keys, Tensor Values) Forward(Tensor h, RotaryTables rot, Tensor mask, Action<int, Tensor>? onPattern, AttentionKernel kernel)
    {
        using var scope = NewDisposeScope();
        var (qs, ks, vs) = Project(h, rot);
        var attn = kernel == AttentionKernel.Fused ? AttendFused(qs, ks, vs, mask, onPattern) : Attend(qs, ks, vs, mask, onPattern);
        return (Finish(h, attn).MoveToOuterDisposeScope(), ks.MoveToOuterDisposeScope(), vs.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// Incremental decoding: h [1, q, D] after the cache's positions. Appends this call's keys/values to the cache first, then
    /// attends over the cache's own tensors (no copy of the past per step). Returns the new residual.
    /// </summary>
    public Tensor ForwardAppending(Tensor h, RotaryTables rot, Tensor mask, KvCache cache)
    {
        using var scope = NewDisposeScope();
        var (qs, ks, vs) = Project(h, rot, rowExact: true);
        cache.Append(Index, ks, vs);
        return Finish(h, Attend(qs, cache.Keys[Index]!, cache.Values[Index]!, mask, null), rowExact: true).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// <see cref="ForwardAppending"/> for B sequences of one new position each, h [B, 1, D], at the positions whose rotary
    /// rows are <paramref name="rows"/> (cos/sin [B, hd], row b for sequence b): the norms, projections and rotary run on all
    /// rows at once (rotary is elementwise, so each row's bits are those it gets alone), the cache append and attention per
    /// sequence (its own cache and mask).
    /// </summary>
    public Tensor ForwardAppendingMany(Tensor h, RotaryTables rows, IReadOnlyList<Tensor> masks, IReadOnlyList<KvCache> caches)
    {
        using var scope = NewDisposeScope();
        long b = h.shape[0];
        var rot = new RotaryTables(rows.Cos.view(b, 1, 1, _headDim), rows.Sin.view(b, 1, 1, _headDim));       // broadcast over heads
        var x = input_layernorm.Forward(h);
        var qs = Rotary.Apply(q_proj.Forward(x, rowExact: true).view(b, 1, _heads, _headDim).transpose(1, 2), rot);     // [B, H, 1, hd]
        var ks = Rotary.Apply(k_proj.Forward(x, rowExact: true).view(b, 1, _kvHeads, _headDim).transpose(1, 2), rot);   // [B, KVH, 1, hd]
        var vs = v_proj.Forward(x, rowExact: true).view(b, 1, _kvHeads, _headDim).transpose(1, 2);
        var outputs = new Tensor[caches.Count];
        for (int i = 0; i < caches.Count; i++)
        {
            caches[i].Append(Index, ks[i..(i + 1)], vs[i..(i + 1)]);
            outputs[i] = Attend(qs[i..(i + 1)], caches[i].Keys[Index]!, caches[i].Values[Index]!, masks[i], null);   // [1, H, 1, hd]
        }
        return Finish(h, cat(outputs, 0), rowExact: true).MoveToOuterDisposeScope();
    }

    /// <summary>Eager attention as transformers: q [B, H, q, hd] over keys/values [B, KVH, k, hd], additive mask, f32 softmax.</summary>
    private Tensor Attend(Tensor qs, Tensor kAll, Tensor vAll, Tensor mask, Action<int, Tensor>? onPattern)
    {
        var probs = Probabilities(qs, RepeatKv(kAll), mask);                                               // [B, H, q, p+q]
        onPattern?.Invoke(Index, probs);
        return matmul(probs, RepeatKv(vAll));                                                              // [B, H, q, hd]
    }

    /// <summary>transformers' eager attention probabilities: softmax(QKᵀ/√d + mask) in float32, cast back to q's dtype.</summary>
    private Tensor Probabilities(Tensor qs, Tensor kRep, Tensor mask) =>
        matmul(qs, kRep.transpose(2, 3)).div(Scalars.Of(Math.Sqrt(_headDim))).add(mask, Scalars.One).softmax(-1, ScalarType.Float32).to(qs.dtype);

    /// <summary>
    /// <see cref="Attend"/>'s result from the fused kernel (same mask and scale). An observer of the pattern gets it from the eager
    /// formula, computed on the side: what a forward returns never depends on whether somebody watches it.
    /// </summary>
    private Tensor AttendFused(Tensor qs, Tensor kAll, Tensor vAll, Tensor mask, Action<int, Tensor>? onPattern)
    {
        var kRep = RepeatKv(kAll);
        var vRep = RepeatKv(vAll);
        if (onPattern is not null)
        {
            using var scope = NewDisposeScope();
            onPattern(Index, Probabilities(qs, kRep, mask));
        }
        return nn.functional.scaled_dot_product_attention(qs, kRep, vRep, mask);
    }

    /// <summary>
    /// B variants of the same suffix [t0, N) of one sequence, run on a shared clean prefix [0, t0):
    /// h [B, q, D]; <paramref name="mask"/> additive [B, 1 or heads, q, N] over keys [0, N); prefix K/V [1, kv_heads, t0, hd].
    /// The prefix is never copied per variant: the queries of every variant (and every query head of a kv head) are folded
    /// into the rows of one attention per kv head. With <paramref name="lastRowOnly"/> only the last position's output is
    /// computed (the keys/values of every row still are): the last layer of a recompute, whose other rows nobody reads.
    /// Returns the new residual [B, q, D], or [B, 1, D] with <paramref name="lastRowOnly"/>.
    /// </summary>
    public Tensor ForwardSuffix(Tensor h, RotaryTables rot, Tensor mask, Tensor prefixK, Tensor prefixV, bool lastRowOnly = false)
    {
        using var scope = NewDisposeScope();
        long b = h.shape[0], q = h.shape[1], t0 = prefixK.shape[2], n = t0 + q;
        int rep = _heads / _kvHeads;
        long qo = lastRowOnly ? 1 : q;                                                                    // query rows computed
        var x = input_layernorm.Forward(h);                                                                // [B, q, D]
        var xq = lastRowOnly ? x[.., (int)(q - 1).., ..] : x;
        var rotQ = lastRowOnly ? new RotaryTables(rot.Cos[(int)(q - 1)..], rot.Sin[(int)(q - 1)..]) : rot;
        // Rotary in the projection's own layout [B, q, heads, hd] (cos/sin [q, 1, hd]), then heads first.
        var qs = Rotary.Apply(q_proj.Forward(xq).view(b, qo, _heads, _headDim), Unsqueezed(rotQ));        // [B, qo, H, hd]
        var ks = Rotary.Apply(k_proj.Forward(x).view(b, q, _kvHeads, _headDim), Unsqueezed(rot));         // [B, q, KVH, hd]
        var vs = v_proj.Forward(x).view(b, q, _kvHeads, _headDim);                                         // [B, q, KVH, hd]
        // Mask rows in the folded order (b, i, j) of each kv head: [1 or KVH, B·qo·rep, N].
        long g = mask.shape[1] == 1 ? 1 : _kvHeads, r = mask.shape[1] == 1 ? 1 : rep, rows = b * qo * rep;
        var m = (lastRowOnly ? mask[TensorIndex.Ellipsis, (int)(q - 1).., ..] : mask).expand(b, -1, -1, -1);
        var mFolded = m.reshape(b, g, r, qo, n).permute(1, 0, 3, 2, 4).expand(g, b, qo, rep, n).reshape(g, rows, n);
        var qFolded = qs.view(b, qo, _kvHeads, rep, _headDim).permute(2, 0, 1, 3, 4).contiguous().view(_kvHeads, rows, _headDim);  // [KVH, R, hd]
        var kSuffix = ks.permute(2, 0, 1, 3).contiguous();                                                // [KVH, B, q, hd]
        var vSuffix = vs.permute(2, 0, 1, 3).contiguous();
        var attn = FusedSuffixAttention(qFolded, kSuffix, vSuffix, mFolded, prefixK[0], prefixV[0], b, qo * rep);  // [KVH, R, hd]
        var merged = attn.view(_kvHeads, b, qo, rep, _headDim).permute(1, 2, 0, 3, 4).reshape(b, qo, (long)_heads * _headDim);
        var hq = lastRowOnly ? h[.., (int)(q - 1).., ..] : h;
        return FinishMerged(hq, merged).MoveToOuterDisposeScope();
    }

    private static RotaryTables Unsqueezed(RotaryTables rot) => new(rot.Cos.unsqueeze(1), rot.Sin.unsqueeze(1));

    /// <summary>
    /// One scaled-dot-product attention per group of variants over keys [prefix; every variant's own suffix keys], the other
    /// variants' suffix keys masked with −∞ (not the dtype's min, so a row whose every own key is blocked still spreads its
    /// weight over its own N keys exactly as the reference does). Groups bound the wasted cross-variant columns.
    /// </summary>
    private Tensor FusedSuffixAttention(Tensor qFolded, Tensor kSuffix, Tensor vSuffix, Tensor mFolded, Tensor prefixK, Tensor prefixV, long b, long rowsPerVariant)
    {
        long t0 = prefixK.shape[1], q = kSuffix.shape[2], g = mFolded.shape[0];
        long perCall = Math.Max(1, Math.Max(t0 / 4, q) / q);                                              // variants per call
        var parts = new List<Tensor>();
        for (long first = 0; first < b; first += perCall)
        {
            long c = Math.Min(perCall, b - first);
            var qc = qFolded.view(_kvHeads, b, rowsPerVariant, _headDim)[.., (int)first..(int)(first + c)].reshape(1, _kvHeads, c * rowsPerVariant, _headDim);
            var keys = cat([prefixK, kSuffix[.., (int)first..(int)(first + c)].reshape(_kvHeads, c * q, _headDim)], 1).unsqueeze(0);     // [1, KVH, t0 + c·q, hd]
            var values = cat([prefixV, vSuffix[.., (int)first..(int)(first + c)].reshape(_kvHeads, c * q, _headDim)], 1).unsqueeze(0);
            var mc = mFolded.view(g, b, rowsPerVariant, t0 + q)[.., (int)first..(int)(first + c)];                                        // [g, c, rpv, N]
            var own = mc[TensorIndex.Ellipsis, (int)t0..].unsqueeze(3).expand(g, c, rowsPerVariant, c, q);                               // [g, c, rpv, c, q]
            var other = eye(c, dtype: own.dtype, device: qFolded.device).log().view(1, c, 1, c, 1);   // 0 on the diagonal, −∞ elsewhere (log(eye); no where/masked_fill: runs on every device incl. meta)
            var suffixCols = own.add(other, Scalars.One).reshape(g, c * rowsPerVariant, c * q);
            var maskC = cat([mc[TensorIndex.Ellipsis, ..(int)t0].reshape(g, c * rowsPerVariant, t0), suffixCols], 2).unsqueeze(0);      // [1, g, c·rpv, t0 + c·q]
            parts.Add(nn.functional.scaled_dot_product_attention(qc, keys, values, maskC)[0].view(_kvHeads, c, rowsPerVariant, _headDim));
        }
        return (parts.Count == 1 ? parts[0] : cat(parts, 1)).reshape(_kvHeads, b * rowsPerVariant, _headDim);
    }

    /// <summary>RMSNorm → q/k/v projections → rotary on q and k: [B, H, q, hd], [B, KVH, q, hd], [B, KVH, q, hd].</summary>
    private (Tensor Q, Tensor K, Tensor V) Project(Tensor h, RotaryTables rot, bool rowExact = false)
    {
        long b = h.shape[0], q = h.shape[1];
        var x = input_layernorm.Forward(h);
        var qs = Rotary.Apply(q_proj.Forward(x, rowExact).view(b, q, _heads, _headDim).transpose(1, 2), rot);
        var ks = Rotary.Apply(k_proj.Forward(x, rowExact).view(b, q, _kvHeads, _headDim).transpose(1, 2), rot);
        var vs = v_proj.Forward(x, rowExact).view(b, q, _kvHeads, _headDim).transpose(1, 2);
        return (qs, ks, vs);
    }

    /// <summary>Attention output [B, H, q, hd] → o_proj → residual, then the SiLU-gated MLP block → residual.</summary>
    private Tensor Finish(Tensor h, Tensor attn, bool rowExact = false)
    {
        long b = h.shape[0], q = h.shape[1];
        return FinishMerged(h, attn.transpose(1, 2).reshape(b, q, (long)_heads * _headDim), rowExact);
    }

    /// <summary>Attention output with heads merged [B, q, H·hd] → o_proj → residual, then the SiLU-gated MLP block → residual.</summary>
    /// <remarks>
    /// <paramref name="rowExact"/> (decoding): each batch row gets the bits it gets alone. The products go to
    /// <see cref="FewRowProduct"/>, and SiLU runs row by row: ATen's vectorised loops run a tensor's last elements past the final
    /// whole vector pair through the scalar function, whose exp can differ from the vector one in the last bit, and in a tensor of
    /// B rows other elements of a row fall there than alone. (The other elementwise ops here are exactly rounded either way.)
    /// </remarks>
    private Tensor FinishMerged(Tensor h, Tensor merged, bool rowExact = false)
    {
        h = h.add(o_proj.Forward(merged, rowExact), Scalars.One);
        var m = post_attention_layernorm.Forward(h);
        var gate = gate_proj.Forward(m, rowExact);
        var activated = rowExact && gate.shape[0] > 1
            ? cat(Enumerable.Range(0, (int)gate.shape[0]).Select(i => nn.functional.silu(gate[i..(i + 1)])).ToList(), 0)
            : nn.functional.silu(gate);
        return h.add(down_proj.Forward(activated * up_proj.Forward(m, rowExact), rowExact), Scalars.One);
    }

    /// <summary>Grouped-query attention: each kv head serves heads/kv_heads consecutive query heads.</summary>
    private Tensor RepeatKv(Tensor kv)
    {
        int rep = _heads / _kvHeads;
        if (rep == 1) return kv;
        long b = kv.shape[0], s = kv.shape[2];
        return kv.unsqueeze(2).expand(b, _kvHeads, rep, s, _headDim).reshape(b, _heads, s, _headDim);
    }
}

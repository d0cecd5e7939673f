using ModalFlow.Models;
using ModalFlow.Platform;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ModalFlow.Families.LlavaOnevision;

/// <summary>
/// SigLIP vision tower as transformers v4.45.1's <c>SiglipVisionModel</c> (keys under <c>vision_tower.vision_model.</c>):
/// a stride-p conv WITH bias over the S x S crop (n x n patches, no CLS, no pre-layernorm), a learned position table,
/// pre-LN encoder layers with <c>gelu_pytorch_tanh</c>. <c>hidden_states[i]</c> is the encoder's i-th output, so
/// LLaVA-OneVision's feature layer −1 is the last encoder layer BEFORE <c>post_layernorm</c>; that norm and the
/// optional attention-pooling <c>head</c> only make <c>last_hidden_state</c> / <c>pooler_output</c> and are loaded,
/// never run. Only the layers up to the requested hidden state run.
/// </summary>
public sealed class SiglipVisionTower : ExplicitModule
{
    private readonly SiglipVisionConfig _cfg;
    private readonly Parameter _patchWeight, _patchBias;
    private readonly EmbeddingTable _positions;
    private readonly ModuleList<SiglipEncoderLayer> _layers = new();

    public SiglipVisionTower(SiglipVisionConfig cfg, WeightSource src, string prefix) : base(prefix)
    {
        ArgumentNullException.ThrowIfNull(cfg);
        ArgumentNullException.ThrowIfNull(src);
        _cfg = cfg;
        long d = cfg.HiddenSize;
        var emb = prefix + "embeddings.";
        var embeddings = new Group(emb);
        var patch = embeddings.Add("patch_embedding", new ParameterGroup(emb + "patch_embedding."));
        _patchWeight = patch.Add(src, "weight", d, cfg.NumChannels, cfg.PatchSize, cfg.PatchSize);
        _patchBias = patch.Add(src, "bias", d);
        _positions = embeddings.Add("position_embedding", new EmbeddingTable(src, emb + "position_embedding.", cfg.NumPatches, d));
        for (int i = 0; i < cfg.NumHiddenLayers; i++)
            _layers.Add(new SiglipEncoderLayer(cfg, src, $"{prefix}encoder.layers.{i}."));
        var encoder = new Group(prefix + "encoder");
        encoder.Add("layers", _layers);
        register_module("embeddings", embeddings);
        register_module("encoder", encoder);
        register_module("post_layernorm", new LayerNormLayer(src, prefix + "post_layernorm.", d, cfg.LayerNormEps));
        if (cfg.HasHead) register_module("head", new SiglipPoolingHead(cfg, src, prefix + "head."));
    }

    public SiglipVisionConfig Config => _cfg;

    public int NumLayers => _cfg.NumHiddenLayers;

    private long _calls;

    /// <summary>How many batches this tower has encoded (a diagnostic: knockouts must never re-run it).</summary>
    public long Calls => Interlocked.Read(ref _calls);

    /// <summary>
    /// transformers' <c>hidden_states[<paramref name="hiddenStateIndex"/>]</c> (0 = embeddings, i = after encoder layer
    /// i-1): pixels [B, 3, S, S] → [B, n², D].
    /// </summary>
    public Tensor HiddenState(Tensor pixels, int hiddenStateIndex)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        if (hiddenStateIndex < 0 || hiddenStateIndex > NumLayers)
            throw new ArgumentOutOfRangeException(nameof(hiddenStateIndex), $"{hiddenStateIndex} not in 0..{NumLayers}");
        long side = _cfg.ImageSize;
        if (pixels.dim() != 4 || pixels.shape[1] != _cfg.NumChannels || pixels.shape[2] != side || pixels.shape[3] != side)
            throw new ArgumentException($"pixel values must be [B, {_cfg.NumChannels}, {side}, {side}], got [{string.Join(", ", pixels.shape)}]");
        Interlocked.Increment(ref _calls);
        using var scope = NewDisposeScope();
        var x = pixels.to(_patchWeight.dtype, _patchWeight.device);
        // [B, D, n, n] → [B, n², D]; "valid" conv: the last S mod p pixels feed no patch.
        var h = nn.functional.conv2d(x, _patchWeight, _patchBias, strides: [_cfg.PatchSize, _cfg.PatchSize]).flatten(2).transpose(1, 2);
        h = h.add(_positions.weight.unsqueeze(0), Scalars.One);
        for (int i = 0; i < hiddenStateIndex; i++) h = _layers[i].Forward(h);
        return h.MoveToOuterDisposeScope();
    }

    /// <summary>A named container of parameters so the key tree matches the checkpoint (patch_embedding.{weight,bias}).</summary>
    private sealed class ParameterGroup(string name) : ExplicitModule(name)
    {
        public Parameter Add(WeightSource src, string key, params long[] shape)
        {
            var p = new Parameter(src.Take(name + key, shape), requires_grad: src.Trainable);
            register_parameter(key, p);
            return p;
        }

        public void AddModule(string key, nn.Module module) => register_module(key, module);
    }

    /// <summary>
    /// <c>SiglipMultiheadAttentionPoolingHead</c>'s tensors (probe, nn.MultiheadAttention in/out projections, layernorm,
    /// MLP): present in checkpoints with <c>vision_use_head</c>, loaded so the key tree is complete, never run
    /// (it only makes <c>pooler_output</c>).
    /// </summary>
    private sealed class SiglipPoolingHead : ExplicitModule
    {
        public SiglipPoolingHead(SiglipVisionConfig cfg, WeightSource src, string prefix) : base(prefix)
        {
            long d = cfg.HiddenSize;
            register_parameter("probe", new Parameter(src.Take(prefix + "probe", 1, 1, d), requires_grad: src.Trainable));
            var attention = new ParameterGroup(prefix + "attention.");
            attention.Add(src, "in_proj_weight", 3 * d, d);
            attention.Add(src, "in_proj_bias", 3 * d);
            attention.AddModule("out_proj", new Dense(src, prefix + "attention.out_proj.", d, d, true));
            register_module("attention", attention);
            register_module("layernorm", new LayerNormLayer(src, prefix + "layernorm.", d, cfg.LayerNormEps));
            var mlp = new Group(prefix + "mlp");
            mlp.Add("fc1", new Dense(src, prefix + "mlp.fc1.", d, cfg.IntermediateSize, true));
            mlp.Add("fc2", new Dense(src, prefix + "mlp.fc2.", cfg.IntermediateSize, d, true));
            register_module("mlp", mlp);
        }
    }
}

/// <summary>One SigLIP encoder layer: x + attn(ln1(x)); x + mlp(ln2(x)), as v4.45.1's eager <c>SiglipEncoderLayer</c>.</summary>
public sealed class SiglipEncoderLayer : ExplicitModule
{
    private readonly Dense q_proj, k_proj, v_proj, out_proj, fc1, fc2;
    private readonly LayerNormLayer layer_norm1, layer_norm2;
    private readonly int _heads, _headDim;
    private readonly bool _tanhGelu;

    public SiglipEncoderLayer(SiglipVisionConfig cfg, WeightSource src, string prefix) : base(prefix)
    {
        ArgumentNullException.ThrowIfNull(cfg);
        long d = cfg.HiddenSize;
        _heads = cfg.NumAttentionHeads;
        _headDim = cfg.HeadDim;
        _tanhGelu = cfg.TanhGelu;
        var attn = new Group(prefix + "self_attn.");
        q_proj = attn.Add("q_proj", new Dense(src, prefix + "self_attn.q_proj.", d, d, true));
        k_proj = attn.Add("k_proj", new Dense(src, prefix + "self_attn.k_proj.", d, d, true));
        v_proj = attn.Add("v_proj", new Dense(src, prefix + "self_attn.v_proj.", d, d, true));
        out_proj = attn.Add("out_proj", new Dense(src, prefix + "self_attn.out_proj.", d, d, true));
        layer_norm1 = new LayerNormLayer(src, prefix + "layer_norm1.", d, cfg.LayerNormEps);
        var mlp = new Group(prefix + "mlp.");
        fc1 = mlp.Add("fc1", new Dense(src, prefix + "mlp.fc1.", d, cfg.IntermediateSize, true));
        fc2 = mlp.Add("fc2", new Dense(src, prefix + "mlp.fc2.", cfg.IntermediateSize, d, true));
        layer_norm2 = new LayerNormLayer(src, prefix + "layer_norm2.", d, cfg.LayerNormEps);
        register_module("layer_norm1", layer_norm1);
        register_module("self_attn", attn);
        register_module("layer_norm2", layer_norm2);
        register_module("mlp", mlp);
    }

    /// <summary>x: [B, N, D] → [B, N, D].</summary>
    public Tensor Forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], n = x.shape[1];
        var h = layer_norm1.Forward(x);
        var q = q_proj.Forward(h).view(b, n, _heads, _headDim).transpose(1, 2); // [B, heads, N, hd]
        var k = k_proj.Forward(h).view(b, n, _heads, _headDim).transpose(1, 2);
        var v = v_proj.Forward(h).view(b, n, _heads, _headDim).transpose(1, 2);
        // SigLIP scales the scores (CLIP scales q); softmax in float32, cast back.
        var scores = matmul(q, k.transpose(2, 3)).mul(Scalars.Of(Math.Pow(_headDim, -0.5)));        // [B, heads, N, N]
        var probs = scores.softmax(-1, ScalarType.Float32).to(q.dtype);
        var attn = matmul(probs, v).transpose(1, 2).reshape(b, n, -1);                                // [B, N, D]
        x = x.add(out_proj.Forward(attn), Scalars.One);
        var m = fc1.Forward(layer_norm2.Forward(x));
        m = _tanhGelu ? nn.functional.gelu(m, GELU.Approximate.tanh) : nn.functional.gelu(m);
        x = x.add(fc2.Forward(m), Scalars.One);
        return x.MoveToOuterDisposeScope();
    }
}

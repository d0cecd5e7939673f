using ModalFlow.Checkpoints;
using ModalFlow.Platform;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ModalFlow.Models;

/// <summary>
/// CLIP ViT vision tower as transformers' CLIPVisionModel (pre-layernorm, quick_gelu, class + position
/// embeddings). Keys under <c>vision_tower.vision_model.</c>. Only the layers up to the selected feature layer
/// run; <c>post_layernorm</c> is loaded (it is in every checkpoint) but never used by LLaVA.
/// </summary>
public sealed class ClipVisionTower : ExplicitModule
{
    private readonly ClipVisionConfig _cfg;
    private readonly Parameter _classEmbedding;
    private readonly Parameter _patchWeight;
    private readonly EmbeddingTable _positions;
    private readonly LayerNormLayer _preNorm;
    private readonly ModuleList<ClipEncoderLayer> _layers = new();
    private readonly LayerNormLayer _postNorm;

    public ClipVisionTower(ClipVisionConfig cfg, WeightSource src, string prefix) : base(prefix)
    {
        _cfg = cfg;
        long d = cfg.HiddenSize;
        var emb = prefix + "embeddings.";
        var embeddings = new ParamGroup(emb);
        _classEmbedding = embeddings.Add(src, "class_embedding", d);
        var patch = new ParamGroup(emb + "patch_embedding.");
        _patchWeight = patch.Add(src, "weight", d, cfg.NumChannels, cfg.PatchSize, cfg.PatchSize);
        embeddings.register_module("patch_embedding", patch);
        _positions = new EmbeddingTable(src, emb + "position_embedding.", cfg.NumPatches + 1, d);
        embeddings.register_module("position_embedding", _positions);
        _preNorm = new LayerNormLayer(src, prefix + "pre_layrnorm.", d, cfg.LayerNormEps);
        for (int i = 0; i < cfg.NumHiddenLayers; i++)
            _layers.Add(new ClipEncoderLayer(cfg, src, $"{prefix}encoder.layers.{i}."));
        _postNorm = new LayerNormLayer(src, prefix + "post_layernorm.", d, cfg.LayerNormEps);

        var encoder = new ParamGroup(prefix + "encoder.");
        encoder.register_module("layers", _layers);
        register_module("embeddings", embeddings);
        register_module("pre_layrnorm", _preNorm);
        register_module("encoder", encoder);
        register_module("post_layernorm", _postNorm);
    }

    public int NumLayers => _cfg.NumHiddenLayers;

    private long _calls;

    /// <summary>How many batches of images this tower has encoded (a diagnostic: tests prove knockouts never re-run it).</summary>
    public long Calls => Interlocked.Read(ref _calls);

    /// <summary>
    /// Hidden state number <paramref name="hiddenStateIndex"/> in transformers' <c>hidden_states</c> tuple
    /// (0 = embeddings after pre-layernorm, i = after encoder layer i-1). pixels: [B, 3, H, W] → [B, 1+P, D].
    /// </summary>
    public Tensor HiddenState(Tensor pixels, int hiddenStateIndex)
    {
        if (hiddenStateIndex < 0 || hiddenStateIndex > NumLayers)
            throw new ArgumentOutOfRangeException(nameof(hiddenStateIndex), $"{hiddenStateIndex} not in 0..{NumLayers}");
        long side = _cfg.ImageSize;
        if (pixels.dim() != 4 || pixels.shape[1] != _cfg.NumChannels || pixels.shape[2] != side || pixels.shape[3] != side)
            throw new ArgumentException($"pixel values must be [B, {_cfg.NumChannels}, {side}, {side}], got [{string.Join(", ", pixels.shape)}]");
        Interlocked.Increment(ref _calls);
        using var scope = NewDisposeScope();
        long b = pixels.shape[0];
        var x = pixels.to(_patchWeight.dtype);
        // [B, D, side/p, side/p] → [B, P, D]
        var patches = nn.functional.conv2d(x, _patchWeight, strides: [_cfg.PatchSize, _cfg.PatchSize]).flatten(2).transpose(1, 2);
        var cls = _classEmbedding.reshape(1, 1, -1).expand(b, 1, -1);
        var h = cat([cls, patches], 1);                              // [B, 1+P, D]
        h = h.add(_positions.weight.unsqueeze(0), Scalars.One);
        h = _preNorm.Forward(h);
        for (int i = 0; i < hiddenStateIndex; i++) h = _layers[i].Forward(h);
        return h.MoveToOuterDisposeScope();
    }

    /// <summary>A named container that only holds parameters/children so the key tree matches the checkpoint.</summary>
    private sealed class ParamGroup(string name) : ExplicitModule(name)
    {
        public Parameter Add(WeightSource src, string key, params long[] shape)
        {
            var p = new Parameter(src.Take(name + key, shape), requires_grad: src.Trainable);
            register_parameter(key, p);
            return p;
        }
    }
}

/// <summary>One CLIP encoder layer: x + attn(ln1(x)); x + mlp(ln2(x)).</summary>
public sealed class ClipEncoderLayer : ExplicitModule
{
    private readonly Dense q_proj, k_proj, v_proj, out_proj, fc1, fc2;
    private readonly LayerNormLayer layer_norm1, layer_norm2;
    private readonly int _heads, _headDim;
    private readonly bool _quickGelu;

    public ClipEncoderLayer(ClipVisionConfig cfg, WeightSource src, string prefix) : base(prefix)
    {
        long d = cfg.HiddenSize;
        _heads = cfg.NumAttentionHeads;
        _headDim = cfg.HeadDim;
        _quickGelu = cfg.HiddenAct == "quick_gelu";
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
        register_module("self_attn", attn);
        register_module("layer_norm1", layer_norm1);
        register_module("mlp", mlp);
        register_module("layer_norm2", layer_norm2);
    }

    public Tensor Forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], n = x.shape[1];
        var h = layer_norm1.Forward(x);
        // transformers scales q before QKᵀ (CLIPAttention); [B, heads, N, hd]
        var q = q_proj.Forward(h).mul(Scalars.Of(Math.Pow(_headDim, -0.5))).view(b, n, _heads, _headDim).transpose(1, 2);
        var k = k_proj.Forward(h).view(b, n, _heads, _headDim).transpose(1, 2);
        var v = v_proj.Forward(h).view(b, n, _heads, _headDim).transpose(1, 2);
        var probs = matmul(q, k.transpose(-2, -1)).softmax(-1, ScalarType.Float32).to(q.dtype);   // [B, heads, N, N]
        var attn = matmul(probs, v).transpose(1, 2).reshape(b, n, -1);
        x = x.add(out_proj.Forward(attn), Scalars.One);
        var m = fc1.Forward(layer_norm2.Forward(x));
        m = _quickGelu ? m * sigmoid(m.mul(Scalars.Of(1.702))) : nn.functional.gelu(m);
        x = x.add(fc2.Forward(m), Scalars.One);
        return x.MoveToOuterDisposeScope();
    }
}

/// <summary>A named container of child modules (e.g. <c>self_attn</c>, <c>mlp</c>) mirroring the checkpoint keys.</summary>
public sealed class Group(string name) : ExplicitModule(name)
{
    public T Add<T>(string key, T module) where T : nn.Module
    {
        register_module(key, module);
        return module;
    }
}

/// <summary>LLaVA's two-layer projector: linear_1 · GELU(erf) · linear_2 (keys <c>multi_modal_projector.</c>).</summary>
public sealed class MultiModalProjector : ExplicitModule
{
    private readonly Dense linear_1, linear_2;

    public MultiModalProjector(WeightSource src, string prefix, long visionDim, long textDim, bool bias) : base(prefix)
    {
        linear_1 = new Dense(src, prefix + "linear_1.", visionDim, textDim, bias);
        linear_2 = new Dense(src, prefix + "linear_2.", textDim, textDim, bias);
        register_module("linear_1", linear_1);
        register_module("linear_2", linear_2);
    }

    public Tensor Forward(Tensor x)
    {
        using var h = linear_1.Forward(x);
        using var g = nn.functional.gelu(h);
        return linear_2.Forward(g);
    }
}

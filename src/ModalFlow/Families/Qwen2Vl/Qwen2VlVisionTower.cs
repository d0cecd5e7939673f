using ModalFlow.Models;
using ModalFlow.Platform;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ModalFlow.Families.Qwen2Vl;

/// <summary>
/// Qwen2-VL's vision tower, transformers v4.45.1 <c>Qwen2VisionTransformerPretrainedModel</c> (eager), keys under
/// <c>visual.</c>: <c>patch_embed.proj</c> (a Conv3d whose kernel equals its stride: one linear map of each patch's
/// 3·2·14·14 values, no bias) → <c>blocks.{i}</c> with the 2-D rotary embedding (each patch's (row, column) in
/// the patch grid, listed in the processor's merge-window order) and full attention within each image frame →
/// <c>merger</c>. Input: the processor's pixel patches [N, 1176] and each image's grid (t, h, w).
/// </summary>
public sealed class Qwen2VlVisionTower : ExplicitModule
{
    /// <summary>VisionRotaryEmbedding's theta.</summary>
    public const double RotaryTheta = 10000.0;

    /// <summary>The canonical key prefix of the tower in Qwen2-VL checkpoints.</summary>
    public const string Prefix = "visual.";

    private readonly Qwen2VlVisionConfig _cfg;
    private readonly PatchProjection _proj;
    private readonly ModuleList<Qwen2VlVisionBlock> _blocks = new();
    private readonly Qwen2VlPatchMerger _merger;
    private long _calls;

    public Qwen2VlVisionTower(Qwen2VlVisionConfig cfg, WeightSource src, string prefix = Prefix) : base(prefix)
    {
        ArgumentNullException.ThrowIfNull(cfg);
        ArgumentNullException.ThrowIfNull(src);
        _cfg = cfg;
        var patchEmbed = new Group(prefix + "patch_embed.");
        _proj = patchEmbed.Add("proj", new PatchProjection(cfg, src, prefix + "patch_embed.proj."));
        for (int i = 0; i < cfg.Depth; i++) _blocks.Add(new Qwen2VlVisionBlock(cfg, src, $"{prefix}blocks.{i}."));
        _merger = new Qwen2VlPatchMerger(cfg, src, prefix + "merger.");
        register_module("patch_embed", patchEmbed);
        register_module("blocks", _blocks);
        register_module("merger", _merger);
    }

    public Qwen2VlVisionConfig Config => _cfg;

    /// <summary>How many times images were encoded (a diagnostic: knockouts must never re-run the tower).</summary>
    public long Calls => Interlocked.Read(ref _calls);

    /// <summary>The image features the decoder receives: [N / merge², hidden] (merger output), one image.</summary>
    public Tensor Encode(Tensor pixelPatches, Qwen2VlImageGrid grid) => Encode(pixelPatches, [grid]);

    /// <summary>The image features of several images, concatenated in order: [Σ tokens, hidden].</summary>
    public Tensor Encode(Tensor pixelPatches, IReadOnlyList<Qwen2VlImageGrid> grids)
    {
        using var scope = NewDisposeScope();
        return _merger.Forward(VisionFeatures(pixelPatches, grids)).MoveToOuterDisposeScope();
    }

    /// <summary>The last block's output (the merger's input): [N, embed], one image.</summary>
    public Tensor VisionFeatures(Tensor pixelPatches, Qwen2VlImageGrid grid) => VisionFeatures(pixelPatches, [grid]);

    /// <summary>The last block's output for several images (rows of <paramref name="pixelPatches"/> in grid order).</summary>
    public Tensor VisionFeatures(Tensor pixelPatches, IReadOnlyList<Qwen2VlImageGrid> grids)
    {
        ArgumentNullException.ThrowIfNull(pixelPatches);
        ArgumentNullException.ThrowIfNull(grids);
        CheckInput(pixelPatches, grids);
        Interlocked.Increment(ref _calls);
        using var scope = NewDisposeScope();
        var weight = _proj.weight;
        var x = _proj.Forward(pixelPatches.to(weight.dtype, weight.device));       // [N, embed]
        var (cos, sin) = RotaryCosSin(grids, weight.device);
        var segments = new List<(long, long)>();
        long offset = 0;
        foreach (var g in grids)
        {
            for (int t = 0; t < g.T; t++, offset += (long)g.H * g.W) segments.Add((offset, (long)g.H * g.W));
        }
        foreach (var block in _blocks) x = block.Forward(x, cos, sin, segments);
        return x.MoveToOuterDisposeScope();
    }

    /// <summary>The merger alone: [N, embed] → [N / merge², hidden].</summary>
    public Tensor Merge(Tensor visionFeatures) => _merger.Forward(visionFeatures);

    /// <summary>
    /// <c>rot_pos_emb</c>'s position ids: for each patch in processor order, its (row, column) in the h x w patch grid,
    /// interleaved [row0, col0, row1, col1, …]; the h x w list follows the merge windows (window row-major, then the
    /// merge x merge patches inside it row-major) and repeats for each of the t frames.
    /// </summary>
    public static long[] RotaryPositionIds(Qwen2VlImageGrid grid, int mergeSize)
    {
        if (mergeSize < 1 || grid.T < 1 || grid.H % mergeSize != 0 || grid.W % mergeSize != 0 || grid.H < 1 || grid.W < 1)
            throw new ArgumentException($"grid {grid} must be positive with h and w multiples of the merge size {mergeSize}");
        var ids = new long[checked(2L * grid.PatchCount)];
        int o = 0;
        for (int t = 0; t < grid.T; t++)
        {
            for (int wr = 0; wr < grid.H / mergeSize; wr++)
            {
                for (int wc = 0; wc < grid.W / mergeSize; wc++)
                {
                    for (int i = 0; i < mergeSize; i++)
                    {
                        for (int j = 0; j < mergeSize; j++)
                        {
                            ids[o++] = wr * mergeSize + i;
                            ids[o++] = wc * mergeSize + j;
                        }
                    }
                }
            }
        }
        return ids;
    }

    /// <summary>
    /// cos and sin [N, 1, head_dim] (float32): angles = [row · f, col · f] with f = 1 / 10000^(2i / (head_dim/2)),
    /// i &lt; head_dim/4 (VisionRotaryEmbedding(head_dim / 2)), then the angle vector repeated twice (rotate_half layout).
    /// </summary>
    private (Tensor Cos, Tensor Sin) RotaryCosSin(IReadOnlyList<Qwen2VlImageGrid> grids, Device device)
    {
        int dim = _cfg.HeadDim / 2;
        var evens = Enumerable.Range(0, (dim + 1) / 2).Select(i => 2L * i).ToArray();
        var exponents = tensor(evens, device: device).to(ScalarType.Float32).div(Scalars.Of(dim));
        var invFreq = pow(tensor((float)RotaryTheta, device: device), exponents).reciprocal();      // [head_dim / 4]
        long maxSide = grids.Max(g => Math.Max(g.H, g.W));
        var table = outer(TensorFactories.Arange(maxSide, ScalarType.Float32, device), invFreq);                    // [maxSide, head_dim / 4]
        var ids = grids.SelectMany(g => RotaryPositionIds(g, _cfg.SpatialMergeSize)).ToArray();
        var positions = tensor(ids, device: device).reshape(-1, 2);                                 // [N, 2] (row, col)
        var angles = table.index_select(0, positions.reshape(-1)).reshape(positions.shape[0], -1);  // [N, head_dim / 2]
        var emb = cat([angles, angles], -1).unsqueeze(1);                                           // [N, 1, head_dim]
        return (emb.cos(), emb.sin());
    }

    private void CheckInput(Tensor pixels, IReadOnlyList<Qwen2VlImageGrid> grids)
    {
        if (grids.Count == 0) throw new ArgumentException("at least one image grid is needed", nameof(grids));
        int m = _cfg.SpatialMergeSize;
        foreach (var g in grids)
        {
            if (g.T < 1 || g.H < m || g.W < m || g.H % m != 0 || g.W % m != 0)
                throw new ArgumentException($"image grid {g} must have t ≥ 1 and h, w positive multiples of spatial_merge_size = {m}", nameof(grids));
        }
        long rows = grids.Sum(g => (long)g.PatchCount);
        if (pixels.dim() != 2 || pixels.shape[0] != rows || pixels.shape[1] != _cfg.PatchInputDim)
            throw new ArgumentException(
                $"pixel patches must be [{rows}, {_cfg.PatchInputDim}] for grids [{string.Join(", ", grids)}], got [{string.Join(", ", pixels.shape)}]",
                nameof(pixels));
    }

    /// <summary>
    /// <c>patch_embed.proj</c>: Conv3d [embed, 3, T, P, P], stride = kernel, no bias. Mathematically a linear map of each
    /// flattened patch, but run as conv3d like the reference: the linear form sums the 1176 products in another order
    /// and, with the fixture's residual values near 90, ended up to 1.3e-4 off after two blocks (conv3d: 1.1e-5).
    /// </summary>
    private sealed class PatchProjection : WeightModule
    {
        public readonly Parameter weight;
        private readonly long _embed;

        public PatchProjection(Qwen2VlVisionConfig cfg, WeightSource src, string prefix) : base(prefix)
        {
            _embed = cfg.EmbedDim;
            weight = Param(src, prefix, "weight", cfg.EmbedDim, cfg.InChannels, cfg.TemporalPatchSize, cfg.PatchSize, cfg.PatchSize);
        }

        /// <summary>[N, 3·T·P·P] → [N, embed]; the patch values are in the kernel's (channel, frame, y, x) order.</summary>
        public Tensor Forward(Tensor patches)
        {
            using var scope = NewDisposeScope();
            var shape = weight.shape;
            var x = patches.view(-1, shape[1], shape[2], shape[3], shape[4]);            // [N, 3, T, P, P]
            var y = nn.functional.conv3d(x, weight, strides: [shape[2], shape[3], shape[4]]); // [N, embed, 1, 1, 1]
            return y.view(-1, _embed).MoveToOuterDisposeScope();
        }
    }
}

using TorchSharp;
using static TorchSharp.torch;

namespace ModalFlow.Families.Qwen2Vl;

/// <summary>
/// M-RoPE position ids of one sequence: three rows (t, h, w) of <see cref="SequenceLength"/> ids, and
/// <see cref="RopeDelta"/> = max + 1 − length, which places every generated token: the token at cache position
/// c ≥ length gets id c + delta on all three axes (transformers' <c>rope_deltas</c>).
/// </summary>
public sealed class MropePositionIds
{
    public const int Axes = 3;
    private readonly long[] _values;

    /// <param name="values">[3, length] row-major (the array is kept, not copied).</param>
    public MropePositionIds(long[] values, int sequenceLength)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (sequenceLength < 1 || values.Length != Axes * (long)sequenceLength)
            throw new ArgumentException($"expected {Axes} x {sequenceLength} ids, got {values.Length}");
        _values = values;
        SequenceLength = sequenceLength;
        RopeDelta = values.Max() + 1 - sequenceLength;
    }

    public int SequenceLength { get; }

    /// <summary>transformers' <c>rope_deltas</c>: max id + 1 − sequence length (≤ 0).</summary>
    public long RopeDelta { get; }

    /// <summary>The id of the first generated token on every axis: max + 1.</summary>
    public long NextPosition => SequenceLength + RopeDelta;

    /// <summary>The id of <paramref name="position"/> on <paramref name="axis"/> (0 = t, 1 = h, 2 = w).</summary>
    public long this[int axis, int position] => _values[checked(axis * SequenceLength + position)];

    /// <summary>One axis' ids (0 = t, 1 = h, 2 = w).</summary>
    public ReadOnlySpan<long> Axis(int axis) => _values.AsSpan(axis * SequenceLength, SequenceLength);

    /// <summary>[3, length] row-major, as transformers' <c>position_ids[:, 0, :]</c>.</summary>
    public long[] ToArray() => (long[])_values.Clone();

    /// <summary>The id of the token at cache position <paramref name="cachePosition"/> (prompt or generated), same on all axes past the prompt.</summary>
    public long GeneratedPosition(int cachePosition) => cachePosition >= SequenceLength
        ? cachePosition + RopeDelta
        : throw new ArgumentOutOfRangeException(nameof(cachePosition), cachePosition, $"a prompt position (< {SequenceLength}) has three ids; use the indexer");

    /// <summary>[3, length] int64 on <paramref name="device"/>.</summary>
    public Tensor ToTensor(Device device)
    {
        using var cpu = tensor(_values, [Axes, SequenceLength]);
        return cpu.to(device);
    }
}

/// <summary>
/// transformers v4.45.1 <c>Qwen2VLForConditionalGeneration.get_rope_index</c> for one sequence (no padding): text gets
/// t = h = w = running index; an image block of (t, h/m, w/m) merged tokens starting after text index p gets
/// (p + ti, p + i, p + j) with ti, i, j over the merged grid in order; text after a block continues from the block's
/// max + 1. NB: v4.45.1's <c>forward(position_ids=None)</c> does NOT use these (it falls back to 1-D ids); generate()
/// does, and so must we.
/// </summary>
public static class Qwen2VlRopeIndex
{
    /// <summary>One image block of <paramref name="grid"/>'s merged tokens at <paramref name="imageStart"/> (the first <c>&lt;|image_pad|&gt;</c>).</summary>
    public static MropePositionIds ForOneImage(int sequenceLength, int imageStart, Qwen2VlImageGrid grid, int mergeSize) =>
        ForImages(sequenceLength, [(imageStart, grid)], mergeSize);

    /// <summary>Pure text: 0..length−1 on all axes, delta 0.</summary>
    public static MropePositionIds TextOnly(int sequenceLength) => ForImages(sequenceLength, [], 2);

    /// <summary>Several image blocks, in sequence order, each at its first image token.</summary>
    /// <exception cref="ArgumentException">Blocks that overlap, are out of order or do not fit in the sequence.</exception>
    public static MropePositionIds ForImages(int sequenceLength, IReadOnlyList<(int Start, Qwen2VlImageGrid Grid)> images, int mergeSize)
    {
        ArgumentNullException.ThrowIfNull(images);
        if (sequenceLength < 1) throw new ArgumentOutOfRangeException(nameof(sequenceLength), sequenceLength, "expected at least one position");
        if (mergeSize < 1) throw new ArgumentOutOfRangeException(nameof(mergeSize), mergeSize, "expected a positive merge size");
        var ids = new long[checked(MropePositionIds.Axes * sequenceLength)];
        int n = sequenceLength, st = 0;
        long next = 0; // max id so far + 1
        foreach (var (start, grid) in images)
        {
            if (grid.T < 1 || grid.H < mergeSize || grid.W < mergeSize || grid.H % mergeSize != 0 || grid.W % mergeSize != 0)
                throw new ArgumentException($"image grid {grid} must have t ≥ 1 and h, w positive multiples of the merge size {mergeSize}", nameof(images));
            int gh = grid.H / mergeSize, gw = grid.W / mergeSize, tokens = grid.TokenCount(mergeSize);
            if (start < st || (long)start + tokens > n)
                throw new ArgumentException($"image block [{start}, {(long)start + tokens}) overlaps the previous block (ends at {st}) or passes the sequence end {n}", nameof(images));
            for (int p = st; p < start; p++) SetAll(ids, n, p, next + (p - st));
            long baseId = next + (start - st);
            int o = start;
            for (int t = 0; t < grid.T; t++)
            {
                for (int i = 0; i < gh; i++)
                {
                    for (int j = 0; j < gw; j++, o++)
                    {
                        ids[o] = baseId + t;
                        ids[n + o] = baseId + i;
                        ids[2 * n + o] = baseId + j;
                    }
                }
            }
            next = baseId + Math.Max(grid.T, Math.Max(gh, gw));
            st = start + tokens;
        }
        for (int p = st; p < n; p++) SetAll(ids, n, p, next + (p - st));
        return new MropePositionIds(ids, n);
    }

    /// <summary>
    /// The reference's own path from token ids: an image block is a <c>&lt;|vision_start|&gt;</c> followed by
    /// <c>&lt;|image_pad|&gt;</c>; the k-th such block takes <paramref name="grids"/>[k] and covers its merged token count.
    /// </summary>
    /// <exception cref="InputException">A block count or length that does not match the grids, or a video block.</exception>
    public static MropePositionIds FromInputIds(ReadOnlySpan<long> inputIds, Qwen2VlConfig config, IReadOnlyList<Qwen2VlImageGrid> grids)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(grids);
        int m = config.Vision.SpatialMergeSize;
        var blocks = new List<(int, Qwen2VlImageGrid)>();
        int searchFrom = 0;
        for (int p = 0; p + 1 < inputIds.Length; p++)
        {
            if (inputIds[p] != config.VisionStartTokenId) continue;
            if (inputIds[p + 1] == config.VideoTokenId)
                throw new InputException(null, "input ids", $"a video block at position {p + 1}; videos are not implemented");
            if (inputIds[p + 1] != config.ImageTokenId) continue;
            int start = p + 1 >= searchFrom ? inputIds[searchFrom..].IndexOf((long)config.ImageTokenId) + searchFrom : -1;
            if (start < 0) throw new InputException(null, "input ids", $"the vision_start at {p} is inside the previous image block");
            if (blocks.Count >= grids.Count)
                throw new InputException(null, "input ids", $"more image blocks than the {grids.Count} image grid(s) given");
            var grid = grids[blocks.Count];
            int tokens = grid.TokenCount(m);
            int run = 0;
            while (start + run < inputIds.Length && inputIds[start + run] == config.ImageTokenId) run++;
            if (run != tokens)
                throw new InputException(null, "input ids",
                    $"the image block at {start} has {run} image tokens but grid {grid} gives {tokens}; expand the image token with the processor's count");
            blocks.Add((start, grid));
            searchFrom = start + tokens;
        }
        if (blocks.Count != grids.Count)
            throw new InputException(null, "input ids", $"{blocks.Count} image block(s) (vision_start + image_pad) for {grids.Count} image grid(s)");
        return ForImages(inputIds.Length, blocks, m);
    }

    private static void SetAll(long[] ids, int n, int p, long value)
    {
        ids[p] = value;
        ids[n + p] = value;
        ids[2 * n + p] = value;
    }
}

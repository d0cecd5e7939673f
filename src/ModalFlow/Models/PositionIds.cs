namespace ModalFlow.Models;

/// <summary>
/// The rotary position ids of one sequence, as the decoder sees them: one axis (Llama, Qwen2: 0..N-1) or three
/// (Qwen2-VL M-RoPE: t, h, w rows as transformers' <c>get_rope_index</c> builds them). A family computes them once
/// per input; the clean run and every knockout recompute read the same ids (a suffix keeps its absolute positions).
/// </summary>
public sealed class PositionIds
{
    private readonly long[][] _axes;   // [axes][N]

    private PositionIds(long[][] axes) => _axes = axes;

    /// <summary>1 (plain RoPE) or 3 (M-RoPE t, h, w).</summary>
    public int Axes => _axes.Length;

    /// <summary>N: positions in the sequence.</summary>
    public int Length => _axes[0].Length;

    /// <summary>The ids of one axis.</summary>
    public ReadOnlySpan<long> Axis(int axis) => _axes[axis];

    /// <summary>0..n-1 on <paramref name="axes"/> identical axes (text-only M-RoPE equals 1-D RoPE).</summary>
    public static PositionIds Sequential(int n, int axes = 1)
    {
        if (n < 0) throw new ArgumentOutOfRangeException(nameof(n), $"{n}; expected a non-negative length");
        if (axes is not (1 or 3)) throw new ArgumentOutOfRangeException(nameof(axes), $"{axes}; expected 1 or 3 axes");
        var row = new long[n];
        for (int i = 0; i < n; i++) row[i] = i;
        return new PositionIds(Enumerable.Range(0, axes).Select(_ => (long[])row.Clone()).ToArray());
    }

    /// <summary>Explicit ids, one row per axis (all rows the same length).</summary>
    public static PositionIds FromAxes(IReadOnlyList<long[]> axes)
    {
        ArgumentNullException.ThrowIfNull(axes);
        if (axes.Count is not (1 or 3)) throw new ArgumentException($"expected 1 or 3 position axes, got {axes.Count}", nameof(axes));
        if (axes.Any(a => a.Length != axes[0].Length))
            throw new ArgumentException($"position axes differ in length: {string.Join(", ", axes.Select(a => a.Length))}", nameof(axes));
        return new PositionIds(axes.Select(a => (long[])a.Clone()).ToArray());
    }

    /// <summary>Positions [start, start + count).</summary>
    public PositionIds Slice(int start, int count)
    {
        if (start < 0 || count < 0 || start + count > Length)
            throw new ArgumentOutOfRangeException(nameof(start), $"[{start}, {start + count}) is outside the {Length} positions");
        return new PositionIds(_axes.Select(a => a.AsSpan(start, count).ToArray()).ToArray());
    }

    /// <summary>
    /// The position a token appended after this sequence gets on every axis: max + 1 (transformers' generation:
    /// 1-D = N; M-RoPE = cache position + rope_deltas, the same number).
    /// </summary>
    public long Next => Length == 0 ? 0 : _axes.Max(a => a.Max()) + 1;

    /// <summary>This sequence followed by <paramref name="count"/> text tokens (ids Next, Next+1, … on every axis).</summary>
    public PositionIds Append(int count)
    {
        long next = Next;
        return new PositionIds(_axes.Select(a =>
        {
            var row = new long[a.Length + count];
            a.CopyTo(row, 0);
            for (int i = 0; i < count; i++) row[a.Length + i] = next + i;
            return row;
        }).ToArray());
    }

    /// <summary>Ids for <paramref name="count"/> text tokens following this sequence (not the sequence itself).</summary>
    public PositionIds Following(int count) => Append(count).Slice(Length, count);

    /// <summary>True when every axis is 0..N-1 (the ids a text-only or LLaVA sequence has).</summary>
    public bool IsSequential => _axes.All(a => a.Select((v, i) => v == i).All(x => x));

    public override string ToString() => Axes == 1 ? $"1-D positions [0, {Next})" : $"M-RoPE positions (t, h, w), N = {Length}, next {Next}";
}

using System.Collections.Immutable;

namespace ModalFlow.Tracing;

/// <summary>
/// One attention knockout (DESIGN §2): at every layer in <see cref="Layers"/>, no target row may attend to a
/// source column, on top of the causal mask. Pure data; engines apply it at the declared mask point.
/// An empty source or target set is a valid knockout that blocks nothing (<see cref="BlocksNothing"/>): the paper keeps
/// such samples (e.g. Experiment 3 with boxes covering the whole image) and they add p2 = p1 to their curve.
/// </summary>
public sealed record KnockoutSpec
{
    public KnockoutSpec(PositionSet sources, PositionSet targets, IEnumerable<int> layers, string label = "")
    {
        Sources = sources;
        Targets = targets;
        Layers = layers.Distinct().Order().ToImmutableArray();
        Label = label;
        if (Layers.Length == 0) throw new InputException(null, "layers", $"knockout '{label}': no layers given; expected at least one decoder layer");
    }

    public PositionSet Sources { get; }
    public PositionSet Targets { get; }
    public ImmutableArray<int> Layers { get; }
    public string Label { get; }

    /// <summary>
    /// The query heads whose attention is edited (sorted, distinct); empty = every head, the paper's knockout. The unit is
    /// a query head also in grouped-query models: a key/value head shared by several query heads is edited only for the
    /// query heads listed.
    /// </summary>
    public ImmutableArray<int> Heads { get; init => field = value.IsDefault ? [] : value.Distinct().Order().ToImmutableArray(); } = [];

    /// <summary>True when only some heads are edited.</summary>
    public bool IsPerHead => Heads.Length > 0;

    /// <summary>True when the source or the target set is empty: no attention edge is removed, p2 = p1.</summary>
    public bool BlocksNothing => Sources.Count == 0 || Targets.Count == 0;

    /// <summary>t₀ = min T: positions before it never change (DESIGN §3). Undefined when <see cref="BlocksNothing"/>.</summary>
    public int FirstTarget => Targets.First;

    /// <summary>ℓ₀ = min Λ: the residual stream entering this layer equals the clean run's.</summary>
    public int FirstLayer => Layers[0];

    /// <summary>Throws when a position, layer or head lies outside the model/sequence.</summary>
    public void Validate(int seqLen, int numLayers, int numHeads = int.MaxValue)
    {
        if (Heads.Length > 0 && (Heads[0] < 0 || Heads[^1] >= numHeads))
            throw new InputException(null, "heads", $"knockout '{Label}': head {(Heads[0] < 0 ? Heads[0] : Heads[^1])} is outside 0..{numHeads - 1}");
        int last = Math.Max(Sources.Count > 0 ? Sources.Positions[^1] : -1, Targets.Count > 0 ? Targets.Positions[^1] : -1);
        if (last >= seqLen)
            throw new InputException(null, "positions", $"knockout '{Label}': position {last} is outside the sequence of {seqLen} positions");
        if (Layers[0] < 0 || Layers[^1] >= numLayers)
            throw new InputException(null, "layers", $"knockout '{Label}': layer {(Layers[0] < 0 ? Layers[0] : Layers[^1])} is outside 0..{numLayers - 1}");
    }
}

/// <summary>A block "A->B": B (targets) may not attend to A (sources), as the paper writes it.</summary>
public sealed record BlockDescriptor(string Source, string Target)
{
    /// <summary>The paper's four blocks (Figures 2–4).</summary>
    public static IReadOnlyList<string> PaperBlocks { get; } = ["Image->Question", "Question->Last", "Image->Last", "Last->Last"];

    public static BlockDescriptor Parse(string text)
    {
        var parts = text.Split("->", StringSplitOptions.TrimEntries);
        if (parts.Length != 2 || parts[0].Length == 0 || parts[1].Length == 0)
            throw new InputException(null, "block", $"'{text}' is not a block; expected 'Source->Target', e.g. {string.Join(", ", PaperBlocks)}");
        return new BlockDescriptor(parts[0], parts[1]);
    }

    public override string ToString() => $"{Source}->{Target}";
}

/// <summary>The paper's layer windows.</summary>
public static class LayerWindow
{
    /// <summary>
    /// k layers around layer ℓ, clipped at the ends: {max(0, ℓ-⌊k/2⌋) … min(L, ℓ+⌈k/2⌉)-1}
    /// (the paper's <c>range(max(0, l - k//2), min(L, l - (-k//2)))</c>).
    /// </summary>
    public static int[] Around(int center, int k, int numLayers)
    {
        if (k < 1) throw new InputException(null, "window", $"{k}; expected a window of at least 1 layer");
        if (center < 0 || center >= numLayers) throw new ArgumentOutOfRangeException(nameof(center), $"{center} not in 0..{numLayers - 1}");
        int lo = Math.Max(0, center - k / 2);
        int hi = Math.Min(numLayers, center + (k + 1) / 2);
        return Enumerable.Range(lo, hi - lo).ToArray();
    }
}

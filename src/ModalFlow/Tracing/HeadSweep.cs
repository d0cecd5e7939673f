using System.Collections.Immutable;
using ModalFlow.Text;

namespace ModalFlow.Tracing;

/// <summary>One cell of a per-head map: the knockout of one block at one window-centre layer for one head selection.</summary>
/// <param name="Head">−1: every head (the paper's knockout); else the head knocked out alone, or (<paramref name="Complement"/>) the one head spared.</param>
public sealed record HeadCell(string Block, int Layer, int Head, bool Complement, KnockoutSpec Spec);

/// <summary>p1 → p2 of one per-head cell.</summary>
/// <param name="Complement">False: head <see cref="Head"/> alone was knocked out; true: every head but it.</param>
public sealed record HeadScore(int Layer, int Head, bool Complement, IReadOnlyList<int> WindowLayers, double P2, double LogProb2, double RelativeChange, long Top1New);

/// <summary>
/// One block's per-head maps: the all-heads window sweep (<see cref="Layers"/>, as <see cref="Tracer.Sweep"/> gives it),
/// each head knocked out alone (<see cref="Alone"/>: which heads are necessary) and every head but one
/// (<see cref="AllBut"/>: which single head is sufficient), each ordered by layer, then head.
/// </summary>
public sealed record HeadConditionResult(string Block, int Window, int NumHeads, IReadOnlyList<LayerScore> Layers, IReadOnlyList<HeadScore> Alone, IReadOnlyList<HeadScore> AllBut)
{
    /// <summary>The relative change (%) as a [layer, head] matrix.</summary>
    public double[,] Matrix(bool complement)
    {
        var cells = complement ? AllBut : Alone;
        var m = new double[Layers.Count, NumHeads];
        foreach (var c in cells) m[c.Layer, c.Head] = c.RelativeChange;
        return m;
    }
}

/// <summary>
/// Per-head knockout maps (issue 13): for each block, each window-centre layer ℓ (window k around it) and each query
/// head h, the knockout of head h alone and of every head but h, plus the ordinary all-heads knockout, run as one call
/// to the engine (the fast engine batches them by t₀). A layer × head map of the relative change shows which heads
/// move the source into the target.
/// </summary>
public static class HeadSweep
{
    /// <summary>The cells of one block: per layer the all-heads spec, then each head alone, then each all-but-one.</summary>
    public static IReadOnlyList<HeadCell> Cells(SequenceLayout layout, int numLayers, int numHeads, BlockDescriptor block, int window,
        Func<string, SequenceLayout, PositionSet>? resolve = null)
    {
        if (numHeads < 1) throw new ArgumentOutOfRangeException(nameof(numHeads), numHeads, "a decoder has at least one head");
        resolve ??= NamedPositions.Resolve;
        var sources = resolve(block.Source, layout);
        var targets = resolve(block.Target, layout);
        var name = block.ToString();
        var cells = new List<HeadCell>(numLayers * (2 * numHeads + 1));
        for (int l = 0; l < numLayers; l++)
        {
            var layers = LayerWindow.Around(l, window, numLayers);
            cells.Add(new HeadCell(name, l, -1, false, new KnockoutSpec(sources, targets, layers, $"{name}@{l}")));
            for (int h = 0; h < numHeads; h++)
                cells.Add(new HeadCell(name, l, h, false, new KnockoutSpec(sources, targets, layers, $"{name}@{l} head {h}") { Heads = [h] }));
            for (int h = 0; h < numHeads; h++)
            {
                int spared = h;
                var edited = Enumerable.Range(0, numHeads).Where(x => x != spared).ToImmutableArray();
                // With one head, "all but h" edits no head; an empty Heads list would mean every head, so block nothing instead.
                var spec = edited.Length == 0
                    ? new KnockoutSpec(PositionSet.Of(sources.Name, []), targets, layers, $"{name}@{l} all heads but {h}")
                    : new KnockoutSpec(sources, targets, layers, $"{name}@{l} all heads but {h}") { Heads = edited };
                cells.Add(new HeadCell(name, l, h, true, spec));
            }
        }
        return cells;
    }

    /// <summary>Every block's cells as one engine call; results per block in the order of <paramref name="blocks"/>.</summary>
    public static IReadOnlyList<HeadConditionResult> Run(CleanRun clean, SequenceLayout layout, IReadOnlyList<BlockDescriptor> blocks, int window,
        IKnockoutEngine engine, Func<string, SequenceLayout, PositionSet>? resolve = null)
    {
        int numHeads = clean.Decoder.NumHeads;
        var perBlock = blocks.Select(b => Cells(layout, clean.NumLayers, numHeads, b, window, resolve)).ToList();
        var outcomes = engine.Run(clean, perBlock.SelectMany(c => c.Select(x => x.Spec)).ToList());
        var results = new List<HeadConditionResult>();
        int k = 0;
        foreach (var cells in perBlock)
        {
            var layers = new List<LayerScore>();
            var alone = new List<HeadScore>();
            var allBut = new List<HeadScore>();
            foreach (var cell in cells)
            {
                var o = outcomes[k++];
                double change = Tracer.RelativeChange(clean.P1, o.P2);
                if (cell.Head < 0) layers.Add(new LayerScore(cell.Layer, cell.Spec.Layers, o.P2, o.LogP2, change, o.Top1New));
                else (cell.Complement ? allBut : alone).Add(new HeadScore(cell.Layer, cell.Head, cell.Complement, cell.Spec.Layers, o.P2, o.LogP2, change, o.Top1New));
            }
            results.Add(new HeadConditionResult(cells[0].Block, window, numHeads, layers, alone, allBut));
        }
        return results;
    }
}

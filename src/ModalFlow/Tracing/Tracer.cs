using ModalFlow.Text;

namespace ModalFlow.Tracing;

/// <summary>One block's window sweep: p2 and the relative change for every window centre layer.</summary>
public sealed record ConditionResult(string Block, int Window, IReadOnlyList<LayerScore> Layers);

/// <summary>p1 → p2 at one window centre; relative change = (p2 − p1)/p1 · 100 (DESIGN §2).</summary>
public sealed record LayerScore(int Layer, IReadOnlyList<int> WindowLayers, double P2, double LogProb2, double RelativeChange, long Top1New);

/// <summary>Knockout sweeps over named blocks for one prepared sample.</summary>
public static class Tracer
{
    /// <summary>The paper's sweep: for each block and each centre layer ℓ, knock out the window of k layers around ℓ.</summary>
    public static IReadOnlyList<KnockoutSpec> WindowSweep(SequenceLayout layout, int numLayers, BlockDescriptor block, int window,
        Func<string, SequenceLayout, PositionSet>? resolve = null)
    {
        resolve ??= NamedPositions.Resolve;
        var sources = resolve(block.Source, layout);
        var targets = resolve(block.Target, layout);
        return Enumerable.Range(0, numLayers)
            .Select(l => new KnockoutSpec(sources, targets, LayerWindow.Around(l, window, numLayers), $"{block}@{l}"))
            .ToList();
    }

    /// <summary>Runs every block's sweep as one call to the engine (the fast engine batches by t₀ across blocks).</summary>
    public static IReadOnlyList<ConditionResult> Sweep(CleanRun clean, SequenceLayout layout, IReadOnlyList<BlockDescriptor> blocks,
        int window, IKnockoutEngine engine, Func<string, SequenceLayout, PositionSet>? resolve = null)
    {
        var perBlock = blocks.Select(b => WindowSweep(layout, clean.NumLayers, b, window, resolve)).ToList();
        var outcomes = engine.Run(clean, perBlock.SelectMany(s => s).ToList());
        var results = new List<ConditionResult>();
        int k = 0;
        for (int b = 0; b < blocks.Count; b++)
        {
            var layers = perBlock[b].Select((spec, l) =>
            {
                var o = outcomes[k++];
                return new LayerScore(l, spec.Layers, o.P2, o.LogP2, RelativeChange(clean.P1, o.P2), o.Top1New);
            }).ToList();
            results.Add(new ConditionResult(blocks[b].ToString(), window, layers));
        }
        return results;
    }

    /// <summary>(p2 − p1) / p1 × 100.</summary>
    public static double RelativeChange(double p1, double p2) => (p2 - p1) / p1 * 100.0;
}

using ModalFlow.Results;
using ModalFlow.Tracing;

namespace ModalFlow.Experiments;

/// <summary>
/// The per-head maps measurement (<see cref="ExperimentKind.Heads"/>, issue 13): for each block, each window-centre
/// layer (window <see cref="RunOptions.Window"/>; the CLI's default for this experiment is 1) and each query head h, the
/// knockout of head h alone (<see cref="KnockoutRow.Heads"/> "h") and of every head but h ("-h"), plus the all-heads
/// knockout ("") as the reference, all in one engine call (<see cref="HeadSweep"/>). Per sample and block that is
/// L × (2H + 1) rows. In grouped-query models the unit is a query head.
/// </summary>
public static class HeadMaps
{
    public static SampleRows Measure(SampleContext s)
    {
        var results = HeadSweep.Run(s.Tracked, s.Input.Layout, s.Blocks, s.Options.Window, s.Engine, s.Resolve);
        var rows = new List<KnockoutRow>();
        foreach (var c in results)
        {
            foreach (var l in c.Layers)
                rows.Add(s.KnockoutRow(c.Block, c.Window, l.Layer, l.WindowLayers, l.P2, l.LogProb2, l.Top1New));
            foreach (var h in c.Alone.Concat(c.AllBut))
                rows.Add(s.KnockoutRow(c.Block, c.Window, h.Layer, h.WindowLayers, h.P2, h.LogProb2, h.Top1New) with { Heads = Code(h) });
        }
        return new SampleRows(rows, []);
    }

    /// <summary>The stored code of a cell: "h" (head h alone knocked out) or "-h" (every head but h).</summary>
    public static string Code(HeadScore h) => h.Complement ? HeadSelection.AllBut(h.Head) : HeadSelection.Alone(h.Head);
}

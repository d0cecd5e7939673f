using ModalFlow.Tests.Support;
using ModalFlow.Text;
using ModalFlow.Tracing;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace ModalFlow.Tests.Tracing;

/// <summary>Per-head maps (issue 13): which cells a map has, and that its numbers are single-spec knockouts.</summary>
public class HeadSweepTests(ITestOutputHelper log)
{
    private static Func<string, SequenceLayout, PositionSet> Sets(int n) => (name, _) => name switch
    {
        "Image" => PositionSet.Range("Image", 2, 12),
        "Question" => PositionSet.Range("Question", 14, n - 2),
        "Last" => PositionSet.Of("Last", [n - 1]),
        _ => throw new ArgumentException(name),
    };

    [SharedFact]
    public void Cells_Are_All_Heads_Then_Each_Head_Alone_Then_All_But_Each_Head_Per_Layer()
    {
        const int layers = 5, heads = 4, window = 3;
        var cells = HeadSweep.Cells(null!, layers, heads, BlockDescriptor.Parse("Image->Question"), window, Sets(30));
        Assert.Equal(layers * (2 * heads + 1), cells.Count);
        foreach (var byLayer in cells.GroupBy(c => c.Layer))
        {
            var l = byLayer.Key;
            var list = byLayer.ToList();
            Assert.All(list, c => Assert.Equal(LayerWindow.Around(l, window, layers), c.Spec.Layers.ToArray()));
            Assert.All(list, c => Assert.Equal("Image->Question", c.Block));
            var all = Assert.Single(list, c => c.Head < 0);
            Assert.Empty(all.Spec.Heads);   // the paper's knockout: every head
            for (int h = 0; h < heads; h++)
            {
                var alone = Assert.Single(list, c => c.Head == h && !c.Complement);
                Assert.Equal([h], alone.Spec.Heads.ToArray());
                var allBut = Assert.Single(list, c => c.Head == h && c.Complement);
                Assert.Equal(Enumerable.Range(0, heads).Where(x => x != h), allBut.Spec.Heads.ToArray());
            }
            // Every spec of a layer blocks the same edges: sources and targets come from the block alone.
            Assert.All(list, c => Assert.Equal(all.Spec.Sources, c.Spec.Sources));
            Assert.All(list, c => Assert.Equal(all.Spec.Targets, c.Spec.Targets));
        }
        Assert.Equal(cells.Count, cells.Select(c => c.Spec.Label).Distinct().Count());   // labels name the cell
    }

    [SharedFact]
    public void With_One_Head_All_But_That_Head_Blocks_Nothing()
    {
        var cells = HeadSweep.Cells(null!, 2, 1, BlockDescriptor.Parse("Image->Last"), 1, Sets(30));
        var allBut = cells.Where(c => c.Complement).ToList();
        Assert.Equal(2, allBut.Count);
        Assert.All(allBut, c => Assert.True(c.Spec.BlocksNothing));   // an empty Heads list would mean every head
        Assert.All(cells.Where(c => !c.Complement), c => Assert.False(c.Spec.BlocksNothing));
    }

    [SharedTheory]
    [InlineData(21, 4, 4)]  // multi-head
    [InlineData(22, 4, 2)]  // grouped-query: the unit is a query head
    [InlineData(23, 3, 1)]  // multi-query
    public void Maps_Equal_Single_Spec_Naive_Knockouts_And_The_All_Heads_Row_Equals_The_Sweep(int seed, int heads, int kvHeads)
    {
        const int layers = 4, n = 30, window = 1;
        using var decoder = FastKnockoutPropertyTests.RandomDecoder(seed, heads, kvHeads, layers);
        using var scope = NewDisposeScope();
        using var clean = FastKnockoutPropertyTests.RandomClean(decoder, seed, n);
        var blocks = new[] { BlockDescriptor.Parse("Image->Question"), BlockDescriptor.Parse("Question->Last") };
        var maps = HeadSweep.Run(clean, null!, blocks, window, new FastKnockoutEngine(), Sets(n));
        var sweep = Tracer.Sweep(clean, null!, blocks, window, new FastKnockoutEngine(), Sets(n));
        var naive = new NaiveKnockoutEngine();
        double worst = 0;
        for (int b = 0; b < blocks.Length; b++)
        {
            var map = maps[b];
            Assert.Equal(blocks[b].ToString(), map.Block);
            Assert.Equal(heads, map.NumHeads);
            Assert.Equal(layers * heads, map.Alone.Count);
            Assert.Equal(layers * heads, map.AllBut.Count);
            for (int l = 0; l < layers; l++)   // same specs, other batches: equal up to float rounding
                Assert.True(Math.Abs(sweep[b].Layers[l].P2 - map.Layers[l].P2) <= 1e-6, $"{map.Block}@{l}: sweep {sweep[b].Layers[l].P2:R}, map {map.Layers[l].P2:R}");

            // The independent path: each cell's knockout built by hand from the block's sets, run alone on the naive engine.
            var sources = Sets(n)(blocks[b].Source, null!);
            var targets = Sets(n)(blocks[b].Target, null!);
            var specs = map.Alone.Concat(map.AllBut).Select(h => new KnockoutSpec(sources, targets, [h.Layer])
            {
                Heads = h.Complement ? [.. Enumerable.Range(0, heads).Where(x => x != h.Head)] : [h.Head],
            }).ToList();
            var reference = naive.Run(clean, specs);
            var cells = map.Alone.Concat(map.AllBut).ToList();
            for (int i = 0; i < cells.Count; i++)
            {
                double rel = Math.Abs(cells[i].P2 - reference[i].P2) / reference[i].P2;
                worst = Math.Max(worst, rel);
                Assert.True(rel <= 1e-5, $"{map.Block} layer {cells[i].Layer} head {cells[i].Head} complement {cells[i].Complement}: map {cells[i].P2:R} naive {reference[i].P2:R}");
                Assert.Equal(Tracer.RelativeChange(clean.P1, cells[i].P2), cells[i].RelativeChange, 1e-9);
            }
            var m = map.Matrix(complement: false);
            foreach (var h in map.Alone) Assert.Equal(h.RelativeChange, m[h.Layer, h.Head]);
        }
        log.WriteLine($"seed {seed} heads {heads}/{kvHeads}: worst relative |p2 map - p2 naive single spec| = {worst:E2}");
    }
}

using ModalFlow.Checkpoints;
using ModalFlow.Models;
using ModalFlow.Platform;
using ModalFlow.Tests.Support;
using ModalFlow.Tracing;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;
using ImageWithdrawal = ModalFlow.Experiments.ImageWithdrawal;

namespace ModalFlow.Tests.Tracing;

public class FastKnockoutPropertyTests(ITestOutputHelper log)
{
    internal static LlamaDecoder RandomDecoder(int seed, int heads, int kvHeads, int layers, int headDim = 8, int vocab = 97)
    {
        TorchRuntime.Initialize();
        var cfg = new LlamaTextConfig
        {
            VocabSize = vocab, HiddenSize = heads * headDim, IntermediateSize = 3 * heads * headDim, NumHiddenLayers = layers,
            NumAttentionHeads = heads, NumKeyValueHeadsRaw = kvHeads, RmsNormEps = 1e-5,
        };
        return new LlamaDecoder(cfg, new RandomWeightSource(seed, ScalarType.Float32, CPU), "language_model.", tiedEmbeddings: false);
    }

    /// <summary>The clean run of <paramref name="n"/> random embeddings (seeded), in the caller's dispose scope.</summary>
    internal static CleanRun RandomClean(ITextDecoder decoder, int seed, int n) =>
        CleanRun.Create(decoder, normal(0, 1, [1, n, decoder.HiddenSize], generator: new TorchSharp.torch.Generator((ulong)seed)));

    private static PositionSet RandomSet(Random rng, string name, int lo, int hi, int maxCount)
    {
        int count = rng.Next(1, Math.Min(maxCount, hi - lo) + 1);
        return PositionSet.Of(name, Enumerable.Range(0, count).Select(_ => rng.Next(lo, hi)));
    }

    [SharedTheory]
    [InlineData(11, 4, 4)]  // multi-head
    [InlineData(12, 4, 2)]  // grouped-query
    [InlineData(13, 6, 1)]  // multi-query
    public void Knockout_FastPath_Equals_NaivePath_OnRandomSpecs(int seed, int heads, int kvHeads)
    {
        var rng = new Random(seed);
        int layers = 5, n = rng.Next(24, 48);
        using var decoder = RandomDecoder(seed, heads, kvHeads, layers);
        using var scope = NewDisposeScope();
        using var clean = RandomClean(decoder, seed, n);
        var specs = new List<KnockoutSpec>();
        for (int i = 0; i < 24; i++)
        {
            // Random S, T anywhere (sources after targets included), random layer subsets (not only windows).
            var sources = RandomSet(rng, "S", 0, n, 12);
            var targets = RandomSet(rng, "T", rng.Next(0, n - 1), n, 8);
            var layerSet = Enumerable.Range(0, layers).Where(_ => rng.NextDouble() < 0.5).DefaultIfEmpty(rng.Next(layers));
            specs.Add(new KnockoutSpec(sources, targets, layerSet, $"random{i}"));
        }
        var fast = new FastKnockoutEngine().Run(clean, specs);
        var naive = new NaiveKnockoutEngine().Run(clean, specs);
        double worst = 0;
        for (int i = 0; i < specs.Count; i++)
        {
            double rel = Math.Abs(fast[i].P2 - naive[i].P2) / naive[i].P2;
            worst = Math.Max(worst, rel);
            Assert.True(rel <= 1e-5, $"{specs[i].Label} S={specs[i].Sources} T={specs[i].Targets} Λ=[{string.Join(",", specs[i].Layers)}]: fast {fast[i].P2:R} naive {naive[i].P2:R} (rel {rel:E2})");
            Assert.Equal(naive[i].Top1New, fast[i].Top1New);
        }
        log.WriteLine($"seed {seed} heads {heads}/{kvHeads} N={n}: worst relative |p2 fast - p2 naive| = {worst:E2}; p1 = {clean.P1:F4}");
    }

    [Fact]
    public void Identical_Variants_Share_Rows_And_Every_One_Still_Equals_Its_Naive_Knockout()
    {
        // Window sweeps clamp at layer 0 (those windows compute the same until the narrowest ends), plus a spec given twice,
        // per-head variants of one block and a second block with the same targets: every case of sharing and splitting.
        var rng = new Random(21);
        int layers = 6, n = 30, heads = 4;
        using var decoder = RandomDecoder(21, heads, 2, layers);
        using var scope = NewDisposeScope();
        using var generator = new TorchSharp.torch.Generator(21);
        using var clean = CleanRun.Create(decoder, TensorFactories.Normal(0, 1, [1, n, decoder.HiddenSize], generator));
        var image = PositionSet.Range("Image", 2, 20);
        var question = PositionSet.Range("Question", 22, 27);
        var last = PositionSet.Of("Last", [n - 1]);
        List<KnockoutSpec> Sweep(PositionSet src, PositionSet dst, int window) =>
            Enumerable.Range(0, layers).Select(l => new KnockoutSpec(src, dst, LayerWindow.Around(l, window, layers), $"{src.Name}->{dst.Name}@{l}")).ToList();
        var specs = Sweep(image, question, 5).Concat(Sweep(question, last, 5)).Concat(Sweep(image, last, 3)).ToList();
        specs.Add(specs[1]);
        specs.AddRange(Enumerable.Range(0, heads).Select(h => new KnockoutSpec(image, question, [0, 1], $"Image->Question@0-1 head {h}") { Heads = [h] }));
        specs.Add(new KnockoutSpec(image, question, [0, 1], "Image->Question@0-1 all heads") { Heads = [.. Enumerable.Range(0, heads)] });

        var engine = new FastKnockoutEngine();
        var fast = engine.Run(clean, specs);
        var naive = new NaiveKnockoutEngine().Run(clean, specs);
        for (int i = 0; i < specs.Count; i++)
        {
            double rel = Math.Abs(fast[i].P2 - naive[i].P2) / naive[i].P2;
            Assert.True(rel <= 1e-5, $"{specs[i].Label} [{string.Join(",", specs[i].Layers)}]: fast {fast[i].P2:R} naive {naive[i].P2:R} (rel {rel:E2})");
        }
        Assert.Equal(fast[1].LogP2, fast[specs.Count - heads - 2].LogP2);              // the repeated spec: the very same row

        // Rows computed, counted independently: per group (t₀) and layer, the distinct histories of the started variants
        // (first layer, blocked pairs, heads, edit flags so far), each q rows; without sharing, one per variant. A history
        // in its first layer (not the last) computes only the rows up to its last target when it needs no extra pass: it is
        // the group's first, or the group holds per-head masks (edited states already run apart).
        long shared = 0, unshared = 0;
        foreach (var group in specs.GroupBy(x => x.FirstTarget))
        {
            long q = n - group.Key;
            bool perHeadMasks = group.Any(x => x.IsPerHead && x.Heads.Length < heads);
            int firstLayer = group.Min(x => x.FirstLayer);
            for (int l = firstLayer; l < layers; l++)
            {
                var started = group.Where(x => x.FirstLayer <= l).ToList();
                unshared += started.Count * q;
                var histories = started.Select(x => (x, Key: string.Join("/", x.FirstLayer, x.Sources.Name, x.Targets.Name,
                    x.IsPerHead && x.Heads.Length < heads ? string.Join(" ", x.Heads) : "all",
                    string.Concat(Enumerable.Range(x.FirstLayer, l - x.FirstLayer + 1).Select(k => x.Layers.Contains(k) ? '1' : '0')))))
                    .DistinctBy(h => h.Key).Select(h => h.x).ToList();
                var joining = histories.Where(x => x.FirstLayer == l).ToList();
                long headRows = joining.Count == 0 ? q : joining.Max(x => x.Targets.Positions[^1]) + 1 - group.Key;
                bool shortcut = l < layers - 1 && headRows < q && (l == firstLayer || perHeadMasks);
                shared += histories.Sum(x => shortcut && x.FirstLayer == l ? headRows : q);
            }
        }
        log.WriteLine($"row-layers: {engine.RowLayersComputed} computed, {shared} distinct histories, {unshared} without sharing");
        Assert.Equal(shared, engine.RowLayersComputed);
        Assert.True(shared < unshared);
    }

    [Fact]
    public void Rows_Needed_Leaves_Out_Only_Sources_No_Needed_Later_Row_Reads()
    {
        int n = 10, layers = 5, heads = 4;
        KnockoutSpec Spec(int[] s, int[] t, int[] l, int[]? h = null) =>
            new(PositionSet.Of("S", s), PositionSet.Of("T", t), l) { Heads = h is null ? [] : [.. h] };
        // t0 = 4: rows 4 … 9. Sources 5 and 7 are blocked from every later row but the sources themselves: not needed.
        Assert.Equal([0L, 2, 4, 5], KnockoutEngine.RowsNeeded([Spec([3, 5, 7], [4, 6, 8, 9], [2, 3, 4])], 4, n, layers, heads) ?? []);
        // The last position is a source but not a target: it reads 5 and 7, so every row is needed.
        Assert.Null(KnockoutEngine.RowsNeeded([Spec([3, 5, 7, 9], [4, 6, 8], [2, 3, 4])], 4, n, layers, heads));
        // Row 8 is neither source nor target: it reads 5 and 7, so every row is needed.
        Assert.Null(KnockoutEngine.RowsNeeded([Spec([3, 5, 7], [4, 6, 9], [2, 3, 4])], 4, n, layers, heads));
        // The edit must reach the last layer, in every head; and a batch computes what any of its specs needs.
        Assert.Null(KnockoutEngine.RowsNeeded([Spec([3, 5, 7], [4, 6, 8, 9], [2, 3])], 4, n, layers, heads));
        Assert.Null(KnockoutEngine.RowsNeeded([Spec([3, 5, 7], [4, 6, 8, 9], [2, 4])], 4, n, layers, heads));
        Assert.Null(KnockoutEngine.RowsNeeded([Spec([3, 5, 7], [4, 6, 8, 9], [2, 3, 4], [1])], 4, n, layers, heads));
        Assert.Equal([0L, 2, 4, 5], KnockoutEngine.RowsNeeded([Spec([3, 5, 7], [4, 6, 8, 9], [2, 3, 4], [0, 1, 2, 3])], 4, n, layers, heads) ?? []);
        Assert.Equal([0L, 2, 3, 4, 5], KnockoutEngine.RowsNeeded(
            [Spec([3, 5, 7], [4, 6, 8, 9], [2, 3, 4]), Spec([3, 5], [4, 6, 7, 8, 9], [1, 2, 3, 4])], 4, n, layers, heads) ?? []);
    }

    [Theory]
    [InlineData(31, 4, 4)]  // multi-head
    [InlineData(32, 4, 2)]  // grouped-query
    public void Withdrawn_Rows_Left_Out_Still_Give_The_Naive_Knockout(int seed, int heads, int kvHeads)
    {
        // Withdrawal-style specs (sources blocked from every later position from layer k on), some with the last position
        // withdrawn too, some per-head or ending early (every row needed), mixed in batches that share t₀.
        var rng = new Random(seed);
        int layers = 5, n = rng.Next(30, 48);
        using var decoder = RandomDecoder(seed, heads, kvHeads, layers);
        using var scope = NewDisposeScope();
        using var clean = RandomClean(decoder, seed, n);
        var specs = new List<KnockoutSpec>();
        for (int i = 0; i < 24; i++)
        {
            int first = rng.Next(1, n / 2);
            var withdrawn = new[] { first }.Concat(Enumerable.Range(first + 1, n - first - 2).Where(_ => rng.NextDouble() < 0.4));
            if (i % 6 == 5) withdrawn = withdrawn.Append(n - 1);
            int k = rng.Next(layers);
            var spec = ImageWithdrawal.Spec(withdrawn.ToList(), n, k, layers, $"withdraw{i}@{k}")!;
            if (i % 8 == 3) spec = spec with { Heads = [rng.Next(heads)] };
            if (i % 8 == 7) spec = new KnockoutSpec(spec.Sources, spec.Targets, Enumerable.Range(k, Math.Max(1, layers - k - 1)), spec.Label + " short");
            specs.Add(spec);
            if (i % 4 == 0) specs.Add(new KnockoutSpec(spec.Sources, spec.Targets, Enumerable.Range(k, layers - k), spec.Label + " twin"));
        }
        Assert.Contains(specs.GroupBy(s => s.FirstTarget), g => KnockoutEngine.RowsNeeded(g.ToList(), g.Key, n, layers, heads) is not null);
        double worst = PerHeadKnockoutTests.AssertFastEqualsNaive(clean, specs);
        log.WriteLine($"seed {seed} heads {heads}/{kvHeads} N={n}: worst relative |p2 fast - p2 naive| = {worst:E2}");
    }

    [SharedFact]
    public void Knockout_Edge_Cases_Behave()
    {
        int layers = 4, n = 20;
        using var decoder = RandomDecoder(5, 4, 2, layers);
        using var scope = NewDisposeScope();
        var embeds = normal(0, 1, [1, n, decoder.HiddenSize], generator: new TorchSharp.torch.Generator(5));
        using var clean = CleanRun.Create(decoder, embeds);
        var fast = new FastKnockoutEngine();
        var naive = new NaiveKnockoutEngine();

        // A target row whose every allowed key is blocked: finite, no NaN, fast = naive.
        var all = PositionSet.Range("All", 0, n);
        var lastRow = new KnockoutSpec(all, PositionSet.Of("Last", [n - 1]), [0, 1, 2, 3], "fully blocked row");
        var f = fast.Run(clean, [lastRow])[0];
        var nv = naive.Run(clean, [lastRow])[0];
        Assert.False(double.IsNaN(f.LogP2) || double.IsInfinity(f.LogP2));
        Assert.Equal(nv.P2, f.P2, 1e-6);

        // Sources after targets are causally irrelevant: no effect beyond float rounding (the fast path's fused attention
        // kernel rounds differently from the clean forward's: ~1e-6 in log p).
        var future = new KnockoutSpec(PositionSet.Range("Later", 10, n), PositionSet.Range("Earlier", 2, 10), [0, 1, 2, 3], "future sources");
        Assert.Equal(clean.LogP1, fast.Run(clean, [future])[0].LogP2, 1e-5);

        // Windows at the first and last layers are clipped; both run and agree with naive.
        var first = new KnockoutSpec(PositionSet.Range("S", 0, 5), PositionSet.Of("Last", [n - 1]), LayerWindow.Around(0, 3, layers), "first");
        var last = new KnockoutSpec(PositionSet.Range("S", 0, 5), PositionSet.Of("Last", [n - 1]), LayerWindow.Around(layers - 1, 3, layers), "last");
        Assert.Equal([0, 1], first.Layers.ToArray());
        Assert.Equal([2, 3], last.Layers.ToArray());
        var fr = fast.Run(clean, [first, last]);
        var nr = naive.Run(clean, [first, last]);
        Assert.Equal(nr[0].P2, fr[0].P2, 1e-6);
        Assert.Equal(nr[1].P2, fr[1].P2, 1e-6);

        // An empty set blocks nothing (issue 11: the paper keeps such samples): p2 = p1 on both engines.
        var nothing = new KnockoutSpec(PositionSet.Of("Nothing", []), all, [0]);
        Assert.True(nothing.BlocksNothing);
        Assert.Equal(clean.LogP1, fast.Run(clean, [nothing])[0].LogP2);
        Assert.Equal(clean.LogP1, naive.Run(clean, [nothing])[0].LogP2);
        // Out-of-range positions/layers: clear errors.
        var e2 = Assert.Throws<InputException>(() => fast.Run(clean, [new KnockoutSpec(all, PositionSet.Of("T", [n + 3]), [0], "oob")]));
        Assert.Contains("outside the sequence", e2.Message);
        var e3 = Assert.Throws<InputException>(() => fast.Run(clean, [new KnockoutSpec(all, all, [layers], "layer")]));
        Assert.Contains("outside 0..3", e3.Message);
    }

    [SharedTheory]
    [InlineData(0, 9, 32, new[] { 0, 1, 2, 3, 4 })]
    [InlineData(10, 9, 32, new[] { 6, 7, 8, 9, 10, 11, 12, 13, 14 })]
    [InlineData(31, 9, 32, new[] { 27, 28, 29, 30, 31 })]
    [InlineData(5, 4, 8, new[] { 3, 4, 5, 6 })]
    [InlineData(3, 1, 8, new[] { 3 })]
    public void LayerWindow_Follows_The_Papers_Range(int center, int k, int layers, int[] expected)
    {
        // range(max(0, l - k//2), min(L, l - (-k//2)))
        Assert.Equal(expected, LayerWindow.Around(center, k, layers));
    }

    [SharedFact]
    public void Block_Names_Parse_As_Source_Then_Target()
    {
        var b = BlockDescriptor.Parse("Image->Question");
        Assert.Equal(("Image", "Question"), (b.Source, b.Target));
        var e = Assert.Throws<InputException>(() => BlockDescriptor.Parse("Image-Question"));
        Assert.Contains("expected 'Source->Target'", e.Message);
    }
}

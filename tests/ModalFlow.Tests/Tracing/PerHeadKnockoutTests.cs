using ModalFlow.Inference;
using ModalFlow.Models;
using ModalFlow.Tests.Families;
using ModalFlow.Tests.Models;
using ModalFlow.Tests.Support;
using ModalFlow.Tracing;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace ModalFlow.Tests.Tracing;

/// <summary>
/// Per-head knockouts (issue 13): the fast engine's batched head variants equal the naive engine's full forwards, and a
/// spec naming every head is the paper's knockout to the bit.
/// </summary>
public sealed class PerHeadKnockoutTests(ITestOutputHelper log)
{
    /// <summary>Random specs, about two thirds of them with a random non-empty head set, windows and arbitrary layer sets.</summary>
    internal static List<KnockoutSpec> RandomHeadSpecs(Random rng, int n, int layers, int heads, int count, int firstTarget = 0)
    {
        var specs = new List<KnockoutSpec>();
        for (int i = 0; i < count; i++)
        {
            int lo = rng.Next(firstTarget, n - 1);
            var sources = PositionSet.Of("S", Enumerable.Range(0, rng.Next(1, 12)).Select(_ => rng.Next(0, n)));
            var targets = PositionSet.Of("T", Enumerable.Range(0, rng.Next(1, 6)).Select(_ => rng.Next(lo, n)));
            var layerSet = rng.NextDouble() < 0.5
                ? LayerWindow.Around(rng.Next(layers), 3, layers)
                : Enumerable.Range(0, layers).Where(_ => rng.NextDouble() < 0.5).DefaultIfEmpty(rng.Next(layers)).ToArray();
            var spec = new KnockoutSpec(sources, targets, layerSet, $"random{i}");
            if (rng.NextDouble() < 0.67)
                spec = spec with { Heads = [.. Enumerable.Range(0, heads).Where(_ => rng.NextDouble() < 0.4).DefaultIfEmpty(rng.Next(heads))] };
            specs.Add(spec);
        }
        return specs;
    }

    /// <summary>Asserts fast ≡ naive (relative |Δp2| ≤ 1e-5) and returns the worst relative difference.</summary>
    internal static double AssertFastEqualsNaive(CleanRun clean, IReadOnlyList<KnockoutSpec> specs)
    {
        var fast = new FastKnockoutEngine().Run(clean, specs);
        var naive = new NaiveKnockoutEngine().Run(clean, specs);
        double worst = 0;
        for (int i = 0; i < specs.Count; i++)
        {
            double rel = Math.Abs(fast[i].P2 - naive[i].P2) / naive[i].P2;
            worst = Math.Max(worst, rel);
            var s = specs[i];
            Assert.True(rel <= 1e-5, $"{s.Label} S={s.Sources} T={s.Targets} Λ=[{string.Join(",", s.Layers)}] heads=[{string.Join(",", s.Heads)}]: fast {fast[i].P2:R} naive {naive[i].P2:R} (rel {rel:E2})");
        }
        return worst;
    }

    [SharedTheory]
    [InlineData(21, 4, 4)]  // multi-head
    [InlineData(22, 6, 2)]  // grouped-query: 3 query heads per kv head
    [InlineData(23, 4, 1)]  // multi-query
    public void PerHead_FastPath_Equals_NaivePath_On_Random_Head_Sets(int seed, int heads, int kvHeads)
    {
        var rng = new Random(seed);
        int layers = 5, n = rng.Next(24, 48);
        using var decoder = FastKnockoutPropertyTests.RandomDecoder(seed, heads, kvHeads, layers);
        using var scope = NewDisposeScope();
        using var clean = FastKnockoutPropertyTests.RandomClean(decoder, seed, n);
        var specs = RandomHeadSpecs(rng, n, layers, heads, 30);
        Assert.Contains(specs, s => s.IsPerHead);
        Assert.Contains(specs, s => !s.IsPerHead);
        double worst = AssertFastEqualsNaive(clean, specs);
        log.WriteLine($"seed {seed} heads {heads}/{kvHeads} N={n}: {specs.Count(s => s.IsPerHead)} per-head specs, worst relative |p2 fast - p2 naive| = {worst:E2}");
    }

    [SharedFact]
    public void One_Head_Knocked_Out_Changes_Less_Than_All_Heads_And_Each_Head_Matters()
    {
        // The edit reaches exactly the named heads: a single head's knockout differs from the all-heads one and from no
        // knockout, and knocking out every head one by one in separate specs gives different numbers per head.
        int heads = 4, layers = 3, n = 20;
        using var decoder = FastKnockoutPropertyTests.RandomDecoder(31, heads, 2, layers);
        using var scope = NewDisposeScope();
        using var clean = CleanRun.Create(decoder, normal(0, 1, [1, n, decoder.HiddenSize], generator: new Generator(31)));
        var all = new KnockoutSpec(PositionSet.Range("S", 0, n - 1), PositionSet.Of("Last", [n - 1]), [0, 1, 2], "all heads");
        var single = Enumerable.Range(0, heads).Select(h => all with { Heads = [h] }).ToList();
        var r = new FastKnockoutEngine().Run(clean, [all, .. single]);
        var p2 = r.Select(o => o.P2).ToArray();
        log.WriteLine($"p1 {clean.P1:R}; all heads {p2[0]:R}; single heads {string.Join(", ", p2.Skip(1).Select(p => p.ToString("R")))}");
        Assert.Equal(heads, p2.Skip(1).Distinct().Count());
        foreach (var p in p2.Skip(1))
        {
            Assert.NotEqual(p2[0], p);
            Assert.NotEqual(clean.P1, p);
        }
    }

    [SharedTheory]
    [InlineData(KnockoutEngineKind.Fast, 4, 4)]
    [InlineData(KnockoutEngineKind.Fast, 6, 2)]
    [InlineData(KnockoutEngineKind.Naive, 6, 2)]
    public void Spec_Naming_Every_Head_Is_The_Papers_Knockout_To_The_Bit(KnockoutEngineKind engine, int heads, int kvHeads)
    {
        int layers = 4, n = 30;
        var rng = new Random(41);
        using var decoder = FastKnockoutPropertyTests.RandomDecoder(41, heads, kvHeads, layers);
        using var scope = NewDisposeScope();
        using var clean = CleanRun.Create(decoder, normal(0, 1, [1, n, decoder.HiddenSize], generator: new Generator(41)));
        var paper = RandomHeadSpecs(rng, n, layers, heads, 12).Select(s => s with { Heads = [] }).ToList();
        var everyHead = paper.Select(s => s with { Heads = [.. Enumerable.Range(0, heads)] }).ToList();
        var e = KnockoutEngine.Create(engine);
        var expected = e.RunLogits(clean, paper);
        var actual = e.RunLogits(clean, everyHead);
        for (int i = 0; i < paper.Count; i++)
        {
            int bad = Enumerable.Range(0, expected[i].Length).FirstOrDefault(j => BitConverter.SingleToInt32Bits(expected[i][j]) != BitConverter.SingleToInt32Bits(actual[i][j]), -1);
            Assert.True(bad < 0, $"spec {i}: logit {bad}: every head {(bad < 0 ? 0 : actual[i][bad]):R} vs paper {(bad < 0 ? 0 : expected[i][bad]):R}");
        }
    }
}

/// <summary>Per-head fast ≡ naive on every fixture family's real geometry (LLaVA-1.5, LLaVA-NeXT, Qwen2-VL M-RoPE, OneVision).</summary>
public sealed class PerHeadFixtureKnockoutTests(TinyLlava15 llava, NextModels next, ITestOutputHelper log)
    : IClassFixture<TinyLlava15>, IClassFixture<NextModels>
{
    [SharedFact]
    public void PerHead_FastPath_Equals_NaivePath_On_Llava15()
    {
        var c = FixtureCase.Load(TinyLlava15.Name, FixtureCase.CaseIds(TinyLlava15.Name).First());
        using var scope = NewDisposeScope();
        var npy = NpyArray.Load(c.PixelValuesPath);
        var features = llava.F32.EncodeImages(tensor(npy.AsFloats(), npy.Shape))[0];
        var embeds = llava.F32.EmbedSequence(c.Array("input_ids").AsLongs(), c.PlaceholderIndex, features);
        using var clean = CleanRun.Create(llava.F32.LanguageModel, embeds);
        Check(TinyLlava15.Name, clean);
    }

    [SharedTheory]
    [InlineData(NextModels.Vicuna)]
    [InlineData(NextModels.Llama3)]
    public void PerHead_FastPath_Equals_NaivePath_On_LlavaNext(string model)
    {
        var c = FixtureCase.Load(model, FixtureCase.CaseIds(model).First());
        Check(model, next.Clean(c), count: 2);   // a full NeXT forward is ~3,000 positions: two naive runs (one per-head) suffice
    }

    [SharedTheory]
    [InlineData(FamilyFolders.Qwen2Vl)]
    [InlineData(FamilyFolders.Onevision)]
    public void PerHead_FastPath_Equals_NaivePath_On_Family(string model)
    {
        var c = FixtureCase.Load(model, FixtureCase.CaseIds(model).First());
        using var m = LoadedModel.Load(FamilyFolders.AsDownloaded(model));
        using var input = PreparedInput.Create(m, c.ImagePath, c.Question);
        using var clean = CleanRun.Create(m.Decoder, input.Embeds, input.Positions);
        Check(model, clean);
    }

    private void Check(string model, CleanRun clean, int count = 8)
    {
        var rng = new Random(model.Length);
        int n = (int)clean.SeqLen;
        // Targets late in the sequence: the shapes of the paper's blocks (→Question, →Last), whose t₀ is near the end.
        var specs = PerHeadKnockoutTests.RandomHeadSpecs(rng, n, clean.NumLayers, clean.Decoder.NumHeads, count, firstTarget: n - 24)
            .Select((s, i) => i % 2 == 0 && !s.IsPerHead ? s with { Heads = [rng.Next(clean.Decoder.NumHeads)] } : s).ToList();
        double worst = PerHeadKnockoutTests.AssertFastEqualsNaive(clean, specs);
        log.WriteLine($"{model}: N={n}, {clean.Decoder.NumHeads} heads, {specs.Count(s => s.IsPerHead)}/{specs.Count} per-head specs, worst relative |p2 fast - p2 naive| = {worst:E2}");
    }
}

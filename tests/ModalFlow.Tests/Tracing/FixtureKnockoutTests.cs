using System.Text.Json;
using ModalFlow.Models;
using ModalFlow.Tests.Models;
using ModalFlow.Tests.Support;
using ModalFlow.Tracing;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace ModalFlow.Tests.Tracing;

/// <summary>Every knockout and logit-lens golden of the tiny LLaVA-1.5 fixture, on both engines.</summary>
public sealed class FixtureKnockoutTests(TinyLlava15 fx, ITestOutputHelper log) : IClassFixture<TinyLlava15>
{
    public static TheoryData<string, KnockoutEngineKind> CasesAndEngines()
    {
        var data = new TheoryData<string, KnockoutEngineKind>();
        foreach (var id in FixtureCase.CaseIds(TinyLlava15.Name))
        {
            data.Add(id, KnockoutEngineKind.Fast);
            data.Add(id, KnockoutEngineKind.Naive);
        }
        return data;
    }

    private CleanRun Clean(FixtureCase c)
    {
        using var scope = NewDisposeScope();
        var npy = NpyArray.Load(c.PixelValuesPath);
        var features = fx.F32.EncodeImages(tensor(npy.AsFloats(), npy.Shape))[0];
        var embeds = fx.F32.EmbedSequence(c.Array("input_ids").AsLongs(), c.PlaceholderIndex, features);
        return CleanRun.Create(fx.F32.LanguageModel, embeds);
    }

    private static KnockoutSpec Spec(JsonElement config, int i)
    {
        int[] Ints(string key) => config.GetProperty(key).EnumerateArray().Select(e => e.GetInt32()).ToArray();
        string label = config.TryGetProperty("name", out var nm) ? nm.GetString()! : $"{config.GetProperty("block_desc").GetString()}@{config.GetProperty("center_layer").GetInt32()}";
        return new KnockoutSpec(PositionSet.Of("S", Ints("sources")), PositionSet.Of("T", Ints("targets")), Ints("layers"), $"#{i} {label}");
    }

    [SharedTheory]
    [MemberData(nameof(CasesAndEngines))]
    public void Every_Fixture_Knockout_Is_Reproduced(string id, KnockoutEngineKind engine)
    {
        var c = FixtureCase.Load(TinyLlava15.Name, id);
        using var clean = Clean(c);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(c.Dir, "knockout.json")));
        var configs = doc.RootElement.GetProperty("configs").EnumerateArray().ToList();
        Assert.Equal(doc.RootElement.GetProperty("clean_top1_id").GetInt64(), clean.TargetTokenId);
        Assert.Equal(doc.RootElement.GetProperty("clean_p").GetDouble(), clean.P1, 1e-4);
        var specs = configs.Select(Spec).ToList();
        var outcomes = KnockoutEngine.Create(engine).Run(clean, specs);
        double worstP = 0, worstPct = 0, worstLogp = 0;
        for (int i = 0; i < configs.Count; i++)
        {
            var g = configs[i];
            double pNew = g.GetProperty("p_new").GetDouble();
            var o = outcomes[i];
            Assert.True(g.GetProperty("top1_new").GetInt64() == o.Top1New, $"{specs[i].Label}: top1 {o.Top1New}, expected {g.GetProperty("top1_new").GetInt64()}");
            if (pNew < 1e-4)
            {
                double d = Math.Abs(g.GetProperty("logprob_new").GetDouble() - o.LogP2);
                worstLogp = Math.Max(worstLogp, d);
                Assert.True(d <= 1e-2, $"{specs[i].Label}: logprob {o.LogP2}, expected {g.GetProperty("logprob_new").GetDouble()}");
            }
            else
            {
                double dp = Math.Abs(pNew - o.P2);
                double pct = (o.P2 - clean.P1) / clean.P1 * 100;
                double dpct = Math.Abs(g.GetProperty("relative_change_pct").GetDouble() - pct);
                worstP = Math.Max(worstP, dp);
                worstPct = Math.Max(worstPct, dpct);
                Assert.True(dp <= 1e-4, $"{specs[i].Label}: p_new {o.P2:R}, expected {pNew:R}");
                Assert.True(dpct <= 0.05, $"{specs[i].Label}: relative change {pct:F4}%, expected {g.GetProperty("relative_change_pct").GetDouble():F4}%");
            }
        }
        log.WriteLine($"{c} {engine}: {configs.Count} knockouts; max |Δp_new| {worstP:E2}, max |Δrel%| {worstPct:E2} pp, max |Δlogprob| (p<1e-4) {worstLogp:E2}");
    }

    [SharedTheory]
    [MemberData(nameof(CasesAndEngines))]
    public void Custom_Knockout_Logits_Match(string id, KnockoutEngineKind engine)
    {
        var c = FixtureCase.Load(TinyLlava15.Name, id);
        using var clean = Clean(c);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(c.Dir, "knockout.json")));
        var custom = doc.RootElement.GetProperty("configs").EnumerateArray().Select((g, i) => (g, i))
            .Where(x => x.g.GetProperty("kind").GetString() == "custom").ToList();
        var golden = c.Array("knockout_custom_logits");
        long vocab = golden.Shape[1];
        var specs = custom.Select(x => Spec(x.g, x.i)).ToList();
        var logits = KnockoutEngine.Create(engine).RunLogits(clean, specs);
        double worst = 0;
        for (int j = 0; j < specs.Count; j++)
        {
            var expected = golden.AsFloats().AsSpan((int)(j * vocab), (int)vocab);
            worst = Math.Max(worst, Compare.AllClose(expected, logits[j], 1e-3, specs[j].Label));
        }
        log.WriteLine($"{c} {engine}: {specs.Count} custom knockouts, max |Δlogit| {worst:E2}");
    }

    [SharedTheory]
    [MemberData(nameof(CasesAndEngines))]
    public void Null_Knockout_Reproduces_The_Clean_Probability(string id, KnockoutEngineKind engine)
    {
        var c = FixtureCase.Load(TinyLlava15.Name, id);
        using var clean = Clean(c);
        // Sources strictly after the targets: the edited mask equals the causal one in every layer.
        var spec = new KnockoutSpec(PositionSet.Of("S", [c.SeqLen - 1]), PositionSet.Range("T", 0, c.SeqLen - 1), Enumerable.Range(0, 8), "null");
        var o = KnockoutEngine.Create(engine).Run(clean, [spec])[0];
        Assert.Equal(c.Json.GetProperty("knockout_null_check").GetProperty("p").GetDouble(), o.P2, 1e-4);
    }

    [SharedTheory]
    [MemberData(nameof(Cases))]
    public void Logit_Lens_Both_Variants_Match(string id)
    {
        var c = FixtureCase.Load(TinyLlava15.Name, id);
        using var clean = Clean(c);
        var lens = LogitLens.Compute(clean, (int)clean.SeqLen - 1, [clean.Top1Id]);
        double worstP = 0, worstLp = 0;
        foreach (var (variant, tag) in new[] { (LensVariant.Raw, "raw"), (LensVariant.Normed, "norm") })
        {
            var prob = Column(variant == LensVariant.Raw ? lens.ProbRaw : lens.ProbNorm);
            var logp = Column(variant == LensVariant.Raw ? lens.LogProbRaw : lens.LogProbNorm);
            worstP = Math.Max(worstP, Compare.AllClose(c.Array($"lens_{tag}_prob").AsFloats(), prob, 1e-4, $"lens_{tag}_prob"));
            worstLp = Math.Max(worstLp, Compare.AllClose(c.Array($"lens_{tag}_logprob").AsFloats(), logp, 1e-3, $"lens_{tag}_logprob"));
            Compare.AllClose(c.Array($"lens_{tag}_maxprob").AsFloats(), variant == LensVariant.Raw ? lens.MaxProbRaw : lens.MaxProbNorm, 1e-4, $"lens_{tag}_maxprob");
            Assert.Equal(c.Array($"lens_{tag}_argmax").AsLongs(), variant == LensVariant.Raw ? lens.ArgmaxRaw : lens.ArgmaxNorm);
        }
        log.WriteLine($"{c}: lens max |Δprob| {worstP:E2}, max |Δlogprob| {worstLp:E2}");
    }

    public static TheoryData<string> Cases => new(FixtureCase.CaseIds(TinyLlava15.Name));

    private static float[] Column(float[,] m) => Enumerable.Range(0, m.GetLength(0)).Select(r => m[r, 0]).ToArray();
}

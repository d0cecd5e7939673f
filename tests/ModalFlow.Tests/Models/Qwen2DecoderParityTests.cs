using System.Text.Json;
using ModalFlow.Checkpoints;
using ModalFlow.Models;
using ModalFlow.Platform;
using ModalFlow.Tests.Support;
using ModalFlow.Tracing;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace ModalFlow.Tests.Models;

/// <summary>
/// The Qwen2 decoders of the two transformers v4.45.1 fixtures, built alone from their safetensors (q/k/v biases, tied
/// embeddings, rope θ 1e6, GQA; Qwen2-VL with M-RoPE): fed the golden inputs_embeds and position ids, so the decoder
/// is tested apart from the vision side and the tokenizer.
/// </summary>
public sealed class Qwen2Decoders : IDisposable
{
    public const string Qwen2Vl = "tiny-qwen2-vl";
    public const string Onevision = "tiny-llava-onevision";

    public Qwen2Decoders()
    {
        TorchRuntime.Initialize();
        Decoders[Qwen2Vl] = Build(Qwen2Vl, "", root => root);
        Decoders[Onevision] = Build(Onevision, "language_model.", root => root.GetProperty("text_config"));
    }

    public Dictionary<string, LlamaDecoder> Decoders { get; } = [];

    /// <summary>The decoder's config from config.full.json (every default spelled out by transformers).</summary>
    private static LlamaDecoder Build(string model, string prefix, Func<JsonElement, JsonElement> textBlock)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(SharedData.Fixture(model, "config.full.json")));
        var cfg = textBlock(doc.RootElement).Deserialize<LlamaTextConfig>()! with { QkvBias = true };
        var checkpoint = TensorCheckpoint.Open(SharedData.Fixture(model, "model.safetensors"));
        // The vision keys stay untaken: this source is never Finish()ed, the decoder alone is under test.
        return new LlamaDecoder(cfg, new CheckpointWeightSource(checkpoint, KeyMap.LlavaHf, ScalarType.Float32, CPU), prefix, tiedEmbeddings: true);
    }

    public void Dispose()
    {
        foreach (var d in Decoders.Values) d.Dispose();
    }
}

public sealed class Qwen2DecoderParityTests(Qwen2Decoders fx, ITestOutputHelper log) : IClassFixture<Qwen2Decoders>
{
    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var model in new[] { Qwen2Decoders.Qwen2Vl, Qwen2Decoders.Onevision })
            foreach (var id in FixtureCase.CaseIds(model)) data.Add(model, id);
        return data;
    }

    public static TheoryData<string, string, KnockoutEngineKind> CasesAndEngines()
    {
        var data = new TheoryData<string, string, KnockoutEngineKind>();
        foreach (var model in new[] { Qwen2Decoders.Qwen2Vl, Qwen2Decoders.Onevision })
            foreach (var id in FixtureCase.CaseIds(model))
                foreach (var engine in new[] { KnockoutEngineKind.Fast, KnockoutEngineKind.Naive }) data.Add(model, id, engine);
        return data;
    }

    /// <summary>Qwen2-VL: position_ids.npy [3, N] (get_rope_index); OneVision: 0..N-1.</summary>
    internal static PositionIds Positions(FixtureCase c)
    {
        var path = Path.Combine(c.Dir, "position_ids.npy");
        if (!File.Exists(path)) return PositionIds.Sequential(c.SeqLen);
        var ids = NpyArray.Load(path);
        Assert.Equal([3, c.SeqLen], ids.Shape.Select(x => (int)x).ToArray());
        var flat = ids.AsLongs();
        return PositionIds.FromAxes(Enumerable.Range(0, 3).Select(a => flat.AsSpan(a * c.SeqLen, c.SeqLen).ToArray()).ToArray());
    }

    private static Tensor Embeds(FixtureCase c)
    {
        var e = c.Array("inputs_embeds");
        return tensor(e.AsFloats(), e.Shape).unsqueeze(0);
    }

    [SharedTheory]
    [MemberData(nameof(Cases))]
    public void Decoder_Matches_Transformers_Hidden_States_And_Logits(string model, string id)
    {
        var c = FixtureCase.Load(model, id);
        var decoder = fx.Decoders[model];
        using var scope = NewDisposeScope();
        using var output = decoder.Forward(Embeds(c), Positions(c), keepResiduals: true);
        var logits = output.LastLogits[0].data<float>().ToArray();
        var dl = Compare.AllClose(c.Array("logits_last").AsFloats(), logits, 1e-3, "logits_last");
        Assert.Equal(c.Top1Id, output.LastLogits[0].argmax().item<long>());
        // hidden_last rows 0..L-1 = residual entering layer l, row L = after the final norm.
        var hidden = output.Residuals!.Take(decoder.NumLayers).Select(r => r[0, -1]).Append(output.LastNormedHidden[0]).ToArray();
        var dh = Compare.AllClose(c.Array("hidden_last").AsFloats(), stack(hidden).data<float>().ToArray(), 1e-3, "hidden_last");
        log.WriteLine($"{c}: max |Δ| logits {dl:E2}, hidden_last {dh:E2}");
    }

    [SharedTheory]
    [MemberData(nameof(Cases))]
    public void Qwen2Vl_Without_Its_3D_Position_Ids_Is_Refused_Not_Silently_Wrong(string model, string id)
    {
        var c = FixtureCase.Load(model, id);
        var decoder = fx.Decoders[model];
        using var scope = NewDisposeScope();
        if (model != Qwen2Decoders.Qwen2Vl)
        {
            Assert.Equal(1, decoder.PositionAxes);
            return;
        }
        Assert.Equal(3, decoder.PositionAxes);
        var embeds = Embeds(c);
        Assert.Throws<InvalidOperationException>(() => decoder.Forward(embeds));
        Assert.Throws<ArgumentException>(() => decoder.Forward(embeds, PositionIds.Sequential(c.SeqLen)));
        // The trap the fixtures record: 1-D ids replicated over (t, h, w) give other numbers (case.json if_1d_positions).
        using var wrong = decoder.Forward(embeds, PositionIds.Sequential(c.SeqLen, axes: 3));
        using var right = decoder.Forward(embeds, Positions(c));
        double diff = wrong.LastLogits.sub(right.LastLogits).abs().max().item<float>();
        var recorded = c.Json.GetProperty("if_1d_positions");
        log.WriteLine($"{c}: 1-D ids move the logits by {diff:F2} (transformers: {recorded.GetProperty("logits_last_max_abs_diff").GetDouble():F2})");
        Assert.Equal(recorded.GetProperty("logits_last_max_abs_diff").GetDouble(), diff, 0.01);
        Assert.Equal(recorded.GetProperty("top1_id").GetInt64(), wrong.LastLogits[0].argmax().item<long>());
    }

    [SharedTheory]
    [MemberData(nameof(CasesAndEngines))]
    public void Every_Fixture_Knockout_Is_Reproduced_With_The_Clean_Runs_Position_Ids(string model, string id, KnockoutEngineKind engine)
    {
        var c = FixtureCase.Load(model, id);
        using var embeds = Embeds(c);
        using var clean = CleanRun.Create(fx.Decoders[model], embeds, Positions(c));
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(c.Dir, "knockout.json")));
        var configs = doc.RootElement.GetProperty("configs").EnumerateArray().ToList();
        Assert.Equal(doc.RootElement.GetProperty("clean_top1_id").GetInt64(), clean.TargetTokenId);
        Assert.Equal(doc.RootElement.GetProperty("clean_p").GetDouble(), clean.P1, 1e-4);
        var specs = configs.Select((g, i) =>
        {
            int[] Ints(string key) => g.GetProperty(key).EnumerateArray().Select(e => e.GetInt32()).ToArray();
            return new KnockoutSpec(PositionSet.Of("S", Ints("sources")), PositionSet.Of("T", Ints("targets")), Ints("layers"), $"#{i}");
        }).ToList();
        var outcomes = KnockoutEngine.Create(engine).Run(clean, specs);
        double worstP = 0, worstLogp = 0;
        for (int i = 0; i < configs.Count; i++)
        {
            var g = configs[i];
            var o = outcomes[i];
            Assert.True(g.GetProperty("top1_new").GetInt64() == o.Top1New, $"{specs[i].Label}: top1 {o.Top1New}, expected {g.GetProperty("top1_new").GetInt64()}");
            double pNew = g.GetProperty("p_new").GetDouble();
            if (pNew < 1e-4)
            {
                double d = Math.Abs(g.GetProperty("logprob_new").GetDouble() - o.LogP2);
                worstLogp = Math.Max(worstLogp, d);
                Assert.True(d <= 1e-2, $"{specs[i].Label}: logprob {o.LogP2}, expected {g.GetProperty("logprob_new").GetDouble()}");
            }
            else
            {
                worstP = Math.Max(worstP, Math.Abs(pNew - o.P2));
                Assert.True(Math.Abs(pNew - o.P2) <= 1e-4, $"{specs[i].Label}: p_new {o.P2:R}, expected {pNew:R}");
                double pct = (o.P2 - clean.P1) / clean.P1 * 100;
                Assert.True(Math.Abs(g.GetProperty("relative_change_pct").GetDouble() - pct) <= 0.05, $"{specs[i].Label}: {pct:F4}%");
            }
        }
        log.WriteLine($"{c} {engine}: {configs.Count} knockouts; max |Δp_new| {worstP:E2}, max |Δlogprob| (p<1e-4) {worstLogp:E2}");
    }

    [SharedTheory]
    [MemberData(nameof(Cases))]
    public void Logit_Lens_Both_Variants_Match_With_Tied_Embeddings(string model, string id)
    {
        var c = FixtureCase.Load(model, id);
        using var embeds = Embeds(c);
        using var clean = CleanRun.Create(fx.Decoders[model], embeds, Positions(c));
        var lens = LogitLens.Compute(clean, (int)clean.SeqLen - 1, [clean.Top1Id]);
        float[] Column(float[,] m) => Enumerable.Range(0, m.GetLength(0)).Select(r => m[r, 0]).ToArray();
        Compare.AllClose(c.Array("lens_raw_prob").AsFloats(), Column(lens.ProbRaw), 1e-4, "lens_raw_prob");
        Compare.AllClose(c.Array("lens_norm_prob").AsFloats(), Column(lens.ProbNorm), 1e-4, "lens_norm_prob");
        Compare.AllClose(c.Array("lens_norm_logprob").AsFloats(), Column(lens.LogProbNorm), 1e-3, "lens_norm_logprob");
        Assert.Equal(c.Array("lens_raw_argmax").AsLongs(), lens.ArgmaxRaw);
        Assert.Equal(c.Array("lens_norm_argmax").AsLongs(), lens.ArgmaxNorm);
    }

    [SharedTheory]
    [MemberData(nameof(Cases))]
    public void Greedy_Generation_Continues_M_RoPE_At_Max_Plus_One(string model, string id)
    {
        var c = FixtureCase.Load(model, id);
        var decoder = fx.Decoders[model];
        using var embeds = Embeds(c);
        var positions = Positions(c);
        using var clean = CleanRun.Create(decoder, embeds, positions);
        // Generated token k sits at max + 1 + k on every axis (transformers: cache position + rope_deltas).
        if (c.Json.TryGetProperty("rope_deltas", out var deltas))
            Assert.Equal(c.SeqLen + deltas.GetInt64(), positions.Next);
        var greedy = Generation.Greedy(decoder, embeds, positions, 3, []);
        using var fork = clean.Cache.Fork();
        var continued = Generation.Continue(decoder, fork, positions, clean.Top1Id, 3, []);
        Assert.Equal(greedy.TokenIds, continued);
        Assert.Equal(c.SeqLen, clean.Cache.Length);                 // the fork appended to its own tensors only
        // Reference for token 2: a full forward over prompt + first token at the appended positions.
        using var scope = NewDisposeScope();
        var longer = cat([embeds, decoder.Embed(tensor(new[] { greedy.TokenIds[0] }).unsqueeze(0))], 1);
        using var full = decoder.Forward(longer, positions.Append(1));
        Assert.Equal(greedy.TokenIds[1], full.LastLogits[0].argmax().item<long>());
    }
}

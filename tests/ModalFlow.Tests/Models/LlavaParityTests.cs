using ModalFlow.Checkpoints;
using ModalFlow.Models;
using ModalFlow.Platform;
using ModalFlow.Tests.Support;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace ModalFlow.Tests.Models;

/// <summary>
/// The tiny LLaVA-1.5 fixture model, loaded once for all parity tests (F32 and the BF16 file upcast). Only ../shared
/// has the BF16 file: without it the F32 tests still run and <see cref="Bf16Upcast"/> reports what is missing.
/// </summary>
public sealed class TinyLlava15 : IDisposable
{
    public const string Name = "tiny-llava-1.5";

    private readonly LlavaModel? _bf16Upcast;
    private readonly SharedDataMissingException? _bf16Missing;

    public TinyLlava15()
    {
        TorchRuntime.Initialize();
        Config = LlavaConfig.Load(SharedData.Fixture(Name));
        F32 = LlavaModel.Load(Config, SharedData.Fixture(Name, "model.safetensors"), ScalarType.Float32, CPU);
        // Loaded here, outside any test's dispose scope (a scope would free the weights with it).
        try { _bf16Upcast = LlavaModel.Load(Config, SharedData.Fixture(Name, "model.bf16.safetensors"), ScalarType.Float32, CPU); }
        catch (SharedDataMissingException e) { _bf16Missing = e; }
    }

    public LlavaConfig Config { get; }
    public LlavaModel F32 { get; }
    public LlavaModel Bf16Upcast => _bf16Upcast ?? throw _bf16Missing!;

    public void Dispose()
    {
        F32.Dispose();
        _bf16Upcast?.Dispose();
    }
}

/// <summary>
/// Parity with Hugging Face transformers (fixture goldens) from the stored pixel values and input ids, so
/// the model is tested apart from preprocessing and tokenisation (those have their own parity tests).
/// </summary>
public sealed class LlavaParityTests(TinyLlava15 fx, ITestOutputHelper log) : IClassFixture<TinyLlava15>
{
    public static TheoryData<string> Cases => new(FixtureCase.CaseIds(TinyLlava15.Name));

    private static Tensor Pixels(FixtureCase c)
    {
        var npy = NpyArray.Load(c.PixelValuesPath);
        return tensor(npy.AsFloats(), npy.Shape);
    }

    private static long[] HfInputIds(FixtureCase c) => c.Array("input_ids").AsLongs();

    [SharedTheory]
    [MemberData(nameof(Cases))]
    public void Vision_And_Projected_Features_Match_Transformers(string id)
    {
        var c = FixtureCase.Load(TinyLlava15.Name, id);
        using var scope = NewDisposeScope();
        var pixels = Pixels(c);
        var vision = fx.F32.VisionFeatures(pixels);
        var image = fx.F32.EncodeImages(pixels);
        var dv = Compare.AllClose(c.Array("vision_features").AsFloats(), vision.data<float>().ToArray(), 1e-4, "vision_features");
        var di = Compare.AllClose(c.Array("image_features").AsFloats(), image.data<float>().ToArray(), 1e-4, "image_features");
        log.WriteLine($"{c}: max |Δ| vision_features {dv:E2}, image_features {di:E2}");
    }

    [SharedTheory]
    [MemberData(nameof(Cases))]
    public void Forward_Matches_Transformers_Embeds_Residuals_Attention_Logits(string id)
    {
        var c = FixtureCase.Load(TinyLlava15.Name, id);
        using var scope = NewDisposeScope();
        var model = fx.F32;
        var features = model.EncodeImages(Pixels(c))[0];
        var embeds = model.EmbedSequence(HfInputIds(c), c.PlaceholderIndex, features);
        Assert.Equal(c.SeqLen, embeds.shape[1]);
        var de = Compare.AllClose(c.Array("inputs_embeds").AsFloats(), embeds[0].data<float>().ToArray(), 1e-4, "inputs_embeds");

        int layers = model.LanguageModel.NumLayers;
        var lastRows = new Tensor[layers];
        var hooks = new DecoderHooks { AttentionPattern = (l, p) => lastRows[l] = p[0, .., -1, ..].clone().DetachFromDisposeScope() };
        using var output = model.LanguageModel.Forward(embeds, hooks, keepResiduals: true);

        // hidden_probe [L+1, P, D]: rows 0..L-1 raw residuals, row L after the final norm (transformers' convention).
        var probe = tensor(c.ProbePositions.Select(p => (long)p).ToArray());
        var rows = output.Residuals!.Take(layers).Select(r => r[0].index_select(0, probe)).ToList();
        rows.Add(model.LanguageModel.FinalNorm(output.Residuals![layers][0].index_select(0, probe)));
        var hiddenProbe = stack(rows);
        var dh = Compare.AllClose(c.Array("hidden_probe").AsFloats(), hiddenProbe.data<float>().ToArray(), 1e-3, "hidden_probe");

        var lastHidden = stack(output.Residuals!.Take(layers).Select(r => r[0, -1]).Append(output.LastNormedHidden[0]));
        var dl = Compare.AllClose(c.Array("hidden_last").AsFloats(), lastHidden.data<float>().ToArray(), 1e-3, "hidden_last");

        var da = Compare.AllClose(c.Array("attn_last_row").AsFloats(), stack(lastRows).data<float>().ToArray(), 1e-4, "attn_last_row");
        foreach (var r in lastRows) r.Dispose();

        var logits = output.LastLogits[0].data<float>().ToArray();
        var dz = Compare.AllClose(c.Array("logits_last").AsFloats(), logits, 1e-3, "logits_last");
        Assert.Equal(c.Top1Id, output.LastLogits[0].argmax().item<long>());
        var p1 = output.LastLogits[0].softmax(0)[c.Top1Id].item<float>();
        Assert.Equal(c.Top1Prob, p1, 1e-4);
        log.WriteLine($"{c}: max |Δ| inputs_embeds {de:E2}, hidden_probe {dh:E2}, hidden_last {dl:E2}, attn_last_row {da:E2}, logits {dz:E2}, p1 {Math.Abs(c.Top1Prob - p1):E2}");
    }

    [SharedTheory]
    [MemberData(nameof(Cases))]
    public void Bf16_Checkpoint_Upcast_On_Load_Matches_Its_Goldens(string id)
    {
        var c = FixtureCase.Load(TinyLlava15.Name, id);
        using var scope = NewDisposeScope();
        var model = fx.Bf16Upcast;
        var features = model.EncodeImages(Pixels(c))[0];
        var embeds = model.EmbedSequence(HfInputIds(c), c.PlaceholderIndex, features);
        using var output = model.LanguageModel.Forward(embeds, keepResiduals: true);
        int layers = model.LanguageModel.NumLayers;
        var lastHidden = stack(output.Residuals!.Take(layers).Select(r => r[0, -1]).Append(output.LastNormedHidden[0]));
        var dl = Compare.AllClose(c.Array("bf16_hidden_last").AsFloats(), lastHidden.data<float>().ToArray(), 1e-3, "bf16_hidden_last");
        var dz = Compare.AllClose(c.Array("bf16_logits_last").AsFloats(), output.LastLogits[0].data<float>().ToArray(), 1e-3, "bf16_logits_last");
        var bf = c.Json.GetProperty("bf16");
        Assert.Equal(bf.GetProperty("top1_id").GetInt64(), output.LastLogits[0].argmax().item<long>());
        log.WriteLine($"{c}: max |Δ| bf16_hidden_last {dl:E2}, bf16_logits_last {dz:E2}");
    }
}

/// <summary>bf16 compute (weights rounded once on load, matmuls in bf16): the fixture cases keep their top-1.</summary>
public sealed class Bf16ComputeTests(ITestOutputHelper log)
{
    [SharedFact]
    public void Bf16_Compute_Keeps_Every_Fixture_Top1()
    {
        TorchRuntime.Initialize();
        var cfg = LlavaConfig.Load(SharedData.Fixture(TinyLlava15.Name));
        using var model = LlavaModel.Load(cfg, SharedData.Fixture(TinyLlava15.Name, "model.safetensors"), ScalarType.BFloat16, CPU);
        foreach (var id in FixtureCase.CaseIds(TinyLlava15.Name))
        {
            var c = FixtureCase.Load(TinyLlava15.Name, id);
            using var scope = NewDisposeScope();
            var npy = NpyArray.Load(c.PixelValuesPath);
            var embeds = model.EmbedSequence(c.Array("input_ids").AsLongs(), c.PlaceholderIndex, model.EncodeImages(tensor(npy.AsFloats(), npy.Shape))[0]);
            Assert.Equal(ScalarType.BFloat16, embeds.dtype);
            using var output = model.LanguageModel.Forward(embeds);
            var logits = output.LastLogits[0].to(ScalarType.Float32);
            Assert.Equal(c.Top1Id, logits.argmax().item<long>());
            double p = logits.softmax(0)[c.Top1Id].item<float>();
            var maxLogitDiff = Compare.MaxAbsDiff(c.Array("logits_last").AsFloats(), logits.data<float>().ToArray());
            log.WriteLine($"{c}: bf16 compute top-1 {c.Top1Id} kept; p1 {p:F4} vs f32 {c.Top1Prob:F4} (Δ {p - c.Top1Prob:+0.0000;-0.0000}); max |Δlogit| {maxLogitDiff:F3}");
        }
    }
}

using ModalFlow.Checkpoints;
using ModalFlow.Models;
using ModalFlow.Platform;
using ModalFlow.Tests.Support;
using ModalFlow.Tracing;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace ModalFlow.Tests.Models;

/// <summary>The two LLaVA-NeXT fixture models (Vicuna-style and Llama-3 GQA), each loaded once on first use.</summary>
public sealed class NextModels : IDisposable
{
    public const string Vicuna = "tiny-llava-next";
    public const string Llama3 = "tiny-llama3-llava-next";

    private readonly Dictionary<string, LlavaModel> _models = [];
    private readonly Dictionary<(string, string), CleanRun> _clean = [];
    private readonly Lock _lock = new();

    public NextModels() => TorchRuntime.Initialize();

    public LlavaModel Get(string name)
    {
        lock (_lock)
        {
            if (!_models.TryGetValue(name, out var model))
            {
                var cfg = LlavaConfig.Load(SharedData.Fixture(name));
                model = LlavaModel.Load(cfg, SharedData.Fixture(name, "model.safetensors"), ScalarType.Float32, CPU);
                _models[name] = model;
            }
            return model;
        }
    }

    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var model in new[] { Vicuna, Llama3 })
            foreach (var id in FixtureCase.CaseIds(model)) data.Add(model, id);
        return data;
    }

    /// <summary>The case's grid: its canvas (grid_cols × grid_rows tiles, from case.json) and the original (W, H).</summary>
    public static NextGrid Grid(FixtureCase c, LlavaConfig cfg)
    {
        var wh = c.Json.GetProperty("image_size_wh");
        int tile = cfg.Vision.ImageSize;
        return cfg.NextGridFor(c.Json.GetProperty("grid_cols").GetInt32() * tile, c.Json.GetProperty("grid_rows").GetInt32() * tile,
            wh[0].GetInt32(), wh[1].GetInt32());
    }

    /// <summary>The stored anyres pixel values [5, 3, 336, 336] (base + 2×2 tiles).</summary>
    public static Tensor Pixels(FixtureCase c)
    {
        var npy = NpyArray.Load(c.PixelValuesPath);
        return tensor(npy.AsFloats(), npy.Shape);
    }

    /// <summary>The merged input sequence [1, N, D] from the stored pixels and HF's input_ids.npy.</summary>
    public Tensor Embeds(FixtureCase c)
    {
        var model = Get(c.Model);
        using var scope = NewDisposeScope();
        var features = model.EncodeNextImage(Pixels(c), Grid(c, model.Config));
        return model.EmbedSequence(c.Array("input_ids").AsLongs(), c.PlaceholderIndex, features).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The case's clean run, computed once and shared (read-only) by the knockout and lens tests: a NeXT sequence is
    /// ~3000 positions, and these tests need it 7 times per case. Owned by the fixture; do not dispose.
    /// </summary>
    public CleanRun Clean(FixtureCase c)
    {
        lock (_lock)
        {
            if (!_clean.TryGetValue((c.Model, c.Id), out var run))
            {
                using var embeds = Embeds(c);
                run = CleanRun.Create(Get(c.Model).LanguageModel, embeds);
                _clean[(c.Model, c.Id)] = run;
            }
            return run;
        }
    }

    public void Dispose()
    {
        foreach (var r in _clean.Values) r.Dispose();
        foreach (var m in _models.Values) m.Dispose();
    }
}

/// <summary>
/// LLaVA-NeXT parity with Hugging Face transformers (fixture goldens) from the stored anyres pixel values and input ids:
/// tiles → CLIP → projector → base + unpad + newline packing → merged sequence → decoder.
/// </summary>
public sealed class NextParityTests(NextModels fx, ITestOutputHelper log) : IClassFixture<NextModels>
{
    public static TheoryData<string, string> Cases => NextModels.Cases();

    [SharedTheory]
    [MemberData(nameof(Cases))]
    public void Next_Vision_Projected_Tiles_And_Packed_Features_Match_Transformers(string model, string id)
    {
        var c = FixtureCase.Load(model, id);
        var m = fx.Get(model);
        using var scope = NewDisposeScope();
        var pixels = NextModels.Pixels(c);
        var grid = NextModels.Grid(c, m.Config);
        var vision = m.VisionFeatures(pixels);
        var projected = m.EncodeImages(pixels);
        var packed = m.PackNextFeatures(projected, grid);
        Assert.Equal([5L, 576, m.LanguageModel.HiddenSize], projected.shape);
        Assert.Equal([(long)c.NumImageTokens, m.LanguageModel.HiddenSize], packed.shape);
        var dv = Compare.AllClose(c.Array("vision_features").AsFloats(), vision.data<float>().ToArray(), 1e-4, "vision_features");
        var dp = Compare.AllClose(c.Array("projected_tiles").AsFloats(), projected.data<float>().ToArray(), 1e-4, "projected_tiles");
        var di = Compare.AllClose(c.Array("image_features").AsFloats(), packed.data<float>().ToArray(), 1e-4, "image_features");
        // Every newline slot holds exactly the learned vector.
        var newlines = tensor(Enumerable.Range(0, grid.KeptRows).Select(r => (long)grid.NewlineOffset(r)).ToArray());
        Assert.True(packed.index_select(0, newlines).eq(m.ImageNewline!.unsqueeze(0).expand(grid.KeptRows, -1)).all().item<bool>());
        log.WriteLine($"{c} ({grid}): max |Δ| vision_features {dv:E2}, projected_tiles {dp:E2}, image_features {di:E2}");
    }

    [SharedFact]
    public void Next_Encode_And_Pack_Leave_The_Live_Tensor_Count_Unchanged()
    {
        var c = FixtureCase.Load(NextModels.Vicuna, "tree_attr");
        var m = fx.Get(c.Model);
        var grid = NextModels.Grid(c, m.Config);
        void Once()
        {
            using var scope = NewDisposeScope();
            _ = m.EncodeNextImage(NextModels.Pixels(c), grid);
        }
        Once(); // warm-up: lazily created state is not a leak
        long before = LiveTensors.Count();
        for (int i = 0; i < 3; i++) Once();
        Assert.Equal(before, LiveTensors.Count());
    }

    [SharedFact]
    public void Next_Packing_Rejects_Tiles_That_Do_Not_Fit_The_Grid()
    {
        var m = fx.Get(NextModels.Vicuna);
        using var scope = NewDisposeScope();
        var tiles = zeros(3, 576, m.LanguageModel.HiddenSize);
        var e = Assert.Throws<ArgumentException>(() => m.PackNextFeatures(tiles, NextGrid.Create(2, 2, 24, 500, 375)));
        Assert.Contains("[5, 576, 64]", e.Message);
        Assert.Throws<ArgumentException>(() => m.PackNextFeatures(zeros(2, 16, 64), NextGrid.Create(1, 1, 4, 50, 50)));
        var tiny = LlavaModel.Build(LlavaConfig.Load(SharedData.Fixture("tiny-llava-1.5")), new MetaWeightSource());
        Assert.Throws<InvalidOperationException>(() => tiny.PackNextFeatures(tiles, NextGrid.Create(2, 2, 24, 500, 375)));
        tiny.Dispose();
    }

    [SharedTheory]
    [MemberData(nameof(Cases))]
    public void Next_Forward_Matches_Transformers_Embeds_Residuals_Attention_Logits(string model, string id)
    {
        var c = FixtureCase.Load(model, id);
        var m = fx.Get(model);
        using var scope = NewDisposeScope();
        var ids = c.Array("input_ids").AsLongs();
        Assert.Equal((long)m.Config.ImageTokenIndex, ids[c.PlaceholderIndex]);
        Assert.Single(ids, (long)m.Config.ImageTokenIndex);
        if (model == NextModels.Llama3) Assert.Equal([128000L, 128000], ids[..2]);   // the paper's double BOS, kept
        var embeds = fx.Embeds(c);
        Assert.Equal(c.SeqLen, embeds.shape[1]);
        var de = Compare.AllClose(c.Array("inputs_embeds").AsFloats(), embeds[0].data<float>().ToArray(), 1e-4, "inputs_embeds");

        int layers = m.LanguageModel.NumLayers;
        var lastRows = new Tensor[layers];
        var hooks = new DecoderHooks { AttentionPattern = (l, p) => lastRows[l] = p[0, .., -1, ..].clone().DetachFromDisposeScope() };
        using var output = m.LanguageModel.Forward(embeds, hooks, keepResiduals: true);

        // hidden_probe [L+1, P, D]: rows 0..L-1 raw residuals, row L after the final norm (transformers' convention).
        var probe = tensor(c.ProbePositions.Select(p => (long)p).ToArray());
        var rows = output.Residuals!.Take(layers).Select(r => r[0].index_select(0, probe)).ToList();
        rows.Add(m.LanguageModel.FinalNorm(output.Residuals![layers][0].index_select(0, probe)));
        var dh = Compare.AllClose(c.Array("hidden_probe").AsFloats(), stack(rows).data<float>().ToArray(), 1e-3, "hidden_probe");

        var lastHidden = stack(output.Residuals!.Take(layers).Select(r => r[0, -1]).Append(output.LastNormedHidden[0]));
        var dl = Compare.AllClose(c.Array("hidden_last").AsFloats(), lastHidden.data<float>().ToArray(), 1e-3, "hidden_last");

        var da = Compare.AllClose(c.Array("attn_last_row").AsFloats(), stack(lastRows).data<float>().ToArray(), 1e-4, "attn_last_row");
        foreach (var r in lastRows) r.Dispose();

        var dz = Compare.AllClose(c.Array("logits_last").AsFloats(), output.LastLogits[0].data<float>().ToArray(), 1e-3, "logits_last");
        Assert.Equal(c.Top1Id, output.LastLogits[0].argmax().item<long>());
        var p1 = output.LastLogits[0].softmax(0)[c.Top1Id].item<float>();
        Assert.Equal(c.Top1Prob, p1, 1e-4);
        log.WriteLine($"{c}: max |Δ| inputs_embeds {de:E2}, hidden_probe {dh:E2}, hidden_last {dl:E2}, attn_last_row {da:E2}, logits_last {dz:E2}, p1 {Math.Abs(c.Top1Prob - p1):E2}");
    }
}

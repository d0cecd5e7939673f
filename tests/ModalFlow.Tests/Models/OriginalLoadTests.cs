using System.Text.Json;
using System.Text.Json.Nodes;
using ModalFlow.Checkpoints;
using ModalFlow.Families.Llava;
using ModalFlow.Inference;
using ModalFlow.Models;
using ModalFlow.Platform;
using ModalFlow.Tests.Cli;
using ModalFlow.Tests.Support;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace ModalFlow.Tests.Models;

/// <summary>
/// The tiny LLaVA-1.5 fixture re-saved the way liuhaotian/llava-v1.5-* is published, beside its CLIP tower's own folder:
/// <list type="bullet">
/// <item><c>clip-vit-large-patch14-336/</c>: CLIPConfig config.json, CLIP preprocessor_config.json, model.safetensors with
/// <c>vision_model.*</c> plus the unused <c>text_model.*</c>, projections, <c>logit_scale</c>, <c>position_ids</c>;</item>
/// <item><c>clip-bin/</c>: the same tower as a pytorch_model.bin (given explicitly with VisionTowerPath);</item>
/// <item><c>orig-st/</c>: original config.json + model.safetensors (<c>model.*</c>, <c>lm_head</c>,
/// <c>model.mm_projector.{0,2}</c>, fp32 <c>rotary_emb.inv_freq</c> buffers), vocabulary kept at 32064;</item>
/// <item><c>orig-bin/</c>: the same as two .bin shards + pytorch_model.bin.index.json (shard 2 with transposed,
/// non-contiguous views) and a stray mm_projector.bin, as on the hub;</item>
/// <item><c>orig-32000/</c>: one pytorch_model.bin with the original's 32000-row vocabulary (no image/pad rows).</item>
/// </list>
/// Names are written from MAPPING.md's table, independently of <see cref="KeyMap.Original"/>. Tokenizer files are the
/// real liuhaotian/llava-v1.5-7b ones (same tokenizer.model as the fixture; no added tokens).
/// </summary>
public sealed class OriginalTinyFolders : IDisposable
{
    public const string Hf = "tiny-llava-1.5";

    public OriginalTinyFolders()
    {
        TorchRuntime.Initialize();
        Root = Directory.CreateTempSubdirectory("mf-orig-").FullName;
        var hfConfig = JsonNode.Parse(File.ReadAllText(SharedData.Fixture(Hf, "config.json")))!.AsObject();
        using var scope = NewDisposeScope();
        var hf = new List<(string Name, Tensor T)>();
        using (var f = SafetensorsFile.Open(SharedData.Fixture(Hf, "model.safetensors")))
            foreach (var n in f.Names) hf.Add((n, f.Load(n)));

        // ---- the CLIP folder (openai/clip-vit-large-patch14-336 layout) ----
        var vision = hf.Where(t => t.Name.StartsWith("vision_tower.vision_model.", StringComparison.Ordinal))
            .Select(t => ("vision_model." + t.Name["vision_tower.vision_model.".Length..], t.T)).ToList();
        var g = new Generator(3);
        var clipExtras = new List<(string, Tensor)>
        {
            ("text_model.embeddings.token_embedding.weight", randn([100, 16], generator: g)),
            ("text_model.encoder.layers.0.mlp.fc1.weight", randn([32, 16], generator: g)),
            ("text_model.final_layer_norm.weight", ones(16)),
            ("visual_projection.weight", randn([32, 32], generator: g)),
            ("text_projection.weight", randn([32, 16], generator: g)),
            ("logit_scale", tensor(2.6592f)),
            ("vision_model.embeddings.position_ids", arange(577L).unsqueeze(0)),
        };
        var clipConfig = new JsonObject
        {
            ["architectures"] = new JsonArray("CLIPModel"), ["model_type"] = "clip", ["projection_dim"] = 32,
            ["text_config"] = new JsonObject { ["hidden_size"] = 16, ["model_type"] = "clip_text_model" },
            ["vision_config"] = hfConfig["vision_config"]!.DeepClone(),
        };
        foreach (var dir in new[] { ClipDir, ClipBinDir })
        {
            Directory.CreateDirectory(dir);
            File.WriteAllText(Path.Combine(dir, "config.json"), clipConfig.ToJsonString());
            File.Copy(SharedData.Fixture(Hf, "preprocessor_config.json"), Path.Combine(dir, "preprocessor_config.json"));
        }
        SafetensorsWriter.Write(Path.Combine(ClipDir, "model.safetensors"), vision.Concat(clipExtras));
        TorchSaveWriter.Write(Path.Combine(ClipBinDir, "pytorch_model.bin"), vision.Concat(clipExtras));

        // ---- the language model + projector under original names, with fp32 inv_freq buffers ----
        var text = hf.Where(t => !t.Name.StartsWith("vision_tower.", StringComparison.Ordinal)).Select(t => (OriginalName(t.Name), t.T)).ToList();
        int layers = (int)hfConfig["text_config"]!["num_hidden_layers"]!;
        int headDim = (int)hfConfig["text_config"]!["hidden_size"]! / (int)hfConfig["text_config"]!["num_attention_heads"]!;
        var invFreq = pow(10000.0, arange(0, headDim, 2, ScalarType.Float64) / headDim).reciprocal().to(ScalarType.Float32);
        for (int l = 0; l < layers; l++) text.Add(($"model.layers.{l}.self_attn.rotary_emb.inv_freq", invFreq));
        text = text.OrderBy(t => t.Item1, StringComparer.Ordinal).ToList();

        WriteFolder(OrigSt, hfConfig, 32064);
        SafetensorsWriter.Write(Path.Combine(OrigSt, "model.safetensors"), text);

        WriteFolder(OrigBin, hfConfig, 32064);
        var shard1 = text.Where(t => Layer(t.Item1) is < 4).ToList();
        var shard2 = text.Except(shard1).ToList();
        const string s1 = "pytorch_model-00001-of-00002.bin", s2 = "pytorch_model-00002-of-00002.bin";
        TorchSaveWriter.Write(Path.Combine(OrigBin, s1), shard1);
        TorchSaveWriter.Write(Path.Combine(OrigBin, s2), shard2, TorchSaveLayout.Transposed);
        TorchSaveWriter.Write(Path.Combine(OrigBin, "mm_projector.bin"), text.Where(t => t.Item1.Contains("mm_projector", StringComparison.Ordinal)));
        long totalSize = text.Sum(t => t.T.numel() * t.T.element_size());
        File.WriteAllText(Path.Combine(OrigBin, TorchBinCheckpoint.IndexFileName), JsonSerializer.Serialize(new
        {
            metadata = new { total_size = totalSize },
            weight_map = text.ToDictionary(t => t.Item1, t => shard1.Contains(t) ? s1 : s2),
        }));

        WriteFolder(Orig32000, hfConfig, 32000);
        TorchSaveWriter.Write(Path.Combine(Orig32000, "pytorch_model.bin"),
            text.Select(t => t.Item1 is "model.embed_tokens.weight" or "lm_head.weight" ? (t.Item1, t.T.narrow(0, 0, 32000)) : t));
    }

    public string Root { get; }
    public string ClipDir => Path.Combine(Root, "clip-vit-large-patch14-336");
    public string ClipBinDir => Path.Combine(Root, "clip-bin");
    public string OrigSt => Path.Combine(Root, "orig-st");
    public string OrigBin => Path.Combine(Root, "orig-bin");
    public string Orig32000 => Path.Combine(Root, "orig-32000");

    /// <summary>MAPPING.md, column 1 ← column 2 (language model and projector; the tower goes to its own folder).</summary>
    private static string OriginalName(string hf) =>
        hf.StartsWith("language_model.model.", StringComparison.Ordinal) ? "model." + hf["language_model.model.".Length..]
        : hf.StartsWith("language_model.lm_head.", StringComparison.Ordinal) ? "lm_head." + hf["language_model.lm_head.".Length..]
        : hf.StartsWith("multi_modal_projector.linear_1.", StringComparison.Ordinal) ? "model.mm_projector.0." + hf["multi_modal_projector.linear_1.".Length..]
        : hf.StartsWith("multi_modal_projector.linear_2.", StringComparison.Ordinal) ? "model.mm_projector.2." + hf["multi_modal_projector.linear_2.".Length..]
        : throw new ArgumentException(hf);

    private static int? Layer(string name) =>
        name.StartsWith("model.layers.", StringComparison.Ordinal) ? int.Parse(name.Split('.')[2], System.Globalization.CultureInfo.InvariantCulture) : null;

    /// <summary>The real 7B original config with the tiny fixture's sizes; tokenizer files of liuhaotian/llava-v1.5-7b.</summary>
    public static JsonObject OriginalConfig(JsonObject hfConfig, int vocab)
    {
        var real = SharedData.DataFile("model-configs", "liuhaotian__llava-v1.5-7b");
        var j = JsonNode.Parse(File.ReadAllText(Path.Combine(real, "config.json")))!.AsObject();
        var t = hfConfig["text_config"]!;
        foreach (var key in new[] { "hidden_size", "intermediate_size", "num_attention_heads", "num_hidden_layers", "num_key_value_heads", "max_position_embeddings", "rms_norm_eps" })
            j[key] = t[key]!.DeepClone();
        j["vocab_size"] = vocab;
        j["mm_hidden_size"] = hfConfig["vision_config"]!["hidden_size"]!.DeepClone();
        j["torch_dtype"] = "float32";
        j["_name_or_path"] = "tiny-llava-v1.5-original";
        return j;
    }

    private static void WriteFolder(string dir, JsonObject hfConfig, int vocab)
    {
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "config.json"), OriginalConfig(hfConfig, vocab).ToJsonString());
        var real = SharedData.DataFile("model-configs", "liuhaotian__llava-v1.5-7b");
        foreach (var f in new[] { "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json" })
            File.Copy(Path.Combine(real, f), Path.Combine(dir, f));
    }

    public void Dispose() => Directory.Delete(Root, true);
}

/// <summary>Original LLaVA folders load onto the same modules as the llava-hf fixture: same parameters, same logits.</summary>
public sealed class OriginalLoadTests(OriginalTinyFolders fx, ITestOutputHelper log) : IClassFixture<OriginalTinyFolders>
{
    private static LlavaLoadedModel LoadHf() => LlavaLoadedModel.Load(SharedData.Fixture(OriginalTinyFolders.Hf));

    private LlavaLoadedModel LoadOriginal(string which) => LlavaLoadedModel.Load(Folder(which),
        new LoadOptions { VisionTowerPath = which == "orig-bin" ? fx.ClipBinDir : null });

    private string Folder(string which) => Path.Combine(fx.Root, which);

    private static Tensor Pixels(FixtureCase c)
    {
        var npy = NpyArray.Load(c.PixelValuesPath);
        return tensor(npy.AsFloats(), npy.Shape);
    }

    [SharedTheory]
    [InlineData("orig-st")]
    [InlineData("orig-bin")]
    [InlineData("orig-32000")]
    public void Original_Folder_Loads_Every_Parameter_Bit_Identical_To_The_LlavaHf_Load(string which)
    {
        using var hf = LoadHf();
        using var orig = LoadOriginal(which);
        Assert.Equal(CheckpointFormat.Original, orig.Config.Format);
        var a = hf.Model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        var b = orig.Model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        Assert.Equal(a.Keys.Order(StringComparer.Ordinal), b.Keys.Order(StringComparer.Ordinal));
        int rowsCut = 0;
        foreach (var (name, pa) in a)
        {
            var pb = b[name];
            if (which == "orig-32000" && name is "language_model.model.embed_tokens.weight" or "language_model.lm_head.weight")
            {
                Assert.Equal([32000L, 64], pb.shape);
                using var head = pa[..32000];
                Assert.True(Compare.SameBits(head, pb), $"{name}: the first 32000 rows differ");
                rowsCut++;
                continue;
            }
            Assert.True(Compare.SameBits(pa, pb), $"{name} differs ({which})");
        }
        Assert.Equal(which == "orig-32000" ? 2 : 0, rowsCut);
        log.WriteLine($"{which}: {a.Count} parameters bit-identical to the llava-hf load");
    }

    [SharedTheory]
    [InlineData("orig-st")]
    [InlineData("orig-bin")]
    [InlineData("orig-32000")]
    public void Original_Forward_Logits_Are_Identical_To_The_LlavaHf_Forward(string which)
    {
        using var hf = LoadHf();
        using var orig = LoadOriginal(which);
        Assert.Equal(-200, orig.Config.ImageTokenIndex);
        foreach (var id in FixtureCase.CaseIds(OriginalTinyFolders.Hf))
        {
            var c = FixtureCase.Load(OriginalTinyFolders.Hf, id);
            using var scope = NewDisposeScope();
            var hfIds = c.Array("input_ids").AsLongs();
            // The original prompt carries LLaVA's -200 at the image slot; no vocabulary row is looked up for it.
            var origIds = hfIds.Select((x, i) => i == c.PlaceholderIndex ? (long)orig.Config.ImageTokenIndex : x).ToArray();
            var pixels = Pixels(c);
            var e1 = hf.Model.EmbedSequence(hfIds, c.PlaceholderIndex, hf.Model.EncodeImages(pixels)[0]);
            var e2 = orig.Model.EmbedSequence(origIds, c.PlaceholderIndex, orig.Model.EncodeImages(pixels)[0]);
            Assert.True(Compare.SameBits(e1, e2), $"{id}: input embeddings differ");
            using var o1 = hf.Model.LanguageModel.Forward(e1);
            using var o2 = orig.Model.LanguageModel.Forward(e2);
            Assert.True(Compare.SameBits(o1.LastNormedHidden, o2.LastNormedHidden), $"{id}: final hidden states differ");
            if (which == "orig-32000")
            {
                // Without the 64 padding rows: the same logits over the 32000 real tokens (and the same top-1).
                var expected = o1.LastLogits[.., ..32000];
                var diff = expected.sub(o2.LastLogits).abs().max().item<float>();
                Assert.True(diff == 0, $"{id}: max |Δlogit| {diff} over the 32000 real tokens");
                Assert.Equal(o1.LastLogits[0].argmax().item<long>(), o2.LastLogits[0].argmax().item<long>());
            }
            else
            {
                Assert.True(Compare.SameBits(o1.LastLogits, o2.LastLogits), $"{id}: logits differ");
            }
            Assert.Equal(c.Top1Id, o2.LastLogits[0].argmax().item<long>());
            log.WriteLine($"{which} {id}: logits identical to llava-hf (top-1 {c.Top1Id})");
        }
    }

    [SharedFact]
    public void Original_Folder_Prompt_Path_Predicts_As_LlavaHf_With_Minus200_Placeholder()
    {
        using var hf = LoadHf();
        using var orig = LoadOriginal("orig-32000");
        var c = FixtureCase.Load(OriginalTinyFolders.Hf, FixtureCase.CaseIds(OriginalTinyFolders.Hf).First());
        using var p1 = PreparedInput.Create(hf, c.ImagePath, c.Question);
        using var p2 = PreparedInput.Create(orig, c.ImagePath, c.Question);
        Assert.Equal(p1.Layout.PromptIds.ToArray(), p2.Layout.PromptIds.ToArray());
        Assert.Contains(-200, p2.Layout.PromptIds);
        Assert.Equal(32000, orig.Tokenizer.VocabularySize);        // no <image>/<pad> added tokens
        Assert.True(Compare.SameBits(p1.Embeds, p2.Embeds));
        var a = Predictor.Predict(hf, p1, maxNewTokens: 4);
        var b = Predictor.Predict(orig, p2, maxNewTokens: 4);
        Assert.Equal(a.AnswerTokenIds, b.AnswerTokenIds);
        Assert.Equal(a.FirstTokenId, b.FirstTokenId);
        log.WriteLine($"answer '{b.Answer}', p(first) hf {a.FirstTokenProb:F6} vs original {b.FirstTokenProb:F6} (softmax over 32064 vs 32000 logits)");
    }

    [SharedFact]
    public void Original_Folder_Takes_Tower_Config_And_Preprocessor_From_The_Clip_Folder()
    {
        var folder = LlavaModelFolder.Read(fx.OrigSt);
        Assert.Equal(fx.ClipDir, folder.VisionTowerDirectory);
        Assert.Equal(Path.Combine(fx.ClipDir, "config.json"), folder.Config.VisionConfigSource);
        Assert.Equal((32, 2), (folder.Config.Vision.HiddenSize, folder.Config.Vision.NumHiddenLayers));
        Assert.True(folder.ImageOptionsFromFile);
        Assert.Equal(576, folder.Config.ImageTokensPerImage);
        Assert.Equal(ModalFlow.Vision.AnyresArithmetic.LlavaNext, folder.AnyresArithmetic);
        var explicitFolder = LlavaModelFolder.Read(fx.OrigBin, new LoadOptions { VisionTowerPath = fx.ClipBinDir });
        Assert.Equal(fx.ClipBinDir, explicitFolder.VisionTowerDirectory);
    }

    [SharedFact]
    public void Original_Folder_Without_Its_Clip_Tower_Gets_A_Clear_Error()
    {
        var alone = Directory.CreateTempSubdirectory("mf-alone-");
        try
        {
            var dir = Path.Combine(alone.FullName, "llava-v1.5-tiny");
            Directory.CreateDirectory(dir);
            foreach (var f in Directory.GetFiles(fx.OrigSt)) File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
            // The config alone cannot tell the tiny tower from CLIP-L/336: mm_hidden_size disagrees, with a hint.
            var e = Assert.Throws<InputException>(() => LlavaLoadedModel.Load(dir));
            Assert.Contains("mm_hidden_size", e.Message);
            Assert.Contains("--vision-tower", e.Message);
            // Weights asked for directly: the tower is looked for beside the folder and reported missing.
            var cfg = LlavaConfig.Load(dir, fx.ClipDir);
            e = Assert.Throws<InputException>(() => LlavaModel.Load(cfg, dir, ScalarType.Float32, CPU));
            Assert.Equal("mm_vision_tower", e.Field);
            Assert.Contains("holds no CLIP tower", e.Message);
            Assert.Contains(Path.Combine(alone.FullName, "clip-vit-large-patch14-336"), e.Message);
            Assert.Contains("--vision-tower DIR", e.Message);
            using var ok = LlavaModel.Load(cfg, dir, ScalarType.Float32, CPU, fx.ClipDir);
            Assert.Equal(2, ok.VisionTower.NumLayers);
        }
        finally { alone.Delete(true); }
    }

    [SharedFact]
    public void Original_Config_With_LlavaHf_Weights_And_Vice_Versa_Are_Refused()
    {
        var cfg = LlavaConfig.Load(fx.OrigSt, fx.ClipDir);
        var e = Assert.Throws<InputException>(() => LlavaModel.Load(cfg, SharedData.Fixture(OriginalTinyFolders.Hf, "model.safetensors"), ScalarType.Float32, CPU));
        Assert.Contains("config.json is an original LLaVA config", e.Message);
        var hfCfg = LlavaConfig.Load(SharedData.Fixture(OriginalTinyFolders.Hf));
        e = Assert.Throws<InputException>(() => LlavaModel.Load(hfCfg, fx.OrigSt, ScalarType.Float32, CPU));
        Assert.Contains("use original LLaVA tensor names", e.Message);
    }

    [SharedFact]
    public void Original_Run_Fingerprint_Covers_The_Separate_Clip_Tower()
    {
        string RunFingerprint(string model, string? tower = null) =>
            ModalFlow.Inference.ModelFolder.Read(model, new ModalFlow.Inference.LoadOptions { VisionTowerPath = tower }).Fingerprint();
        string sibling = RunFingerprint(fx.OrigSt);
        Assert.StartsWith(Fingerprint.OfCheckpoint(fx.OrigSt) + "+tower:", sibling);
        Assert.EndsWith(Fingerprint.OfCheckpoint(fx.ClipDir), sibling);
        // Another tower folder (same weights as .bin): another fingerprint, so a run cannot resume across towers.
        Assert.NotEqual(sibling, RunFingerprint(fx.OrigSt, fx.ClipBinDir));
        // llava-hf folders hold their tower: the folder's fingerprint alone, as before.
        var hf = SharedData.Fixture(OriginalTinyFolders.Hf);
        Assert.Equal(Fingerprint.OfCheckpoint(hf), RunFingerprint(hf));
    }

    [SharedFact]
    public void Original_Missing_And_Unexpected_Tensors_Are_Reported_With_Their_Files()
    {
        var dir = Directory.CreateTempSubdirectory("mf-broken-");
        try
        {
            var model = Path.Combine(dir.FullName, "m");
            var clip = Path.Combine(dir.FullName, "clip-vit-large-patch14-336");
            Directory.CreateDirectory(model);
            Directory.CreateDirectory(clip);
            foreach (var f in Directory.GetFiles(fx.OrigSt).Where(f => !f.EndsWith(".safetensors", StringComparison.Ordinal)))
                File.Copy(f, Path.Combine(model, Path.GetFileName(f)));
            File.Copy(Path.Combine(fx.ClipDir, "config.json"), Path.Combine(clip, "config.json"));
            using (var scope = NewDisposeScope())
            {
                using var st = SafetensorsFile.Open(Path.Combine(fx.OrigSt, "model.safetensors"));
                SafetensorsWriter.Write(Path.Combine(model, "model.safetensors"),
                    st.Names.Where(n => n != "model.mm_projector.2.bias").Select(n => (n, st.Load(n)))
                        .Append(("model.mm_projector.4.weight", zeros(2))));
                using var cf = SafetensorsFile.Open(Path.Combine(fx.ClipDir, "model.safetensors"));
                SafetensorsWriter.Write(Path.Combine(clip, "model.safetensors"),
                    cf.Names.Where(n => n != "vision_model.post_layernorm.bias").Select(n => (n, cf.Load(n))));
            }
            var e = Assert.Throws<InputException>(() => LlavaLoadedModel.Load(model));
            log.WriteLine(e.Message);
            Assert.Contains("2 missing tensor(s)", e.Message);
            Assert.Contains("multi_modal_projector.linear_2.bias", e.Message);
            Assert.Contains("vision_tower.vision_model.post_layernorm.bias", e.Message);
            Assert.Contains("1 unexpected tensor(s): model.mm_projector.4.weight (m/model.safetensors)", e.Message);
            Assert.DoesNotContain("inv_freq", e.Message);
            Assert.DoesNotContain("text_model", e.Message);
        }
        finally { dir.Delete(true); }
    }

    [SharedFact]
    public void Original_Inspect_Reports_Format_Weight_Files_And_Tower()
    {
        var (code, stdout, stderr) = CliTests.Run("inspect", "--model", fx.OrigBin, "--vision-tower", fx.ClipBinDir, "--json");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var r = doc.RootElement;
        Assert.Equal("original", r.GetProperty("format").GetString());
        Assert.Equal("pytorch .bin", r.GetProperty("weight_files").GetString());
        Assert.Equal(fx.ClipBinDir, r.GetProperty("vision_tower").GetString());
        Assert.Equal("LlavaLlamaForCausalLM", r.GetProperty("architecture").GetString());
        Assert.Equal(32064, r.GetProperty("text").GetProperty("vocab").GetInt32());
        // The fixture's 118 tensors less the 39 of the tiny CLIP tower (in clip-bin/), plus 8 inv_freq buffers.
        Assert.Equal(118 - 39 + 8, r.GetProperty("tensors").GetInt32());
    }
}

/// <summary>
/// LLaVA-NeXT originals (liuhaotian/llava-v1.6-*, lmms-lab/*) keep the CLIP tower and the newline in the checkpoint:
/// the tiny NeXT fixture re-saved with <c>model.vision_tower.vision_tower.vision_model.*</c> and <c>model.image_newline</c>
/// loads bit-identical to the llava-hf load and packs/predicts the same. A sibling CLIP folder supplies only settings.
/// </summary>
public sealed class OriginalNextLoadTests
{
    private const string Hf = "tiny-llava-next";

    public OriginalNextLoadTests() => TorchRuntime.Initialize();

    private static string OriginalName(string hf) =>
        hf.StartsWith("vision_tower.vision_model.", StringComparison.Ordinal) ? "model.vision_tower.vision_tower.vision_model." + hf["vision_tower.vision_model.".Length..]
        : hf == "image_newline" ? "model.image_newline"
        : hf.StartsWith("language_model.model.", StringComparison.Ordinal) ? "model." + hf["language_model.model.".Length..]
        : hf.StartsWith("language_model.lm_head.", StringComparison.Ordinal) ? "lm_head." + hf["language_model.lm_head.".Length..]
        : hf.StartsWith("multi_modal_projector.linear_1.", StringComparison.Ordinal) ? "model.mm_projector.0." + hf["multi_modal_projector.linear_1.".Length..]
        : hf.StartsWith("multi_modal_projector.linear_2.", StringComparison.Ordinal) ? "model.mm_projector.2." + hf["multi_modal_projector.linear_2.".Length..]
        : throw new ArgumentException(hf);

    [SharedFact]
    public void Original_Next_With_Tower_In_Checkpoint_Loads_Bit_Identical_And_Packs_The_Same()
    {
        var root = Directory.CreateTempSubdirectory("mf-orig-next-");
        try
        {
            var hfConfig = JsonNode.Parse(File.ReadAllText(SharedData.Fixture(Hf, "config.json")))!.AsObject();
            var clip = Directory.CreateDirectory(Path.Combine(root.FullName, "clip-vit-large-patch14-336")).FullName;
            File.WriteAllText(Path.Combine(clip, "config.json"),
                new JsonObject { ["model_type"] = "clip", ["vision_config"] = hfConfig["vision_config"]!.DeepClone() }.ToJsonString());
            var dir = Directory.CreateDirectory(Path.Combine(root.FullName, "llava-v1.6-tiny")).FullName;
            var j = JsonNode.Parse(File.ReadAllText(SharedData.DataFile("model-configs", "_reconstructed_UNVERIFIED",
                "liuhaotian__llava-v1.6-vicuna-7b__config.reconstructed.json")))!.AsObject();
            foreach (var key in new[] { "hidden_size", "intermediate_size", "num_attention_heads", "num_hidden_layers", "num_key_value_heads", "vocab_size" })
                j[key] = hfConfig["text_config"]![key]!.DeepClone();
            j["mm_hidden_size"] = 32;
            File.WriteAllText(Path.Combine(dir, "config.json"), j.ToJsonString());
            File.Copy(SharedData.Fixture(Hf, "tokenizer.model"), Path.Combine(dir, "tokenizer.model"));
            using (var scope = NewDisposeScope())
            {
                using var f = SafetensorsFile.Open(SharedData.Fixture(Hf, "model.safetensors"));
                TorchSaveWriter.Write(Path.Combine(dir, "pytorch_model.bin"), f.Names.Select(n => (OriginalName(n), f.Load(n))), TorchSaveLayout.Transposed);
            }

            using var orig = LlavaLoadedModel.Load(dir);
            Assert.Equal((CheckpointFormat.Original, LlavaKind.LlavaNext), (orig.Config.Format, orig.Config.Kind));
            Assert.Equal(ModalFlow.Vision.AnyresArithmetic.LlavaNext, orig.LlavaFolder.AnyresArithmetic);
            Assert.Equal(clip, orig.LlavaFolder.VisionTowerDirectory);   // settings only: it has no weights
            var hfCfg = LlavaConfig.Load(SharedData.Fixture(Hf));
            using var hf = LlavaModel.Load(hfCfg, SharedData.Fixture(Hf), ScalarType.Float32, CPU);
            var a = hf.named_parameters().ToDictionary(p => p.name, p => p.parameter);
            var b = orig.Model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
            Assert.Equal(a.Keys.Order(StringComparer.Ordinal), b.Keys.Order(StringComparer.Ordinal));
            Assert.Contains("image_newline", a.Keys);
            foreach (var (name, p) in a) Assert.True(Compare.SameBits(p, b[name]), $"{name} differs");

            using var s2 = NewDisposeScope();
            var grid = hfCfg.NextGridFor(672, 336, 500, 240);
            var pixels = randn([grid.Tiles, 3, 336, 336], generator: new Generator(5));
            var f1 = hf.EncodeNextImage(pixels, grid);
            var f2 = orig.Model.EncodeNextImage(pixels, grid);
            Assert.True(Compare.SameBits(f1, f2));
            long[] ids = [1, 319, 13563, -200, 29871, 13, 3624];
            using var o1 = hf.LanguageModel.Forward(hf.EmbedSequence(ids, 3, f1));
            using var o2 = orig.Model.LanguageModel.Forward(orig.Model.EmbedSequence(ids, 3, f2));
            Assert.True(Compare.SameBits(o1.LastLogits, o2.LastLogits));
        }
        finally { root.Delete(true); }
    }
}

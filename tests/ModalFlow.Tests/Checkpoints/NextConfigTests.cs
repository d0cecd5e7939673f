using System.Text.Json;
using System.Text.Json.Nodes;
using ModalFlow.Checkpoints;
using ModalFlow.Families.Llava;
using ModalFlow.Inference;
using ModalFlow.Models;
using ModalFlow.Platform;
using ModalFlow.Tests.Models;
using ModalFlow.Tests.Support;
using Xunit;

namespace ModalFlow.Tests.Checkpoints;

/// <summary>LLaVA-NeXT configs, key tree, and the model folder's NeXT token-count / layout API.</summary>
public class NextConfigTests
{
    public NextConfigTests() => TorchRuntime.Initialize();

    private static LlavaModelFolder Folder(string model) => LlavaModelFolder.Read(SharedData.Fixture(model), new LoadOptions
    {
        TokenizerFile = model == NextModels.Llama3 ? SharedData.Fixture("tokenizers", "llama3", "tokenizer.model") : null,
    });

    [SharedTheory]
    [InlineData(NextModels.Vicuna, 64, 4, 32064)]
    [InlineData(NextModels.Llama3, 48, 2, 128320)]
    public void Next_Fixture_Configs_Load_With_Their_Geometry(string model, int hidden, int kvHeads, int vocab)
    {
        var cfg = LlavaConfig.Load(SharedData.Fixture(model));
        Assert.Equal(LlavaKind.LlavaNext, cfg.Kind);
        Assert.True(cfg.IsNext);
        Assert.Equal((hidden, kvHeads, vocab), (cfg.Text.HiddenSize, cfg.Text.NumKeyValueHeads, cfg.Text.VocabSize));
        var full = JsonNode.Parse(File.ReadAllText(SharedData.Fixture(model, "config.full.json")))!;
        var pinpoints = full["image_grid_pinpoints"]!.AsArray().Select(p => p!.AsArray().Select(x => (int)x!).ToArray()).ToArray();
        Assert.Equal(pinpoints, cfg.ImageGridPinpoints.Select(p => p.ToArray()).ToArray());
        Assert.Throws<NotSupportedException>(() => cfg.ImageTokensPerImage);
        Assert.False(LlavaConfig.Load(SharedData.Fixture("tiny-llava-1.5")).IsNext);
    }

    [SharedFact]
    public void Next_Pinpoints_Default_To_Transformers_When_Omitted_And_Only_Model_Type_Also_Works()
    {
        var json = JsonNode.Parse(File.ReadAllText(SharedData.Fixture(NextModels.Vicuna, "config.json")))!.AsObject();
        json.Remove("image_grid_pinpoints");
        json.Remove("architectures");
        var cfg = LlavaConfig.Parse(json.ToJsonString());
        Assert.True(cfg.IsNext);
        Assert.Equal(LlavaConfig.DefaultImageGridPinpoints.Select(p => p.ToArray()), cfg.ImageGridPinpoints.Select(p => p.ToArray()));
        json["use_image_newline_parameter"] = true;
        Assert.True(LlavaConfig.Parse(json.ToJsonString()).UseImageNewlineParameter);
    }

    [SharedTheory]
    [InlineData(NextModels.Vicuna)]
    [InlineData(NextModels.Llama3)]
    public void Next_Fixture_Config_Builds_The_Key_Tree_And_Shapes_Of_Its_Manifest(string model)
    {
        var cfg = LlavaConfig.Load(SharedData.Fixture(model));
        using var built = LlavaModel.Build(cfg, new MetaWeightSource());
        var tree = built.named_parameters().ToDictionary(p => p.name, p => p.parameter.shape);
        using var manifest = JsonDocument.Parse(File.ReadAllText(SharedData.Fixture("manifest.json")));
        var expected = ModuleTreeTests.ManifestTensorIndex(manifest.RootElement.GetProperty("models").GetProperty(model), "model.safetensors");
        Assert.Equal(expected.Keys.OrderBy(k => k), tree.Keys.OrderBy(k => k));
        foreach (var (name, shape) in expected) Assert.True(shape.SequenceEqual(tree[name]), $"{name}: built [{string.Join(",", tree[name])}] manifest [{string.Join(",", shape)}]");
        Assert.Equal([(long)cfg.Text.HiddenSize], tree["image_newline"]);
    }

    [SharedFact]
    public void Next_Checkpoint_Without_Image_Newline_Is_Reported_Missing()
    {
        // The LLaVA-1.5 weights under a NeXT config: exactly one missing tensor, named.
        var json = JsonNode.Parse(File.ReadAllText(SharedData.Fixture("tiny-llava-1.5", "config.json")))!.AsObject();
        json["architectures"] = new JsonArray("LlavaNextForConditionalGeneration");
        json["model_type"] = "llava_next";
        var cfg = LlavaConfig.Parse(json.ToJsonString());
        var e = Assert.Throws<InputException>(() => LlavaModel.Load(cfg, SharedData.Fixture("tiny-llava-1.5", "model.safetensors"), TorchSharp.torch.ScalarType.Float32, TorchSharp.torch.CPU));
        Assert.Contains("1 missing tensor(s): image_newline", e.Message);
    }

    public static TheoryData<string, string> Cases => NextModels.Cases();

    /// <summary>LlavaModelFolder + grid → the case's layout: token count, sequence length, spans and both id conventions.</summary>
    [SharedTheory]
    [MemberData(nameof(Cases))]
    public void Next_Folder_Grid_And_Layout_Match_The_Fixture_Case(string model, string id)
    {
        var c = FixtureCase.Load(model, id);
        var folder = Folder(model);
        var wh = c.Json.GetProperty("image_size_wh");
        var grid = folder.NextGridFor(c.Json.GetProperty("grid_cols").GetInt32() * 336, c.Json.GetProperty("grid_rows").GetInt32() * 336, wh[0].GetInt32(), wh[1].GetInt32());
        Assert.Equal(c.NumImageTokens, grid.ImageTokens);
        Assert.Equal(c.NumImageTokens, folder.PlanImage(wh[0].GetInt32(), wh[1].GetInt32()).ImageTokens);
        var (prompt, layout) = folder.BuildLayout(c.Question, wh[0].GetInt32(), wh[1].GetInt32());
        Assert.Equal(c.Prompt, prompt);
        Assert.Equal(c.SeqLen, layout.SeqLen);
        Assert.Equal(c.PlaceholderIndex, layout.PlaceholderIndex);
        Assert.Equal(c.Range("image"), (layout.Image.Start, layout.Image.End));
        Assert.Equal(c.Range("question"), (layout.Question.Start, layout.Question.End));
        Assert.Equal(c.Array("input_ids").AsLongs(), layout.InputIds(folder.Config.ImageTokenIndex));
        Assert.Equal(c.Array("input_ids_llava").AsLongs(), layout.InputIds());
    }

    [SharedFact]
    public void Next_Folder_Refuses_The_LLaVA15_Only_Paths_Loudly()
    {
        var folder = Folder(NextModels.Vicuna);
        Assert.Throws<InputException>(() => folder.BuildLayout("Is the jar full or empty?", 500, 375, ModalFlow.Vision.ImageMode.Pad));
        Assert.Throws<NotSupportedException>(() => folder.ImagePreprocessor(ModalFlow.Vision.ImageMode.Pad));
        var llava = LlavaModelFolder.Read(SharedData.Fixture("tiny-llava-1.5"));
        Assert.Equal(576, llava.PlanImage(500, 375).ImageTokens);
        Assert.Throws<NotSupportedException>(() => llava.NextGridFor(672, 672, 500, 375));
    }

    [SharedFact]
    public void Next_Preprocessor_Pinpoints_Must_Equal_The_Models()
    {
        var dir = Directory.CreateTempSubdirectory("mf-next-");
        try
        {
            var pre = JsonNode.Parse(File.ReadAllText(SharedData.Fixture(NextModels.Vicuna, PreprocessorConfig.FileName)))!.AsObject();
            pre["image_grid_pinpoints"] = new JsonArray(new JsonArray(336, 672));
            var file = Path.Combine(dir.FullName, PreprocessorConfig.FileName);
            File.WriteAllText(file, pre.ToJsonString());
            var cfg = LlavaConfig.Load(SharedData.Fixture(NextModels.Vicuna));
            var e = Assert.Throws<InputException>(() => PreprocessorConfig.Load(dir.FullName, cfg.Vision, out _, cfg.ImageGridPinpoints));
            Assert.Contains("image_grid_pinpoints", e.Message);
            Assert.Contains("differs from config.json", e.Message);
            // Without the NeXT flag the LlavaNextImageProcessor is refused as before.
            Assert.Throws<InputException>(() => PreprocessorConfig.Load(SharedData.Fixture(NextModels.Vicuna), cfg.Vision, out _));
            Assert.Equal(336, PreprocessorConfig.Load(SharedData.Fixture(NextModels.Vicuna), cfg.Vision, out _, cfg.ImageGridPinpoints).CropWidth);
        }
        finally { dir.Delete(true); }
    }
}

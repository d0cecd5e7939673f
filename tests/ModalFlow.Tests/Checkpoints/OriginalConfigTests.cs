using System.Text.Json;
using System.Text.Json.Nodes;
using ModalFlow.Checkpoints;
using ModalFlow.Models;
using ModalFlow.Platform;
using ModalFlow.Tests.Support;
using Xunit;

namespace ModalFlow.Tests.Checkpoints;

/// <summary>
/// Original LLaVA configs (LlavaLlamaForCausalLM, mm_* keys): the real liuhaotian/llava-v1.5-7b config and its weight
/// index, the two reconstructed (UNVERIFIED) configs, the translation into LlavaConfig and every refusal.
/// </summary>
public sealed class OriginalConfigTests
{
    private static string Real7b => SharedData.DataFile("model-configs", "liuhaotian__llava-v1.5-7b");

    public OriginalConfigTests() => TorchRuntime.Initialize();

    private static JsonObject Real7bJson() => JsonNode.Parse(File.ReadAllText(Path.Combine(Real7b, "config.json")))!.AsObject();

    [SharedFact]
    public void Original_Real_Llava15_7b_Config_Parses_Into_The_Published_Geometry()
    {
        var cfg = LlavaConfig.Load(Real7b);
        Assert.Equal(CheckpointFormat.Original, cfg.Format);
        Assert.Equal(LlavaKind.Llava, cfg.Kind);
        Assert.Equal((4096, 32, 32, 32, 11008, 32000), (cfg.Text.HiddenSize, cfg.Text.NumHiddenLayers, cfg.Text.NumAttentionHeads,
            cfg.Text.NumKeyValueHeads, cfg.Text.IntermediateSize, cfg.Text.VocabSize));
        Assert.Equal(("llama", 4096, 1e-5, 10000.0), (cfg.Text.ModelType, cfg.Text.MaxPositionEmbeddings, cfg.Text.RmsNormEps, cfg.Text.RopeTheta));
        Assert.Null(cfg.Text.RopeScaling);
        Assert.Equal((1024, 24, 16, 4096, 336, 14, "quick_gelu"), (cfg.Vision.HiddenSize, cfg.Vision.NumHiddenLayers, cfg.Vision.NumAttentionHeads,
            cfg.Vision.IntermediateSize, cfg.Vision.ImageSize, cfg.Vision.PatchSize, cfg.Vision.HiddenAct));
        Assert.Equal("known settings of openai/clip-vit-large-patch14-336", cfg.VisionConfigSource);
        Assert.Equal("openai/clip-vit-large-patch14-336", cfg.MmVisionTower);
        Assert.Equal((-2, 23, "default", true), (cfg.VisionFeatureLayer, cfg.VisionLayersUsed, cfg.VisionFeatureSelectStrategy, cfg.DropClsToken));
        Assert.Equal(("gelu", true, false), (cfg.ProjectorHiddenAct, cfg.MultimodalProjectorBias, cfg.TiedEmbeddings));
        Assert.Equal(576, cfg.ImageTokensPerImage);
        // No <image> row: the placeholder is LLaVA's -200, outside the 32000-row vocabulary.
        Assert.Equal(-200, cfg.ImageTokenIndex);
        Assert.Equal(ModalFlow.Text.LlavaPromptTokenizer.ImageTokenIndex, cfg.ImageTokenIndex);
        Assert.Equal("pad", cfg.ImageAspectRatio);
        Assert.Empty(cfg.ImageGridPinpoints);
    }

    [SharedFact]
    public void Original_Real_Llava15_7b_Builds_The_Key_Tree_And_Total_Size_Of_Its_Bin_Index()
    {
        var cfg = LlavaConfig.Load(Real7b);
        using var model = LlavaModel.Build(cfg, new MetaWeightSource());
        var built = model.named_parameters().ToDictionary(p => p.name, p => p.parameter.shape);
        using var index = JsonDocument.Parse(File.ReadAllText(Path.Combine(Real7b, TorchBinCheckpoint.IndexFileName)));
        var keys = index.RootElement.GetProperty("weight_map").EnumerateObject().Select(p => p.Name).ToHashSet();
        Assert.Equal(327, keys.Count);

        // The v1.5 checkpoint has no CLIP tower (it comes from openai/clip-vit-large-patch14-336's own folder).
        var language = built.Where(kv => !kv.Key.StartsWith("vision_tower.", StringComparison.Ordinal))
            .ToDictionary(kv => KeyMap.Original.ToFile(kv.Key), kv => kv.Value);
        Assert.Equal(295, language.Count);                        // 1 + 32×9 + norm + lm_head + 4 projector
        Assert.Equal(391, built.Count - language.Count);          // CLIP-L/336 vision tower
        var buffers = keys.Where(KeyMap.Original.IsIgnorable).ToList();
        Assert.Equal(32, buffers.Count);
        Assert.All(buffers, k => Assert.EndsWith(".self_attn.rotary_emb.inv_freq", k));
        var weights = keys.Except(buffers).ToHashSet();
        Assert.Equal(weights.Order(StringComparer.Ordinal), language.Keys.Order(StringComparer.Ordinal));
        Assert.DoesNotContain(KeyMap.Original.ToFile(KeyMap.VisionTowerProbe), keys);

        // total_size = every fp16 weight × 2 B + the 32 fp32 inv_freq buffers [head_dim/2 = 64] × 4 B:
        // 6,759,395,328 × 2 + 32 × 64 × 4 = 13,518,790,656 + 8,192 = 13,518,798,848.
        long elements = language.Values.Sum(s => s.Aggregate(1L, (a, b) => a * b));
        Assert.Equal(6_759_395_328L, elements);
        long invFreq = buffers.Count * (cfg.Text.HeadDim / 2L) * 4;
        Assert.Equal(8_192L, invFreq);
        Assert.Equal(index.RootElement.GetProperty("metadata").GetProperty("total_size").GetInt64(), elements * 2 + invFreq);

        Assert.Equal([32000L, 4096], language["model.embed_tokens.weight"]);
        Assert.Equal([32000L, 4096], language["lm_head.weight"]);
        Assert.Equal([4096L, 1024], language["model.mm_projector.0.weight"]);
        Assert.Equal([4096L, 4096], language["model.mm_projector.2.weight"]);
        Assert.Equal([4096L], language["model.mm_projector.2.bias"]);
    }

    /// <summary>SYNTHETIC: the reconstructed configs are re-serialised quotations, not byte copies (see their README).</summary>
    [SharedFact]
    public void Original_Reconstructed_Unverified_Configs_Parse_13b_And_Next()
    {
        var dir = SharedData.DataFile("model-configs", "_reconstructed_UNVERIFIED");
        var c13 = LlavaConfig.Load(Path.Combine(dir, "liuhaotian__llava-v1.5-13b__config.reconstructed.json"));
        Assert.Equal((CheckpointFormat.Original, LlavaKind.Llava, 5120, 40, 13824), (c13.Format, c13.Kind, c13.Text.HiddenSize, c13.Text.NumHiddenLayers, c13.Text.IntermediateSize));
        var next = LlavaConfig.Load(Path.Combine(dir, "liuhaotian__llava-v1.6-vicuna-7b__config.reconstructed.json"));
        Assert.Equal((CheckpointFormat.Original, LlavaKind.LlavaNext, "spatial_unpad"), (next.Format, next.Kind, next.MmPatchMergeType));
        Assert.Equal(LlavaConfig.DefaultImageGridPinpoints.Select(p => p.ToArray()), next.ImageGridPinpoints.Select(p => p.ToArray()));
        Assert.True(next.UseImageNewlineParameter);
        Assert.Equal(-200, next.ImageTokenIndex);
        // The NeXT original keeps its tower and newline in the checkpoint: model.image_newline, model.vision_tower.vision_tower.*.
        using var model = LlavaModel.Build(next, new MetaWeightSource());
        var names = model.named_parameters().Select(p => KeyMap.Original.ToFile(p.name)).ToHashSet();
        Assert.Contains("model.image_newline", names);
        Assert.Contains("model.vision_tower.vision_tower.vision_model.encoder.layers.23.mlp.fc2.bias", names);
        Assert.Contains("model.mm_projector.0.weight", names);
    }

    [SharedTheory]
    [InlineData("llava_llama")]
    [InlineData(null)]
    public void Original_Config_Model_Type_Llava_Llama_Or_Absent_Is_Accepted(string? modelType)
    {
        var j = Real7bJson();
        if (modelType is null) j.Remove("model_type"); else j["model_type"] = modelType;
        Assert.Equal(CheckpointFormat.Original, LlavaConfig.Parse(j.ToJsonString()).Format);
        j.Remove("architectures");   // mm_vision_tower alone marks an original config
        Assert.Equal(CheckpointFormat.Original, LlavaConfig.Parse(j.ToJsonString()).Format);
    }

    [SharedFact]
    public void Original_Config_Cls_Patch_Keeps_Cls_And_Tower_Defaults_Follow_The_Id()
    {
        var j = Real7bJson();
        j["mm_vision_select_feature"] = "cls_patch";
        var cfg = LlavaConfig.Parse(j.ToJsonString());
        Assert.Equal(("full", 577), (cfg.VisionFeatureSelectStrategy, cfg.ImageTokensPerImage));
        j["mm_vision_tower"] = "openai/clip-vit-large-patch14";
        Assert.Equal(224, LlavaConfig.Parse(j.ToJsonString()).Vision.ImageSize);
    }

    [SharedTheory]
    [InlineData("pad", ModalFlow.Vision.ImageMode.Pad)]
    [InlineData("square", ModalFlow.Vision.ImageMode.Crop)]
    [InlineData(null, ModalFlow.Vision.ImageMode.Crop)]      // LLaVA's default when absent: the plain CLIP processor
    public void Original_Image_Aspect_Ratio_Chooses_The_Default_Image_Mode(string? aspect, ModalFlow.Vision.ImageMode expected)
    {
        var j = Real7bJson();
        if (aspect is null) j.Remove("image_aspect_ratio"); else j["image_aspect_ratio"] = aspect;
        Assert.Equal(expected, LlavaConfig.Parse(j.ToJsonString()).DefaultImageMode);
        // llava-hf folders keep the paper's pad whatever their processor does.
        Assert.Equal(ModalFlow.Vision.ImageMode.Pad, LlavaConfig.Load(SharedData.Fixture("tiny-llava-1.5")).DefaultImageMode);
    }

    public static TheoryData<string, Action<JsonObject>, string, string> BadConfigs => new()
    {
        { "projector linear", j => j["mm_projector_type"] = "linear", "mm_projector_type", "'linear' is not supported; expected 'mlp2x_gelu'" },
        { "projector absent", j => j.Remove("mm_projector_type"), "mm_projector_type", "(LLaVA's default when absent)" },
        { "select feature", j => j["mm_vision_select_feature"] = "cls", "mm_vision_select_feature", "'cls' is not supported" },
        { "select layer absent", j => j.Remove("mm_vision_select_layer"), "mm_vision_select_layer", "missing" },
        { "select layer range", j => j["mm_vision_select_layer"] = -30, "mm_vision_select_layer", "out of range for 24 CLIP layers" },
        { "aspect ratio", j => j["image_aspect_ratio"] = "anyres_max_9", "image_aspect_ratio", "'anyres_max_9' is not supported" },
        { "anyres merge", j => j["image_aspect_ratio"] = "anyres", "mm_patch_merge_type", "'flat' (LLaVA's default when absent) is not supported with anyres" },
        { "anyres pinpoints", j => { j["image_aspect_ratio"] = "anyres"; j["mm_patch_merge_type"] = "spatial_unpad"; }, "image_grid_pinpoints", "missing" },
        { "anyres cls", j => { j["image_aspect_ratio"] = "anyres"; j["mm_patch_merge_type"] = "spatial_unpad"; j["image_grid_pinpoints"] = new JsonArray(new JsonArray(336, 672)); j["mm_vision_select_feature"] = "cls_patch"; }, "mm_vision_select_feature", "not supported for LLaVA-NeXT" },
        { "im start end", j => j["mm_use_im_start_end"] = true, "mm_use_im_start_end", "true is not supported" },
        { "im patch token", j => j["mm_use_im_patch_token"] = true, "mm_use_im_patch_token", "true is not supported" },
        { "mistral", j => j["architectures"] = new JsonArray("LlavaMistralForCausalLM"), "architectures", "'LlavaMistralForCausalLM' is an original LLaVA checkpoint with a non-Llama decoder" },
        { "mixed", j => j["architectures"] = new JsonArray("LlavaLlamaForCausalLM", "LlavaForConditionalGeneration"), "architectures", "mixes formats" },
        { "model type", j => j["model_type"] = "llava_qwen", "model_type", "'llava_qwen' is not supported for LlavaLlamaForCausalLM" },
        { "mm hidden", j => j["mm_hidden_size"] = 768, "mm_hidden_size", "768 differs from the CLIP tower's hidden_size 1024" },
        { "unknown tower", j => j["mm_vision_tower"] = "google/siglip-so400m-patch14-384", "mm_vision_tower", "give its folder (--vision-tower DIR" },
        { "tower absent", j => j.Remove("mm_vision_tower"), "mm_vision_tower", "missing" },
        { "rope", j => j["rope_scaling"] = new JsonObject { ["type"] = "dynamic", ["factor"] = 2.0 }, "rope_scaling.rope_type", "'dynamic' is not implemented" },
        { "hidden act", j => j["hidden_act"] = "gelu", "hidden_act", "'gelu' is not supported; expected 'silu'" },
        { "text_config block", j => j["text_config"] = new JsonObject(), "text_config", "settings at the top level" },
        { "image token", j => j["image_token_index"] = 32000, "image_token_index", "uses the placeholder -200" },
        { "wrong type", j => j["mm_vision_select_layer"] = "minus two", "mm_vision_select_layer", "has the wrong type" },
    };

    [SharedTheory]
    [MemberData(nameof(BadConfigs))]
    public void Original_Config_Refusals_Name_The_Field(string what, Action<JsonObject> edit, string field, string message)
    {
        var j = Real7bJson();
        edit(j);
        var e = Assert.Throws<InputException>(() => LlavaConfig.Parse(j.ToJsonString(), "orig/config.json"));
        Assert.True(e.Field == field, $"{what}: field '{e.Field}', expected '{field}' ({e.Message})");
        Assert.Contains(message, e.Message);
        Assert.StartsWith("orig/config.json: ", e.Message);
    }

    [SharedFact]
    public void Original_Config_Takes_Vision_Settings_From_The_Clip_Folder()
    {
        var dir = Directory.CreateTempSubdirectory("mf-clip-");
        try
        {
            var clip = new JsonObject
            {
                ["architectures"] = new JsonArray("CLIPModel"), ["model_type"] = "clip", ["projection_dim"] = 32,
                ["text_config"] = new JsonObject { ["hidden_size"] = 16 },
                ["vision_config"] = new JsonObject { ["hidden_size"] = 32, ["intermediate_size"] = 64, ["num_attention_heads"] = 2, ["num_hidden_layers"] = 2, ["image_size"] = 336, ["patch_size"] = 14 },
            };
            File.WriteAllText(Path.Combine(dir.FullName, "config.json"), clip.ToJsonString());
            var j = Real7bJson();
            j["mm_hidden_size"] = 32;
            var path = Path.Combine(dir.FullName, "model-config.json");
            File.WriteAllText(path, j.ToJsonString());
            var cfg = LlavaConfig.Load(path, dir.FullName);
            Assert.Equal((32, 2, 2, "quick_gelu"), (cfg.Vision.HiddenSize, cfg.Vision.NumHiddenLayers, cfg.Vision.NumAttentionHeads, cfg.Vision.HiddenAct));
            Assert.Equal(Path.Combine(dir.FullName, "config.json"), cfg.VisionConfigSource);
            Assert.Equal(1, cfg.VisionLayersUsed);   // -2 of 2 layers

            // A CLIPVisionConfig file works too; a non-CLIP tower is refused.
            File.WriteAllText(Path.Combine(dir.FullName, "config.json"), new JsonObject { ["model_type"] = "clip_vision_model", ["hidden_size"] = 32, ["num_attention_heads"] = 2, ["num_hidden_layers"] = 3 }.ToJsonString());
            Assert.Equal(3, LlavaConfig.Load(path, dir.FullName).Vision.NumHiddenLayers);
            File.WriteAllText(Path.Combine(dir.FullName, "config.json"), new JsonObject { ["model_type"] = "siglip", ["vision_config"] = new JsonObject() }.ToJsonString());
            var e = Assert.Throws<InputException>(() => LlavaConfig.Load(path, dir.FullName));
            Assert.Contains("is not a CLIP tower", e.Message);
            Assert.Contains(Path.Combine(dir.FullName, "config.json"), e.Message);
            // mm_hidden_size must agree with the folder's tower.
            File.WriteAllText(Path.Combine(dir.FullName, "config.json"), clip.ToJsonString());
            j["mm_hidden_size"] = 1024;
            File.WriteAllText(path, j.ToJsonString());
            e = Assert.Throws<InputException>(() => LlavaConfig.Load(path, dir.FullName));
            Assert.Contains("1024 differs from the CLIP tower's hidden_size 32", e.Message);
        }
        finally { dir.Delete(true); }
    }

    [SharedFact]
    public void Original_Vision_Tower_Locator_Tries_Explicit_Then_Siblings()
    {
        var root = Directory.CreateTempSubdirectory("mf-loc-");
        try
        {
            var model = Directory.CreateDirectory(Path.Combine(root.FullName, "llava-v1.5-7b")).FullName;
            const string id = "openai/clip-vit-large-patch14-336";
            Assert.Equal([Path.Combine(root.FullName, "clip-vit-large-patch14-336"), Path.Combine(root.FullName, "openai__clip-vit-large-patch14-336")],
                VisionTowerLocator.Candidates(model, id));
            Assert.Null(VisionTowerLocator.Locate(model, id, null));
            var notFound = VisionTowerLocator.NotFound(model, id);
            Assert.Contains("clip-vit-large-patch14-336", notFound.Message);
            Assert.Contains("--vision-tower", notFound.Message);
            var flat = Directory.CreateDirectory(Path.Combine(root.FullName, "openai__clip-vit-large-patch14-336")).FullName;
            Assert.Equal(flat, VisionTowerLocator.Locate(model, id, null));
            var sibling = Directory.CreateDirectory(Path.Combine(root.FullName, "clip-vit-large-patch14-336")).FullName;
            Assert.Equal(sibling, VisionTowerLocator.Locate(model, id, null));
            Assert.Equal(flat, VisionTowerLocator.Locate(model, id, flat));
            var e = Assert.Throws<InputException>(() => VisionTowerLocator.Locate(model, id, Path.Combine(root.FullName, "nope")));
            Assert.Equal("--vision-tower", e.Field);
            Assert.Equal(sibling, VisionTowerLocator.Locate(model, sibling, null));   // mm_vision_tower as an absolute path
        }
        finally { root.Delete(true); }
    }
}

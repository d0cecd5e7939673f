using System.Text.Json;
using System.Text.Json.Nodes;
using ModalFlow.Families.LlavaOnevision;
using ModalFlow.Tests.Support;
using Xunit;

namespace ModalFlow.Tests.Families.LlavaOnevision;

public class LlavaOnevisionConfigTests
{
    private static JsonElement Full() =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(OnevisionFixture.Dir, "config.full.json"))).RootElement.Clone();

    private static JsonObject Saved() => JsonNode.Parse(File.ReadAllText(Path.Combine(OnevisionFixture.Dir, "config.json")))!.AsObject();

    private static InputException Refused(JsonObject json) =>
        Assert.Throws<InputException>(() => LlavaOnevisionConfig.Parse(json.ToJsonString(), "config.json"));

    /// <summary>
    /// config.json omits every class default; config.full.json is what transformers v4.45.1 made of it. Every value the
    /// model uses must come out the same (Qwen2's defaults, not Llama's, inside text_config; SigLIP's inside vision_config).
    /// </summary>
    [SharedFact]
    public void Parsing_The_Saved_Config_Gives_The_Values_Transformers_Filled_In()
    {
        var cfg = OnevisionFixture.Config();
        var full = Full();
        var t = full.GetProperty("text_config");
        var v = full.GetProperty("vision_config");
        Assert.Equal(t.GetProperty("model_type").GetString(), cfg.Text.ModelType);
        Assert.Equal(t.GetProperty("vocab_size").GetInt32(), cfg.Text.VocabSize);
        Assert.Equal(t.GetProperty("hidden_size").GetInt32(), cfg.Text.HiddenSize);
        Assert.Equal(t.GetProperty("intermediate_size").GetInt32(), cfg.Text.IntermediateSize);
        Assert.Equal(t.GetProperty("num_hidden_layers").GetInt32(), cfg.Text.NumHiddenLayers);
        Assert.Equal(t.GetProperty("num_attention_heads").GetInt32(), cfg.Text.NumAttentionHeads);
        Assert.Equal(t.GetProperty("num_key_value_heads").GetInt32(), cfg.Text.NumKeyValueHeads);
        Assert.Equal(t.GetProperty("hidden_act").GetString(), cfg.Text.HiddenAct);
        Assert.Equal(t.GetProperty("max_position_embeddings").GetInt32(), cfg.Text.MaxPositionEmbeddings);
        Assert.Equal(t.GetProperty("rms_norm_eps").GetDouble(), cfg.Text.RmsNormEps);
        Assert.Equal(t.GetProperty("rope_theta").GetDouble(), cfg.Text.RopeTheta);
        Assert.Equal(t.GetProperty("rope_scaling").ValueKind == JsonValueKind.Null, cfg.Text.RopeScaling is null);
        Assert.Equal(t.GetProperty("tie_word_embeddings").GetBoolean(), cfg.Text.TieWordEmbeddings);
        Assert.Equal(t.GetProperty("tie_word_embeddings").GetBoolean(), cfg.TiedEmbeddings);
        Assert.Equal(t.GetProperty("bos_token_id").GetInt32(), cfg.Text.BosTokenId);
        Assert.Equal([t.GetProperty("eos_token_id").GetInt32()], cfg.Text.EosTokenIds);
        Assert.Equal(t.GetProperty("hidden_size").GetInt32() / t.GetProperty("num_attention_heads").GetInt32(), cfg.Text.HeadDim);
        Assert.True(cfg.Text.QkvBias);
        Assert.False(cfg.Text.AttentionBias);
        Assert.False(cfg.Text.MlpBias);

        Assert.Equal(v.GetProperty("model_type").GetString(), cfg.Vision.ModelType);
        Assert.Equal(v.GetProperty("hidden_size").GetInt32(), cfg.Vision.HiddenSize);
        Assert.Equal(v.GetProperty("intermediate_size").GetInt32(), cfg.Vision.IntermediateSize);
        Assert.Equal(v.GetProperty("num_hidden_layers").GetInt32(), cfg.Vision.NumHiddenLayers);
        Assert.Equal(v.GetProperty("num_attention_heads").GetInt32(), cfg.Vision.NumAttentionHeads);
        Assert.Equal(v.GetProperty("num_channels").GetInt32(), cfg.Vision.NumChannels);
        Assert.Equal(v.GetProperty("image_size").GetInt32(), cfg.Vision.ImageSize);
        Assert.Equal(v.GetProperty("patch_size").GetInt32(), cfg.Vision.PatchSize);
        Assert.Equal(v.GetProperty("hidden_act").GetString(), cfg.Vision.HiddenAct);
        Assert.Equal(v.GetProperty("layer_norm_eps").GetDouble(), cfg.Vision.LayerNormEps);
        Assert.Equal(v.GetProperty("vision_use_head").GetBoolean(), cfg.Vision.HasHead);

        Assert.Equal(full.GetProperty("image_token_index").GetInt32(), cfg.ImageTokenIndex);
        Assert.Equal(full.GetProperty("video_token_index").GetInt32(), cfg.VideoTokenIndex);
        Assert.Equal(full.GetProperty("projector_hidden_act").GetString(), cfg.ProjectorHiddenAct);
        Assert.Equal(full.GetProperty("vision_feature_select_strategy").GetString(), cfg.VisionFeatureSelectStrategy);
        Assert.Equal(full.GetProperty("vision_feature_layer").GetInt32(), cfg.VisionFeatureLayer);
        Assert.Equal(full.GetProperty("vision_aspect_ratio").GetString(), cfg.VisionAspectRatio);
        Assert.Equal(full.GetProperty("use_image_newline_parameter").GetBoolean(), cfg.UseImageNewlineParameter);
        Assert.Equal(full.GetProperty("image_grid_pinpoints").EnumerateArray().Select(p => (p[0].GetInt32(), p[1].GetInt32())), cfg.Pinpoints);
        Assert.Equal(cfg.Vision.NumHiddenLayers, cfg.VisionLayersUsed);
    }

    /// <summary>The full config parses to the same record (nothing in it is refused or read differently).</summary>
    [SharedFact]
    public void Parsing_The_Full_Config_Gives_The_Same_Model_Settings()
    {
        var fromSaved = OnevisionFixture.Config();
        var fromFull = LlavaOnevisionConfig.Parse(Full().GetRawText(), "config.full.json");
        Assert.Equal(fromSaved.Text with { EosTokenIdRaw = null }, fromFull.Text with { EosTokenIdRaw = null });
        Assert.Equal(fromSaved.Text.EosTokenIds, fromFull.Text.EosTokenIds);
        Assert.Equal(fromSaved.Vision, fromFull.Vision);
        Assert.Equal(fromSaved.Pinpoints, fromFull.Pinpoints);
        Assert.Equal(fromSaved.ImageTokenIndex, fromFull.ImageTokenIndex);
    }

    /// <summary>
    /// Without pinpoints / text_config the v4.45.1 class defaults apply: the real llava-onevision-qwen2-7b settings as
    /// patch-sets/llava_onevision.json states them (tile 384, patch 14 → 27x27 = 729 tokens, pinpoints 384·(1..6) as
    /// (height, width), anyres_max_9), and Qwen2Config's decoder.
    /// </summary>
    [SharedFact]
    public void Absent_Fields_Take_The_Class_Defaults_Of_The_Real_Checkpoints()
    {
        var cfg = LlavaOnevisionConfig.Parse("""
            {"model_type": "llava_onevision", "vision_config": {"hidden_size": 1152, "intermediate_size": 4304, "patch_size": 14,
             "image_size": 384, "num_hidden_layers": 26, "num_attention_heads": 16, "vision_use_head": false}}
            """);
        var golden = JsonDocument.Parse(File.ReadAllBytes(SharedData.Fixture("patch-sets", "llava_onevision.json"))).RootElement
            .GetProperty("modes").GetProperty("llava_onevision_qwen2_7b");
        Assert.Equal(golden.GetProperty("n_base_tokens").GetInt32(), cfg.Vision.NumPatches);
        Assert.Equal(36, cfg.Pinpoints.Count);
        Assert.Equal((384, 768), cfg.Pinpoints[1]);
        Assert.Equal((768, 384), cfg.Pinpoints[6]);
        Assert.Equal((2304, 2304), cfg.Pinpoints[^1]);
        Assert.Equal(9, cfg.AnyresMax);
        Assert.Equal(-1, cfg.VisionFeatureLayer);
        Assert.Equal("full", cfg.VisionFeatureSelectStrategy);
        Assert.Equal("qwen2", cfg.Text.ModelType);
        Assert.True(cfg.Text.QkvBias);
        Assert.Empty(cfg.Text.EosTokenIds);
        Assert.Null(cfg.Text.BosTokenId);
        Assert.False(cfg.TiedEmbeddings);
    }

    /// <summary>
    /// v4.45.1's own default tower (no vision_config at all) has 1152 hidden / 14 heads, which SiglipAttention refuses;
    /// so is it refused here, naming the field, instead of building a tower transformers could not.
    /// </summary>
    [SharedFact]
    public void The_Reference_Default_Tower_Is_Refused_Like_Transformers_Refuses_It()
    {
        var e = Assert.Throws<InputException>(() => LlavaOnevisionConfig.Parse("""{"model_type": "llava_onevision"}"""));
        Assert.Equal("vision_config.hidden_size", e.Field);
    }

    /// <summary>A partial vision_config takes SiglipVisionConfig's defaults (not the OneVision tower's) for what it omits.</summary>
    [SharedFact]
    public void A_Partial_Vision_Block_Takes_Siglip_Defaults()
    {
        var cfg = LlavaOnevisionConfig.Parse("""{"model_type": "llava_onevision", "vision_config": {"num_hidden_layers": 2}, "image_grid_pinpoints": [[224, 224]]}""");
        Assert.Equal(new SiglipVisionConfig { NumHiddenLayers = 2 }, cfg.Vision);
        Assert.True(cfg.Vision.HasHead);
    }

    [SharedFact]
    public void A_Vision_Block_Without_The_Head_Flag_Has_The_Pooling_Head()
    {
        var json = Saved();
        json["vision_config"]!.AsObject().Remove("vision_use_head");
        Assert.True(LlavaOnevisionConfig.Parse(json.ToJsonString()).Vision.HasHead);
    }

    [SharedFact]
    public void Describes_Recognises_OneVision_And_Nothing_Else()
    {
        Assert.True(LlavaOnevisionConfig.Describes(JsonDocument.Parse(Saved().ToJsonString()).RootElement));
        Assert.False(LlavaOnevisionConfig.Describes(JsonDocument.Parse(File.ReadAllText(SharedData.Fixture("tiny-llava-next", "config.json"))).RootElement));
    }

    public static TheoryData<string, string, string> Unsupported() => new()
    {
        { "vision_aspect_ratio", "\"anyres\"", "vision_aspect_ratio" },
        { "vision_aspect_ratio", "\"anyres_max_4\"", "vision_aspect_ratio" },
        { "vision_feature_select_strategy", "\"default\"", "vision_feature_select_strategy" },
        { "vision_feature_layer", "[-2, -1]", "vision_feature_layer" },
        { "vision_feature_layer", "5", "vision_feature_layer" },
        { "projector_hidden_act", "\"relu\"", "projector_hidden_act" },
        { "use_image_newline_parameter", "false", "use_image_newline_parameter" },
        { "image_grid_pinpoints", "[[112, 100]]", "image_grid_pinpoints" },
        { "image_grid_pinpoints", "[]", "image_grid_pinpoints" },
        { "image_token_index", "152000", "image_token_index" },
        { "architectures", "[\"LlavaNextForConditionalGeneration\"]", "architectures" },
        { "model_type", "\"llava_next\"", "model_type" },
        { "vision_config.model_type", "\"clip_vision_model\"", "vision_config.model_type" },
        { "vision_config.hidden_act", "\"quick_gelu\"", "vision_config.hidden_act" },
        { "vision_config.hidden_size", "\"wide\"", "vision_config.hidden_size" },
        { "text_config.model_type", "\"llama\"", "text_config.model_type" },
        { "text_config.use_sliding_window", "true", "text_config.use_sliding_window" },
        { "text_config.rope_scaling", "{\"rope_type\": \"yarn\", \"factor\": 4}", "text_config.rope_scaling.rope_type" },
    };

    /// <summary>Anything not implemented is an InputException naming config.json and the field, never a silent drop.</summary>
    [SharedTheory]
    [MemberData(nameof(Unsupported))]
    public void Unsupported_Settings_Are_Refused_Naming_The_Field(string path, string value, string field)
    {
        var json = Saved();
        var parts = path.Split('.');
        var target = parts.Length == 1 ? json : json[parts[0]]!.AsObject();
        target[parts[^1]] = JsonNode.Parse(value);
        var e = Refused(json);
        Assert.Equal("config.json", e.File);
        Assert.Equal(field, e.Field);
    }

    [SharedFact]
    public void Processor_Config_Must_Agree_With_The_Model()
    {
        var cfg = OnevisionFixture.Config();
        var text = File.ReadAllText(Path.Combine(OnevisionFixture.Dir, "preprocessor_config.json"));
        var ok = LlavaOnevisionProcessorOptions.Parse(JsonDocument.Parse(text).RootElement, "preprocessor_config.json", cfg);
        Assert.Equal(cfg.Vision.ImageSize, ok.TileSize);
        Assert.Equal(cfg.Pinpoints, ok.Pinpoints);
        Assert.Equal([0.5, 0.5, 0.5], ok.Normalization.ImageMean);

        foreach (var (key, value, field) in new[]
        {
            ("size", "{\"height\": 224, \"width\": 224}", "size"),
            ("size", "{\"shortest_edge\": 112}", "size"),
            ("image_grid_pinpoints", "[[112, 112]]", "image_grid_pinpoints"),
            ("do_pad", "false", "do_pad"),
            ("do_resize", "false", "do_resize"),
            ("resample", "2", "resample"),
            ("image_processor_type", "\"LlavaNextImageProcessor\"", "image_processor_type"),
        })
        {
            var json = JsonNode.Parse(text)!.AsObject();
            json[key] = JsonNode.Parse(value);
            var e = Assert.Throws<InputException>(() =>
                LlavaOnevisionProcessorOptions.Parse(JsonDocument.Parse(json.ToJsonString()).RootElement, "preprocessor_config.json", cfg));
            Assert.Equal(field, e.Field);
        }
        var empty = Directory.CreateTempSubdirectory("mf-ov-");
        try
        {
            var missing = Assert.Throws<InputException>(() => LlavaOnevisionProcessorOptions.Load(empty.FullName, cfg));
            Assert.EndsWith("preprocessor_config.json", missing.File);
        }
        finally
        {
            empty.Delete(true);
        }
    }
}

using System.Text.Json.Nodes;
using ModalFlow.Checkpoints;
using ModalFlow.Tests.Support;
using Xunit;

namespace ModalFlow.Tests.Checkpoints;

public class ConfigTests
{
    private static JsonObject TinyConfig() =>
        JsonNode.Parse(File.ReadAllText(SharedData.Fixture("tiny-llava-1.5", "config.json")))!.AsObject();

    [SharedFact]
    public void TinyFixture_Config_Fills_Omitted_Fields_With_Transformers_Defaults()
    {
        var cfg = LlavaConfig.Load(SharedData.Fixture("tiny-llava-1.5"));
        // config.json omits these; config.full.json (written by transformers' to_dict) spells them out.
        var full = JsonNode.Parse(File.ReadAllText(SharedData.Fixture("tiny-llava-1.5", "config.full.json")))!;
        var t = full["text_config"]!;
        Assert.Equal((double)t["rope_theta"]!, cfg.Text.RopeTheta);
        Assert.Equal((string)t["hidden_act"]!, cfg.Text.HiddenAct);
        Assert.Equal((bool)t["attention_bias"]!, cfg.Text.AttentionBias);
        Assert.Equal((int)t["bos_token_id"]!, cfg.Text.BosTokenId);
        Assert.Equal((int)t["eos_token_id"]!, cfg.Text.EosTokenIds.Single());
        Assert.Null(t["rope_scaling"]?.GetValue<object>());
        var v = full["vision_config"]!;
        Assert.Equal((string)v["hidden_act"]!, cfg.Vision.HiddenAct);
        Assert.Equal((double)v["layer_norm_eps"]!, cfg.Vision.LayerNormEps);
        Assert.Equal((int)v["num_channels"]!, cfg.Vision.NumChannels);
        Assert.Equal((int)full["vision_feature_layer"]!, cfg.VisionFeatureLayer);
        Assert.Equal(4, cfg.Text.NumKeyValueHeads);
        Assert.Equal(16, cfg.Text.HeadDim);
        Assert.Equal(576, cfg.ImageTokensPerImage);
    }

    [SharedFact]
    public void RealLlava15_7b_Config_Yields_The_Published_Geometry()
    {
        var cfg = LlavaConfig.Load(SharedData.DataFile("model-configs", "llava-hf__llava-1.5-7b-hf"));
        // text_config lists only vocab/max_pos/rms_eps; the rest are LlamaConfig defaults (Vicuna-7B sizes).
        Assert.Equal(4096, cfg.Text.HiddenSize);
        Assert.Equal(32, cfg.Text.NumHiddenLayers);
        Assert.Equal(32, cfg.Text.NumKeyValueHeads);
        Assert.Equal(11008, cfg.Text.IntermediateSize);
        Assert.Equal(32064, cfg.Text.VocabSize);
        Assert.Equal(1e-5, cfg.Text.RmsNormEps);
        Assert.Equal(1024, cfg.Vision.HiddenSize);
        Assert.Equal(24, cfg.Vision.NumHiddenLayers);
        Assert.Equal("quick_gelu", cfg.Vision.HiddenAct);
        Assert.Equal(32000, cfg.ImageTokenIndex);
    }

    [SharedFact]
    public void Llama3_RopeScaling_Is_Accepted_And_Changes_Low_Frequencies_Only()
    {
        var json = TinyConfig();
        json["text_config"]!["rope_theta"] = 500000.0;
        json["text_config"]!["rope_scaling"] = new JsonObject
        {
            ["rope_type"] = "llama3", ["factor"] = 8.0, ["low_freq_factor"] = 1.0, ["high_freq_factor"] = 4.0,
            ["original_max_position_embeddings"] = 8192,
        };
        var cfg = LlavaConfig.Parse(json.ToJsonString());
        ModalFlow.Platform.TorchRuntime.Initialize();
        using var scaled = ModalFlow.Models.Rotary.InverseFrequencies(cfg.Text);
        using var plain = ModalFlow.Models.Rotary.InverseFrequencies(cfg.Text with { RopeScaling = null });
        var s = scaled.data<float>().ToArray();
        var p = plain.data<float>().ToArray();
        // High frequencies (wavelength < 8192/4) unchanged, lowest ones divided by the factor 8.
        Assert.Equal(p[0], s[0]);
        Assert.Equal(p[^1] / 8f, s[^1], 6);
    }

    public static TheoryData<string, Action<JsonObject>, string, string> BadConfigs => new()
    {
        { "unknown architecture", j => j["architectures"] = new JsonArray("MistralForCausalLM"), "architectures", "MistralForCausalLM" },
        { "architecture vs model_type", j => j["architectures"] = new JsonArray("LlavaNextForConditionalGeneration"), "model_type", "contradicts" },
        { "both architectures", j => j["architectures"] = new JsonArray("LlavaForConditionalGeneration", "LlavaNextForConditionalGeneration"), "architectures", "is not supported" },
        { "unknown model type", j => { j.Remove("architectures"); j["model_type"] = "llava_onevision"; }, "model_type", "expected 'llava' or 'llava_next'" },
        { "next: full strategy", j => { Next(j); j["vision_feature_select_strategy"] = "full"; }, "vision_feature_select_strategy", "expected 'default'" },
        { "next: no newline", j => { Next(j); j["use_image_newline_parameter"] = false; }, "use_image_newline_parameter", "image_newline" },
        { "next: pinpoint size", j => { Next(j); j["image_grid_pinpoints"] = new JsonArray(new JsonArray(336, 700)); }, "image_grid_pinpoints", "multiples of vision_config.image_size" },
        { "next: pinpoint arity", j => { Next(j); j["image_grid_pinpoints"] = new JsonArray(new JsonArray(336)); }, "image_grid_pinpoints", "pairs" },
        { "next: no pinpoints", j => { Next(j); j["image_grid_pinpoints"] = new JsonArray(); }, "image_grid_pinpoints", "is empty" },
        { "original LLaVA with llava-hf blocks", j => { j["architectures"] = new JsonArray("LlavaLlamaForCausalLM"); j["mm_vision_tower"] = "openai/clip-vit-large-patch14-336"; }, "text_config", "an original LLaVA config has its settings at the top level" },
        { "unsupported rope", j => j["text_config"]!["rope_scaling"] = new JsonObject { ["rope_type"] = "yarn", ["factor"] = 4.0 }, "text_config.rope_scaling.rope_type", "yarn" },
        { "text activation", j => j["text_config"]!["hidden_act"] = "gelu", "text_config.hidden_act", "expected 'silu'" },
        { "kv heads", j => j["text_config"]!["num_key_value_heads"] = 3, "text_config.num_key_value_heads", "must divide" },
        { "feature layer list", j => j["vision_feature_layer"] = new JsonArray(-2, -5), "vision_feature_layer", "one integer" },
        { "feature layer range", j => j["vision_feature_layer"] = -7, "vision_feature_layer", "out of range" },
        { "select strategy", j => j["vision_feature_select_strategy"] = "cls", "vision_feature_select_strategy", "expected 'default' or 'full'" },
        { "wrong type", j => j["text_config"]!["hidden_size"] = "big", "hidden_size", "wrong type" },
        { "text model type", j => j["text_config"]!["model_type"] = "mistral", "text_config.model_type", "expected 'llama'" },
        { "image size", j => j["vision_config"]!["image_size"] = 330, "vision_config.image_size", "multiple of patch_size" },
        { "projector act", j => j["projector_hidden_act"] = "relu", "projector_hidden_act", "expected 'gelu'" },
    };

    private static void Next(JsonObject j)
    {
        j["architectures"] = new JsonArray("LlavaNextForConditionalGeneration");
        j["model_type"] = "llava_next";
    }

    [SharedTheory]
    [MemberData(nameof(BadConfigs))]
    public void Bad_Config_Is_Rejected_Naming_File_Field_And_Expectation(string what, Action<JsonObject> edit, string field, string expectation)
    {
        var json = TinyConfig();
        edit(json);
        var dir = Directory.CreateTempSubdirectory("mf-config-");
        try
        {
            var file = Path.Combine(dir.FullName, "config.json");
            File.WriteAllText(file, json.ToJsonString());
            var e = Assert.Throws<InputException>(() => LlavaConfig.Load(dir.FullName));
            Assert.Contains(file, e.Message);
            Assert.Contains(field, e.Message);
            Assert.Contains(expectation, e.Message);
            Assert.True(what.Length > 0);
        }
        finally { dir.Delete(true); }
    }

    [SharedFact]
    public void Missing_And_Malformed_Config_Files_Name_The_File()
    {
        var dir = Directory.CreateTempSubdirectory("mf-config-");
        try
        {
            var missing = Assert.Throws<InputException>(() => LlavaConfig.Load(dir.FullName));
            Assert.Contains(Path.Combine(dir.FullName, "config.json"), missing.Message);
            Assert.Contains("not found", missing.Message);
            File.WriteAllText(Path.Combine(dir.FullName, "config.json"), "{ \"architectures\": [\"LlavaForConditionalGeneration\"], \n \"text_config\": { ");
            var bad = Assert.Throws<InputException>(() => LlavaConfig.Load(dir.FullName));
            Assert.Contains("not valid JSON", bad.Message);
            Assert.Contains("line", bad.Message);
        }
        finally { dir.Delete(true); }
    }

    [SharedFact]
    public void Original_Llava_Checkpoint_Config_Is_Recognised_As_The_Original_Format()
    {
        // Formerly refused; parsed since the original format is supported (see OriginalConfigTests).
        var cfg = LlavaConfig.Load(SharedData.DataFile("model-configs", "liuhaotian__llava-v1.5-7b"));
        Assert.Equal(CheckpointFormat.Original, cfg.Format);
        Assert.Equal(CheckpointFormat.LlavaHf, LlavaConfig.Load(SharedData.DataFile("model-configs", "llava-hf__llava-1.5-7b-hf")).Format);
    }
}

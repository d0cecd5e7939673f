using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using ModalFlow.Families.Qwen2Vl;
using ModalFlow.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace ModalFlow.Tests.Families.Qwen2Vl;

public class Qwen2VlConfigTests(ITestOutputHelper log)
{
    private static JsonElement FullJson => JsonDocument.Parse(File.ReadAllText(TinyQwen2Vl.File("config.full.json"))).RootElement;

    /// <summary>
    /// config.json omits every value equal to a class default; config.full.json (transformers' to_dict) has them all. Every
    /// bound property parsed from config.json must equal config.full.json's value, so our defaults are transformers'.
    /// </summary>
    [SharedFact]
    public void ConfigJson_Parses_To_Every_Value_Of_ConfigFullJson()
    {
        var cfg = Qwen2VlConfig.Load(TinyQwen2Vl.Dir);
        var full = FullJson;
        int top = AssertBoundPropertiesEqual(cfg, full, "", skip: ["vision_config"]);
        int vision = AssertBoundPropertiesEqual(cfg.Vision, full.GetProperty("vision_config"), "vision_config.");
        log.WriteLine($"compared {top} top-level and {vision} vision_config fields with config.full.json");
        Assert.True(top == 29 && vision == 11, $"{top} / {vision} fields compared");

        // The check is not vacuous: these vision fields are absent from config.json, so their values are our defaults.
        var raw = JsonDocument.Parse(File.ReadAllText(TinyQwen2Vl.File("config.json"))).RootElement.GetProperty("vision_config");
        foreach (var omitted in new[] { "hidden_act", "mlp_ratio", "in_channels", "patch_size", "spatial_merge_size", "temporal_patch_size" })
            Assert.False(raw.TryGetProperty(omitted, out _), omitted);
    }

    [SharedFact]
    public void Decoder_Config_Is_Qwen2_With_Qkv_Biases_Mrope_And_Tied_Embeddings()
    {
        var cfg = Qwen2VlConfig.Load(TinyQwen2Vl.Dir);
        var full = FullJson;
        var text = cfg.Text;
        Assert.Equal("qwen2_vl", text.ModelType);
        Assert.True(text.QkvBias);
        Assert.False(text.AttentionBias);
        Assert.False(text.MlpBias);
        Assert.Equal(full.GetProperty("tie_word_embeddings").GetBoolean(), text.TieWordEmbeddings);
        Assert.Equal(full.GetProperty("vocab_size").GetInt32(), text.VocabSize);
        Assert.Equal(full.GetProperty("hidden_size").GetInt32(), text.HiddenSize);
        Assert.Equal(full.GetProperty("intermediate_size").GetInt32(), text.IntermediateSize);
        Assert.Equal(full.GetProperty("num_hidden_layers").GetInt32(), text.NumHiddenLayers);
        Assert.Equal(full.GetProperty("num_attention_heads").GetInt32(), text.NumAttentionHeads);
        Assert.Equal(full.GetProperty("num_key_value_heads").GetInt32(), text.NumKeyValueHeads);
        Assert.Equal(full.GetProperty("hidden_size").GetInt32() / full.GetProperty("num_attention_heads").GetInt32(), text.HeadDim);
        Assert.Equal(full.GetProperty("rms_norm_eps").GetDouble(), text.RmsNormEps);
        Assert.Equal(full.GetProperty("rope_theta").GetDouble(), text.RopeTheta);
        Assert.Equal(full.GetProperty("max_position_embeddings").GetInt32(), text.MaxPositionEmbeddings);
        Assert.Equal(full.GetProperty("rope_scaling").GetProperty("mrope_section").EnumerateArray().Select(e => e.GetInt32()), text.MropeSection!);
        Assert.Equal("default", text.RopeScaling!.Type);
        Assert.Equal(full.GetProperty("bos_token_id").GetInt32(), text.BosTokenId);
        Assert.Equal([full.GetProperty("eos_token_id").GetInt32()], text.EosTokenIds);
        Assert.Null(text.PadTokenId);
        Assert.Equal(full.GetProperty("image_token_id").GetInt32(), cfg.ImageTokenId);
        Assert.Equal(full.GetProperty("vision_start_token_id").GetInt32(), cfg.VisionStartTokenId);
        Assert.Equal(full.GetProperty("video_token_id").GetInt32(), cfg.VideoTokenId);
    }

    [SharedFact]
    public void Without_Eos_The_End_Ids_Are_Empty_Not_Llamas_2()
    {
        var node = TinyConfig();
        node.Remove("eos_token_id");
        Assert.Empty(Qwen2VlConfig.Parse(node.ToJsonString()).Text.EosTokenIds);
    }

    [SharedFact]
    public void A_Head_Dim_Key_Is_Ignored_As_In_Transformers_445()
    {
        var node = TinyConfig();
        node["head_dim"] = 8;
        Assert.Equal(16, Qwen2VlConfig.Parse(node.ToJsonString()).Text.HeadDim);
    }

    [SharedFact]
    public void Mrope_Spelling_Of_The_Original_Qwen_Release_Is_Accepted_As_Default()
    {
        var node = TinyConfig();
        node["rope_scaling"] = JsonNode.Parse("""{"type": "mrope", "mrope_section": [2, 3, 3]}""");
        Assert.Equal([2, 3, 3], Qwen2VlConfig.Parse(node.ToJsonString()).Text.MropeSection!);
    }

    public static TheoryData<string, string> BadConfigs => new()
    {
        { """{"architectures": ["LlavaForConditionalGeneration"]}""", "architectures" },
        { """{"model_type": "qwen2"}""", "model_type" },
        { """{"use_sliding_window": true}""", "use_sliding_window" },
        { """{"rope_scaling": {"type": "default", "mrope_section": [2, 3, 4]}}""", "rope_scaling.mrope_section" },
        { """{"rope_scaling": {"type": "default", "mrope_section": [8]}}""", "rope_scaling.mrope_section" },
        { """{"rope_scaling": null}""", "rope_scaling.mrope_section" },
        { """{"rope_scaling": {"type": "yarn", "factor": 2.0, "mrope_section": [2, 3, 3]}}""", "rope_scaling.rope_type" },
        { """{"hidden_act": "gelu"}""", "hidden_act" },
        { """{"image_token_id": null}""", "image_token_id" },
        { """{"vision_start_token_id": 999999999}""", "vision_start_token_id" },
        { """{"vocab_size": "many"}""", "vocab_size" },
        { """{"vision_config": {"depth": 2, "embed_dim": 32, "hidden_size": 64, "num_heads": 2}}""", "vision_config.hidden_size" },
        { """{"vision_config": {"depth": 2, "embed_dim": 32, "hidden_size": 32, "num_heads": 2, "hidden_act": "relu"}}""", "vision_config.hidden_act" },
        { """{"vision_config": {"depth": 2, "embed_dim": 32, "hidden_size": 32, "num_heads": 16}}""", "vision_config.num_heads" },
        { """{"vision_config": {"depth": 2, "embed_dim": 32, "hidden_size": 32, "num_heads": 3}}""", "vision_config.embed_dim" },
        { """{"vision_config": {"depth": 0, "embed_dim": 32, "hidden_size": 32, "num_heads": 2}}""", "vision_config.depth" },
        { """{"vision_config": {"depth": 2, "embed_dim": 32, "hidden_size": 32, "num_heads": 2, "in_channels": 4}}""", "vision_config.in_channels" },
        { """{"vision_config": null}""", "vision_config" },
    };

    [SharedTheory]
    [MemberData(nameof(BadConfigs))]
    public void Bad_Config_Is_An_Input_Error_Naming_The_File_And_Field(string patch, string field)
    {
        var node = TinyConfig();
        foreach (var (key, value) in JsonNode.Parse(patch)!.AsObject()) node[key] = value?.DeepClone();
        const string file = "/models/qwen/config.json";
        var e = Assert.Throws<InputException>(() => Qwen2VlConfig.Parse(node.ToJsonString(), file));
        log.WriteLine(e.Message);
        Assert.Equal(file, e.File);
        Assert.Equal(field, e.Field);
        Assert.StartsWith($"{file}: {field}: ", e.Message);
    }

    [SharedFact]
    public void Missing_Folder_Is_An_Input_Error()
    {
        var e = Assert.Throws<InputException>(() => Qwen2VlConfig.Load("/nonexistent/qwen"));
        Assert.Contains("config.json", e.Message);
    }

    private static JsonObject TinyConfig() => JsonNode.Parse(File.ReadAllText(TinyQwen2Vl.File("config.json")))!.AsObject();

    /// <summary>For every [JsonPropertyName] property: its value serialised equals the JSON field (numbers compared as doubles, nulls as absent).</summary>
    private static int AssertBoundPropertiesEqual(object record, JsonElement json, string prefix, params string[] skip)
    {
        int n = 0;
        foreach (var prop in record.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            var name = prop.GetCustomAttribute<JsonPropertyNameAttribute>()?.Name;
            if (name is null || skip.Contains(name)) continue;
            var ours = JsonSerializer.SerializeToElement(prop.GetValue(record));
            var theirs = json.TryGetProperty(name, out var t) ? t : JsonDocument.Parse("null").RootElement;
            Assert.True(JsonEqual(theirs, ours), $"{prefix}{name}: parsed {ours.GetRawText()}, config.full.json has {theirs.GetRawText()}");
            n++;
        }
        return n;
    }

    private static bool JsonEqual(JsonElement a, JsonElement b)
    {
        if (a.ValueKind == JsonValueKind.Number && b.ValueKind == JsonValueKind.Number) return a.GetDouble() == b.GetDouble();
        if (a.ValueKind != b.ValueKind) return false;
        switch (a.ValueKind)
        {
            case JsonValueKind.Object:
                var keys = a.EnumerateObject().Where(p => p.Value.ValueKind != JsonValueKind.Null).Select(p => p.Name)
                    .Union(b.EnumerateObject().Where(p => p.Value.ValueKind != JsonValueKind.Null).Select(p => p.Name));
                return keys.All(k => a.TryGetProperty(k, out var x) && b.TryGetProperty(k, out var y) && JsonEqual(x, y));
            case JsonValueKind.Array:
                return a.GetArrayLength() == b.GetArrayLength() && a.EnumerateArray().Zip(b.EnumerateArray()).All(p => JsonEqual(p.First, p.Second));
            default:
                return a.GetRawText() == b.GetRawText();
        }
    }
}

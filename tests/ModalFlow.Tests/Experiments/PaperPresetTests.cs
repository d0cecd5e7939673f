using System.Text.Json.Nodes;
using ModalFlow.Checkpoints;
using ModalFlow.Experiments;
using ModalFlow.Families.Llava;
using ModalFlow.Tests.Support;
using ModalFlow.Vision;
using Xunit;

namespace ModalFlow.Tests.Experiments;

/// <summary>--preset paper recognises the paper's four models by config geometry, not by folder name.</summary>
public sealed class PaperPresetTests
{
    private static string Configs(params string[] parts) => SharedData.DataFile(["model-configs", .. parts]);

    public static TheoryData<string, string, int> RealConfigs => new()
    {
        { Configs("llava-hf__llava-1.5-7b-hf", "config.json"), "LLaVA-1.5-7b", 7 },
        { Configs("liuhaotian__llava-v1.5-7b", "config.json"), "LLaVA-1.5-7b", 7 },
        { Configs("_reconstructed_UNVERIFIED", "liuhaotian__llava-v1.5-13b__config.reconstructed.json"), "LLaVA-1.5-13b", 9 },
        { Configs("_reconstructed_UNVERIFIED", "liuhaotian__llava-v1.6-vicuna-7b__config.reconstructed.json"), "LLaVA-v1.6-Vicuna-7b", 7 },
    };

    [SharedTheory]
    [MemberData(nameof(RealConfigs))]
    public void The_Papers_Models_Are_Recognised_With_The_Window_Of_Merge_Lineplot(string config, string model, int window)
    {
        var copy = Path.Combine(Directory.CreateTempSubdirectory("mf-preset-").FullName, "renamed-folder", "config.json");
        Directory.CreateDirectory(Path.GetDirectoryName(copy)!);
        File.Copy(config, copy);                                  // the folder name says nothing
        Assert.Equal((model, window), PaperPreset.Recognise(LlavaConfig.Load(copy)));
    }

    [SharedFact]
    public void Llama3_LLaVA_NeXT_8b_Is_Recognised_By_Its_Geometry()
    {
        // llava-hf/llama3-llava-next-8b-hf's geometry on top of the real 7b llava-hf file: NeXT, GQA with 8 kv heads, 128320 rows.
        var json = JsonNode.Parse(File.ReadAllText(Configs("llava-hf__llava-1.5-7b-hf", "config.json")))!;
        json["architectures"] = new JsonArray("LlavaNextForConditionalGeneration");
        json["model_type"] = "llava_next";
        json["text_config"]!["num_key_value_heads"] = 8;
        json["text_config"]!["vocab_size"] = 128320;
        json["image_grid_pinpoints"] = JsonNode.Parse("[[336,672],[672,336],[672,672],[1008,336],[336,1008]]");
        var cfg = LlavaConfig.Parse(json.ToJsonString());
        Assert.Equal(("Llama3-LLaVA-NeXT-8b", 7), PaperPreset.Recognise(cfg));
        json["text_config"]!["num_key_value_heads"] = 32;                  // a Llama-3 vocabulary without GQA is no paper model
        Assert.Null(PaperPreset.Recognise(LlavaConfig.Parse(json.ToJsonString())));
    }

    [SharedFact]
    public void Preset_Settings_And_Refusal_Of_Other_Models()
    {
        var tiny = LlavaModelFolder.Read(SharedData.Fixture("tiny-llava-1.5"));
        var e = Assert.Throws<InputException>(() => PaperPreset.For(tiny));
        Assert.Contains("config.json", e.Message);
        Assert.Contains("not one of the paper's four models", e.Message);

        var s = new PaperSettings("LLaVA-1.5-7b", 7, 128, "f16", ImageMode.Pad, null, "bootstrap");
        var o = PaperPreset.Apply(new RunOptions
        {
            Model = "m", Task = "t", Images = ".", Experiment = ExperimentDefinition.Exp1, Out = "o", Window = 3, MaxNewTokens = 5,
        }, s);
        Assert.Equal((7, 128, "f16", ImageMode.Pad, "paper"), (o.Window, o.MaxNewTokens, o.DType, o.ImageMode, o.Preset));
    }
}

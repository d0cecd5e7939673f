using System.Text.Json;
using ModalFlow.Checkpoints;
using ModalFlow.Models;
using ModalFlow.Platform;
using ModalFlow.Tests.Support;
using Xunit;

namespace ModalFlow.Tests.Models;

public class ModuleTreeTests
{
    public ModuleTreeTests() => TorchRuntime.Initialize();

    [SharedFact]
    public void RealLlava15_7b_Config_Builds_The_Exact_Key_Tree_Of_Its_Weight_Index()
    {
        var dir = SharedData.DataFile("model-configs", "llava-hf__llava-1.5-7b-hf");
        var cfg = LlavaConfig.Load(dir);
        using var model = LlavaModel.Build(cfg, new MetaWeightSource());
        var built = model.named_parameters().ToDictionary(p => p.name, p => p.parameter.shape);

        using var index = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "model.safetensors.index.json")));
        var keys = index.RootElement.GetProperty("weight_map").EnumerateObject().Select(p => p.Name).ToHashSet();
        var missing = keys.Except(built.Keys).OrderBy(k => k).ToList();
        var extra = built.Keys.Except(keys).OrderBy(k => k).ToList();
        Assert.True(missing.Count == 0 && extra.Count == 0,
            $"missing from model: [{string.Join(", ", missing.Take(10))}] not in index: [{string.Join(", ", extra.Take(10))}]");
        Assert.Equal(686, built.Count);

        // The index's total_size is the byte size of every fp16 tensor: an independent check of all shapes at once.
        long totalSize = index.RootElement.GetProperty("metadata").GetProperty("total_size").GetInt64();
        long elements = built.Values.Sum(s => s.Aggregate(1L, (a, b) => a * b));
        Assert.Equal(totalSize, elements * 2);

        // Spot checks against the published architecture (CLIP ViT-L/14-336, Vicuna-7B, vocab 32064).
        Assert.Equal([32064L, 4096], built["language_model.model.embed_tokens.weight"]);
        Assert.Equal([32064L, 4096], built["language_model.lm_head.weight"]);
        Assert.Equal([577L, 1024], built["vision_tower.vision_model.embeddings.position_embedding.weight"]);
        Assert.Equal([1024L, 3, 14, 14], built["vision_tower.vision_model.embeddings.patch_embedding.weight"]);
        Assert.Equal([4096L, 1024], built["multi_modal_projector.linear_1.weight"]);
        Assert.Equal([11008L, 4096], built["language_model.model.layers.31.mlp.gate_proj.weight"]);
        Assert.Equal(576, cfg.ImageTokensPerImage);
        Assert.Equal(23, cfg.VisionLayersUsed);
    }

    [SharedFact]
    public void TinyFixture_Config_Builds_The_Key_Tree_And_Shapes_Of_Its_Manifest()
    {
        var cfg = LlavaConfig.Load(SharedData.Fixture("tiny-llava-1.5"));
        using var model = LlavaModel.Build(cfg, new MetaWeightSource());
        var built = model.named_parameters().ToDictionary(p => p.name, p => p.parameter.shape);
        using var manifest = JsonDocument.Parse(File.ReadAllText(SharedData.Fixture("manifest.json")));
        var expected = ManifestTensorIndex(manifest.RootElement.GetProperty("models").GetProperty("tiny-llava-1.5"), "model.safetensors");
        Assert.Equal(expected.Keys.OrderBy(k => k), built.Keys.OrderBy(k => k));
        foreach (var (name, shape) in expected) Assert.True(shape.SequenceEqual(built[name]), $"{name}: built [{string.Join(",", built[name])}] manifest [{string.Join(",", shape)}]");
    }

    internal static Dictionary<string, long[]> ManifestTensorIndex(JsonElement model, string file)
    {
        // manifest.json → models.<name>.safetensors.<file>.tensor_index: { name: { shape, dtype, ... } }
        var index = model.GetProperty("safetensors").GetProperty(file).GetProperty("tensor_index");
        return index.EnumerateObject().ToDictionary(
            p => p.Name,
            p => p.Value.GetProperty("shape").EnumerateArray().Select(x => x.GetInt64()).ToArray());
    }
}

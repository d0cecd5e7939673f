using System.Text.Json;
using ModalFlow.Checkpoints;
using ModalFlow.Platform;
using ModalFlow.Tests.Support;
using TorchSharp;
using Xunit;

namespace ModalFlow.Tests.Checkpoints;

/// <summary>Single-file, index-sharded and index-less folder checkpoints.</summary>
public sealed class SafetensorsCheckpointTests : IDisposable
{
    private readonly TempDir _dir = new();

    public SafetensorsCheckpointTests() => TorchRuntime.Initialize();

    public void Dispose() => _dir.Dispose();

    private static string WriteShards(string folder)
    {
        new SafetensorsTestWriter { Metadata = new() { ["format"] = "pt" } }
            .Add("model.embed.weight", "F32", [2, 3], new float[] { 1, 2, 3, 4, 5, 6 })
            .Add("model.norm.weight", "F16", [3], new Half[] { (Half)0.5, (Half)1, (Half)(-2) })
            .Write(Path.Combine(folder, "model-00001-of-00002.safetensors"));
        new SafetensorsTestWriter { Metadata = new() { ["format"] = "pt" } }
            .Add("lm_head.weight", "BF16", [2], new ushort[] { 0x3F80, 0xC000 })
            .Add("position_ids", "I64", [1, 4], new long[] { 0, 1, 2, 3 })
            .Write(Path.Combine(folder, "model-00002-of-00002.safetensors"));
        var index = Path.Combine(folder, SafetensorsCheckpoint.IndexFileName);
        File.WriteAllText(index, """
            {
              "metadata": {"total_size": 72},
              "weight_map": {
                "lm_head.weight": "model-00002-of-00002.safetensors",
                "model.embed.weight": "model-00001-of-00002.safetensors",
                "model.norm.weight": "model-00001-of-00002.safetensors",
                "position_ids": "model-00002-of-00002.safetensors"
              }
            }
            """);
        return index;
    }

    [SharedFact]
    public void Sharded_Folder_With_Index_Loads_Every_Tensor_From_Its_Shard()
    {
        var folder = _dir.Sub("sharded");
        var index = WriteShards(folder);
        using var ck = SafetensorsCheckpoint.Open(folder);

        Assert.Equal(index, ck.IndexPath);
        Assert.Equal(72, ck.DeclaredTotalSize);
        Assert.Equal(24 + 6 + 4 + 32, ck.TotalBytes);
        Assert.Equal(2, ck.Files.Count);
        Assert.Equal(["lm_head.weight", "model.embed.weight", "model.norm.weight", "position_ids"], ck.Names);
        Assert.True(ck.Contains("position_ids"));
        Assert.False(ck.Contains("missing"));
        Assert.EndsWith("model-00002-of-00002.safetensors", ck.FileOf("lm_head.weight"));
        Assert.Equal(TensorDType.F16, ck.Info("model.norm.weight").DType);
        Assert.Equal([2L, 3L], ck.Info("model.embed.weight").Shape);

        using var embed = ck.Load("model.embed.weight", torch.ScalarType.Float32, torch.CPU);
        Assert.Equal([2L, 3L], embed.shape);
        Assert.Equal([1f, 2, 3, 4, 5, 6], embed.data<float>().ToArray());
        using var norm = ck.Load("model.norm.weight", torch.ScalarType.Float32, torch.CPU);
        Assert.Equal([0.5f, 1f, -2f], norm.data<float>().ToArray());
        using var head = ck.Load("lm_head.weight", torch.ScalarType.Float32, torch.CPU);
        Assert.Equal([1f, -2f], head.data<float>().ToArray());
        using var pos = ck.Load("position_ids");
        Assert.Equal([0L, 1, 2, 3], pos.data<long>().ToArray());

        // The same checkpoint opened through the index file itself.
        using var viaIndex = SafetensorsCheckpoint.Open(index);
        Assert.Equal(ck.Names, viaIndex.Names);
    }

    [SharedFact]
    public void Folder_Without_Index_Loads_All_Files()
    {
        var folder = _dir.Sub("loose");
        new SafetensorsTestWriter().Add("a", "F32", [1], new[] { 1f }).Write(Path.Combine(folder, "vision.safetensors"));
        new SafetensorsTestWriter().Add("b", "I32", [2], new[] { 7, 8 }).Write(Path.Combine(folder, "text.safetensors"));
        File.WriteAllText(Path.Combine(folder, "notes.txt"), "not a checkpoint");
        using var ck = SafetensorsCheckpoint.Open(folder);
        Assert.Null(ck.IndexPath);
        Assert.Equal(["a", "b"], ck.Names);
        using var b = ck.Load("b", torch.ScalarType.Int64, torch.CPU);
        Assert.Equal([7L, 8L], b.data<long>().ToArray());
    }

    [SharedFact]
    public void Folder_With_Model_Safetensors_Reads_Only_That_File()
    {
        // The shared fixture folder holds model.safetensors and model.bf16.safetensors with the same names.
        using var ck = SafetensorsCheckpoint.Open(SharedData.SharedFixture("tiny-llava-1.5"));
        Assert.Single(ck.Files);
        Assert.EndsWith("model.safetensors", ck.Files[0].Path);
        Assert.Equal(118, ck.Names.Count);
    }

    [SharedFact]
    public void Real_LlavaHf_Index_Is_Read()
    {
        // The real llava-hf/llava-1.5-7b-hf index, with stand-in shards holding one F16 element per listed tensor.
        var real = SharedData.DataFile("model-configs", "llava-hf__llava-1.5-7b-hf", "model.safetensors.index.json");
        var folder = _dir.Sub("llava-hf");
        File.Copy(real, Path.Combine(folder, SafetensorsCheckpoint.IndexFileName));
        using var doc = JsonDocument.Parse(File.ReadAllBytes(real));
        var byShard = doc.RootElement.GetProperty("weight_map").EnumerateObject()
            .GroupBy(p => p.Value.GetString()!, p => p.Name);
        foreach (var shard in byShard)
        {
            var w = new SafetensorsTestWriter();
            foreach (var name in shard) w.Add(name, "F16", [1], new[] { (Half)1 });
            w.Write(Path.Combine(folder, shard.Key));
        }
        using var ck = SafetensorsCheckpoint.Open(folder);
        Assert.Equal(686, ck.Names.Count);           // MAPPING.md: 291 text + 4 projector + 391 CLIP
        Assert.Equal(3, ck.Files.Count);
        Assert.Equal(14_126_854_144L, ck.DeclaredTotalSize);
        Assert.EndsWith("model-00003-of-00003.safetensors", ck.FileOf("language_model.lm_head.weight"));
    }

    [SharedFact]
    public void Dispose_Releases_Every_Shard()
    {
        var folder = _dir.Sub("release");
        WriteShards(folder);
        var ck = SafetensorsCheckpoint.Open(folder);
        var shards = ck.Files.Select(f => f.Path).ToList();
        using var kept = ck.Load("model.embed.weight", torch.ScalarType.Float32, torch.CPU);
        ck.Dispose();
        Assert.Throws<ObjectDisposedException>(() => ck.Load("model.embed.weight", torch.ScalarType.Float32, torch.CPU));
        foreach (var s in shards)
        {
            Assert.False(ProcFiles.Mentions(s), $"{s} still open or mapped");
            File.Delete(s);
        }
        Assert.Equal([1f, 2, 3, 4, 5, 6], kept.data<float>().ToArray());
    }

    [SharedFact]
    public void Failed_Open_Releases_Shards_Already_Mapped()
    {
        var folder = _dir.Sub("half");
        WriteShards(folder);
        // Make the second shard disagree with the index (extra tensor): the first shard was mapped by then.
        new SafetensorsTestWriter().Add("lm_head.weight", "BF16", [2], new ushort[] { 0x3F80, 0xC000 })
            .Add("position_ids", "I64", [1, 4], new long[] { 0, 1, 2, 3 }).Add("stray", "U8", [1], new byte[] { 1 })
            .Write(Path.Combine(folder, "model-00002-of-00002.safetensors"));
        var ex = Assert.Throws<InputException>(() => SafetensorsCheckpoint.Open(folder));
        Assert.Equal("stray", ex.Field);
        foreach (var s in Directory.GetFiles(folder, "*.safetensors"))
        {
            Assert.False(ProcFiles.Mentions(s), $"{s} still open or mapped after a failed Open");
        }
    }
}

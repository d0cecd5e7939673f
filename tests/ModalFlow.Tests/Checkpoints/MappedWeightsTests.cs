using ModalFlow.Checkpoints;
using ModalFlow.Inference;
using ModalFlow.Models;
using ModalFlow.Tests.Support;
using Xunit;
using static TorchSharp.torch;

namespace ModalFlow.Tests.Checkpoints;

/// <summary>LoadOptions.MapWeights: tensors as views of a copy-on-write mapping of the file, opt-in.</summary>
public sealed class MappedWeightsTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void A_Mapped_Tensor_Has_The_Files_Values_And_Keeps_The_Mapping_Alive_Until_It_Is_Disposed()
    {
        var values = Enumerable.Range(0, 1000).Select(i => i * 0.25f - 7).ToArray();
        var path = new SafetensorsTestWriter().Add("w", "F32", [10, 100], values).Add("b", "BF16", [2], new ushort[] { 0x3F80, 0xC000 })
            .Write(_dir.File("mapped.safetensors"));
        var before = LiveTensors.Count();
        SafetensorsFile f;
        using (SafetensorsFile.MappingWeights(true)) f = SafetensorsFile.Open(path);
        Assert.True(f.MapWhenPossible);
        var w = f.Load("w", ScalarType.Float32, CPU);                        // stored dtype: a view of the mapping
        var b = f.Load("b", ScalarType.Float32, CPU);                        // a conversion: a copy, as without mapping
        Assert.Equal(values, w.data<float>().ToArray());
        Assert.Equal([1f, -2f], b.data<float>().ToArray());
        w.add_(1);                                                           // copy-on-write: the file keeps its bytes
        f.Dispose();
        Assert.True(ProcFiles.Mentions(path), "the mapping went away while a tensor still views it");
        using (var again = SafetensorsFile.Open(path))
        using (var fresh = again.Load("w", ScalarType.Float32, CPU))
        {
            Assert.False(again.MapWhenPossible);                             // the default outside MappingWeights: copies
            Assert.Equal(values, fresh.data<float>().ToArray());
        }
        w.Dispose();
        b.Dispose();
        Assert.Equal(before, LiveTensors.Count());
        Assert.False(ProcFiles.Mentions(path), "file still mapped after its last tensor was disposed");
    }

    [Fact]
    public void A_Load_Inside_A_Caller_Scope_Leaves_The_Mapping_To_The_File()
    {
        var path = new SafetensorsTestWriter().Add("a", "F32", [3], new float[] { 1, 2, 3 }).Add("b", "F32", [2], new float[] { 4, 5 })
            .Write(_dir.File("scoped.safetensors"));
        SafetensorsFile f;
        using (SafetensorsFile.MappingWeights(true)) f = SafetensorsFile.Open(path);
        using (f)
        {
            using (NewDisposeScope()) f.Load("a", ScalarType.Float32, CPU);   // the scope disposes the tensor, not the mapping
            using var b = f.Load("b", ScalarType.Float32, CPU);
            Assert.Equal([4f, 5f], b.data<float>().ToArray());
        }
    }

    [Fact]
    public void A_File_Shorter_Than_When_It_Was_Opened_Is_Refused_Before_It_Is_Mapped()
    {
        var path = new SafetensorsTestWriter().Add("w", "F32", [256], new float[256]).Write(_dir.File("short.safetensors"));
        SafetensorsFile f;
        using (SafetensorsFile.MappingWeights(true)) f = SafetensorsFile.Open(path);
        using (f)
        {
            using (var s = new FileStream(path, FileMode.Open, FileAccess.Write)) s.SetLength(s.Length - 100);
            var e = Assert.Throws<InputException>(() => f.Load("w", ScalarType.Float32, CPU));
            Assert.Contains("short.safetensors", e.Message);
            Assert.Equal("w", e.Field);
            Assert.Contains("truncated", e.Message);
        }
    }

    [SharedFact]
    public void Every_Way_Into_A_Family_Loader_Honours_MapWeights()
    {
        var folder = SharedData.Fixture("tiny-llava-1.5");
        var weights = Path.Combine(folder, "model.safetensors");
        var mapped = new LoadOptions { MapWeights = true };
        using (var viaFolder = ModelFolder.Read(folder, mapped).Load(mapped))       // what run and plan call
            Assert.True(Mapped(weights), "ModelFolder.Load did not map the weights");
        using (var viaModel = LoadedModel.Load(folder, mapped))
            Assert.True(Mapped(weights), "LoadedModel.Load did not map the weights");
        using (var copied = ModelFolder.Read(folder).Load(new LoadOptions()))
            Assert.False(Mapped(weights), "the default load mapped the weights");           // (other tests may have it open, never mapped)
    }

    /// <summary>In this process's memory mappings (not its open descriptors, which other tests' copying loads hold briefly).</summary>
    private static bool Mapped(string path) => File.ReadLines("/proc/self/maps").Any(l => l.EndsWith(" " + Path.GetFullPath(path), StringComparison.Ordinal));

    [SharedFact]
    public void A_Model_Loaded_Mapped_Computes_The_Same_Bits_As_One_Loaded_By_Copy()
    {
        var folder = SharedData.Fixture("tiny-llava-1.5");
        using var copied = LoadedModel.Load(folder);
        using var mapped = LoadedModel.Load(folder, new LoadOptions { MapWeights = true });
        var a = ((nn.Module)copied.Decoder).named_parameters().ToList();
        var b = ((nn.Module)mapped.Decoder).named_parameters().ToList();
        Assert.Equal(a.Select(p => p.name), b.Select(p => p.name));
        foreach (var (x, y) in a.Zip(b)) Assert.True(x.parameter.eq(y.parameter).all().item<bool>(), x.name);
        using var scope = NewDisposeScope();
        var embeds = normal(0, 1, [1, 12, copied.Decoder.HiddenSize], generator: new Generator(3));
        using var oa = copied.Decoder.Forward(embeds, PositionIds.Sequential(12));
        using var ob = mapped.Decoder.Forward(embeds, PositionIds.Sequential(12));
        Assert.True(oa.LastLogits.eq(ob.LastLogits).all().item<bool>());
    }
}

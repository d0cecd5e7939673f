using ModalFlow.Checkpoints;
using ModalFlow.Families.Qwen2Vl;
using ModalFlow.Models;
using ModalFlow.Platform;
using ModalFlow.Tests.Support;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace ModalFlow.Tests.Families.Qwen2Vl;

/// <summary>The tiny Qwen2-VL fixture folder and its cases.</summary>
public static class TinyQwen2Vl
{
    public const string Name = "tiny-qwen2-vl";

    public static string Dir => SharedData.Fixture(Name);
    public static string File(string name) => SharedData.Fixture(Name, name);
    public static string Weights => File("model.safetensors");

    public static TheoryData<string> Cases => new(FixtureCase.CaseIds(Name));

    public static FixtureCase Case(string id) => FixtureCase.Load(Name, id);

    /// <summary>The case's image grid (image_grid_thw.npy, [1, 3]).</summary>
    public static Qwen2VlImageGrid Grid(FixtureCase c)
    {
        var g = c.Array("image_grid_thw").AsLongs();
        return new Qwen2VlImageGrid((int)g[0], (int)g[1], (int)g[2]);
    }
}

/// <summary>
/// Test-only: the tensors of one checkpoint whose names start with <paramref name="prefix"/>, loaded under their own names.
/// Reports missing and mis-shaped requests and unused tensors under the prefix; the rest of the file (the decoder's
/// <c>model.*</c>) belongs to another module and is not "unexpected" here.
/// </summary>
public sealed class PrefixWeightSource(ITensorCheckpoint checkpoint, string prefix, ScalarType dtype, Device device) : WeightSource(dtype, device)
{
    private readonly HashSet<string> _used = [];

    public override string Describe => checkpoint.Path;

    protected override Tensor? TryLoad(string key, long[] shape, out long[]? actualShape)
    {
        if (!checkpoint.Contains(key))
        {
            actualShape = null;
            return null;
        }
        _used.Add(key);
        actualShape = [.. checkpoint.Info(key).Shape];
        return actualShape.SequenceEqual(shape) ? checkpoint.Load(key, DType, Device) : null;
    }

    protected override IEnumerable<string> Unexpected() =>
        checkpoint.Names.Where(n => n.StartsWith(prefix, StringComparison.Ordinal) && !_used.Contains(n)).Order(StringComparer.Ordinal);
}

/// <summary>The tiny fixture's vision tower, built once from model.safetensors (visual.* only).</summary>
public sealed class TinyQwen2VlTower : IDisposable
{
    public TinyQwen2VlTower()
    {
        TorchRuntime.Initialize();
        Config = Qwen2VlConfig.Load(TinyQwen2Vl.Dir);
        Tower = Build(TinyQwen2Vl.Weights, Config.Vision);
    }

    public Qwen2VlConfig Config { get; }
    public Qwen2VlVisionTower Tower { get; }

    public static Qwen2VlVisionTower Build(string weights, Qwen2VlVisionConfig vision)
    {
        using var ckpt = SafetensorsCheckpoint.Open(weights);
        var src = new PrefixWeightSource(ckpt, Qwen2VlVisionTower.Prefix, ScalarType.Float32, CPU);
        var tower = new Qwen2VlVisionTower(vision, src);
        try { src.Finish(); }
        catch
        {
            tower.Dispose();
            throw;
        }
        tower.eval();
        return tower;
    }

    public void Dispose() => Tower.Dispose();
}

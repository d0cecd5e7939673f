using ModalFlow.Checkpoints;
using ModalFlow.Families.LlavaOnevision;
using ModalFlow.Models;
using ModalFlow.Platform;
using ModalFlow.Tests.Support;
using Xunit;
using static TorchSharp.torch;

namespace ModalFlow.Tests.Families.LlavaOnevision;

/// <summary>The tiny-llava-onevision fixture: its folder, config, cases and stored arrays.</summary>
public static class OnevisionFixture
{
    public const string Model = "tiny-llava-onevision";

    public static string Dir => SharedData.Fixture(Model);

    public static LlavaOnevisionConfig Config() => LlavaOnevisionConfig.Load(Dir);

    public static LlavaOnevisionImageProcessor Processor() => LlavaOnevisionImageProcessor.Load(Dir, Config());

    public static TheoryData<string> Cases()
    {
        var data = new TheoryData<string>();
        foreach (var id in FixtureCase.CaseIds(Model)) data.Add(id);
        return data;
    }

    public static FixtureCase Case(string id) => FixtureCase.Load(Model, id);

    /// <summary>(width, height) of the case's image.</summary>
    public static (int Width, int Height) ImageSize(FixtureCase c)
    {
        var wh = c.Json.GetProperty("image_size_wh");
        return (wh[0].GetInt32(), wh[1].GetInt32());
    }

    /// <summary>The stored processor output [tiles, 3, S, S].</summary>
    public static Tensor Pixels(FixtureCase c)
    {
        var npy = c.Array("pixel_values");
        return tensor(npy.AsFloats(), npy.Shape);
    }
}

/// <summary>
/// The fixture's safetensors seen as the vision part only (test use): <c>language_model.*</c> belongs to the decoder,
/// which these tests do not build, so those keys are neither taken nor reported as unexpected; everything else is
/// checked as usual (missing, mis-shaped, unexpected).
/// </summary>
public sealed class VisionOnlyWeightSource(SafetensorsCheckpoint checkpoint, ScalarType dtype, Device device) : WeightSource(dtype, device)
{
    public const string DecoderPrefix = "language_model.";

    protected override Tensor? TryLoad(string key, long[] shape, out long[]? actualShape)
    {
        if (!checkpoint.Contains(key))
        {
            actualShape = null;
            return null;
        }
        actualShape = [.. checkpoint.Info(key).Shape];
        return actualShape.SequenceEqual(shape) ? checkpoint.Load(key, DType, Device) : null;
    }

    protected override IEnumerable<string> Unexpected() =>
        checkpoint.Names.Where(n => !n.StartsWith(DecoderPrefix, StringComparison.Ordinal) && !Taken.Contains(n)).Order(StringComparer.Ordinal);

    public override string Describe => checkpoint.Path;
}

/// <summary>The fixture's vision part, loaded once for a test class.</summary>
public sealed class OnevisionVisionModel : IDisposable
{
    public OnevisionVisionModel()
    {
        TorchRuntime.Initialize();
        Config = OnevisionFixture.Config();
        using var checkpoint = SafetensorsCheckpoint.Open(SharedData.Fixture(OnevisionFixture.Model, "model.safetensors"));
        Vision = LlavaOnevisionVision.Build(Config, new VisionOnlyWeightSource(checkpoint, ScalarType.Float32, CPU));
    }

    public LlavaOnevisionConfig Config { get; }
    public LlavaOnevisionVision Vision { get; }

    public void Dispose() => Vision.Dispose();
}

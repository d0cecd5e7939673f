using ModalFlow.Families.LlavaOnevision;
using ModalFlow.Platform;
using ModalFlow.Tests.Support;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace ModalFlow.Tests.Families.LlavaOnevision;

/// <summary>The image-token count from the image size alone (the layout needs it before the vision pass).</summary>
public class OnevisionTokenCountTests(ITestOutputHelper log)
{
    public static TheoryData<string> Cases => OnevisionFixture.Cases();

    private static readonly LlavaOnevisionConfig Tiny = OnevisionFixture.Config();

    [SharedTheory]
    [MemberData(nameof(Cases))]
    public void Count_Equals_The_Case_Counts(string id)
    {
        var c = OnevisionFixture.Case(id);
        var (w, h) = OnevisionFixture.ImageSize(c);
        int count = Tiny.ImageTokenCount(w, h);
        Assert.Equal(c.NumImageTokens, count);
        Assert.Equal(c.Json.GetProperty("geometry").GetProperty("n_image_tokens_processor").GetInt32(), count);
        Assert.Equal(c.NumImageTokens, c.Array("image_features").Shape[0]);
        var (start, end) = c.Range("image");
        Assert.Equal(end - start, count);
    }

    /// <summary>
    /// Against the processor's own formula (<c>_get_number_of_features</c>, written plainly in the test), over many sizes:
    /// thin, square, huge, tiny, for the tiny fixture's and the real checkpoints' settings.
    /// </summary>
    [SharedFact]
    public void Count_Equals_The_Processor_Formula_On_Many_Sizes()
    {
        var rng = new Random(4601);
        var sizes = new List<(int W, int H)> { (1, 1), (1, 5000), (5000, 1), (14, 14), (112, 112), (384, 384), (385, 383), (4000, 3000) };
        for (int i = 0; i < 3000; i++) sizes.Add((1 + rng.Next(i % 3 == 0 ? 100 : 2500), 1 + rng.Next(i % 5 == 0 ? 100 : 2500)));
        int interpolated = 0;
        var settings = new[]
        {
            ("tiny", Tiny.Pinpoints, Tiny.Vision.ImageSize, Tiny.Vision.PatchSize),
            ("real", (IReadOnlyList<(int Height, int Width)>)OnevisionPatchGolden.RealPinpoints, 384, 14),
        };
        foreach (var (name, pinpoints, tile, patch) in settings)
        {
            foreach (var (w, h) in sizes)
            {
                var plan = OnevisionImagePlan.Create(w, h, pinpoints, tile, patch, 9);
                int expected = OnevisionReference.ProcessorTokenCount(h, w, pinpoints, tile, tile / patch);
                Assert.True(expected == plan.ImageTokenCount, $"{name} {w}x{h}: {plan.ImageTokenCount}, the processor formula gives {expected}");
                if (plan.Interpolated) interpolated++;
            }
        }
        log.WriteLine($"{2 * sizes.Count} sizes, {interpolated} interpolated");
        Assert.True(interpolated > 100);
    }

    /// <summary>The packer emits exactly the planned rows, with the newline vector exactly at the planned offsets.</summary>
    [SharedFact]
    public void Packing_Emits_The_Planned_Rows_And_Newlines()
    {
        TorchRuntime.Initialize();
        var rng = new Random(7);
        var newline = tensor(new float[] { 7f, -7f, 7f });
        for (int i = 0; i < 40; i++)
        {
            int w = 1 + rng.Next(1500), h = 1 + rng.Next(1500);
            var plan = Tiny.PlanImage(w, h);
            using var scope = NewDisposeScope();
            var tiles = rand([plan.CropCount, plan.BaseTokenCount, 3]);
            var packed = AnyresMaxPacking.Pack(tiles, plan, newline);
            Assert.Equal([(long)plan.ImageTokenCount, 3], packed.shape);
            var isNewline = packed.eq(newline.unsqueeze(0)).all(1);
            var offsets = Enumerable.Range(0, plan.ImageTokenCount).Where(r => isNewline[r].item<bool>()).ToArray();
            Assert.Equal(plan.NewlineOffsets(), offsets);
            Assert.True(packed[..plan.BaseTokenCount].eq(tiles[0]).all().item<bool>());
        }
    }

    [SharedFact]
    public void Python_Float_Floor_Division_Is_Reproduced()
    {
        // 1 // 0.1 is 9.0 in Python although 1 / 0.1 == 10.0; the others are ordinary.
        Assert.Equal(9.0, OnevisionImagePlan.PythonFloorDivide(1, 0.1));
        Assert.Equal(9.0, OnevisionReference.PyFloorDiv(1, 0.1));
        // fixtures/README.md: ironing's unpadded 22x32 map is shrunk to 19x28.
        double ratio = Math.Sqrt(22.0 * 32 / (9 * 64));
        Assert.Equal((19.0, 28.0), (OnevisionImagePlan.PythonFloorDivide(22, ratio), OnevisionImagePlan.PythonFloorDivide(32, ratio)));
        Assert.Equal(Math.Floor(32 / 1.3333333333333333), OnevisionImagePlan.PythonFloorDivide(32, 1.3333333333333333));
    }
}

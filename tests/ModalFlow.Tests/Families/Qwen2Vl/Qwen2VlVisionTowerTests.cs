using ModalFlow.Checkpoints;
using ModalFlow.Families.Qwen2Vl;
using ModalFlow.Models;
using ModalFlow.Platform;
using ModalFlow.Tests.Support;
using ModalFlow.Vision;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace ModalFlow.Tests.Families.Qwen2Vl;

/// <summary>The vision tower and merger against transformers v4.45.1 (fixture goldens), and its loader.</summary>
public sealed class Qwen2VlVisionTowerTests(TinyQwen2VlTower fx, ITestOutputHelper log) : IClassFixture<TinyQwen2VlTower>
{
    private static Tensor Pixels(FixtureCase c)
    {
        var npy = c.Array("pixel_values");
        return tensor(npy.AsFloats(), npy.Shape);
    }

    [SharedTheory]
    [MemberData(nameof(TinyQwen2Vl.Cases), MemberType = typeof(TinyQwen2Vl))]
    public void Vision_Features_And_Merged_Image_Features_Match_Transformers(string id)
    {
        var c = TinyQwen2Vl.Case(id);
        using var scope = NewDisposeScope();
        var grid = TinyQwen2Vl.Grid(c);
        var pixels = Pixels(c);
        var vision = fx.Tower.VisionFeatures(pixels, grid);
        var image = fx.Tower.Encode(pixels, grid);
        Assert.Equal(c.Array("vision_features").Shape, vision.shape);
        Assert.Equal(c.Array("image_features").Shape, image.shape);
        Assert.Equal(c.NumImageTokens, image.shape[0]);
        var dv = Compare.AllClose(c.Array("vision_features").AsFloats(), vision.data<float>().ToArray(), 1e-4, "vision_features");
        var di = Compare.AllClose(c.Array("image_features").AsFloats(), image.data<float>().ToArray(), 1e-4, "image_features");
        log.WriteLine($"{c}: grid {grid}, max |Δ| vision_features {dv:E2}, image_features {di:E2}");
    }

    /// <summary>From the image file through our processor and tower: the features the decoder will receive.</summary>
    [SharedTheory]
    [MemberData(nameof(TinyQwen2Vl.Cases), MemberType = typeof(TinyQwen2Vl))]
    public void Image_File_To_Image_Features_Matches_Transformers(string id)
    {
        var c = TinyQwen2Vl.Case(id);
        using var scope = NewDisposeScope();
        var px = new Qwen2VlImageProcessor(Qwen2VlImageProcessorOptions.Load(TinyQwen2Vl.Dir)).Preprocess(c.ImagePath);
        var image = fx.Tower.Encode(px.ToTensor(ScalarType.Float32, CPU), px.Grid);
        var d = Compare.AllClose(c.Array("image_features").AsFloats(), image.data<float>().ToArray(), 1e-4, "image_features");
        log.WriteLine($"{c}: from {Path.GetFileName(c.ImagePath)}, max |Δ| image_features {d:E2}");
    }

    /// <summary>Attention never crosses images: two images encoded together equal each encoded alone.</summary>
    [SharedFact]
    public void Two_Images_Encoded_Together_Equal_Each_Encoded_Alone()
    {
        using var scope = NewDisposeScope();
        var a = TinyQwen2Vl.Case("dog_jar");
        var b = TinyQwen2Vl.Case("ironing_rel");
        var (ga, gb) = (TinyQwen2Vl.Grid(a), TinyQwen2Vl.Grid(b));
        var both = fx.Tower.Encode(cat([Pixels(a), Pixels(b)], 0), [ga, gb]);
        var alone = cat([fx.Tower.Encode(Pixels(a), ga), fx.Tower.Encode(Pixels(b), gb)], 0);
        var d = Compare.AllClose(alone.data<float>().ToArray(), both.data<float>().ToArray(), 1e-5, "two images vs one by one");
        log.WriteLine($"max |Δ| {d:E2}");
    }

    /// <summary>
    /// The rotary (row, column) of each patch row is where the processor took that patch from: an image whose pixels
    /// encode their own coordinates, preprocessed without rescale/normalise, gives each row's top-left pixel.
    /// </summary>
    [SharedFact]
    public void Rotary_Position_Ids_Are_The_Grid_Cells_The_Processor_Cut_Each_Patch_From()
    {
        var proc = new Qwen2VlImageProcessor(Qwen2VlImageProcessorOptions.Instruct with { DoRescale = false, DoNormalize = false });
        int width = 28 * 5, height = 28 * 3;
        var image = RgbImage.Filled(width, height, Rgb8.Black);
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++) image.SetPixel(x, y, new Rgb8((byte)x, (byte)y, 0));
        var px = proc.Preprocess(image);
        var ids = Qwen2VlVisionTower.RotaryPositionIds(px.Grid, 2);
        Assert.Equal(2 * px.PatchCount, ids.Length);
        for (int row = 0; row < px.PatchCount; row++)
        {
            int x0 = (int)px.Values[row * px.PatchDim], y0 = (int)px.Values[row * px.PatchDim + px.PatchDim / 3]; // R then G plane
            Assert.True(ids[2 * row] == y0 / 14 && ids[2 * row + 1] == x0 / 14,
                $"patch {row}: rotary ids ({ids[2 * row]}, {ids[2 * row + 1]}), pixels from grid cell ({y0 / 14}, {x0 / 14})");
        }
    }

    [SharedFact]
    public void Module_Tree_Is_The_Checkpoint_Key_Tree_Under_Visual()
    {
        using var ckpt = SafetensorsCheckpoint.Open(TinyQwen2Vl.Weights);
        var keys = ckpt.Names.Where(n => n.StartsWith("visual.", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToArray();
        var built = fx.Tower.named_parameters().ToDictionary(p => Qwen2VlVisionTower.Prefix + p.name, p => p.parameter.shape);
        Assert.Equal(keys, built.Keys.Order(StringComparer.Ordinal).ToArray());
        foreach (var k in keys) Assert.Equal(ckpt.Info(k).Shape, built[k]);
        Assert.Equal([32L, 3, 2, 14, 14], built["visual.patch_embed.proj.weight"]);
        Assert.Equal([32L, 128], built["visual.merger.mlp.2.weight"]);
        log.WriteLine($"{keys.Length} visual.* tensors");
    }

    /// <summary>
    /// The published Qwen2-VL-2B tower (depth 32, embed 1280, 16 heads, merger to 1536) builds on the meta device with
    /// the checkpoint's shapes: 32 blocks x 12 tensors + patch_embed + merger (ln_q 2, mlp 4) = 391 (the tiny fixture: 2 x 12 + 7 = 31).
    /// </summary>
    [SharedFact]
    public void Real_2B_Vision_Config_Builds_The_Published_Shapes_On_Meta()
    {
        var vision = new Qwen2VlVisionConfig { Depth = 32, EmbedDim = 1280, HiddenSize = 1536, NumHeads = 16 };
        vision.Validate("2b/config.json");
        using var tower = new Qwen2VlVisionTower(vision, new MetaWeightSource());
        var built = tower.named_parameters().ToDictionary(p => p.name, p => p.parameter.shape);
        Assert.Equal(391, built.Count);
        Assert.Equal([1280L, 3, 2, 14, 14], built["patch_embed.proj.weight"]);
        Assert.Equal([3840L, 1280], built["blocks.31.attn.qkv.weight"]);
        Assert.Equal([5120L, 1280], built["blocks.31.mlp.fc1.weight"]);
        Assert.Equal([5120L, 5120], built["merger.mlp.0.weight"]);
        Assert.Equal([1536L, 5120], built["merger.mlp.2.weight"]);
        Assert.Equal([1280L], built["merger.ln_q.bias"]);
    }

    [SharedFact]
    public void Missing_Misshaped_And_Unexpected_Vision_Tensors_Are_All_Reported()
    {
        TorchRuntime.Initialize();
        var dir = Directory.CreateTempSubdirectory("mf-qwen2vl-weights-");
        try
        {
            var file = Path.Combine(dir.FullName, "model.safetensors");
            using (var ckpt = SafetensorsCheckpoint.Open(TinyQwen2Vl.Weights))
            {
                var tensors = ckpt.Names.Where(n => n != "visual.blocks.1.mlp.fc2.bias")
                    .Select(n => (n, n == "visual.merger.ln_q.weight" ? ckpt.Load(n)[..16] : ckpt.Load(n)))
                    .Append(("visual.blocks.2.norm1.weight", zeros(32))).ToList();
                SafetensorsWriter.Write(file, tensors);
                foreach (var (_, t) in tensors) t.Dispose();
            }
            var e = Assert.Throws<InputException>(() => TinyQwen2VlTower.Build(file, fx.Config.Vision));
            log.WriteLine(e.Message);
            Assert.Contains(file, e.Message);
            Assert.Contains("visual.merger.ln_q.weight: checkpoint has [16], the config implies [32]", e.Message);
            Assert.Contains("1 missing tensor(s): visual.blocks.1.mlp.fc2.bias", e.Message);
            Assert.Contains("1 unexpected tensor(s): visual.blocks.2.norm1.weight", e.Message);
        }
        finally { dir.Delete(true); }
    }

    [SharedFact]
    public void Wrong_Pixel_Shape_Is_Refused_Before_Any_Compute()
    {
        using var scope = NewDisposeScope();
        var grid = new Qwen2VlImageGrid(1, 4, 6);
        Assert.Throws<ArgumentException>(() => fx.Tower.VisionFeatures(zeros(23, 1176), grid));
        Assert.Throws<ArgumentException>(() => fx.Tower.VisionFeatures(zeros(24, 1175), grid));
        Assert.Throws<ArgumentException>(() => fx.Tower.VisionFeatures(zeros(15, 1176), new Qwen2VlImageGrid(1, 3, 5)));
    }

    [SharedFact]
    public void Repeated_Encodes_Leave_No_Live_Tensors()
    {
        var c = TinyQwen2Vl.Case("dog_jar");
        using var pixels = Pixels(c);
        var grid = TinyQwen2Vl.Grid(c);
        using (fx.Tower.Encode(pixels, grid)) { }
        long before = LiveTensors.Count();
        for (int i = 0; i < 5; i++)
            using (fx.Tower.Encode(pixels, grid)) { }
        Assert.Equal(before, LiveTensors.Count());
    }
}

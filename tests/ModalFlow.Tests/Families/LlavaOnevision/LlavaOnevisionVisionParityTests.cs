using ModalFlow.Checkpoints;
using ModalFlow.Families.LlavaOnevision;
using ModalFlow.Models;
using ModalFlow.Tests.Support;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace ModalFlow.Tests.Families.LlavaOnevision;

/// <summary>
/// SigLIP → projector → anyres_max_9 packing against transformers v4.45.1 (tiny-llava-onevision goldens): from the
/// stored pixel values and from this project's own processor.
/// </summary>
public sealed class LlavaOnevisionVisionParityTests(OnevisionVisionModel fx, ITestOutputHelper log) : IClassFixture<OnevisionVisionModel>
{
    public static TheoryData<string> Cases => OnevisionFixture.Cases();

    private static readonly LlavaOnevisionImageProcessor Processor = OnevisionFixture.Processor();

    [SharedTheory]
    [MemberData(nameof(Cases))]
    public void Vision_Features_Projected_Tiles_And_Packed_Features_Match_Transformers(string id)
    {
        var c = OnevisionFixture.Case(id);
        var (w, h) = OnevisionFixture.ImageSize(c);
        var plan = fx.Config.PlanImage(w, h);
        using var scope = NewDisposeScope();
        var pixels = OnevisionFixture.Pixels(c);
        var features = fx.Vision.VisionFeatures(pixels);
        var projected = fx.Vision.ProjectedTiles(pixels);
        var packed = fx.Vision.Pack(projected, plan);
        Assert.Equal(c.Array("vision_features").Shape, features.shape);
        Assert.Equal([(long)c.NumImageTokens, fx.Config.Text.HiddenSize], packed.shape);
        var dv = Compare.AllClose(c.Array("vision_features").AsFloats(), features.data<float>().ToArray(), 1e-4, "vision_features");
        var dp = Compare.AllClose(c.Array("projected_tiles").AsFloats(), projected.data<float>().ToArray(), 1e-4, "projected_tiles");
        var di = Compare.AllClose(c.Array("image_features").AsFloats(), packed.data<float>().ToArray(), 1e-4, "image_features");

        // Every newline slot holds exactly the learned vector; no other row does.
        var newlines = tensor(plan.NewlineOffsets().Select(i => (long)i).ToArray());
        Assert.True(packed.index_select(0, newlines).eq(fx.Vision.ImageNewline.unsqueeze(0).expand(plan.PackedRows, -1)).all().item<bool>());
        Assert.Equal(plan.PackedRows, (int)packed.eq(fx.Vision.ImageNewline.unsqueeze(0)).all(1).sum().item<long>());
        log.WriteLine($"{id} ({plan}): max |Δ| vision_features {dv:E2}, projected_tiles {dp:E2}, image_features {di:E2}");
    }

    [SharedTheory]
    [MemberData(nameof(Cases))]
    public void Image_Features_From_This_Processor_Match_Transformers(string id)
    {
        var c = OnevisionFixture.Case(id);
        var rgb = Path.ChangeExtension(c.ImagePath, ".rgb.png");
        var input = Processor.Preprocess(File.Exists(rgb) ? rgb : c.ImagePath);
        using var features = fx.Vision.EncodeImage(input);
        var d = Compare.AllClose(c.Array("image_features").AsFloats(), features.data<float>().ToArray(), 1e-4, "image_features");
        log.WriteLine($"{id}: image features from our pixels, max |Δ| {d:E2}");
    }

    /// <summary>
    /// Feature layer −1 is <c>hidden_states[-1]</c>, the last encoder layer BEFORE post_layernorm (which only makes
    /// last_hidden_state): the goldens agree with that and not with the normed output.
    /// </summary>
    [SharedFact]
    public void Feature_Layer_Minus_One_Is_Before_Post_Layernorm()
    {
        var c = OnevisionFixture.Case("dog_jar");
        using var scope = NewDisposeScope();
        var features = fx.Vision.VisionFeatures(OnevisionFixture.Pixels(c));
        var post = fx.Vision.VisionTower.named_modules().Single(m => m.name == "post_layernorm").module as LayerNormLayer;
        var normed = post!.Forward(features);
        var golden = c.Array("vision_features").AsFloats();
        Compare.AllClose(golden, features.data<float>().ToArray(), 1e-4, "hidden_states[-1]");
        Assert.True(Compare.MaxAbsDiff(golden, normed.data<float>().ToArray()) > 1e-2, "post_layernorm output should differ from the goldens");
    }

    /// <summary>The module tree is the checkpoint key tree: named_parameters() lists exactly the file's non-decoder keys.</summary>
    [SharedFact]
    public void Named_Parameters_Are_The_Checkpoint_Keys_Below_The_Decoder()
    {
        using var checkpoint = SafetensorsCheckpoint.Open(SharedData.Fixture(OnevisionFixture.Model, "model.safetensors"));
        var expected = checkpoint.Names.Where(n => !n.StartsWith(VisionOnlyWeightSource.DecoderPrefix, StringComparison.Ordinal)).Order(StringComparer.Ordinal);
        var actual = fx.Vision.named_parameters().Select(p => p.name).Order(StringComparer.Ordinal);
        Assert.Equal(expected, actual);
    }

    [SharedFact]
    public void Missing_Misshaped_And_Unexpected_Tensors_Are_Reported_Together()
    {
        using var checkpoint = SafetensorsCheckpoint.Open(SharedData.Fixture(OnevisionFixture.Model, "model.safetensors"));
        // A tower one layer deeper than the file (missing layer 2), a wider MLP (fc1/fc2 mis-shaped), no pooling head
        // flag (head.* missing) — and config with fewer layers would leave layer 1 unexpected.
        var deeper = fx.Config with { Vision = fx.Config.Vision with { NumHiddenLayers = 3 } };
        var e = Assert.Throws<InputException>(() => LlavaOnevisionVision.Build(deeper, new VisionOnlyWeightSource(checkpoint, ScalarType.Float32, CPU)));
        Assert.Contains("missing tensor(s): vision_tower.vision_model.encoder.layers.2.", e.Message);

        var wider = fx.Config with { Vision = fx.Config.Vision with { IntermediateSize = 65 } };
        e = Assert.Throws<InputException>(() => LlavaOnevisionVision.Build(wider, new VisionOnlyWeightSource(checkpoint, ScalarType.Float32, CPU)));
        Assert.Contains("vision_tower.vision_model.encoder.layers.0.mlp.fc1.weight: checkpoint has [64, 32], the config implies [65, 32]", e.Message);

        var shallower = fx.Config with { Vision = fx.Config.Vision with { NumHiddenLayers = 1, VisionUseHead = null } };
        e = Assert.Throws<InputException>(() => LlavaOnevisionVision.Build(shallower, new VisionOnlyWeightSource(checkpoint, ScalarType.Float32, CPU)));
        Assert.Contains("unexpected tensor(s): vision_tower.vision_model.encoder.layers.1.", e.Message);
        Assert.Contains("vision_tower.vision_model.head.probe", e.Message);
        log.WriteLine(e.Message);
    }

    [SharedFact]
    public void Encode_And_Pack_Leave_The_Live_Tensor_Count_Unchanged()
    {
        var c = OnevisionFixture.Case("ironing_rel");
        var (w, h) = OnevisionFixture.ImageSize(c);
        var plan = fx.Config.PlanImage(w, h);
        void Once()
        {
            using var scope = NewDisposeScope();
            _ = fx.Vision.EncodeImage(OnevisionFixture.Pixels(c), plan);
        }
        Once();
        long before = LiveTensors.Count();
        for (int i = 0; i < 3; i++) Once();
        Assert.Equal(before, LiveTensors.Count());
    }
}

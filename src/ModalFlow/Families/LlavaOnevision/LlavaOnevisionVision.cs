using ModalFlow.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ModalFlow.Families.LlavaOnevision;

/// <summary>
/// Everything of <c>LlavaOnevisionForConditionalGeneration</c> below the decoder: the SigLIP tower
/// (<c>vision_tower.vision_model.*</c>), the projector (<c>multi_modal_projector.linear_{1,2}</c>, GELU erf, biases)
/// and <c>image_newline</c>, under the checkpoint's own key names (its children are <c>vision_tower</c>,
/// <c>multi_modal_projector</c> and the parameter <c>image_newline</c>, as in the file). The constructor takes its
/// tensors from a shared <see cref="WeightSource"/> and leaves <see cref="WeightSource.Finish"/> to whoever also
/// builds the decoder (<c>language_model.*</c>); <see cref="Build"/> is for a source that holds the vision part only.
/// </summary>
public sealed class LlavaOnevisionVision : ExplicitModule
{
    public LlavaOnevisionVision(LlavaOnevisionConfig config, WeightSource src) : base("llava_onevision_vision")
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(src);
        Config = config;
        VisionTower = new SiglipVisionTower(config.Vision, src, "vision_tower.vision_model.");
        Projector = new MultiModalProjector(src, "multi_modal_projector.", config.Vision.HiddenSize, config.Text.HiddenSize, bias: true);
        ImageNewline = new Parameter(src.Take("image_newline", config.Text.HiddenSize), requires_grad: src.Trainable);
        var tower = new Group("vision_tower");
        tower.Add("vision_model", VisionTower);
        register_module("vision_tower", tower);
        register_module("multi_modal_projector", Projector);
        register_parameter("image_newline", ImageNewline);
        DType = src.DType;
        Device = src.Device;
    }

    /// <summary>Builds from <paramref name="src"/> and checks that every tensor it holds matched (throws otherwise).</summary>
    public static LlavaOnevisionVision Build(LlavaOnevisionConfig config, WeightSource src)
    {
        var vision = new LlavaOnevisionVision(config, src);
        try
        {
            src.Finish();
        }
        catch
        {
            vision.Dispose();
            throw;
        }
        return vision;
    }

    public LlavaOnevisionConfig Config { get; }
    public SiglipVisionTower VisionTower { get; }
    public MultiModalProjector Projector { get; }

    /// <summary>The learned row separator [D_text].</summary>
    public Parameter ImageNewline { get; }

    public ScalarType DType { get; }
    public Device Device { get; }

    /// <summary>
    /// The selected SigLIP hidden state (projector input, strategy "full"): pixels [T, 3, S, S] → [T, n², D_vision].
    /// </summary>
    public Tensor VisionFeatures(Tensor pixels)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        using var scope = NewDisposeScope();
        var hidden = VisionTower.HiddenState(pixels.to(DType, Device), Config.VisionLayersUsed);
        return hidden.contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>The projector over every crop: pixels [T, 3, S, S] → [T, n², D_text] (before packing).</summary>
    public Tensor ProjectedTiles(Tensor pixels)
    {
        using var features = VisionFeatures(pixels);
        return Projector.Forward(features);
    }

    /// <summary><c>pack_image_features</c>: projected tiles [CropCount, n², D] → [ImageTokenCount, D].</summary>
    public Tensor Pack(Tensor projectedTiles, OnevisionImagePlan plan) => AnyresMaxPacking.Pack(projectedTiles, plan, ImageNewline);

    /// <summary>The image features as placed into the sequence: [<see cref="OnevisionImagePlan.ImageTokenCount"/>, D_text].</summary>
    public Tensor EncodeImage(Tensor pixels, OnevisionImagePlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        using var projected = ProjectedTiles(pixels);
        return Pack(projected, plan);
    }

    /// <summary>As <see cref="EncodeImage(Tensor, OnevisionImagePlan)"/> from the processor's output.</summary>
    public Tensor EncodeImage(OnevisionPixelValues pixels)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        using var t = tensor(pixels.Values, pixels.Shape, dtype: ScalarType.Float32, device: Device);
        return EncodeImage(t, pixels.Plan);
    }
}

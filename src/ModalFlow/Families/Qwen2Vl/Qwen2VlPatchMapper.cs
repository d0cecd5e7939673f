using System.Collections.Immutable;
using ModalFlow.Data;
using ModalFlow.Vision;

namespace ModalFlow.Families.Qwen2Vl;

/// <summary>
/// Experiment 3's object patches for Qwen2-VL: the paper's exact-red rule applied to Qwen2-VL's own preprocessing
/// (fixtures/patch-sets/README.md, "Qwen2-VL"). The red-on-green box mask (<see cref="ObjectPatchMapper.DrawMask"/>)
/// is resized like the image (smart_resize, PIL bicubic, 8-bit); image token k is the 28x28 block at merged row
/// k / (rw/28), column k % (rw/28); it is RELATED iff one of its pixels is exactly (255, 0, 0), OTHER otherwise.
/// No newline tokens. Indices are relative to the first <c>&lt;|image_pad|&gt;</c>.
/// <see cref="Map(int, int, IReadOnlyList{Box})"/> resamples only the mask's distinct rows (the LLaVA mapper's exact
/// fast path); <see cref="MapReference"/> paints and resizes the full mask and scans every pixel.
/// </summary>
public sealed class Qwen2VlPatchMapper : IObjectPatchMapper
{
    public Qwen2VlPatchMapper(Qwen2VlImageProcessor processor)
    {
        ArgumentNullException.ThrowIfNull(processor);
        Processor = processor;
    }

    public Qwen2VlPatchMapper(Qwen2VlImageProcessorOptions options) : this(new Qwen2VlImageProcessor(options))
    {
    }

    /// <summary>The image geometry the sets follow (the model's processor).</summary>
    public Qwen2VlImageProcessor Processor { get; }

    /// <summary>The published Qwen2-VL-*-Instruct preprocessing (patch-sets mode "qwen2_vl_instruct").</summary>
    public static Qwen2VlPatchMapper Instruct() => new(Qwen2VlImageProcessorOptions.Instruct);

    /// <summary>Resized size, grid and token count of a <paramref name="width"/> x <paramref name="height"/> image.</summary>
    public Qwen2VlImagePlan Plan(int width, int height) => Processor.Plan(width, height);

    /// <summary>Length of the image block the sets index: (rh / 28) · (rw / 28).</summary>
    public int ImageTokenCount(int width, int height) => Plan(width, height).ImageTokenCount;

    /// <summary>The sets of a task row (its <see cref="GqaTaskRow.PatchBoxes"/> on its image size).</summary>
    public ObjectPatchSets Map(GqaTaskRow row)
    {
        ArgumentNullException.ThrowIfNull(row);
        return Map(row.ImageWidth, row.ImageHeight, row.PatchBoxes);
    }

    /// <summary>The sets of <paramref name="boxes"/> (original pixels) on a <paramref name="width"/> x <paramref name="height"/> image.</summary>
    public ObjectPatchSets Map(int width, int height, IReadOnlyList<Box> boxes)
    {
        ArgumentNullException.ThrowIfNull(boxes);
        var plan = Plan(width, height);
        int f = plan.Factor;
        var rowBase = Enumerable.Range(0, plan.ResizedHeight).Select(y => y / f * plan.MergedCols).ToArray();
        var colOffset = Enumerable.Range(0, plan.ResizedWidth).Select(x => x / f).ToArray();
        var related = new bool[plan.ImageTokenCount];
        ObjectPatchMapper.MarkRelatedAfterResize(width, height, boxes, plan.ResizedWidth, plan.ResizedHeight, rowBase, colOffset, related);
        return Split(related);
    }

    /// <summary>The plain path: the full mask through <see cref="ProcessedMask"/>, every pixel tested.</summary>
    public ObjectPatchSets MapReference(int width, int height, IReadOnlyList<Box> boxes)
    {
        var plan = Plan(width, height);
        var mask = ProcessedMask(width, height, boxes);
        var related = new bool[plan.ImageTokenCount];
        byte[] px = mask.Pixels;
        int f = plan.Factor;
        for (int y = 0; y < mask.Height; y++)
        {
            for (int x = 0; x < mask.Width; x++)
            {
                int i = (y * mask.Width + x) * 3;
                if (px[i] == ObjectPatchMapper.ObjectColor.R && px[i + 1] == ObjectPatchMapper.ObjectColor.G && px[i + 2] == ObjectPatchMapper.ObjectColor.B)
                    related[y / f * plan.MergedCols + x / f] = true;
            }
        }
        return Split(related);
    }

    /// <summary>The box mask as the vision tower sees it (resized, 8-bit), for checks and figures.</summary>
    public RgbImage ProcessedMask(int width, int height, IReadOnlyList<Box> boxes) =>
        Processor.Resize(ObjectPatchMapper.DrawMask(width, height, boxes), Plan(width, height));

    private static ObjectPatchSets Split(bool[] related)
    {
        var rel = ImmutableArray.CreateBuilder<int>();
        var other = ImmutableArray.CreateBuilder<int>();
        for (int k = 0; k < related.Length; k++) (related[k] ? rel : other).Add(k);
        return new ObjectPatchSets(related.Length, rel.ToImmutable(), other.ToImmutable(), []);
    }
}

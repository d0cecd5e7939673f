using ModalFlow.Vision;
using TorchSharp;
using static TorchSharp.torch;

namespace ModalFlow.Families.Qwen2Vl;

/// <summary>One image as the vision tower takes it.</summary>
/// <param name="Values">float32 [PatchCount, PatchDim] row-major: transformers' <c>pixel_values</c>.</param>
/// <param name="PatchDim">Values per patch: 3 · temporal_patch_size · patch_size² (1176).</param>
public sealed record Qwen2VlPixelValues(float[] Values, Qwen2VlImagePlan Plan, int PatchDim, string? Source)
{
    public Qwen2VlImageGrid Grid => Plan.Grid;
    public int PatchCount => Grid.PatchCount;

    /// <summary>[PatchCount, PatchDim] on <paramref name="device"/> in <paramref name="dtype"/>.</summary>
    public Tensor ToTensor(ScalarType dtype, Device device)
    {
        using var cpu = tensor(Values, [PatchCount, PatchDim]);
        return cpu.to(dtype, device);
    }
}

/// <summary>
/// transformers v4.45.1 <c>Qwen2VLImageProcessor</c> for one image, bit-exact: <see cref="SmartResize"/> → PIL bicubic
/// (<see cref="PilResize"/>, 8-bit in and out) → rescale and normalise (float32, OpenAI-CLIP mean/std) → the frame
/// repeated temporal_patch_size times → patches of 14x14 ordered by 2x2 merge windows:
/// <c>pixel_values[(window r, window c, i, j), (channel, frame, y, x)]</c>, windows row-major, patches inside a window
/// row-major. The geometry (<see cref="Plan"/>, <see cref="Resize"/>) is public on its own so a painted box mask can
/// take exactly the same path.
/// </summary>
public sealed class Qwen2VlImageProcessor
{
    private readonly LlavaImagePreprocessor _normalizer;

    public Qwen2VlImageProcessor(Qwen2VlImageProcessorOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        Options = options.Validate();
        // Only ToPixelValues is used: the shared per-byte float32 rescale/normalise table.
        _normalizer = new LlavaImagePreprocessor(options.Normalization, ImageMode.Crop);
    }

    public Qwen2VlImageProcessorOptions Options { get; }

    /// <summary>Values per patch: 3 · temporal_patch_size · patch_size².</summary>
    public int PatchDim => RgbImage.Channels * Options.TemporalPatchSize * Options.PatchSize * Options.PatchSize;

    /// <summary>The published Qwen2-VL-*-Instruct preprocessing.</summary>
    public static Qwen2VlImageProcessor Instruct() => new(Qwen2VlImageProcessorOptions.Instruct);

    /// <summary>The resized size, patch grid and token count of a <paramref name="width"/> x <paramref name="height"/> image.</summary>
    /// <exception cref="InputException">An image smart_resize refuses (see <see cref="SmartResize.Compute"/>).</exception>
    public Qwen2VlImagePlan Plan(int width, int height, string? source = null)
    {
        var o = Options;
        int rh = height, rw = width;
        if (o.DoResize)
        {
            (rh, rw) = SmartResize.Compute(height, width, o.Factor, o.MinPixels, o.MaxPixels, source);
        }
        else if (height % o.Factor != 0 || width % o.Factor != 0)
        {
            throw new InputException(source, "image size",
                $"{width}x{height} px with do_resize = false: both sides must be multiples of patch_size · merge_size = {o.Factor}");
        }
        return new Qwen2VlImagePlan(width, height, rw, rh, o.PatchSize, o.MergeSize);
    }

    /// <summary>Image tokens of a <paramref name="width"/> x <paramref name="height"/> image: (rh / 28) · (rw / 28).</summary>
    public int ImageTokenCount(int width, int height) => Plan(width, height).ImageTokenCount;

    /// <summary>Decodes <paramref name="path"/> (see <see cref="ImageDecoder"/>) and preprocesses it.</summary>
    public Qwen2VlPixelValues Preprocess(string path) => Preprocess(ImageDecoder.Decode(path), path);

    public Qwen2VlPixelValues Preprocess(RgbImage image, string? source = null)
    {
        ArgumentNullException.ThrowIfNull(image);
        var plan = Plan(image.Width, image.Height, source);
        var resized = Resize(image, plan);
        return new Qwen2VlPixelValues(Patchify(_normalizer.ToPixelValues(resized), plan), plan, PatchDim, source);
    }

    /// <summary>The geometric step alone (8-bit in and out): PIL bicubic to the planned size, or a copy without resize.</summary>
    public RgbImage Resize(RgbImage image, Qwen2VlImagePlan plan)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(plan);
        if (image.Width != plan.OriginalWidth || image.Height != plan.OriginalHeight)
            throw new ArgumentException($"the plan is for {plan.OriginalWidth}x{plan.OriginalHeight}, the image is {image.Width}x{image.Height}");
        return PilResize.Bicubic(image, plan.ResizedWidth, plan.ResizedHeight);
    }

    /// <summary>
    /// CHW float32 [3, rh, rw] → [patches, 3 · T · P · P] in the processor's order (numpy's reshape to
    /// (t, T, C, gh/m, m, P, gw/m, m, P), transpose (0, 3, 6, 4, 7, 2, 1, 5, 8)); the single frame fills all T slots.
    /// </summary>
    private float[] Patchify(float[] chw, Qwen2VlImagePlan plan)
    {
        int p = Options.PatchSize, m = Options.MergeSize, frames = Options.TemporalPatchSize;
        int rh = plan.ResizedHeight, rw = plan.ResizedWidth, plane = rh * rw;
        int gh = rh / p, gw = rw / p;
        var result = new float[checked(gh * gw * PatchDim)];
        var source = chw.AsSpan();
        int o = 0;
        for (int wr = 0; wr < gh / m; wr++)
        {
            for (int wc = 0; wc < gw / m; wc++)
            {
                for (int i = 0; i < m; i++)
                {
                    for (int j = 0; j < m; j++)
                    {
                        int top = (wr * m + i) * p, left = (wc * m + j) * p;
                        for (int c = 0; c < RgbImage.Channels; c++)
                        {
                            for (int f = 0; f < frames; f++)
                            {
                                for (int y = 0; y < p; y++, o += p)
                                    source.Slice(c * plane + (top + y) * rw + left, p).CopyTo(result.AsSpan(o, p));
                            }
                        }
                    }
                }
            }
        }
        return result;
    }
}

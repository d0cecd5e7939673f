using ModalFlow.Inference;
using ModalFlow.Vision;

namespace ModalFlow.Families.Qwen2Vl;

/// <summary>
/// What a Qwen2-VL model saw (<see cref="ModelFolder.View"/>): the smart-resized image (<see cref="Qwen2VlImageProcessor.Resize"/>);
/// image token k covers the Factor x Factor block (28 px: 2x2 merged patches of 14) at merged row k / cols, column k % cols.
/// </summary>
internal static class Qwen2VlModelView
{
    public static ModelView Of(Qwen2VlImageProcessor processor, RgbImage image, string? source)
    {
        ArgumentNullException.ThrowIfNull(image);
        var plan = processor.Plan(image.Width, image.Height, source);
        var resized = processor.Resize(image, plan);
        int f = plan.Factor, cols = plan.MergedCols;
        var tokens = Enumerable.Range(0, plan.ImageTokenCount)
            .Select(k => (TokenRegion?)new TokenRegion(0, new PixelRect(k % cols * f, k / cols * f, f, f)))
            .ToList();
        return new ModelView([new ViewCrop($"resized {plan.ResizedWidth}x{plan.ResizedHeight}", resized)], tokens);
    }
}

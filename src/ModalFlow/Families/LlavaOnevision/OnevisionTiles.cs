using ModalFlow.Vision;

namespace ModalFlow.Families.LlavaOnevision;

/// <summary>
/// The geometric half of <c>LlavaOnevisionImageProcessor</c> (v4.45.1), on 8-bit RGB: what every crop looks like
/// before rescale / normalise. Shared by the pixel values and by the Experiment 3 box masks.
/// </summary>
public static class OnevisionTiles
{
    /// <summary>
    /// [base, tile(0,0), tile(0,1), …] each S x S: the base is the whole image squashed to S x S (PIL bicubic); the
    /// tiles come from the image resized to ResizedWidth x ResizedHeight (PIL bicubic), padded with black by PadLeft /
    /// PadTop on both sides (1 px short of the canvas when the difference is odd), cut into S-windows row-major
    /// (the last ones clipped to the padded canvas) and each resized to S x S (PIL bicubic; a full window is copied,
    /// a clipped one is stretched).
    /// </summary>
    public static RgbImage[] Cut(RgbImage image, OnevisionImagePlan plan)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(plan);
        if (image.Width != plan.Width || image.Height != plan.Height)
            throw new ArgumentException($"the plan is for a {plan.Width}x{plan.Height} image, got {image.Width}x{image.Height}", nameof(image));
        int s = plan.TileSize;
        var crops = new RgbImage[plan.CropCount];
        crops[0] = PilResize.Bicubic(image, s, s);

        var padded = RgbImage.Filled(plan.PaddedWidth, plan.PaddedHeight, Rgb8.Black);
        padded.Paste(PilResize.Bicubic(image, plan.ResizedWidth, plan.ResizedHeight), plan.PadLeft, plan.PadTop);
        for (int row = 0; row < plan.GridRows; row++)
        {
            for (int col = 0; col < plan.GridCols; col++)
            {
                var (x, y, w, h) = plan.TileWindow(row, col);
                var window = RgbImage.Filled(w, h, Rgb8.Black);
                window.Paste(padded, -x, -y);
                crops[1 + row * plan.GridCols + col] = PilResize.Bicubic(window, s, s);
            }
        }
        return crops;
    }
}

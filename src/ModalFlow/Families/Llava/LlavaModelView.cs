using ModalFlow.Data;
using ModalFlow.Inference;
using ModalFlow.Vision;

namespace ModalFlow.Families.Llava;

/// <summary>
/// What a LLaVA / LLaVA-NeXT model saw (<see cref="ModelFolder.View"/>), from the geometry its pixel values and patch
/// sets use. LLaVA-1.5: the padded (or cropped) square from <see cref="LlavaImagePreprocessor.ApplyGeometry(RgbImage, Rgb8?)"/>,
/// tokens = its patch grid row-major (a CLS feature, kept by vision_feature_select_strategy "full", has no pixels).
/// NeXT: the base image (squashed to the tile) and the anyres canvas (the image resized and pasted on black, i.e. the
/// tiles side by side); tokens = the base grid, then each kept feature row of the canvas and its newline.
/// </summary>
internal static class LlavaModelView
{
    public static ModelView Of(LlavaModelFolder folder, RgbImage image, ImageMode? mode)
    {
        ArgumentNullException.ThrowIfNull(image);
        var config = folder.Config;
        var grid = PatchGrid.FromVision(config.Vision);
        if (!config.IsNext)
        {
            var resolved = folder.ResolveImageMode(mode);
            var crop = folder.ImagePreprocessor(resolved).ApplyGeometry(image);
            var tokens = new List<TokenRegion?>();
            if (!config.DropClsToken) tokens.Add(null);
            tokens.AddRange(ModelView.Grid(0, grid.PatchesPerSide, grid.PatchSize));
            var name = resolved == ImageMode.Pad ? "padded square" : "centre crop";
            return new ModelView([new ViewCrop(name, crop)], tokens);
        }

        folder.ResolveImageMode(mode); // refuses an explicit mode
        var plan = folder.PlanAnyres(image.Width, image.Height);
        var baseImage = PilResize.Bicubic(image, plan.TileSize, plan.TileSize);
        var canvas = RgbImage.Filled(plan.CanvasWidth, plan.CanvasHeight, Rgb8.Black);
        canvas.Paste(PilResize.Bicubic(image, plan.ResizedWidth, plan.ResizedHeight), plan.PasteX, plan.PasteY);
        var regions = new List<TokenRegion?>(plan.ImageTokenCount);
        regions.AddRange(ModelView.Grid(0, plan.PatchesPerSide, plan.PatchSize));
        int ps = plan.PatchSize;
        for (int r = 0; r < plan.KeptRows; r++)
        {
            int y = (r + plan.FirstKeptRow) * ps;
            for (int c = 0; c < plan.KeptCols; c++)
                regions.Add(new TokenRegion(1, new PixelRect((c + plan.FirstKeptCol) * ps, y, ps, ps)));
            regions.Add(null); // the row's newline
        }
        return new ModelView([new ViewCrop("base image", baseImage), new ViewCrop($"tiles ({plan.GridCols}x{plan.GridRows})", canvas)], regions);
    }
}

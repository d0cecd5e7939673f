using ModalFlow.Inference;
using ModalFlow.Vision;

namespace ModalFlow.Families.LlavaOnevision;

/// <summary>
/// What a LLaVA-OneVision model saw (<see cref="ModelFolder.View"/>), from <see cref="OnevisionTiles.Cut"/>: the base
/// image (squashed to S x S) and the tiles as the tower took them (each S x S, the stretched last column / row
/// included), placed side by side in one picture of cols·S x rows·S. Tokens: the base cells (patch_size² px each; the
/// last S − n·p px of a crop feed no cell), then every packed row and its newline. A packed cell of an un-interpolated
/// map is one tile cell; an interpolated one covers the bounding box of its nonzero-weight source cells
/// (<see cref="LlavaOnevisionPatchMapper.BilinearSources"/>), which may straddle two tiles.
/// </summary>
internal static class LlavaOnevisionModelView
{
    public static ModelView Of(LlavaOnevisionConfig config, RgbImage image)
    {
        ArgumentNullException.ThrowIfNull(image);
        var plan = config.PlanImage(image.Width, image.Height);
        var crops = OnevisionTiles.Cut(image, plan);
        int s = plan.TileSize, n = plan.PatchesPerSide, p = config.Vision.PatchSize;
        var tiles = RgbImage.Filled(plan.GridCols * s, plan.GridRows * s, Rgb8.Black);
        for (int t = 0; t < plan.TileCount; t++) tiles.Paste(crops[1 + t], t % plan.GridCols * s, t / plan.GridCols * s);

        // A cell of the unpadded map, in the side-by-side tiles picture.
        PixelRect Cell(int row, int col)
        {
            int fr = row + plan.UnpadTop, fc = col + plan.UnpadLeft;
            return new PixelRect(fc / n * s + fc % n * p, fr / n * s + fr % n * p, p, p);
        }

        var regions = new List<TokenRegion?>(plan.ImageTokenCount);
        regions.AddRange(ModelView.Grid(0, n, p));
        var rowSources = plan.Interpolated ? LlavaOnevisionPatchMapper.BilinearSources(plan.UnpaddedRows, plan.PackedRows) : null;
        var colSources = plan.Interpolated ? LlavaOnevisionPatchMapper.BilinearSources(plan.UnpaddedCols, plan.PackedCols) : null;
        for (int r = 0; r < plan.PackedRows; r++)
        {
            for (int c = 0; c < plan.PackedCols; c++)
            {
                PixelRect rect;
                if (rowSources is null || colSources is null) rect = Cell(r, c);
                else
                {
                    rect = Cell(rowSources[r][0], colSources[c][0]);
                    foreach (int sr in rowSources[r])
                        foreach (int sc in colSources[c]) rect = rect.Union(Cell(sr, sc));
                }
                regions.Add(new TokenRegion(1, rect));
            }
            regions.Add(null); // the row's newline
        }
        return new ModelView([new ViewCrop("base image", crops[0]), new ViewCrop($"tiles ({plan.GridCols}x{plan.GridRows})", tiles)], regions);
    }
}

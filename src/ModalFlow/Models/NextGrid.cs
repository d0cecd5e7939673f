namespace ModalFlow.Models;

/// <summary>
/// The LLaVA-NeXT image-token geometry of one image (the model side of anyres, "spatial_unpad"): the tiles' CLIP
/// features arranged as one <see cref="FeatureRows"/>×<see cref="FeatureCols"/> grid in image layout, the rows or
/// columns that <c>unpad_image</c> keeps, and one <c>image_newline</c> after every kept row. The canvas (which
/// pinpoint was chosen) is an input: choosing it is preprocessing's job.
/// Token order in the sequence: the base tile's <see cref="BaseTokens"/> features (row-major), then every kept
/// row's <see cref="KeptCols"/> features followed by its newline.
/// </summary>
public sealed record NextGrid
{
    private NextGrid(int gridCols, int gridRows, int patchesPerSide, int originalWidth, int originalHeight)
    {
        GridCols = gridCols;
        GridRows = gridRows;
        PatchesPerSide = patchesPerSide;
        OriginalWidth = originalWidth;
        OriginalHeight = originalHeight;
        // unpad_image (LLaVA-NeXT llava_arch.py = transformers v4.44.2), in IEEE doubles with the same order of
        // operations: the scale first, then the product, truncated by int(). Python's // on a non-negative
        // difference is C#'s integer division. The symmetric slice keeps Hc − 2p rows (one more than new_h when odd).
        int hc = FeatureRows, wc = FeatureCols;
        double originalAspect = (double)originalWidth / originalHeight;
        double currentAspect = (double)wc / hc;
        if (originalAspect > currentAspect)
        {
            double scale = (double)wc / originalWidth;
            int newHeight = (int)(originalHeight * scale);
            int pad = (hc - newHeight) / 2;
            (RowStart, RowEnd, ColStart, ColEnd) = (pad, hc - pad, 0, wc);
        }
        else
        {
            double scale = (double)hc / originalHeight;
            int newWidth = (int)(originalWidth * scale);
            int pad = (wc - newWidth) / 2;
            (RowStart, RowEnd, ColStart, ColEnd) = (0, hc, pad, wc - pad);
        }
    }

    /// <summary>Tiles across the canvas (canvas width / tile size).</summary>
    public int GridCols { get; }

    /// <summary>Tiles down the canvas (canvas height / tile size).</summary>
    public int GridRows { get; }

    /// <summary>CLIP patches per tile side (24 for 336 px / 14 px).</summary>
    public int PatchesPerSide { get; }

    /// <summary>The image's size before any resizing (PIL's width, height).</summary>
    public int OriginalWidth { get; }
    public int OriginalHeight { get; }

    /// <summary>Hc = rows · patches per side.</summary>
    public int FeatureRows => GridRows * PatchesPerSide;

    /// <summary>Wc = cols · patches per side.</summary>
    public int FeatureCols => GridCols * PatchesPerSide;

    /// <summary>Kept feature rows [RowStart, RowEnd) and columns [ColStart, ColEnd) of the Hc×Wc grid.</summary>
    public int RowStart { get; private init; }
    public int RowEnd { get; private init; }
    public int ColStart { get; private init; }
    public int ColEnd { get; private init; }

    public int KeptRows => RowEnd - RowStart;
    public int KeptCols => ColEnd - ColStart;

    /// <summary>Crops fed to CLIP: the squashed base image, then the grid tiles row-major.</summary>
    public int Tiles => 1 + GridCols * GridRows;

    /// <summary>The base tile's features (patches per side²).</summary>
    public int BaseTokens => PatchesPerSide * PatchesPerSide;

    /// <summary>One <c>image_newline</c> per kept row.</summary>
    public int NewlineTokens => KeptRows;

    /// <summary>Kept grid features plus newlines: rows · (cols + 1).</summary>
    public int GridTokens => KeptRows * (KeptCols + 1);

    /// <summary>Image tokens in the sequence: base + rows · (cols + 1).</summary>
    public int ImageTokens => BaseTokens + GridTokens;

    /// <summary>
    /// The grid for a canvas of <paramref name="gridCols"/>×<paramref name="gridRows"/> tiles and an image of
    /// <paramref name="originalWidth"/>×<paramref name="originalHeight"/> pixels.
    /// </summary>
    public static NextGrid Create(int gridCols, int gridRows, int patchesPerSide, int originalWidth, int originalHeight)
    {
        if (gridCols <= 0 || gridRows <= 0)
            throw new ArgumentOutOfRangeException(nameof(gridCols), $"grid {gridCols}x{gridRows} tiles; both must be positive");
        if (patchesPerSide <= 0)
            throw new ArgumentOutOfRangeException(nameof(patchesPerSide), $"{patchesPerSide}; must be positive");
        if (originalWidth <= 0 || originalHeight <= 0)
            throw new ArgumentOutOfRangeException(nameof(originalWidth), $"image {originalWidth}x{originalHeight}; both sides must be positive");
        return new NextGrid(gridCols, gridRows, patchesPerSide, originalWidth, originalHeight);
    }

    /// <summary>The grid for a canvas given in pixels (each side a multiple of <paramref name="tileSize"/>).</summary>
    /// <summary>The grid an anyres plan gives (its arithmetic decides the unpad cut; one source of truth).</summary>
    public static NextGrid FromPlan(ModalFlow.Vision.AnyresPlan plan)
    {
        var g = Create(plan.GridCols, plan.GridRows, plan.PatchesPerSide, plan.Width, plan.Height);
        return g with
        {
            RowStart = plan.FirstKeptRow,
            RowEnd = plan.FirstKeptRow + plan.KeptRows,
            ColStart = plan.FirstKeptCol,
            ColEnd = plan.FirstKeptCol + plan.KeptCols,
        };
    }

    public static NextGrid FromCanvas(int canvasWidth, int canvasHeight, int tileSize, int patchesPerSide, int originalWidth, int originalHeight)
    {
        if (tileSize <= 0 || canvasWidth <= 0 || canvasHeight <= 0 || canvasWidth % tileSize != 0 || canvasHeight % tileSize != 0)
            throw new ArgumentException($"canvas {canvasWidth}x{canvasHeight} is not a positive multiple of the {tileSize} px tile on both sides");
        return Create(canvasWidth / tileSize, canvasHeight / tileSize, patchesPerSide, originalWidth, originalHeight);
    }

    /// <summary>Offset within the image block of kept row <paramref name="keptRow"/>'s newline.</summary>
    public int NewlineOffset(int keptRow)
    {
        if ((uint)keptRow >= (uint)KeptRows) throw new ArgumentOutOfRangeException(nameof(keptRow), $"{keptRow} not in 0..{KeptRows - 1}");
        return BaseTokens + keptRow * (KeptCols + 1) + KeptCols;
    }

    /// <summary>
    /// Offset within the image block of grid feature (<paramref name="featureRow"/>, <paramref name="featureCol"/>)
    /// of the full Hc×Wc grid, or −1 when unpad cut it.
    /// </summary>
    public int GridFeatureOffset(int featureRow, int featureCol)
    {
        if ((uint)featureRow >= (uint)FeatureRows || (uint)featureCol >= (uint)FeatureCols)
            throw new ArgumentOutOfRangeException(nameof(featureRow), $"({featureRow}, {featureCol}) is outside the {FeatureRows}x{FeatureCols} feature grid");
        if (featureRow < RowStart || featureRow >= RowEnd || featureCol < ColStart || featureCol >= ColEnd) return -1;
        return BaseTokens + (featureRow - RowStart) * (KeptCols + 1) + (featureCol - ColStart);
    }

    public override string ToString() =>
        $"{GridCols}x{GridRows} tiles, image {OriginalWidth}x{OriginalHeight}: grid {FeatureRows}x{FeatureCols} → kept {KeptRows}x{KeptCols} " +
        $"(rows [{RowStart}, {RowEnd}), cols [{ColStart}, {ColEnd})), {ImageTokens} image tokens";
}

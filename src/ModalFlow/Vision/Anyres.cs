using System.Collections.Immutable;

namespace ModalFlow.Vision;

/// <summary>
/// Whose arithmetic LLaVA-NeXT's "anyres" geometry follows (data/anyres-cases.md). The resize (ceil on the scaled
/// side), the centred black pad, the squashed base image, 24x24 features per crop, newline after every kept row and
/// base-first order are the same in all three; they differ in how a pinpoint [a, b] is read (hence pinpoint ties), in
/// the unpad rounding, and in the pixels of the canvas when the pad is odd (see <see cref="AnyresPlan.PaddedWidth"/>).
/// </summary>
public enum AnyresArithmetic
{
    /// <summary>
    /// The original LLaVA-NeXT code (llava/mm_utils.py, llava_arch.py @ df179663), which the paper's code runs:
    /// pinpoint [a, b] is width a x height b, ties go to the earlier pinpoint, <c>unpad_image</c> truncates with int().
    /// </summary>
    LlavaNext,

    /// <summary>
    /// transformers v4.44.2 <c>LlavaNext*</c> (the version that made the fixtures): pinpoint [a, b] is height a x
    /// width b, so ties between transposed canvases go the other way (images with both sides &lt;= 336 get 2 cols x 1
    /// row instead of 1 col x 2 rows); unpad truncates with int() like the original. Its <c>_pad_for_patching</c> pads
    /// (target − new) // 2 on each side, so an odd difference leaves the canvas one pixel short and the last tile is
    /// stretched by the CLIP resize (<see cref="AnyresPlan.PaddedWidth"/>).
    /// </summary>
    Transformers,

    /// <summary>
    /// Later transformers releases: as <see cref="Transformers"/>, but unpad computes int(round(x, 7)), so a product
    /// that lands just below an integer (110x352: 14.999999999999998) rounds up (15, not 14). The short canvas of an
    /// odd pad is kept (it lasted until transformers PR #37819, 2025, which pads the remainder on the right/bottom).
    /// </summary>
    TransformersRound7,
}

/// <summary>Which feature-grid axis <c>unpad_image</c> cuts.</summary>
public enum AnyresUnpadAxis
{
    /// <summary>Top and bottom (the image is wider than the grid: W/H &gt; Wc/Hc).</summary>
    Rows,

    /// <summary>Left and right (W/H &lt;= Wc/Hc, the equal-ratio case included).</summary>
    Columns,
}

/// <summary>
/// The anyres geometry of one image size (data/anyres-cases.md, steps 1-9). Sizes are (width, height) like PIL.
/// Crops: [base (the image squashed to TileSize²), tile_0 … tile_{n-1}] with tiles row-major over the canvas.
/// Feature grid: the tiles' PatchesPerSide² features arranged in image layout, <see cref="FeatureRows"/> (Hc) x
/// <see cref="FeatureCols"/> (Wc). Image tokens: the base's PatchesPerSide² features, then the kept feature rows,
/// each followed by one newline token.
/// </summary>
/// <param name="Width">Original image width.</param>
/// <param name="Height">Original image height.</param>
/// <param name="CanvasWidth">The chosen pinpoint's width in pixels (a multiple of <paramref name="TileSize"/>).</param>
/// <param name="CanvasHeight">The chosen pinpoint's height.</param>
/// <param name="ResizedWidth">The image resized into the canvas keeping its aspect ratio.</param>
/// <param name="ResizedHeight">See <paramref name="ResizedWidth"/>.</param>
/// <param name="PasteX">x of the resized image on the black canvas ((a − new_w) // 2); the pad on the left (and, in the
/// transformers arithmetics, the same pad on the right: <see cref="PaddedWidth"/>).</param>
/// <param name="PasteY">y of the resized image on the black canvas.</param>
/// <param name="UnpadAxis">The feature-grid axis unpad cuts.</param>
/// <param name="UnpadCut">Feature rows (or columns) cut at EACH end of <paramref name="UnpadAxis"/>.</param>
public sealed record AnyresPlan(
    int Width, int Height, AnyresArithmetic Arithmetic, int TileSize, int PatchesPerSide,
    int CanvasWidth, int CanvasHeight, int ResizedWidth, int ResizedHeight, int PasteX, int PasteY,
    AnyresUnpadAxis UnpadAxis, int UnpadCut)
{
    /// <summary>
    /// Width of the padded image the tiles are cut from. LLaVA-NeXT pastes onto an exact
    /// <see cref="CanvasWidth"/>-wide canvas. transformers (v4.44.2 <c>_pad_for_patching</c>) pads
    /// <see cref="PasteX"/> = (a − new_w) // 2 on EACH side, so when a − new_w is odd the padded image is one pixel
    /// short (a 259-px resize on a 672-px canvas gives 671) and the last tile column is TileSize − 1 wide; the CLIP
    /// steps then resize that tile (shortest edge → TileSize) and centre-crop it like every crop
    /// (<see cref="Anyres.FitToTile"/>).
    /// </summary>
    public int PaddedWidth => Arithmetic == AnyresArithmetic.LlavaNext ? CanvasWidth : ResizedWidth + 2 * PasteX;

    /// <summary>Height of the padded image the tiles are cut from (see <see cref="PaddedWidth"/>).</summary>
    public int PaddedHeight => Arithmetic == AnyresArithmetic.LlavaNext ? CanvasHeight : ResizedHeight + 2 * PasteY;

    /// <summary>True when the last tile column or row is one pixel short (transformers' odd pad).</summary>
    public bool HasShortTiles => PaddedWidth != CanvasWidth || PaddedHeight != CanvasHeight;

    /// <summary>Pixel width of the tiles of column <paramref name="col"/> as cut (TileSize but for a short last column).</summary>
    public int TileWidth(int col) => Math.Min(TileSize, PaddedWidth - col * TileSize);

    /// <summary>Pixel height of the tiles of row <paramref name="row"/> as cut (TileSize but for a short last row).</summary>
    public int TileHeight(int row) => Math.Min(TileSize, PaddedHeight - row * TileSize);

    /// <summary>Tile columns: CanvasWidth / TileSize.</summary>
    public int GridCols => CanvasWidth / TileSize;

    /// <summary>Tile rows: CanvasHeight / TileSize.</summary>
    public int GridRows => CanvasHeight / TileSize;

    public int TileCount => GridCols * GridRows;

    /// <summary>Base image + tiles: the first dimension of the pixel values.</summary>
    public int CropCount => 1 + TileCount;

    /// <summary>Pixel size of one patch (TileSize / PatchesPerSide).</summary>
    public int PatchSize => TileSize / PatchesPerSide;

    /// <summary>Hc = GridRows · PatchesPerSide.</summary>
    public int FeatureRows => GridRows * PatchesPerSide;

    /// <summary>Wc = GridCols · PatchesPerSide.</summary>
    public int FeatureCols => GridCols * PatchesPerSide;

    /// <summary>First kept feature row (the cut on top, or 0).</summary>
    public int FirstKeptRow => UnpadAxis == AnyresUnpadAxis.Rows ? UnpadCut : 0;

    /// <summary>First kept feature column (the cut on the left, or 0).</summary>
    public int FirstKeptCol => UnpadAxis == AnyresUnpadAxis.Columns ? UnpadCut : 0;

    /// <summary>Feature rows kept by unpad: Hc − 2·cut on the rows axis.</summary>
    public int KeptRows => FeatureRows - 2 * FirstKeptRow;

    /// <summary>Feature columns kept by unpad (newlines not counted).</summary>
    public int KeptCols => FeatureCols - 2 * FirstKeptCol;

    /// <summary>The base image's tokens (PatchesPerSide², 576 for CLIP-L/14-336); they come first.</summary>
    public int BaseTokenCount => PatchesPerSide * PatchesPerSide;

    /// <summary>BaseTokenCount + KeptRows · (KeptCols + 1).</summary>
    public int ImageTokenCount => BaseTokenCount + KeptRows * (KeptCols + 1);

    /// <summary>Offset (in the image-token block) of the newline after kept row <paramref name="keptRow"/>.</summary>
    public int NewlineOffset(int keptRow)
    {
        if ((uint)keptRow >= (uint)KeptRows)
            throw new ArgumentOutOfRangeException(nameof(keptRow), keptRow, $"kept rows are 0..{KeptRows - 1}");
        return BaseTokenCount + keptRow * (KeptCols + 1) + KeptCols;
    }

    /// <summary>All newline offsets, ascending: BaseTokenCount + r·(KeptCols+1) + KeptCols.</summary>
    public ImmutableArray<int> NewlineOffsets() => [.. Enumerable.Range(0, KeptRows).Select(NewlineOffset)];

    /// <summary>
    /// Offset (in the image-token block) of feature-grid cell (<paramref name="featureRow"/>, <paramref name="featureCol"/>)
    /// of the tile grid (0..Hc−1, 0..Wc−1), or −1 when unpad cut it.
    /// </summary>
    public int TokenOffset(int featureRow, int featureCol)
    {
        if ((uint)featureRow >= (uint)FeatureRows || (uint)featureCol >= (uint)FeatureCols)
            throw new ArgumentOutOfRangeException(nameof(featureRow), $"cell ({featureRow}, {featureCol}) outside the {FeatureRows}x{FeatureCols} feature grid");
        int r = featureRow - FirstKeptRow, c = featureCol - FirstKeptCol;
        if (r < 0 || r >= KeptRows || c < 0 || c >= KeptCols) return -1;
        return BaseTokenCount + r * (KeptCols + 1) + c;
    }

    public override string ToString() =>
        $"AnyresPlan({Width}x{Height}, {Arithmetic}: canvas {CanvasWidth}x{CanvasHeight} = {GridCols}x{GridRows} tiles, resized {ResizedWidth}x{ResizedHeight} "
        + $"at ({PasteX}, {PasteY}){(HasShortTiles ? $" on a {PaddedWidth}x{PaddedHeight} pad" : "")}, features {FeatureRows}x{FeatureCols}, unpad {UnpadCut} per side on {UnpadAxis}, kept {KeptRows}x{KeptCols}, "
        + $"{ImageTokenCount} tokens)";
}

/// <summary>
/// LLaVA-NeXT "anyres": choose the canvas, resize and pad, cut into tiles, and the token layout after
/// <c>spatial_unpad</c>, in IEEE doubles with Python's order of operations (data/anyres-cases.md: 375·(672/500) =
/// 504.00000000000006, so ceil gives 505).
/// </summary>
public static class Anyres
{
    /// <summary>
    /// <c>image_grid_pinpoints</c> of llava-v1.6-vicuna-7b, llama3-llava-next-8b and the llava-hf NeXT configs, as
    /// written in config.json.
    /// </summary>
    public static IReadOnlyList<(int A, int B)> LlavaNextPinpoints { get; } = [(336, 672), (672, 336), (672, 672), (1008, 336), (336, 1008)];

    /// <summary>
    /// The geometry of a <paramref name="width"/> x <paramref name="height"/> image.
    /// </summary>
    /// <param name="pinpoints">
    /// <c>image_grid_pinpoints</c> exactly as config.json lists them ([a, b] → (A, B)). <see cref="AnyresArithmetic.LlavaNext"/>
    /// reads each as width A x height B; the transformers arithmetics read it as height A x width B. Each side must be
    /// a positive multiple of <paramref name="tileSize"/>.
    /// </param>
    /// <param name="tileSize">Side of one crop in pixels (CLIP's input, 336).</param>
    /// <param name="patchesPerSide">Features per crop side (336 / 14 = 24).</param>
    /// <exception cref="InputException">Empty pinpoints, or a side that is not a positive multiple of the tile size.</exception>
    public static AnyresPlan Plan(int width, int height, IReadOnlyList<(int A, int B)> pinpoints, AnyresArithmetic arithmetic,
        int tileSize = 336, int patchesPerSide = 24)
    {
        ArgumentNullException.ThrowIfNull(pinpoints);
        if (width < 1 || height < 1)
            throw new ArgumentOutOfRangeException(nameof(width), $"image size must be at least 1x1, got {width}x{height}");
        if (!Enum.IsDefined(arithmetic)) throw new ArgumentOutOfRangeException(nameof(arithmetic), arithmetic, "unknown anyres arithmetic");
        if (tileSize < 1 || patchesPerSide < 1 || tileSize % patchesPerSide != 0)
            throw new ArgumentOutOfRangeException(nameof(tileSize), $"tile size {tileSize} must be a positive multiple of patches per side {patchesPerSide}");
        CheckPinpoints(pinpoints, tileSize);

        bool transposed = arithmetic != AnyresArithmetic.LlavaNext;
        var (a, b) = SelectBestResolution(width, height, pinpoints.Select(p => transposed ? (p.B, p.A) : (p.A, p.B)));

        // resize_and_pad_image / transformers _get_patch_output_size: the scale first, then the product, in doubles.
        double scaleW = (double)a / width, scaleH = (double)b / height;
        int newW, newH;
        if (scaleW < scaleH)
        {
            newW = a;
            newH = Math.Min((int)Math.Ceiling(height * scaleW), b);
        }
        else
        {
            newH = b;
            newW = Math.Min((int)Math.Ceiling(width * scaleH), a);
        }

        // unpad_image on the Hc x Wc feature grid with the ORIGINAL size.
        int hc = b / tileSize * patchesPerSide, wc = a / tileSize * patchesPerSide;
        AnyresUnpadAxis axis;
        int cut;
        if ((double)width / height > (double)wc / hc)
        {
            int keptH = ToInt(height * ((double)wc / width), arithmetic);
            axis = AnyresUnpadAxis.Rows;
            cut = (hc - keptH) / 2;
        }
        else
        {
            int keptW = ToInt(width * ((double)hc / height), arithmetic);
            axis = AnyresUnpadAxis.Columns;
            cut = (wc - keptW) / 2;
        }
        if (cut < 0) throw new InvalidOperationException($"unpad of a {width}x{height} image on a {hc}x{wc} grid gave a negative cut {cut}");

        return new AnyresPlan(width, height, arithmetic, tileSize, patchesPerSide, a, b, newW, newH, (a - newW) / 2, (b - newH) / 2, axis, cut);
    }

    /// <summary>
    /// The crops as the processor cuts them, 8-bit RGB, before the per-crop CLIP steps: [base = the image squashed to
    /// TileSize² (PIL bicubic), then the tiles row-major of the padded image (the image resized to ResizedWidth x
    /// ResizedHeight, PIL bicubic, at (PasteX, PasteY) on black)]. Every crop is TileSize² except, in the transformers
    /// arithmetics with an odd pad, the last tile column or row, one pixel short (<see cref="AnyresPlan.PaddedWidth"/>);
    /// <see cref="FittedTiles"/> gives what the model sees.
    /// </summary>
    public static RgbImage[] GeometryTiles(RgbImage image, AnyresPlan plan)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(plan);
        if (image.Width != plan.Width || image.Height != plan.Height)
            throw new ArgumentException($"the plan is for a {plan.Width}x{plan.Height} image, got {image.Width}x{image.Height}", nameof(image));
        int t = plan.TileSize;
        var crops = new RgbImage[plan.CropCount];
        crops[0] = PilResize.Bicubic(image, t, t);
        var resized = PilResize.Bicubic(image, plan.ResizedWidth, plan.ResizedHeight);
        for (int row = 0; row < plan.GridRows; row++)
        {
            for (int col = 0; col < plan.GridCols; col++)
            {
                crops[1 + row * plan.GridCols + col] = CutTile(resized, plan, row, col);
            }
        }
        return crops;
    }

    /// <summary>
    /// Tile (<paramref name="row"/>, <paramref name="col"/>) as cut from the padded image: the window [col·t, +TileWidth)
    /// x [row·t, +TileHeight) of the black canvas with <paramref name="resized"/> (the image at ResizedWidth x
    /// ResizedHeight) at (PasteX, PasteY).
    /// </summary>
    public static RgbImage CutTile(RgbImage resized, AnyresPlan plan, int row, int col)
    {
        ArgumentNullException.ThrowIfNull(resized);
        ArgumentNullException.ThrowIfNull(plan);
        if (resized.Width != plan.ResizedWidth || resized.Height != plan.ResizedHeight)
            throw new ArgumentException($"expected the image resized to {plan.ResizedWidth}x{plan.ResizedHeight}, got {resized.Width}x{resized.Height}", nameof(resized));
        if ((uint)row >= (uint)plan.GridRows || (uint)col >= (uint)plan.GridCols)
            throw new ArgumentOutOfRangeException(nameof(row), $"tile ({row}, {col}) outside the {plan.GridRows}x{plan.GridCols} grid");
        int t = plan.TileSize;
        var tile = RgbImage.Filled(plan.TileWidth(col), plan.TileHeight(row), Rgb8.Black);
        tile.Paste(resized, plan.PasteX - col * t, plan.PasteY - row * t);
        return tile;
    }

    /// <summary>
    /// The CLIP geometry at the tile size, as transformers' per-crop <c>_preprocess</c> runs it with llava-hf's
    /// options (shortest_edge = crop = TileSize): resize the shortest edge to <paramref name="tileSize"/> (the long
    /// side int(t · long / short), PIL bicubic), then centre-crop t x t (top = (h − t) // 2). A no-op for a t x t
    /// crop; a short tile t x (t − 1) becomes (t + 1) x t, cropped to its first t rows / columns.
    /// </summary>
    public static RgbImage FitToTile(RgbImage crop, int tileSize)
    {
        ArgumentNullException.ThrowIfNull(crop);
        if (crop.Width == tileSize && crop.Height == tileSize) return crop;
        var (h, w) = LlavaImagePreprocessor.ShortestEdgeResizeSize(crop.Height, crop.Width, tileSize);
        var resized = PilResize.Bicubic(crop, w, h);
        var fitted = RgbImage.Filled(tileSize, tileSize, Rgb8.Black);
        fitted.Paste(resized, -((w - tileSize) / 2), -((h - tileSize) / 2));
        return fitted;
    }

    /// <summary>
    /// The crops as the model sees them, 8-bit RGB before rescale / normalise: <see cref="GeometryTiles"/>, each through
    /// <see cref="FitToTile"/> (only transformers' short tiles change). Also the geometry of the paper's box masks.
    /// </summary>
    public static RgbImage[] FittedTiles(RgbImage image, AnyresPlan plan) =>
        [.. GeometryTiles(image, plan).Select(c => FitToTile(c, plan.TileSize))];

    /// <summary>
    /// The model's pixel values: float32 [CropCount, 3, TileSize, TileSize], base first, then the tiles row-major;
    /// each crop (<see cref="GeometryTiles"/>) through the CLIP steps of <paramref name="options"/> (resize / centre
    /// crop — no-ops at TileSize, a stretch for transformers' short tiles —, rescale, normalise) = transformers'
    /// <c>LlavaNextImageProcessor</c> and LLaVA-NeXT's <c>process_anyres_image</c>.
    /// </summary>
    /// <exception cref="InputException">Options whose CLIP steps do not give a TileSize² crop.</exception>
    public static float[] PixelTiles(RgbImage image, AnyresPlan plan, ImageProcessingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var clip = new LlavaImagePreprocessor(options, ImageMode.Crop);
        var out336 = clip.Plan(plan.TileSize, plan.TileSize);
        if (out336.OutputWidth != plan.TileSize || out336.OutputHeight != plan.TileSize)
            throw new InputException(null, "crop_size",
                $"the CLIP steps turn a {plan.TileSize}x{plan.TileSize} anyres crop into {out336.OutputWidth}x{out336.OutputHeight}; expected the tile size");

        var crops = GeometryTiles(image, plan);
        int length = RgbImage.Channels * plan.TileSize * plan.TileSize;
        var values = new float[checked(crops.Length * length)]; // [crops, 3, t, t]
        for (int i = 0; i < crops.Length; i++)
        {
            clip.Preprocess(crops[i]).PixelValues.CopyTo(values, i * length);
        }
        return values;
    }

    /// <summary>
    /// select_best_resolution over (width, height) candidates: the largest effective area min(int(W·s)·int(H·s), W·H),
    /// then the smallest waste, then the earliest. As in Python (min waste starts at +inf), an image so thin that every
    /// effective area is 0 still gets the least wasteful canvas (1x5000: 336x672, and unpad then keeps 0 columns).
    /// </summary>
    private static (int W, int H) SelectBestResolution(int width, int height, IEnumerable<(int W, int H)> candidates)
    {
        (int W, int H)? best = null;
        long maxEffective = 0, minWasted = long.MaxValue;
        long area = (long)width * height;
        foreach (var (cw, ch) in candidates)
        {
            double scale = Math.Min((double)cw / width, (double)ch / height);
            long downW = (long)(width * scale), downH = (long)(height * scale); // Python int(): truncation
            long effective = Math.Min(downW * downH, area);
            long wasted = (long)cw * ch - effective;
            if (effective > maxEffective || (effective == maxEffective && wasted < minWasted))
            {
                maxEffective = effective;
                minWasted = wasted;
                best = (cw, ch);
            }
        }
        return best ?? throw new InvalidOperationException("select_best_resolution found no candidate");
    }

    /// <summary>
    /// unpad_image's int(x) (LLaVA-NeXT, transformers v4.44.2) or int(round(x, 7)) (later transformers). For x ≥ 0,
    /// round(x, 7) reaches the next integer n exactly when n − x &lt; 5e-8 (a tie is impossible: 5e-8 is not a double).
    /// n − x is exact here (Sterbenz) and the double nearest 5e-8 lies below 5e-8, so the test is n − x &lt;= 5e-8.
    /// </summary>
    private static int ToInt(double x, AnyresArithmetic arithmetic)
    {
        int truncated = (int)x;
        if (arithmetic != AnyresArithmetic.TransformersRound7) return truncated;
        double next = truncated + 1.0;
        return next - x <= 5e-8 ? truncated + 1 : truncated;
    }

    private static void CheckPinpoints(IReadOnlyList<(int A, int B)> pinpoints, int tileSize)
    {
        if (pinpoints.Count == 0) throw new InputException(null, "image_grid_pinpoints", "is empty; expected [[width, height], ...] pairs");
        for (int i = 0; i < pinpoints.Count; i++)
        {
            var (a, b) = pinpoints[i];
            if (a < tileSize || b < tileSize || a % tileSize != 0 || b % tileSize != 0)
                throw new InputException(null, "image_grid_pinpoints",
                    $"[{i}] = [{a}, {b}]: each side must be a positive multiple of the tile size {tileSize}");
        }
    }
}

using System.Collections.Immutable;

namespace ModalFlow.Families.LlavaOnevision;

/// <summary>
/// The whole "anyres_max" geometry of one image size, as transformers v4.45.1 computes it, processor and model side
/// (<c>LlavaOnevisionImageProcessor.get_image_patches</c>, <c>LlavaOnevisionForConditionalGeneration.pack_image_features</c>).
/// Sizes are (width, height) like PIL; the reference writes (height, width).
/// <list type="number">
/// <item>Canvas = <c>select_best_resolution</c> over the pinpoints (read as [height, width]; ties keep the earlier one).</item>
/// <item>The image is resized into the canvas keeping its aspect (<c>_get_patch_output_size</c>: the limiting side =
///   the canvas side, the other <c>min(ceil(side · scale), canvas side)</c>) and padded with black by
///   <c>(canvas − new) // 2</c> on BOTH sides of each axis, so an odd difference leaves the padded canvas 1 px short
///   (<see cref="PaddedWidth"/> / <see cref="PaddedHeight"/>); the last tile column / row is then TileSize − 1 px and
///   is stretched to TileSize by the per-tile resize. This is what the model sees.</item>
/// <item>Tokens: the base tile's n² features, then the (rows·n) x (cols·n) feature map unpadded with the original
///   size (int() truncation, <c>(current − new) // 2</c> cut at both ends), shrunk by bilinear interpolation to
///   <c>int(h // ratio)</c> x <c>int(w // ratio)</c> when <c>ratio = sqrt(h·w / (max · n²)) &gt; 1.1</c>, then one
///   newline token after every packed row.</item>
/// </list>
/// </summary>
/// <param name="Width">Original image width.</param>
/// <param name="Height">Original image height.</param>
/// <param name="TileSize">S: the side of every crop fed to the vision tower (vision_config.image_size).</param>
/// <param name="PatchesPerSide">n = S // patch_size (a 384 tile gives 27: its last 6 px feed no patch).</param>
/// <param name="AnyresMax">The N of "anyres_max_N" (9).</param>
/// <param name="CanvasWidth">The chosen pinpoint's width.</param>
/// <param name="CanvasHeight">The chosen pinpoint's height.</param>
/// <param name="ResizedWidth">The image resized into the canvas keeping its aspect ratio.</param>
/// <param name="ResizedHeight">See <paramref name="ResizedWidth"/>.</param>
/// <param name="PadLeft">Black columns added on the left AND on the right ((CanvasWidth − ResizedWidth) // 2).</param>
/// <param name="PadTop">Black rows added on top AND at the bottom.</param>
/// <param name="UnpadTop">Feature rows cut at each end by unpad_image (0 when it cuts columns).</param>
/// <param name="UnpadLeft">Feature columns cut at each end by unpad_image (0 when it cuts rows).</param>
/// <param name="Ratio">sqrt(unpadded rows · cols / (AnyresMax · n²)).</param>
/// <param name="PackedRows">Feature rows after the optional interpolation (= unpadded rows when not interpolated).</param>
/// <param name="PackedCols">Feature columns after the optional interpolation, newlines not counted.</param>
public sealed record OnevisionImagePlan(
    int Width, int Height, int TileSize, int PatchesPerSide, int AnyresMax,
    int CanvasWidth, int CanvasHeight, int ResizedWidth, int ResizedHeight, int PadLeft, int PadTop,
    int UnpadTop, int UnpadLeft, double Ratio, int PackedRows, int PackedCols)
{
    /// <summary>transformers interpolates when the ratio exceeds this.</summary>
    public const double InterpolationThreshold = 1.1;

    /// <summary>Tile columns (canvas width / S).</summary>
    public int GridCols => CanvasWidth / TileSize;

    /// <summary>Tile rows (canvas height / S).</summary>
    public int GridRows => CanvasHeight / TileSize;

    public int TileCount => GridRows * GridCols;

    /// <summary>Crops fed to the tower: the squashed base image, then the tiles row-major (pixel_values' first dimension).</summary>
    public int CropCount => 1 + TileCount;

    /// <summary>The padded canvas the tiles are cut from: 1 px short of the canvas on an axis whose difference is odd.</summary>
    public int PaddedWidth => ResizedWidth + 2 * PadLeft;

    /// <summary>See <see cref="PaddedWidth"/>.</summary>
    public int PaddedHeight => ResizedHeight + 2 * PadTop;

    /// <summary>Whether the last tile column / row was cut 1 px short and is stretched back (the v4.45.1 quirk).</summary>
    public bool LastColumnStretched => PaddedWidth != CanvasWidth;

    /// <summary>See <see cref="LastColumnStretched"/>.</summary>
    public bool LastRowStretched => PaddedHeight != CanvasHeight;

    /// <summary>rows · n: the feature map's height before unpad.</summary>
    public int FeatureRows => GridRows * PatchesPerSide;

    /// <summary>cols · n.</summary>
    public int FeatureCols => GridCols * PatchesPerSide;

    /// <summary>Feature rows unpad_image keeps (rows · n − 2 · cut).</summary>
    public int UnpaddedRows => FeatureRows - 2 * UnpadTop;

    /// <summary>Feature columns unpad_image keeps.</summary>
    public int UnpaddedCols => FeatureCols - 2 * UnpadLeft;

    /// <summary>Whether the unpadded map is bilinearly shrunk (ratio &gt; 1.1).</summary>
    public bool Interpolated => Ratio > InterpolationThreshold;

    /// <summary>The base tile's features (n²); they come first.</summary>
    public int BaseTokenCount => PatchesPerSide * PatchesPerSide;

    /// <summary>One newline token per packed row.</summary>
    public int NewlineCount => PackedRows;

    /// <summary>Image tokens: n² + packed rows · (packed cols + 1).</summary>
    public int ImageTokenCount => BaseTokenCount + PackedRows * (PackedCols + 1);

    /// <summary>
    /// The pixels of the padded canvas that tile (<paramref name="row"/>, <paramref name="col"/>) holds before its
    /// resize to S x S (<c>divide_to_patches</c>: windows of S clipped to the padded canvas).
    /// </summary>
    public (int X, int Y, int Width, int Height) TileWindow(int row, int col)
    {
        if ((uint)row >= (uint)GridRows || (uint)col >= (uint)GridCols)
            throw new ArgumentOutOfRangeException(nameof(row), $"tile ({row}, {col}) outside the {GridRows}x{GridCols} grid");
        int x = col * TileSize, y = row * TileSize;
        return (x, y, Math.Min(TileSize, PaddedWidth - x), Math.Min(TileSize, PaddedHeight - y));
    }

    /// <summary>Offset (in the image-token block) of the newline after packed row <paramref name="row"/>.</summary>
    public int NewlineOffset(int row)
    {
        if ((uint)row >= (uint)PackedRows) throw new ArgumentOutOfRangeException(nameof(row), row, $"packed rows are 0..{PackedRows - 1}");
        return BaseTokenCount + row * (PackedCols + 1) + PackedCols;
    }

    /// <summary>All newline offsets, ascending.</summary>
    public ImmutableArray<int> NewlineOffsets() => [.. Enumerable.Range(0, PackedRows).Select(NewlineOffset)];

    /// <summary>Offset (in the image-token block) of packed-grid cell (<paramref name="row"/>, <paramref name="col"/>).</summary>
    public int PackedTokenOffset(int row, int col)
    {
        if ((uint)row >= (uint)PackedRows || (uint)col >= (uint)PackedCols)
            throw new ArgumentOutOfRangeException(nameof(row), $"cell ({row}, {col}) outside the {PackedRows}x{PackedCols} packed grid");
        return BaseTokenCount + row * (PackedCols + 1) + col;
    }

    /// <summary>
    /// The plan of a <paramref name="width"/> x <paramref name="height"/> image.
    /// </summary>
    /// <param name="pinpoints">Candidate canvases as (height, width), in config order; each side a positive multiple of <paramref name="tileSize"/>.</param>
    /// <param name="tileSize">S (vision_config.image_size).</param>
    /// <param name="patchSize">The tower's patch size (14); n = S // patchSize.</param>
    /// <param name="anyresMax">N of "anyres_max_N".</param>
    public static OnevisionImagePlan Create(int width, int height, IReadOnlyList<(int Height, int Width)> pinpoints, int tileSize, int patchSize,
        int anyresMax)
    {
        ArgumentNullException.ThrowIfNull(pinpoints);
        if (width < 1 || height < 1)
            throw new ArgumentOutOfRangeException(nameof(width), $"image size must be at least 1x1, got {width}x{height}");
        if (patchSize < 1 || tileSize < patchSize)
            throw new ArgumentOutOfRangeException(nameof(tileSize), $"tile size {tileSize} must be at least the patch size {patchSize} (>= 1)");
        if (anyresMax < 1) throw new ArgumentOutOfRangeException(nameof(anyresMax), anyresMax, "anyres_max must be positive");
        if (pinpoints.Count == 0) throw new ArgumentException("no pinpoints", nameof(pinpoints));
        foreach (var (ph, pw) in pinpoints)
        {
            if (ph < tileSize || pw < tileSize || ph % tileSize != 0 || pw % tileSize != 0)
                throw new ArgumentException($"pinpoint [{ph}, {pw}] is not a pair of positive multiples of the tile size {tileSize}", nameof(pinpoints));
        }

        var (canvasH, canvasW) = SelectBestResolution(height, width, pinpoints);

        // _get_patch_output_size: both scales first, then the product, in doubles (Python floats).
        double scaleW = (double)canvasW / width, scaleH = (double)canvasH / height;
        int newW, newH;
        if (scaleW < scaleH)
        {
            newW = canvasW;
            newH = Math.Min((int)Math.Ceiling(height * scaleW), canvasH);
        }
        else
        {
            newH = canvasH;
            newW = Math.Min((int)Math.Ceiling(width * scaleH), canvasW);
        }

        // unpad_image on the (rows·n) x (cols·n) map with the ORIGINAL size; int() truncates.
        int n = tileSize / patchSize;
        int hc = canvasH / tileSize * n, wc = canvasW / tileSize * n;
        int cutRows = 0, cutCols = 0;
        if ((double)width / height > (double)wc / hc)
        {
            int newRows = (int)(height * ((double)wc / width));
            cutRows = (hc - newRows) / 2;
        }
        else
        {
            int newCols = (int)(width * ((double)hc / height));
            cutCols = (wc - newCols) / 2;
        }
        int rows = hc - 2 * cutRows, cols = wc - 2 * cutCols;

        // anyres_max: ratio from Python's int / int true division, then int(h // ratio) with float floor division.
        double ratio = Math.Sqrt((double)((long)rows * cols) / ((long)anyresMax * n * n));
        int packedRows = rows, packedCols = cols;
        if (ratio > InterpolationThreshold)
        {
            packedRows = (int)PythonFloorDivide(rows, ratio);
            packedCols = (int)PythonFloorDivide(cols, ratio);
        }

        return new OnevisionImagePlan(width, height, tileSize, n, anyresMax, canvasW, canvasH, newW, newH,
            (canvasW - newW) / 2, (canvasH - newH) / 2, cutRows, cutCols, ratio, packedRows, packedCols);
    }

    /// <summary>
    /// transformers' <c>select_best_resolution</c>: the largest effective area min(int(w·s)·int(h·s), w·h), then the
    /// smallest waste, then the earliest candidate. Returns (height, width).
    /// </summary>
    public static (int Height, int Width) SelectBestResolution(int height, int width, IReadOnlyList<(int Height, int Width)> pinpoints)
    {
        (int, int)? best = null;
        long maxEffective = 0;
        double minWasted = double.PositiveInfinity;
        long area = (long)width * height;
        foreach (var (ch, cw) in pinpoints)
        {
            double scale = Math.Min((double)cw / width, (double)ch / height);
            long downW = (long)(width * scale), downH = (long)(height * scale); // int(): truncation
            long effective = Math.Min(downW * downH, area);
            long wasted = (long)cw * ch - effective;
            if (effective > maxEffective || (effective == maxEffective && wasted < minWasted))
            {
                maxEffective = effective;
                minWasted = wasted;
                best = (ch, cw);
            }
        }
        return best ?? throw new InvalidOperationException("select_best_resolution found no candidate");
    }

    /// <summary>
    /// Python's float floor division <c>a // b</c> (CPython <c>float_floor_div</c>: fmod, then a corrected quotient),
    /// which can differ from floor(a / b) when the quotient rounds up to an integer.
    /// </summary>
    internal static double PythonFloorDivide(double a, double b)
    {
        double mod = a % b; // C fmod
        double div = (a - mod) / b;
        if (mod != 0 && (b < 0) != (mod < 0)) div -= 1.0;
        if (div == 0) return Math.CopySign(0.0, a / b);
        double floor = Math.Floor(div);
        return div - floor > 0.5 ? floor + 1.0 : floor;
    }

    public override string ToString() =>
        $"OnevisionImagePlan({Width}x{Height}: canvas {CanvasWidth}x{CanvasHeight} = {GridRows}x{GridCols} tiles, resized {ResizedWidth}x{ResizedHeight}, "
        + $"padded {PaddedWidth}x{PaddedHeight}, features {FeatureRows}x{FeatureCols} -> unpadded {UnpaddedRows}x{UnpaddedCols} -> packed "
        + $"{PackedRows}x{PackedCols} (ratio {Ratio:F4}{(Interpolated ? ", interpolated" : "")}), {ImageTokenCount} tokens)";
}

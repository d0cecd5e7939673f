using System.Collections.Immutable;
using ModalFlow.Checkpoints;
using ModalFlow.Vision;

namespace ModalFlow.Data;

/// <summary>How the image tokens of a model are laid out, as the patch sets need it.</summary>
public enum PatchSetMode
{
    /// <summary>LLaVA-1.5 with <c>image_aspect_ratio="pad"</c> (the paper's): one square grid. Fixture key "llava15_pad".</summary>
    Llava15Pad,

    /// <summary>
    /// LLaVA-NeXT "anyres" (base image + tiles, <c>spatial_unpad</c>, a newline after every kept row) as the paper's code
    /// runs it: the original LLaVA-NeXT arithmetic (<see cref="AnyresArithmetic.LlavaNext"/>). Fixture key "llava_next_anyres".
    /// </summary>
    LlavaNextAnyres,
}

/// <summary>The fixture / CLI spelling of <see cref="PatchSetMode"/>.</summary>
public static class PatchSetModes
{
    public static string Key(PatchSetMode mode) => mode switch
    {
        PatchSetMode.Llava15Pad => "llava15_pad",
        PatchSetMode.LlavaNextAnyres => "llava_next_anyres",
        _ => throw new ArgumentOutOfRangeException(nameof(mode), mode, "unknown patch set mode"),
    };

    /// <exception cref="InputException">An unknown key.</exception>
    public static PatchSetMode Parse(string key, string? file = null) => key switch
    {
        "llava15_pad" => PatchSetMode.Llava15Pad,
        "llava_next_anyres" => PatchSetMode.LlavaNextAnyres,
        _ => throw new InputException(file, "mode", $"unknown patch set mode \"{key}\"; expected llava15_pad or llava_next_anyres"),
    };
}

/// <summary>The vision tower's square patch grid: <see cref="PatchesPerSide"/>² patches of <see cref="PatchSize"/>² pixels.</summary>
public sealed record PatchGrid
{
    public PatchGrid(int patchSize, int patchesPerSide)
    {
        if (patchSize < 1 || patchesPerSide < 1)
            throw new ArgumentOutOfRangeException(nameof(patchSize), $"expected a positive patch size and count, got {patchSize} and {patchesPerSide}");
        PatchSize = patchSize;
        PatchesPerSide = patchesPerSide;
    }

    public int PatchSize { get; }
    public int PatchesPerSide { get; }

    /// <summary>Side of the square model input in pixels.</summary>
    public int ImageSize => PatchSize * PatchesPerSide;

    /// <summary>Image tokens of one grid (row-major).</summary>
    public int TokenCount => PatchesPerSide * PatchesPerSide;

    /// <summary>CLIP ViT-L/14-336: 24 x 24 patches of 14 px.</summary>
    public static PatchGrid Clip336 { get; } = new(14, 24);

    /// <summary>The grid of a vision config (<c>patch_size</c>, <c>image_size / patch_size</c>).</summary>
    public static PatchGrid FromVision(ClipVisionConfig vision)
    {
        ArgumentNullException.ThrowIfNull(vision);
        if (vision.PatchSize < 1 || vision.ImageSize % vision.PatchSize != 0)
            throw new InputException(null, "vision_config.image_size",
                $"{vision.ImageSize} must be a positive multiple of patch_size = {vision.PatchSize}");
        return new PatchGrid(vision.PatchSize, vision.ImageSize / vision.PatchSize);
    }

    public override string ToString() => $"{PatchesPerSide}x{PatchesPerSide} patches of {PatchSize}px";
}

/// <summary>
/// Experiment 3's object patches, exactly as the paper's code computes them (fixtures/patch-sets/README.md):
/// a green (0,255,0) mask of the original size, each box filled red (255,0,0) with PIL <c>ImageDraw.rectangle</c>
/// semantics, the mask sent through the model's own geometric preprocessing (no rescale/normalise), cut into patches;
/// a patch is related when ANY of its pixels is exactly (255,0,0) after resampling. Bicubic blends make border pixels
/// non-red, and a tiny box can vanish, so a geometric overlap rule is not equivalent.
/// <list type="bullet">
/// <item><see cref="PatchSetMode.Llava15Pad"/>: pad with the CLIP mean colour, PIL bicubic resize, centre crop; one
///   square grid of <see cref="PatchGrid.TokenCount"/> tokens.</item>
/// <item><see cref="PatchSetMode.LlavaNextAnyres"/>: <see cref="Anyres.FittedTiles"/> (base = the mask squashed to the
///   crop size; tiles = the mask resized keeping its aspect ratio, pasted centred on BLACK, cut row-major; in the
///   transformers arithmetics an odd pad leaves the last tile short and the CLIP resize stretches it); base patches
///   first, then the tile patches as one feature grid, unpadded with the original size, a newline token after every
///   kept row (<see cref="ObjectPatchSets.Newlines"/>: neither related nor other). Token count depends on the size.</item>
/// </list>
/// <para>
/// <see cref="Map(int, int, IReadOnlyList{Box})"/> is exact without painting the full mask: the padded mask has only a
/// few distinct rows (pad / image rows, each with the set of boxes covering it), so Pillow's horizontal pass runs once
/// per distinct row, and its vertical pass — an integer sum of weight × row — is regrouped by row kind, which gives
/// the same integers. <see cref="MapReference"/> is the plain path (full mask through
/// <see cref="LlavaImagePreprocessor.ApplyGeometry"/>), kept as the oracle the fast path is tested against.
/// </para>
/// </summary>
public sealed class ObjectPatchMapper : IObjectPatchMapper
{
    /// <summary>The mask's background colour (green).</summary>
    public static readonly Rgb8 Background = new(0, 255, 0);

    /// <summary>The colour boxes are filled with (red); a patch is related when it holds this exact colour.</summary>
    public static readonly Rgb8 ObjectColor = new(255, 0, 0);

    private const int Half = 1 << (PilResize.PrecisionBits - 1);

    /// <summary>A single-grid (LLaVA-1.5) mapper: <see cref="Mode"/> is <see cref="PatchSetMode.Llava15Pad"/>.</summary>
    /// <param name="preprocessor">The model's image geometry (<see cref="ImageMode.Pad"/> for the paper's LLaVA-1.5; the
    /// llava-hf <see cref="ImageMode.Crop"/> also works). Its output must be the grid's square.</param>
    /// <exception cref="InputException">The preprocessing output is not <paramref name="grid"/>'s square.</exception>
    public ObjectPatchMapper(LlavaImagePreprocessor preprocessor, PatchGrid grid)
    {
        ArgumentNullException.ThrowIfNull(preprocessor);
        ArgumentNullException.ThrowIfNull(grid);
        var o = preprocessor.Options;
        if (!o.DoCenterCrop)
            throw new InputException(null, "do_center_crop",
                "patch sets need a fixed square model input; expected do_center_crop = true");
        if (o.CropWidth != grid.ImageSize || o.CropHeight != grid.ImageSize)
            throw new InputException(null, "crop_size",
                $"{o.CropWidth}x{o.CropHeight} does not match the patch grid ({grid}: {grid.ImageSize}x{grid.ImageSize})");
        Mode = PatchSetMode.Llava15Pad;
        Preprocessor = preprocessor;
        Grid = grid;
    }

    private ObjectPatchMapper(PatchGrid grid, IReadOnlyList<(int A, int B)> pinpoints, AnyresArithmetic arithmetic)
    {
        Mode = PatchSetMode.LlavaNextAnyres;
        Grid = grid;
        Pinpoints = [.. pinpoints];
        Arithmetic = arithmetic;
        Anyres.Plan(grid.ImageSize, grid.ImageSize, Pinpoints, arithmetic, grid.ImageSize, grid.PatchesPerSide); // validates now
    }

    public PatchSetMode Mode { get; }

    /// <summary>The LLaVA-1.5 geometry; null in <see cref="PatchSetMode.LlavaNextAnyres"/> (see <see cref="PlanAnyres"/>).</summary>
    public LlavaImagePreprocessor? Preprocessor { get; }

    /// <summary>One crop's patches (the whole input for LLaVA-1.5; the base image and each tile for NeXT).</summary>
    public PatchGrid Grid { get; }

    /// <summary><c>image_grid_pinpoints</c> as config.json lists them (NeXT only; empty for LLaVA-1.5).</summary>
    public ImmutableArray<(int A, int B)> Pinpoints { get; } = [];

    /// <summary>The anyres arithmetic (NeXT only).</summary>
    public AnyresArithmetic? Arithmetic { get; }

    /// <summary>Length of the image-token block the sets of a <paramref name="width"/> x <paramref name="height"/> image index.</summary>
    public int ImageTokenCount(int width, int height) =>
        Mode == PatchSetMode.LlavaNextAnyres ? PlanAnyres(width, height).ImageTokenCount : Grid.TokenCount;

    /// <summary>The NeXT geometry of a <paramref name="width"/> x <paramref name="height"/> image (crops of <see cref="Grid"/>'s size).</summary>
    /// <exception cref="InvalidOperationException">A LLaVA-1.5 mapper.</exception>
    public AnyresPlan PlanAnyres(int width, int height) => Mode == PatchSetMode.LlavaNextAnyres
        ? Anyres.Plan(width, height, Pinpoints, Arithmetic!.Value, Grid.ImageSize, Grid.PatchesPerSide)
        : throw new InvalidOperationException("a llava15_pad patch mapper has no anyres plan");

    /// <summary>The paper's LLaVA-1.5 setting: llava-hf CLIP options, pad mode, 24 x 24 patches of 14 px.</summary>
    public static ObjectPatchMapper Llava15Pad() => new(LlavaImagePreprocessor.Llava15Pad(), PatchGrid.Clip336);

    /// <summary>
    /// A LLaVA-NeXT anyres mapper. The paper's (and patch_sets.json's) setting is
    /// <see cref="AnyresArithmetic.LlavaNext"/> with <see cref="Anyres.LlavaNextPinpoints"/> and CLIP-336 crops.
    /// </summary>
    /// <param name="pinpoints"><c>image_grid_pinpoints</c> as config.json lists them (default <see cref="Anyres.LlavaNextPinpoints"/>).</param>
    /// <param name="grid">Patches per crop (default 24 x 24 of 14 px; the crop is <see cref="PatchGrid.ImageSize"/> square).</param>
    /// <exception cref="InputException">Pinpoints that are not multiples of the crop size.</exception>
    public static ObjectPatchMapper LlavaNextAnyres(AnyresArithmetic arithmetic, IReadOnlyList<(int A, int B)>? pinpoints = null, PatchGrid? grid = null)
    {
        if (!Enum.IsDefined(arithmetic)) throw new ArgumentOutOfRangeException(nameof(arithmetic), arithmetic, "unknown anyres arithmetic");
        return new ObjectPatchMapper(grid ?? PatchGrid.Clip336, pinpoints ?? Anyres.LlavaNextPinpoints, arithmetic);
    }

    /// <summary>
    /// The mapper for a model's image options and vision tower. <see cref="PatchSetMode.LlavaNextAnyres"/> uses
    /// <paramref name="pinpoints"/> (default <see cref="Anyres.LlavaNextPinpoints"/>) and the original LLaVA-NeXT arithmetic,
    /// which is what the mode means (the paper's code); build other arithmetics with <see cref="LlavaNextAnyres"/>.
    /// </summary>
    /// <exception cref="InputException">Options that do not fit the grid, or bad pinpoints.</exception>
    public static ObjectPatchMapper Create(PatchSetMode mode, ImageProcessingOptions options, ClipVisionConfig vision,
        IReadOnlyList<(int A, int B)>? pinpoints = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        switch (mode)
        {
            case PatchSetMode.Llava15Pad:
                return new ObjectPatchMapper(new LlavaImagePreprocessor(options, ImageMode.Pad), PatchGrid.FromVision(vision));
            case PatchSetMode.LlavaNextAnyres:
                var grid = PatchGrid.FromVision(vision);
                if (options.CropWidth != grid.ImageSize || options.CropHeight != grid.ImageSize)
                    throw new InputException(null, "crop_size",
                        $"{options.CropWidth}x{options.CropHeight} does not match the anyres crop of the patch grid ({grid}: {grid.ImageSize}x{grid.ImageSize})");
                return LlavaNextAnyres(AnyresArithmetic.LlavaNext, pinpoints, grid);
            default:
                throw new ArgumentOutOfRangeException(nameof(mode), mode, "unknown patch set mode");
        }
    }

    /// <summary>The patch sets of <paramref name="boxes"/> on a <paramref name="width"/> x <paramref name="height"/> image (fast exact path).</summary>
    public ObjectPatchSets Map(int width, int height, IReadOnlyList<Box> boxes)
    {
        ArgumentNullException.ThrowIfNull(boxes);
        return Mode == PatchSetMode.LlavaNextAnyres ? MapAnyres(width, height, boxes) : MapPad(width, height, boxes);
    }

    /// <summary>
    /// The plain path: paint the full mask (<see cref="DrawMask"/>), run the model's geometry on it
    /// (<see cref="ProcessedMaskCrops"/>), scan every pixel of every crop. The oracle <see cref="Map(int, int, IReadOnlyList{Box})"/> is tested against.
    /// </summary>
    public ObjectPatchSets MapReference(int width, int height, IReadOnlyList<Box> boxes)
    {
        var crops = ProcessedMaskCrops(width, height, boxes);
        var plan = Mode == PatchSetMode.LlavaNextAnyres ? PlanAnyres(width, height) : null;
        var related = new bool[plan?.ImageTokenCount ?? Grid.TokenCount];
        for (int c = 0; c < crops.Length; c++) MarkRedPixels(crops[c], c, plan, related);
        return Split(related, plan?.NewlineOffsets() ?? []);
    }

    /// <summary>
    /// Marks the tokens of crop <paramref name="c"/> (0 = the single grid or NeXT's base image, c ≥ 1 = NeXT tile c − 1
    /// row-major) that hold an exactly red pixel.
    /// </summary>
    private void MarkRedPixels(RgbImage crop, int c, AnyresPlan? plan, bool[] related)
    {
        int ps = Grid.PatchSize, side = Grid.PatchesPerSide;
        byte[] px = crop.Pixels;
        for (int y = 0; y < crop.Height; y++)
        {
            for (int x = 0; x < crop.Width; x++)
            {
                int i = (y * crop.Width + x) * 3;
                if (px[i] != ObjectColor.R || px[i + 1] != ObjectColor.G || px[i + 2] != ObjectColor.B) continue;
                if (c == 0)
                {
                    related[y / ps * side + x / ps] = true; // the single grid, or NeXT's base image
                    continue;
                }
                // NeXT tile c - 1 = (row, col) of the tile grid; its cell in the Hc x Wc feature grid.
                int tileRow = (c - 1) / plan!.GridCols, tileCol = (c - 1) % plan.GridCols;
                int token = plan.TokenOffset(tileRow * side + y / ps, tileCol * side + x / ps);
                if (token >= 0) related[token] = true;
            }
        }
    }

    /// <summary>The LLaVA-1.5 mask as the model input sees it (Grid.ImageSize square, 8-bit), for checks and figures.</summary>
    /// <exception cref="InvalidOperationException">A NeXT mapper (use <see cref="ProcessedMaskCrops"/>).</exception>
    public RgbImage ProcessedMask(int width, int height, IReadOnlyList<Box> boxes)
    {
        if (Preprocessor is null) throw new InvalidOperationException("a llava_next_anyres mask has several crops; use ProcessedMaskCrops");
        var g = Plan(width, height);
        var fitted = Preprocessor.ApplyGeometry(DrawMask(width, height, boxes));
        if (fitted.Width != g.OutputWidth || fitted.Height != g.OutputHeight)
            throw new InvalidOperationException($"preprocessing gave {fitted.Width}x{fitted.Height}, planned {g.OutputWidth}x{g.OutputHeight}");
        return fitted;
    }

    /// <summary>
    /// The mask as the model input sees it, crop by crop (8-bit): LLaVA-1.5 one crop (<see cref="ProcessedMask"/>);
    /// NeXT the base image then the tiles row-major (<see cref="Anyres.FittedTiles"/>, black canvas; transformers'
    /// short tiles stretched like the image's).
    /// </summary>
    public RgbImage[] ProcessedMaskCrops(int width, int height, IReadOnlyList<Box> boxes) => Mode == PatchSetMode.LlavaNextAnyres
        ? Anyres.FittedTiles(DrawMask(width, height, boxes), PlanAnyres(width, height))
        : [ProcessedMask(width, height, boxes)];

    /// <summary>
    /// The paper's <c>create_mask_with_bbox</c>: <c>Image.new('RGB', (w, h), (0, 255, 0))</c> and, per box,
    /// <c>ImageDraw.rectangle((x, y, x + w, y + h), fill=(255, 0, 0))</c>, following Pillow 9.4's
    /// <c>ImagingDrawRectangle</c> / <c>hline</c>: rows y0..min(y1, height), each a horizontal line x0..x1 (swapped if
    /// reversed) clipped to the image; a box that starts past an edge draws nothing.
    /// </summary>
    public static RgbImage DrawMask(int width, int height, IReadOnlyList<Box> boxes)
    {
        ArgumentNullException.ThrowIfNull(boxes);
        var mask = RgbImage.Filled(width, height, Background);
        foreach (var b in boxes)
        {
            long x0 = b.X, y0 = b.Y, x1 = (long)b.X + b.W, y1 = (long)b.Y + b.H;
            if (y0 > y1) (y0, y1) = (y1, y0);
            if (y0 < 0) y0 = 0;
            else if (y0 >= height) continue;
            if (y1 < 0) continue;
            else if (y1 > height) y1 = height;
            for (long y = y0; y <= y1; y++) HLine(mask, x0, y, x1, ObjectColor);
        }
        return mask;
    }

    /// <summary>Pillow's <c>hline32</c>: a horizontal run x0..x1 inclusive on row y, clipped.</summary>
    private static void HLine(RgbImage im, long x0, long y, long x1, Rgb8 ink)
    {
        if (y < 0 || y >= im.Height) return;
        if (x0 > x1) (x0, x1) = (x1, x0);
        if (x0 < 0) x0 = 0;
        else if (x0 >= im.Width) return;
        if (x1 < 0) return;
        else if (x1 >= im.Width) x1 = im.Width - 1;
        for (long x = x0; x <= x1; x++) im.SetPixel((int)x, (int)y, ink);
    }

    /// <summary>A box's painted pixels, clipped: columns X0..X1 and rows Y0..Y1, all inclusive, inside the image.</summary>
    private readonly record struct Rect(int X0, int Y0, int X1, int Y1);

    /// <summary>The same pixels <see cref="DrawMask"/> paints for <paramref name="b"/>, or null when none.</summary>
    private static Rect? Clip(Box b, int width, int height)
    {
        long x0 = b.X, y0 = b.Y, x1 = (long)b.X + b.W, y1 = (long)b.Y + b.H;
        if (x0 > x1) (x0, x1) = (x1, x0);
        if (y0 > y1) (y0, y1) = (y1, y0);
        x0 = Math.Max(x0, 0);
        y0 = Math.Max(y0, 0);
        x1 = Math.Min(x1, width - 1);
        y1 = Math.Min(y1, height - 1);
        return x0 > x1 || y0 > y1 ? null : new Rect((int)x0, (int)y0, (int)x1, (int)y1);
    }

    private ObjectPatchSets MapPad(int width, int height, IReadOnlyList<Box> boxes)
    {
        var g = Plan(width, height);
        var rects = ClipAll(boxes, width, height);
        var related = new bool[Grid.TokenCount];
        if (rects.Length > 0)
        {
            int ps = Grid.PatchSize, side = Grid.PatchesPerSide;
            var rowBase = Enumerable.Range(0, g.OutputHeight).Select(y => y / ps * side).ToArray();
            var colOffset = Enumerable.Range(0, g.OutputWidth).Select(x => x / ps).ToArray();
            MarkRelated(g, rects, Preprocessor!.Options.PadColor, Preprocessor.Options.DoResize, rowBase, colOffset, related);
        }
        return Split(related, []);
    }

    /// <summary>
    /// NeXT, fast: the base image is the mask resized (squashed) to the crop; the tiles see the mask resized keeping its
    /// aspect ratio, pixel (x, y) at canvas (x + PasteX, y + PasteY), i.e. in feature cell ((y + PasteY) / ps,
    /// (x + PasteX) / ps) of the Hc x Wc grid (tiles are whole multiples of the patch). The black canvas is never red.
    /// transformers' short tiles (<see cref="AnyresPlan.HasShortTiles"/>) are resampled once more, so they are painted and
    /// scanned like the plain path.
    /// </summary>
    private ObjectPatchSets MapAnyres(int width, int height, IReadOnlyList<Box> boxes)
    {
        var plan = PlanAnyres(width, height);
        var rects = ClipAll(boxes, width, height);
        var related = new bool[plan.ImageTokenCount];
        if (rects.Length > 0)
        {
            int ps = Grid.PatchSize, side = Grid.PatchesPerSide, t = Grid.ImageSize;
            var squash = new ImageGeometry(width, height, width, height, 0, 0, t, t, 0, 0, t, t);
            MarkRelated(squash, rects, Rgb8.Black, resize: true,
                Enumerable.Range(0, t).Select(y => y / ps * side).ToArray(), Enumerable.Range(0, t).Select(x => x / ps).ToArray(), related);

            int rw = plan.ResizedWidth, rh = plan.ResizedHeight, stride = plan.KeptCols + 1;
            // transformers' short last tile column / row (odd pad) is stretched by the CLIP resize, so its pixels do not
            // map one-to-one onto feature cells: those tiles take the plain path below, the rest the per-pixel map.
            int shortCol = plan.PaddedWidth < plan.CanvasWidth ? plan.GridCols - 1 : -1;
            int shortRow = plan.PaddedHeight < plan.CanvasHeight ? plan.GridRows - 1 : -1;
            var fit = new ImageGeometry(width, height, width, height, 0, 0, rw, rh, 0, 0, rw, rh);
            var rowBase = new int[rh];
            for (int y = 0; y < rh; y++)
            {
                int r = (y + plan.PasteY) / ps - plan.FirstKeptRow;
                bool inShortRow = (y + plan.PasteY) / t == shortRow;
                rowBase[y] = r >= 0 && r < plan.KeptRows && !inShortRow ? plan.BaseTokenCount + r * stride : -1;
            }
            var colOffset = new int[rw];
            for (int x = 0; x < rw; x++)
            {
                int c = (x + plan.PasteX) / ps - plan.FirstKeptCol;
                bool inShortCol = (x + plan.PasteX) / t == shortCol;
                colOffset[x] = c >= 0 && c < plan.KeptCols && !inShortCol ? c : -1;
            }
            MarkRelated(fit, rects, Rgb8.Black, resize: true, rowBase, colOffset, related);

            if (plan.HasShortTiles)
            {
                var resized = PilResize.Bicubic(DrawMask(width, height, boxes), rw, rh);
                for (int row = 0; row < plan.GridRows; row++)
                {
                    for (int col = 0; col < plan.GridCols; col++)
                    {
                        if (row != shortRow && col != shortCol) continue;
                        var tile = Anyres.FitToTile(Anyres.CutTile(resized, plan, row, col), t);
                        MarkRedPixels(tile, 1 + row * plan.GridCols + col, plan, related);
                    }
                }
            }
        }
        return Split(related, plan.NewlineOffsets());
    }

    /// <summary>
    /// The fast exact path for a geometry that is one PIL bicubic resize of the whole mask (no pad, no crop), as other
    /// model families preprocess: marks <paramref name="related"/>[<paramref name="rowBase"/>[y] + <paramref name="colOffset"/>[x]]
    /// for every exactly-red pixel (x, y) of the <paramref name="resizedWidth"/> x <paramref name="resizedHeight"/> mask
    /// (none where either entry is negative). Same integers as Pillow, see <see cref="MarkRelated"/>.
    /// </summary>
    internal static void MarkRelatedAfterResize(int width, int height, IReadOnlyList<Box> boxes, int resizedWidth, int resizedHeight,
        int[] rowBase, int[] colOffset, bool[] related)
    {
        ArgumentNullException.ThrowIfNull(boxes);
        if (resizedWidth < 1 || resizedHeight < 1)
            throw new ArgumentOutOfRangeException(nameof(resizedWidth), $"resize target must be at least 1x1, got {resizedWidth}x{resizedHeight}");
        if (rowBase.Length != resizedHeight || colOffset.Length != resizedWidth)
            throw new ArgumentException($"expected {resizedHeight} row and {resizedWidth} column entries, got {rowBase.Length} and {colOffset.Length}");
        var rects = ClipAll(boxes, width, height);
        if (rects.Length == 0) return;
        var fit = new ImageGeometry(width, height, width, height, 0, 0, resizedWidth, resizedHeight, 0, 0, resizedWidth, resizedHeight);
        MarkRelated(fit, rects, Rgb8.Black, resize: true, rowBase, colOffset, related);
    }

    private static Rect[] ClipAll(IReadOnlyList<Box> boxes, int width, int height)
    {
        if (width < 1 || height < 1)
            throw new ArgumentOutOfRangeException(nameof(width), $"image size must be at least 1x1, got {width}x{height}");
        return boxes.Select(b => Clip(b, width, height)).OfType<Rect>().ToArray();
    }

    private ImageGeometry Plan(int width, int height)
    {
        if (width < 1 || height < 1)
            throw new ArgumentOutOfRangeException(nameof(width), $"image size must be at least 1x1, got {width}x{height}");
        var g = Preprocessor!.Plan(width, height);
        if (g.OutputWidth != Grid.ImageSize || g.OutputHeight != Grid.ImageSize)
            throw new InvalidOperationException($"preprocessing plans {g.OutputWidth}x{g.OutputHeight}, not the grid's {Grid.ImageSize} square");
        return g;
    }

    /// <summary>
    /// The fast exact path. Canvas rows (original pasted at (PadLeft, PadTop) on <paramref name="pad"/>) fall into runs of
    /// identical content; each run's row is resampled horizontally once (Pillow's first pass, clipped to 8 bits), and
    /// each output row's vertical taps are summed per run: Half + Σ_run (Σ_taps-in-run w) · row_run[x], the same
    /// integer as Pillow's Half + Σ_taps w · row[x]. Then the crop window, then the exact-red test per pixel.
    /// Output pixel (x, y) belongs to token <paramref name="rowBase"/>[y] + <paramref name="colOffset"/>[x] (none when
    /// either is negative).
    /// </summary>
    private static void MarkRelated(ImageGeometry g, Rect[] rects, Rgb8 pad, bool resize, int[] rowBase, int[] colOffset, bool[] related)
    {
        int pw = g.PaddedWidth, ph = g.PaddedHeight;
        int rw = resize ? g.ResizedWidth : pw, rh = resize ? g.ResizedHeight : ph;

        // 1. Canvas rows -> row kinds (runs of identical coverage), and each kind's canvas row.
        var rowKind = new int[ph];
        var kindRows = new List<byte[]>();
        var coverage = new bool[rects.Length];
        var previous = new bool[rects.Length];
        bool previousInImage = false;
        for (int y = 0; y < ph; y++)
        {
            int iy = y - g.PadTop;
            bool inImage = iy >= 0 && iy < g.OriginalHeight;
            for (int r = 0; r < rects.Length; r++) coverage[r] = inImage && iy >= rects[r].Y0 && iy <= rects[r].Y1;
            if (y == 0 || inImage != previousInImage || !coverage.AsSpan().SequenceEqual(previous))
            {
                kindRows.Add(CanvasRow(g, rects, coverage, inImage, pad));
                (previous, coverage) = (coverage, previous);
                previousInImage = inImage;
            }
            rowKind[y] = kindRows.Count - 1;
        }

        // 2. Pillow's horizontal pass, once per kind.
        byte[][] resampled;
        if (rw != pw)
        {
            var hc = PilResize.Coefficients.Compute(pw, rw);
            resampled = kindRows.Select(row => HorizontalPass(row, hc)).ToArray();
        }
        else
        {
            resampled = [.. kindRows];
        }

        // 3. Vertical pass per output row, grouped by kind; crop; exact-red test.
        bool vertical = rh != ph;
        var vc = vertical ? PilResize.Coefficients.Compute(ph, rh) : null;
        var weight = new int[resampled.Length];
        var kinds = new int[resampled.Length];
        for (int oy = 0; oy < g.OutputHeight; oy++)
        {
            int ry = oy + g.CropTop;
            if (ry < 0 || ry >= rh) continue; // centre-crop padding: black
            int patchRow = rowBase[oy];
            if (patchRow < 0) continue;       // no token (a NeXT row cut by unpad)
            int nk = 0;
            if (vertical)
            {
                int start = vc!.Start[ry], n = vc.Count[ry], ks = vc.KernelSize;
                for (int t = 0; t < n; t++)
                {
                    int k = rowKind[start + t];
                    int w = vc.Weights[ry * ks + t];
                    int slot = Array.IndexOf(kinds, k, 0, nk);
                    if (slot < 0)
                    {
                        slot = nk++;
                        kinds[slot] = k;
                        weight[slot] = 0;
                    }
                    weight[slot] += w;
                }
            }
            for (int ox = 0; ox < g.OutputWidth; ox++)
            {
                int col = colOffset[ox];
                if (col < 0) continue;
                int patch = patchRow + col;
                if (related[patch]) continue;
                int rx = ox + g.CropLeft;
                if (rx < 0 || rx >= rw) continue;
                int i = rx * 3;
                bool red;
                if (!vertical)
                {
                    var row = resampled[rowKind[ry]];
                    red = row[i] == ObjectColor.R && row[i + 1] == ObjectColor.G && row[i + 2] == ObjectColor.B;
                }
                else
                {
                    red = Channel(resampled, kinds, weight, nk, i) == ObjectColor.R
                        && Channel(resampled, kinds, weight, nk, i + 1) == ObjectColor.G
                        && Channel(resampled, kinds, weight, nk, i + 2) == ObjectColor.B;
                }
                if (red) related[patch] = true;
            }
        }
    }

    private static byte Channel(byte[][] rows, int[] kinds, int[] weight, int nk, int i)
    {
        int acc = Half;
        for (int s = 0; s < nk; s++) acc += weight[s] * rows[kinds[s]][i];
        return PilResize.Clip8(acc);
    }

    /// <summary>One canvas row: pad colour outside the image, green inside, red where a covering box is.</summary>
    private static byte[] CanvasRow(ImageGeometry g, Rect[] rects, bool[] coverage, bool inImage, Rgb8 pad)
    {
        var row = new byte[g.PaddedWidth * 3];
        for (int x = 0; x < g.PaddedWidth; x++)
        {
            int ix = x - g.PadLeft;
            var c = inImage && ix >= 0 && ix < g.OriginalWidth ? Background : pad;
            if (inImage)
            {
                for (int r = 0; r < rects.Length; r++)
                {
                    if (coverage[r] && ix >= rects[r].X0 && ix <= rects[r].X1)
                    {
                        c = ObjectColor;
                        break;
                    }
                }
            }
            row[x * 3] = c.R;
            row[x * 3 + 1] = c.G;
            row[x * 3 + 2] = c.B;
        }
        return row;
    }

    /// <summary>Pillow's horizontal pass (ImagingResampleHorizontal_8bpc) for one row.</summary>
    private static byte[] HorizontalPass(byte[] src, PilResize.Coefficients c)
    {
        int outWidth = c.Start.Length, ks = c.KernelSize;
        var dst = new byte[outWidth * 3];
        for (int o = 0; o < outWidth; o++)
        {
            int r = Half, gr = Half, b = Half;
            int p = c.Start[o] * 3, n = c.Count[o], kw = o * ks;
            for (int t = 0; t < n; t++, p += 3)
            {
                int w = c.Weights[kw + t];
                r += src[p] * w;
                gr += src[p + 1] * w;
                b += src[p + 2] * w;
            }
            dst[o * 3] = PilResize.Clip8(r);
            dst[o * 3 + 1] = PilResize.Clip8(gr);
            dst[o * 3 + 2] = PilResize.Clip8(b);
        }
        return dst;
    }

    /// <summary>Related = marked; newlines as given (never marked); other = the rest (the paper's <c>set(range(n)) - related - pad</c>).</summary>
    private static ObjectPatchSets Split(bool[] related, ImmutableArray<int> newlines)
    {
        var isNewline = new bool[related.Length];
        foreach (var n in newlines) isNewline[n] = true;
        var rel = ImmutableArray.CreateBuilder<int>();
        var other = ImmutableArray.CreateBuilder<int>();
        for (int p = 0; p < related.Length; p++)
        {
            if (related[p]) rel.Add(p);
            else if (!isNewline[p]) other.Add(p);
        }
        return new ObjectPatchSets(related.Length, rel.ToImmutable(), other.ToImmutable(), newlines);
    }
}

using System.Collections.Immutable;
using ModalFlow.Data;
using ModalFlow.Vision;

namespace ModalFlow.Families.LlavaOnevision;

/// <summary>One image's Experiment 3 sets with the intermediate results the golden file also records.</summary>
/// <param name="Sets">Related / other / newline positions, relative to the first image token.</param>
/// <param name="Plan">The image's geometry.</param>
/// <param name="RelatedUnpaddedGrid">Related cells of the unpadded (pre-interpolation) grid, flat indices r·cols + c, ascending.</param>
public sealed record OnevisionPatchMapping(ObjectPatchSets Sets, OnevisionImagePlan Plan, ImmutableArray<int> RelatedUnpaddedGrid)
{
    /// <summary>Related positions in the base tile (&lt; n²).</summary>
    public int RelatedBaseCount => Sets.Related.Count(p => p < Plan.BaseTokenCount);
}

/// <summary>
/// Experiment 3's object patches for LLaVA-OneVision (fixtures/patch-sets/README.md, "LLaVA-OneVision"): the paper's
/// exact-red rule applied to this family's own preprocessing and packing.
/// <list type="number">
/// <item>The paper's green mask with red boxes (<see cref="ObjectPatchMapper.DrawMask"/>) goes through the processor's
///   geometry without rescale / normalise (<see cref="OnevisionTiles.Cut"/>: squashed base, canvas tiles with the
///   1-px-short padding and stretched last tile).</item>
/// <item>Each crop is cut into n x n cells of patch_size² pixels (the last S − n·p pixels belong to no cell, as the
///   stride-p conv); a cell is related when one of its pixels is exactly (255, 0, 0).</item>
/// <item>Base cells are tokens 0..n²−1. Tile cells form the (rows·n) x (cols·n) map, unpadded like the features.</item>
/// <item>When the features are interpolated, a packed token is related iff a source cell with a NONZERO bilinear weight
///   (align_corners False, torch's float32 index arithmetic) is related.</item>
/// <item>Newline tokens are neither related nor other; other = everything else.</item>
/// </list>
/// Exact by construction (the full mask through the same code as the pixels); cost is one mask resize per image.
/// </summary>
public sealed class LlavaOnevisionPatchMapper : IObjectPatchMapper
{
    /// <param name="pinpoints">(height, width) canvases as config.json lists them.</param>
    /// <param name="tileSize">S (vision_config.image_size).</param>
    /// <param name="patchSize">The tower's patch size.</param>
    /// <param name="anyresMax">N of anyres_max_N.</param>
    public LlavaOnevisionPatchMapper(IReadOnlyList<(int Height, int Width)> pinpoints, int tileSize, int patchSize, int anyresMax = 9)
    {
        ArgumentNullException.ThrowIfNull(pinpoints);
        Pinpoints = [.. pinpoints];
        TileSize = tileSize;
        PatchSize = patchSize;
        AnyresMax = anyresMax;
        Plan(tileSize, tileSize); // validates now
    }

    /// <summary>The mapper of a model's config (its pinpoints, tile and patch size).</summary>
    public static LlavaOnevisionPatchMapper ForModel(LlavaOnevisionConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return new LlavaOnevisionPatchMapper(config.Pinpoints, config.Vision.ImageSize, config.Vision.PatchSize, config.AnyresMax);
    }

    public ImmutableArray<(int Height, int Width)> Pinpoints { get; }
    public int TileSize { get; }
    public int PatchSize { get; }
    public int AnyresMax { get; }

    public OnevisionImagePlan Plan(int width, int height) => OnevisionImagePlan.Create(width, height, Pinpoints, TileSize, PatchSize, AnyresMax);

    /// <summary>Length of the image-token block the sets index.</summary>
    public int ImageTokenCount(int width, int height) => Plan(width, height).ImageTokenCount;

    /// <summary>The sets of a task row (its <see cref="GqaTaskRow.PatchBoxes"/> on its image size).</summary>
    public ObjectPatchSets Map(GqaTaskRow row)
    {
        ArgumentNullException.ThrowIfNull(row);
        return Map(row.ImageWidth, row.ImageHeight, row.PatchBoxes);
    }

    public ObjectPatchSets Map(int width, int height, IReadOnlyList<Box> boxes) => MapDetailed(width, height, boxes).Sets;

    /// <summary>The sets plus the unpadded grid's related cells (what the golden file records as <c>related_unpadded_grid</c>).</summary>
    public OnevisionPatchMapping MapDetailed(int width, int height, IReadOnlyList<Box> boxes)
    {
        ArgumentNullException.ThrowIfNull(boxes);
        var plan = Plan(width, height);
        var crops = OnevisionTiles.Cut(ObjectPatchMapper.DrawMask(width, height, boxes), plan);
        int n = plan.PatchesPerSide;
        var related = new bool[plan.ImageTokenCount];

        // Base tile: cell (r, c) is token r·n + c.
        var cells = RedCells(crops[0], n, PatchSize);
        for (int i = 0; i < cells.Length; i++) related[i] |= cells[i];

        // Tiles → the unpadded grid (h x w).
        int h = plan.UnpaddedRows, w = plan.UnpaddedCols;
        var grid = new bool[h * w];
        for (int t = 0; t < plan.TileCount; t++)
        {
            cells = RedCells(crops[1 + t], n, PatchSize);
            int tileRow = t / plan.GridCols, tileCol = t % plan.GridCols;
            for (int r = 0; r < n; r++)
            {
                int gr = tileRow * n + r - plan.UnpadTop;
                if (gr < 0 || gr >= h) continue;
                for (int c = 0; c < n; c++)
                {
                    int gc = tileCol * n + c - plan.UnpadLeft;
                    if (gc >= 0 && gc < w && cells[r * n + c]) grid[gr * w + gc] = true;
                }
            }
        }

        // Packed grid: the unpadded one, or each interpolated token from its nonzero-weight sources.
        var rowSources = plan.Interpolated ? BilinearSources(h, plan.PackedRows) : Identity(h);
        var colSources = plan.Interpolated ? BilinearSources(w, plan.PackedCols) : Identity(w);
        for (int pr = 0; pr < plan.PackedRows; pr++)
        {
            for (int pc = 0; pc < plan.PackedCols; pc++)
            {
                bool any = false;
                foreach (int sr in rowSources[pr])
                {
                    foreach (int sc in colSources[pc]) any |= grid[sr * w + sc];
                }
                if (any) related[plan.PackedTokenOffset(pr, pc)] = true;
            }
        }

        var newlines = plan.NewlineOffsets();
        var isNewline = new bool[related.Length];
        foreach (int p in newlines) isNewline[p] = true;
        var rel = ImmutableArray.CreateBuilder<int>();
        var other = ImmutableArray.CreateBuilder<int>();
        for (int p = 0; p < related.Length; p++)
        {
            if (related[p]) rel.Add(p);
            else if (!isNewline[p]) other.Add(p);
        }
        var sets = new ObjectPatchSets(related.Length, rel.ToImmutable(), other.ToImmutable(), newlines);
        return new OnevisionPatchMapping(sets, plan, [.. Enumerable.Range(0, grid.Length).Where(i => grid[i])]);
    }

    /// <summary>
    /// For each output index of a bilinear resize (align_corners False) from <paramref name="inSize"/> to
    /// <paramref name="outSize"/>, the input indices with a nonzero weight, with torch's float32 arithmetic:
    /// src = max((in/out)·(d + 0.5) − 0.5, 0), i0 = floor(src) (≤ in − 1), λ = src − i0; i0 weighs 1 − λ,
    /// i1 = min(i0 + 1, in − 1) weighs λ.
    /// </summary>
    public static int[][] BilinearSources(int inSize, int outSize)
    {
        if (inSize < 1 || outSize < 0) throw new ArgumentOutOfRangeException(nameof(inSize), $"sizes {inSize} -> {outSize}");
        float scale = (float)inSize / outSize;
        var result = new int[outSize][];
        for (int d = 0; d < outSize; d++)
        {
            float src = scale * (d + 0.5f) - 0.5f;
            if (src < 0f) src = 0f;
            int i0 = Math.Min((int)MathF.Floor(src), inSize - 1);
            float lambda = Math.Clamp(src - i0, 0f, 1f);
            int i1 = i0 < inSize - 1 ? i0 + 1 : i0;
            var sources = new List<int>(2);
            if (1f - lambda != 0f) sources.Add(i0);
            if (lambda != 0f && !sources.Contains(i1)) sources.Add(i1);
            result[d] = [.. sources];
        }
        return result;
    }

    private static int[][] Identity(int size) => [.. Enumerable.Range(0, size).Select(i => new[] { i })];

    /// <summary>The n x n cells of one crop: true where a pixel in [p·r, p·r + p) x [p·c, p·c + p) is exactly red.</summary>
    private static bool[] RedCells(RgbImage crop, int n, int patchSize)
    {
        var cells = new bool[n * n];
        byte[] px = crop.Pixels;
        var red = ObjectPatchMapper.ObjectColor;
        int span = n * patchSize;
        for (int y = 0; y < span; y++)
        {
            int rowBase = y / patchSize * n;
            for (int x = 0; x < span; x++)
            {
                int i = (y * crop.Width + x) * 3;
                if (px[i] == red.R && px[i + 1] == red.G && px[i + 2] == red.B) cells[rowBase + x / patchSize] = true;
            }
        }
        return cells;
    }
}

using ModalFlow.Data;
using ModalFlow.Tests.Support;
using ModalFlow.Vision;
using Xunit;
using Xunit.Abstractions;

namespace ModalFlow.Tests.Vision;

/// <summary>
/// transformers v4.44.2 <c>LlavaNextImageProcessor</c> with an odd pad: <c>_pad_for_patching</c> pads
/// (target − new) // 2 on EACH side, so the padded image is one pixel short, <c>divide_to_patches</c> cuts a last tile
/// one pixel short, and <c>_preprocess</c> resizes that tile (shortest edge → 336) and centre-crops it. No fixture image
/// has an odd pad (all three are 672 x 672 with even remainders), so the expectation here is a second, plain path
/// written from the reference's steps (<see cref="ReferenceSteps"/>), sharing only PIL's bicubic (<see cref="PilResize"/>,
/// tested bit-exact against Pillow elsewhere) with the code under test.
/// </summary>
public class AnyresOddPadTests(ITestOutputHelper output)
{
    private const int Tile = 336;

    /// <summary>
    /// Sizes with an odd remainder on transformers' canvas: 185x240 and 176x144 (both sides &lt;= 336, upscaled onto 672
    /// x 336; 176x144 is in the paper's CSVs), 500x334 (CSV size, downscaled) — short last column; 334x500 on 336 x 672 —
    /// short last row.
    /// </summary>
    public static TheoryData<int, int> OddSizes => new() { { 185, 240 }, { 176, 144 }, { 500, 334 }, { 334, 500 } };

    private static AnyresPlan Plan(int w, int h, AnyresArithmetic a) => Anyres.Plan(w, h, Anyres.LlavaNextPinpoints, a);

    [SharedFact]
    public void Odd_Pad_Leaves_Transformers_Canvas_One_Pixel_Short_And_LlavaNext_Exact()
    {
        // 185x240 → resized 259x336 on transformers' 672x336 canvas: pad (672 − 259) // 2 = 206 per side → 259 + 412 = 671.
        var t = Plan(185, 240, AnyresArithmetic.Transformers);
        output.WriteLine(t.ToString());
        Assert.Equal((672, 336, 259, 336, 206), (t.CanvasWidth, t.CanvasHeight, t.ResizedWidth, t.ResizedHeight, t.PasteX));
        Assert.Equal((671, 336), (t.PaddedWidth, t.PaddedHeight));
        Assert.True(t.HasShortTiles);
        Assert.Equal((336, 335), (t.TileWidth(0), t.TileWidth(1)));
        Assert.Equal(336, t.TileHeight(0));
        Assert.Equal(t with { Arithmetic = AnyresArithmetic.TransformersRound7 }, Plan(185, 240, AnyresArithmetic.TransformersRound7));

        // The short row: 334x500 → 336x503 on 336x672, pad 84 per side → 671 rows.
        var tall = Plan(334, 500, AnyresArithmetic.Transformers);
        Assert.Equal((336, 672, 336, 503), (tall.CanvasWidth, tall.CanvasHeight, tall.ResizedWidth, tall.ResizedHeight));
        Assert.Equal((336, 671, 335), (tall.PaddedWidth, tall.PaddedHeight, tall.TileHeight(1)));

        // LLaVA-NeXT pastes onto an exact canvas; even remainders are exact in every arithmetic.
        foreach (var (w, h) in new[] { (185, 240), (334, 500), (500, 334) })
        {
            var o = Plan(w, h, AnyresArithmetic.LlavaNext);
            Assert.False(o.HasShortTiles);
            Assert.Equal((o.CanvasWidth, o.CanvasHeight), (o.PaddedWidth, o.PaddedHeight));
        }
        Assert.False(Plan(570, 380, AnyresArithmetic.Transformers).HasShortTiles);
        Assert.False(Plan(320, 240, AnyresArithmetic.Transformers).HasShortTiles);
    }

    [SharedTheory]
    [MemberData(nameof(OddSizes))]
    public void Transformers_PixelTiles_Equal_The_Reference_Steps_Short_Tile_Included(int w, int h)
    {
        var image = TestPicture(w, h);
        var plan = Plan(w, h, AnyresArithmetic.Transformers);
        Assert.True(plan.HasShortTiles, plan.ToString());
        var expected = ReferenceSteps(image, plan.CanvasWidth, plan.CanvasHeight, oddPadShort: true)
            .SelectMany(Normalise).ToArray();
        var actual = Anyres.PixelTiles(image, plan, ImageProcessingOptions.LlavaHf);
        double max = Compare.AllClose(expected, actual, 0, $"{w}x{h} transformers pixel tiles");
        Assert.Equal(0, max);

        // The quirk is not a no-op: pasting on an exact canvas (LLaVA-NeXT's way) changes the last tile's pixels.
        var exact = ReferenceSteps(image, plan.CanvasWidth, plan.CanvasHeight, oddPadShort: false).SelectMany(Normalise).ToArray();
        int length = 3 * Tile * Tile, last = plan.CropCount - 1;
        double lastTileDiff = Compare.MaxAbsDiff(exact.AsSpan(last * length, length), actual.AsSpan(last * length, length));
        double otherDiff = Compare.MaxAbsDiff(exact.AsSpan(0, last * length), actual.AsSpan(0, last * length));
        output.WriteLine($"{plan}: bit-identical to the reference steps; vs an exact canvas: last tile max |Δ| {lastTileDiff:F3}, other crops {otherDiff}");
        Assert.True(lastTileDiff > 0.1, $"the short tile should differ from an exact canvas, max |Δ| {lastTileDiff}");
        if (plan.GridCols * plan.GridRows == 2) Assert.Equal(0, otherDiff); // 2-tile canvases: only the last tile is short
    }

    [SharedTheory]
    [MemberData(nameof(OddSizes))]
    public void Transformers_Mask_Crops_Follow_The_Same_Pixels_And_The_Fast_Patch_Map_Equals_Them(int w, int h)
    {
        var mapper = ObjectPatchMapper.LlavaNextAnyres(AnyresArithmetic.Transformers);
        var plan = mapper.PlanAnyres(w, h);
        // Boxes at the edges of the short tile and one across the tile border, where the stretch moves red pixels.
        Box[] boxes = [new(w - 7, 0, 6, h / 3), new(w / 2 - 3, h / 2 - 3, 6, 6), new(w - 2, h - 2, 1, 1), new(0, h - 5, w / 4, 4)];
        var mask = ObjectPatchMapper.DrawMask(w, h, boxes);
        var expected = ReferenceSteps(mask, plan.CanvasWidth, plan.CanvasHeight, oddPadShort: true);
        var crops = mapper.ProcessedMaskCrops(w, h, boxes);
        Assert.Equal(expected.Length, crops.Length);
        for (int i = 0; i < crops.Length; i++)
            Assert.True(expected[i].Pixels.AsSpan().SequenceEqual(crops[i].Pixels), $"{w}x{h} mask crop {i} differs from the reference steps");

        var reference = mapper.MapReference(w, h, boxes);
        var fast = mapper.Map(w, h, boxes);
        Assert.Equal(reference.Related.ToArray(), fast.Related.ToArray());
        Assert.Equal(reference.Other.ToArray(), fast.Other.ToArray());
        output.WriteLine($"{plan}: {fast.Related.Length} related, {fast.Other.Length} other");
        Assert.NotEmpty(fast.Related);
    }

    [SharedFact]
    public void Transformers_Fast_Patch_Map_Equals_Reference_On_Random_Boxes_At_Odd_Sizes()
    {
        var mapper = ObjectPatchMapper.LlavaNextAnyres(AnyresArithmetic.Transformers);
        var rng = new Random(2024);
        int checkedCount = 0;
        for (int i = 0; i < 40; i++)
        {
            int w = rng.Next(60, 700), h = rng.Next(60, 700);
            if (!mapper.PlanAnyres(w, h).HasShortTiles) continue;
            var boxes = Enumerable.Range(0, rng.Next(1, 4)).Select(_ =>
            {
                int x = rng.Next(w), y = rng.Next(h);
                return new Box(x, y, rng.Next(1, w - x + 1), rng.Next(1, h - y + 1));
            }).ToArray();
            var reference = mapper.MapReference(w, h, boxes);
            var fast = mapper.Map(w, h, boxes);
            Assert.True(reference.Related.SequenceEqual(fast.Related), $"{w}x{h} [{string.Join(", ", boxes)}]: fast-only "
                + $"[{string.Join(",", fast.Related.Except(reference.Related).Take(10))}], reference-only [{string.Join(",", reference.Related.Except(fast.Related).Take(10))}]");
            checkedCount++;
        }
        output.WriteLine($"{checkedCount} odd-pad sizes checked");
        Assert.True(checkedCount >= 10, $"only {checkedCount} random sizes had an odd pad");
    }

    /// <summary>
    /// LlavaNextImageProcessor.get_image_patches + _preprocess geometry, step by step, in plain loops: the squashed base;
    /// _get_patch_output_size; resize; np.pad by (target − new) // 2 on both sides (<paramref name="oddPadShort"/>; else
    /// the remainder goes right/bottom, an exact canvas); divide_to_patches (range(0, H, 336) x range(0, W, 336), slices
    /// clipped); per patch get_resize_output_image_size(shortest_edge=336) (PIL returns a copy at the same size) and
    /// center_crop (top = (h − 336) // 2). 8-bit crops of 336².
    /// </summary>
    private static RgbImage[] ReferenceSteps(RgbImage image, int targetWidth, int targetHeight, bool oddPadShort)
    {
        var crops = new List<RgbImage> { PilResize.Bicubic(image, Tile, Tile) };

        double scaleW = (double)targetWidth / image.Width, scaleH = (double)targetHeight / image.Height;
        int newW, newH;
        if (scaleW < scaleH) { newW = targetWidth; newH = Math.Min((int)Math.Ceiling(image.Height * scaleW), targetHeight); }
        else { newH = targetHeight; newW = Math.Min((int)Math.Ceiling(image.Width * scaleH), targetWidth); }
        var resized = PilResize.Bicubic(image, newW, newH);

        int padX = (targetWidth - newW) / 2, padY = (targetHeight - newH) / 2;
        int paddedW = oddPadShort ? newW + 2 * padX : targetWidth, paddedH = oddPadShort ? newH + 2 * padY : targetHeight;
        var padded = new byte[paddedW * paddedH * 3]; // zeros = black
        for (int y = 0; y < newH; y++)
            Array.Copy(resized.Pixels, y * newW * 3, padded, ((y + padY) * paddedW + padX) * 3, newW * 3);

        for (int top = 0; top < paddedH; top += Tile)
        {
            for (int left = 0; left < paddedW; left += Tile)
            {
                int pw = Math.Min(Tile, paddedW - left), ph = Math.Min(Tile, paddedH - top);
                var patch = new byte[pw * ph * 3];
                for (int y = 0; y < ph; y++) Array.Copy(padded, ((top + y) * paddedW + left) * 3, patch, y * pw * 3, pw * 3);
                var p = new RgbImage(pw, ph, patch);

                int shortSide = Math.Min(pw, ph), longSide = Math.Max(pw, ph);
                int newLong = (int)((double)(Tile * longSide) / shortSide);
                int rw = pw <= ph ? Tile : newLong, rh = pw <= ph ? newLong : Tile;
                var r = rw == pw && rh == ph ? p : PilResize.Bicubic(p, rw, rh);
                int cropTop = (rh - Tile) / 2, cropLeft = (rw - Tile) / 2;
                var crop = new byte[Tile * Tile * 3];
                for (int y = 0; y < Tile; y++) Array.Copy(r.Pixels, ((cropTop + y) * rw + cropLeft) * 3, crop, y * Tile * 3, Tile * 3);
                crops.Add(new RgbImage(Tile, Tile, crop));
            }
        }
        return [.. crops];
    }

    /// <summary>transformers' rescale (float32(v · (1/255) in double)) and normalise ((x − mean) / std in float32, CLIP), CHW.</summary>
    private static float[] Normalise(RgbImage crop)
    {
        double[] mean = [0.48145466, 0.4578275, 0.40821073], std = [0.26862954, 0.26130258, 0.27577711];
        int plane = crop.Width * crop.Height;
        var values = new float[3 * plane];
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < plane; i++)
                values[c * plane + i] = ((float)(crop.Pixels[i * 3 + c] * (1.0 / 255)) - (float)mean[c]) / (float)std[c];
        return values;
    }

    /// <summary>Smooth gradients plus deterministic noise: every resample of it changes pixels.</summary>
    private static RgbImage TestPicture(int w, int h)
    {
        var rng = new Random(w * 1000 + h);
        var px = new byte[w * h * 3];
        for (int y = 0; y < h; y++)
        {
            for (int x = 0; x < w; x++)
            {
                int i = (y * w + x) * 3;
                px[i] = (byte)(255 * x / Math.Max(1, w - 1));
                px[i + 1] = (byte)(255 * y / Math.Max(1, h - 1));
                px[i + 2] = (byte)rng.Next(256);
            }
        }
        return new RgbImage(w, h, px);
    }
}

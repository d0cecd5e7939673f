using ModalFlow.Data;
using ModalFlow.Vision;
using static TorchSharp.torch;

namespace ModalFlow.Tests.Families.LlavaOnevision;

/// <summary>
/// A second, plain path through transformers v4.45.1's LLaVA-OneVision steps, written step by step from the reference
/// (image_processing_llava_onevision.py, processing_llava_onevision.py, modeling_llava_onevision.py) on (height, width)
/// like Python, with numpy-style byte arrays, to hold the production classes to. Only Pillow's bicubic
/// (<see cref="PilResize"/>, tested against Pillow elsewhere) and the paper's mask drawing are shared.
/// </summary>
internal static class OnevisionReference
{
    /// <summary>image_processing_utils.select_best_resolution((h, w), pinpoints) → (h, w).</summary>
    public static (int H, int W) SelectBestResolution(int h, int w, IReadOnlyList<(int Height, int Width)> pinpoints)
    {
        (int, int) best = (-1, -1);
        long maxEffective = 0;
        double minWasted = double.PositiveInfinity;
        foreach (var (ph, pw) in pinpoints)
        {
            double scale = Math.Min((double)pw / w, (double)ph / h);
            long dw = (long)(w * scale), dh = (long)(h * scale);
            long effective = Math.Min(dw * dh, (long)w * h);
            long wasted = (long)pw * ph - effective;
            if (effective > maxEffective || (effective == maxEffective && wasted < minWasted))
            {
                maxEffective = effective;
                minWasted = wasted;
                best = (ph, pw);
            }
        }
        return best;
    }

    /// <summary>_get_patch_output_size(image of h x w, (th, tw)) → (h, w).</summary>
    public static (int H, int W) PatchOutputSize(int h, int w, int th, int tw)
    {
        double scaleW = (double)tw / w, scaleH = (double)th / h;
        return scaleW < scaleH ? (Math.Min((int)Math.Ceiling(h * scaleW), th), tw) : (th, Math.Min((int)Math.Ceiling(w * scaleH), tw));
    }

    /// <summary>
    /// get_image_patches + _preprocess's resize, 8-bit: [resize(image, S, S) resized again to S, then for i in
    /// range(0, H, S), j in range(0, W, S) of the padded canvas: resize(slice, S, S)].
    /// </summary>
    /// <param name="fullPadding">
    /// false = v4.45.1 (<c>pad(((py, py), (px, px)))</c>); true = a corrected pad that gives the remainder to the far
    /// side (later transformers' <c>_get_padding_size</c>), to show the difference matters.
    /// </param>
    public static List<RgbImage> Crops(RgbImage image, IReadOnlyList<(int Height, int Width)> pinpoints, int s, bool fullPadding = false)
    {
        var (bh, bw) = SelectBestResolution(image.Height, image.Width, pinpoints);
        var (nh, nw) = PatchOutputSize(image.Height, image.Width, bh, bw);
        var resized = PilResize.Bicubic(image, nw, nh);
        // _pad_for_patching recomputes the size from the resized image.
        var (rh, rw) = PatchOutputSize(resized.Height, resized.Width, bh, bw);
        int px = (bw - rw) / 2, py = (bh - rh) / 2;
        int extraX = fullPadding ? (bw - rw) % 2 : 0, extraY = fullPadding ? (bh - rh) % 2 : 0;
        int ph = resized.Height + 2 * py + extraY, pw = resized.Width + 2 * px + extraX;
        var padded = new byte[ph * pw * 3]; // np.pad(..., constant_values=0), HWC uint8
        for (int y = 0; y < resized.Height; y++)
            Array.Copy(resized.Pixels, y * resized.Width * 3, padded, ((y + py) * pw + px) * 3, resized.Width * 3);

        var crops = new List<RgbImage> { PilResize.Bicubic(PilResize.Bicubic(image, s, s), s, s) };
        for (int i = 0; i < ph; i += s)
        {
            for (int j = 0; j < pw; j += s)
            {
                int th = Math.Min(s, ph - i), tw = Math.Min(s, pw - j);
                var tile = new byte[th * tw * 3];
                for (int y = 0; y < th; y++) Array.Copy(padded, ((i + y) * pw + j) * 3, tile, y * tw * 3, tw * 3);
                crops.Add(PilResize.Bicubic(new RgbImage(tw, th, tile), s, s));
            }
        }
        return crops;
    }

    /// <summary>rescale (float64 product, cast to float32) then normalize ((x − mean) / std in float32): [crops, 3, S, S].</summary>
    public static float[] PixelValues(List<RgbImage> crops, double rescale, double[] mean, double[] std)
    {
        int s = crops[0].Width, plane = s * s;
        var values = new float[crops.Count * 3 * plane];
        for (int k = 0; k < crops.Count; k++)
        {
            for (int c = 0; c < 3; c++)
            {
                float m = (float)mean[c], d = (float)std[c];
                for (int i = 0; i < plane; i++)
                {
                    float x = (float)(crops[k].Pixels[i * 3 + c] * rescale);
                    values[(k * 3 + c) * plane + i] = (x - m) / d;
                }
            }
        }
        return values;
    }

    /// <summary>
    /// LlavaOnevisionProcessor._get_number_of_features(orig_h, orig_w, S, S) with num_image_tokens = n²: the
    /// processor's own count (which transformers requires to equal the rows pack_image_features returns).
    /// </summary>
    public static int ProcessorTokenCount(int origH, int origW, IReadOnlyList<(int Height, int Width)> pinpoints, int s, int n)
    {
        var (bh, bw) = SelectBestResolution(origH, origW, pinpoints);
        int scaleH = bh / s, scaleW = bw / s;
        int curH = n * scaleH, curW = n * scaleW;
        if ((double)origW / origH > (double)curW / curH)
        {
            int newH = (int)(origH * ((double)curW / origW));
            curH -= (curH - newH) / 2 * 2;
        }
        else
        {
            int newW = (int)(origW * ((double)curH / origH));
            curW -= (curW - newW) / 2 * 2;
        }
        int unpadded = curH * curW, newlines = curH;
        double ratio = Math.Sqrt((double)curH * curW / (9 * n * n));
        if (ratio > 1.1)
        {
            // Python int(x // ratio) for positive x: floor of the quotient, as CPython's float floor division
            int fh = (int)PyFloorDiv(curH, ratio), fw = (int)PyFloorDiv(curW, ratio);
            unpadded = fh * fw;
            newlines = fh;
        }
        return unpadded + newlines + n * n;
    }

    /// <summary>CPython float_floor_div, literally.</summary>
    public static double PyFloorDiv(double vx, double wx)
    {
        double mod = vx % wx; // C fmod
        double div = (vx - mod) / wx;
        if (mod != 0 && (wx < 0) != (mod < 0))
        {
            mod += wx;
            div -= 1.0;
        }
        double floordiv;
        if (div != 0)
        {
            floordiv = Math.Floor(div);
            if (div - floordiv > 0.5) floordiv += 1.0;
        }
        else
        {
            floordiv = Math.CopySign(0.0, vx / wx);
        }
        return floordiv;
    }

    /// <summary>
    /// The README's patch-set definition, plainly: mask → <see cref="Crops"/> → 14-px cells with an exactly red pixel →
    /// (rows·n) x (cols·n) map → unpad_image → torch's own bilinear interpolate of the 0/1 map (&gt; 0 = related) →
    /// base cells, then each packed row and its newline. Returns (related, other, newline) positions.
    /// </summary>
    public static (int[] Related, int[] Other, int[] Newline) PatchSets(int w, int h, IReadOnlyList<Box> boxes,
        IReadOnlyList<(int Height, int Width)> pinpoints, int s, int patch)
    {
        int n = s / patch;
        var crops = Crops(ObjectPatchMapper.DrawMask(w, h, boxes), pinpoints, s);
        var (bh, bw) = SelectBestResolution(h, w, pinpoints);
        int rows = bh / s, cols = bw / s;
        bool[,] Cells(RgbImage crop)
        {
            var cells = new bool[n, n];
            for (int y = 0; y < n * patch; y++)
                for (int x = 0; x < n * patch; x++)
                    if (crop.GetPixel(x, y) == ObjectPatchMapper.ObjectColor) cells[y / patch, x / patch] = true;
            return cells;
        }
        var map = new float[rows * n, cols * n];
        for (int t = 0; t < rows * cols; t++)
        {
            var cells = Cells(crops[1 + t]);
            for (int r = 0; r < n; r++)
                for (int c = 0; c < n; c++)
                    if (cells[r, c]) map[t / cols * n + r, t % cols * n + c] = 1f;
        }
        // unpad_image(tensor, (h, w))
        int curH = rows * n, curW = cols * n, top = 0, left = 0;
        if ((double)w / h > (double)curW / curH) top = (curH - (int)(h * ((double)curW / w))) / 2;
        else left = (curW - (int)(w * ((double)curH / h))) / 2;
        int uh = curH - 2 * top, uw = curW - 2 * left;
        var unpadded = new float[uh * uw];
        for (int r = 0; r < uh; r++)
            for (int c = 0; c < uw; c++)
                unpadded[r * uw + c] = map[top + r, left + c];
        double ratio = Math.Sqrt((double)uh * uw / (9 * n * n));
        int oh = uh, ow = uw;
        float[] packed = unpadded;
        if (ratio > 1.1)
        {
            oh = (int)PyFloorDiv(uh, ratio);
            ow = (int)PyFloorDiv(uw, ratio);
            using var input = tensor(unpadded, [1, 1, uh, uw]);
            using var output = nn.functional.interpolate(input, size: [oh, ow], mode: InterpolationMode.Bilinear, align_corners: false);
            packed = output.data<float>().ToArray();
        }
        var related = new List<int>();
        var other = new List<int>();
        var newline = new List<int>();
        var baseCells = Cells(crops[0]);
        for (int r = 0; r < n; r++)
            for (int c = 0; c < n; c++)
                (baseCells[r, c] ? related : other).Add(r * n + c);
        int pos = n * n;
        for (int r = 0; r < oh; r++)
        {
            for (int c = 0; c < ow; c++) (packed[r * ow + c] > 0f ? related : other).Add(pos++);
            newline.Add(pos++);
        }
        return ([.. related], [.. other], [.. newline]);
    }
}

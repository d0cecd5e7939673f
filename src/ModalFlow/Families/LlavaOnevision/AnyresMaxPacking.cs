using static TorchSharp.torch;

namespace ModalFlow.Families.LlavaOnevision;

/// <summary>
/// transformers v4.45.1 <c>LlavaOnevisionForConditionalGeneration.pack_image_features</c> for one image: the base
/// tile's n² features, then the tiles' (rows·n) x (cols·n) map unpadded with the original size, bilinearly shrunk
/// (align_corners False) when the plan says so, with <c>image_newline</c> appended after every row.
/// </summary>
public static class AnyresMaxPacking
{
    /// <param name="projectedTiles">Projector output [CropCount, n², D] (base first, then the tiles row-major).</param>
    /// <param name="plan">The image's geometry.</param>
    /// <param name="imageNewline">The learned row separator [D].</param>
    /// <returns>[<see cref="OnevisionImagePlan.ImageTokenCount"/>, D] in the input's dtype and device.</returns>
    public static Tensor Pack(Tensor projectedTiles, OnevisionImagePlan plan, Tensor imageNewline)
    {
        ArgumentNullException.ThrowIfNull(projectedTiles);
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(imageNewline);
        int n = plan.PatchesPerSide;
        long d = projectedTiles.dim() == 3 ? projectedTiles.shape[2] : -1;
        if (projectedTiles.dim() != 3 || projectedTiles.shape[0] != plan.CropCount || projectedTiles.shape[1] != (long)n * n)
            throw new ArgumentException($"projected tiles must be [{plan.CropCount}, {n * n}, D] for {plan}, got [{string.Join(", ", projectedTiles.shape)}]");
        if (imageNewline.dim() != 1 || imageNewline.shape[0] != d)
            throw new ArgumentException($"image_newline must be [{d}], got [{string.Join(", ", imageNewline.shape)}]");

        using var scope = NewDisposeScope();
        var baseFeatures = projectedTiles[0];                                                        // [n², D]
        var map = projectedTiles[1..]
            .reshape(plan.GridRows, plan.GridCols, n, n, d)                                          // [rows, cols, n, n, D]
            .permute(4, 0, 2, 1, 3)                                                                  // [D, rows, n, cols, n]
            .reshape(d, plan.FeatureRows, plan.FeatureCols);                                         // [D, Hc, Wc] image layout
        map = map[.., plan.UnpadTop..(plan.UnpadTop + plan.UnpaddedRows), plan.UnpadLeft..(plan.UnpadLeft + plan.UnpaddedCols)];
        if (plan.Interpolated)
        {
            map = nn.functional.interpolate(map.unsqueeze(0), size: [plan.PackedRows, plan.PackedCols],
                mode: InterpolationMode.Bilinear, align_corners: false).squeeze(0);                  // [D, ph, pw]
        }
        var newline = imageNewline.to(map.dtype, map.device).reshape(d, 1, 1).expand(d, plan.PackedRows, 1); // [D, ph, 1]
        var rows = cat([map, newline], 2).flatten(1, 2).transpose(0, 1);                             // [ph·(pw+1), D]
        return cat([baseFeatures, rows], 0).contiguous().MoveToOuterDisposeScope();                  // [K, D]
    }
}

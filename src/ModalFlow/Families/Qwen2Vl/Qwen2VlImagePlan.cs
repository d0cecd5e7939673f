namespace ModalFlow.Families.Qwen2Vl;

/// <summary>
/// transformers' <c>image_grid_thw</c> row: temporal, height and width counts of 14-px patches (an image has T = 1:
/// its frame is duplicated into one temporal patch of 2).
/// </summary>
public readonly record struct Qwen2VlImageGrid(int T, int H, int W)
{
    /// <summary>Rows of <c>pixel_values</c> (vision tower inputs and outputs): T · H · W.</summary>
    public int PatchCount => checked(T * H * W);

    /// <summary>Decoder tokens after the 2x2 (merge x merge) PatchMerger: T · (H / merge) · (W / merge).</summary>
    public int TokenCount(int mergeSize) => checked(T * (H / mergeSize) * (W / mergeSize));

    public override string ToString() => $"({T}, {H}, {W})";
}

/// <summary>
/// The geometry of one image: original size, <c>smart_resize</c> result, patch grid and merged token grid. Token k of
/// the image block covers the Factor x Factor pixel block at merged row k / <see cref="MergedCols"/>, column
/// k % <see cref="MergedCols"/> of the resized image (row-major), which is the processor's patch order.
/// </summary>
public sealed record Qwen2VlImagePlan(int OriginalWidth, int OriginalHeight, int ResizedWidth, int ResizedHeight, int PatchSize, int MergeSize)
{
    /// <summary>Pixels per side of one merged token (28).</summary>
    public int Factor => PatchSize * MergeSize;

    public Qwen2VlImageGrid Grid => new(1, ResizedHeight / PatchSize, ResizedWidth / PatchSize);

    /// <summary>Merged token rows: resized height / 28.</summary>
    public int MergedRows => ResizedHeight / Factor;

    /// <summary>Merged token columns: resized width / 28.</summary>
    public int MergedCols => ResizedWidth / Factor;

    /// <summary>Image tokens this image expands to: (rh / 28) · (rw / 28).</summary>
    public int ImageTokenCount => MergedRows * MergedCols;

    public override string ToString() =>
        $"{OriginalWidth}x{OriginalHeight} -> {ResizedWidth}x{ResizedHeight}, grid {Grid}, {ImageTokenCount} tokens ({MergedRows}x{MergedCols})";
}

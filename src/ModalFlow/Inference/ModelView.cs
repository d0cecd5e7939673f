using ModalFlow.Vision;

namespace ModalFlow.Inference;

/// <summary>A pixel rectangle [X, X + Width) x [Y, Y + Height) of one crop.</summary>
public readonly record struct PixelRect(int X, int Y, int Width, int Height)
{
    public bool Contains(int x, int y) => x >= X && x < X + Width && y >= Y && y < Y + Height;

    /// <summary>The smallest rectangle holding both.</summary>
    public PixelRect Union(PixelRect other)
    {
        int x0 = Math.Min(X, other.X), y0 = Math.Min(Y, other.Y);
        int x1 = Math.Max(X + Width, other.X + other.Width), y1 = Math.Max(Y + Height, other.Y + other.Height);
        return new PixelRect(x0, y0, x1 - x0, y1 - y0);
    }

    public override string ToString() => $"({X}, {Y}, {Width}x{Height})";
}

/// <summary>Where one image token's pixels are: a rectangle of crop <see cref="Crop"/> of a <see cref="ModelView"/>.</summary>
public readonly record struct TokenRegion(int Crop, PixelRect Rect);

/// <summary>One picture the vision tower took (8-bit, after the family's geometry, before rescale / normalise).</summary>
/// <param name="Name">What it is, in words ("padded square", "base image", "tiles", "resized").</param>
public sealed record ViewCrop(string Name, RgbImage Image);

/// <summary>
/// What the model saw of one image, for people: the crop(s) the vision tower took (LLaVA-1.5: the padded or cropped
/// square; NeXT and OneVision: the base image and the tiles, the tiles shown side by side as one picture; Qwen2-VL: the
/// smart-resized image) and, for each image token in sequence order, the crop and pixel rectangle it covers (null for a
/// token with no pixels of its own: a row-end newline, a CLS feature). An interpolated OneVision token covers the
/// bounding box of the cells it was interpolated from. Built by the family (<see cref="ModelFolder.View"/>) from the same
/// geometry code as its pixel values and patch sets.
/// </summary>
public sealed record ModelView
{
    /// <exception cref="ArgumentException">A token names a crop that does not exist or a rectangle outside its crop.</exception>
    public ModelView(IReadOnlyList<ViewCrop> crops, IReadOnlyList<TokenRegion?> tokens)
    {
        ArgumentNullException.ThrowIfNull(crops);
        ArgumentNullException.ThrowIfNull(tokens);
        if (crops.Count == 0) throw new ArgumentException("a view needs at least one crop", nameof(crops));
        for (int k = 0; k < tokens.Count; k++)
        {
            if (tokens[k] is not { } t) continue;
            if ((uint)t.Crop >= (uint)crops.Count)
                throw new ArgumentException($"token {k} names crop {t.Crop}; the view has {crops.Count}", nameof(tokens));
            var image = crops[t.Crop].Image;
            var r = t.Rect;
            if (r.Width < 1 || r.Height < 1 || r.X < 0 || r.Y < 0 || r.X + r.Width > image.Width || r.Y + r.Height > image.Height)
                throw new ArgumentException($"token {k}'s rectangle {r} is not inside crop {t.Crop} ({image.Width}x{image.Height})", nameof(tokens));
        }
        Crops = crops;
        Tokens = tokens;
    }

    public IReadOnlyList<ViewCrop> Crops { get; }

    /// <summary>Per image token (index relative to the first image token), its region or null.</summary>
    public IReadOnlyList<TokenRegion?> Tokens { get; }

    /// <summary>The tokens of a square grid of <paramref name="side"/>² cells of <paramref name="cell"/> px on crop <paramref name="crop"/>, row-major.</summary>
    public static IEnumerable<TokenRegion?> Grid(int crop, int side, int cell) =>
        Enumerable.Range(0, side * side).Select(k => (TokenRegion?)new TokenRegion(crop, new PixelRect(k % side * cell, k / side * cell, cell, cell)));
}

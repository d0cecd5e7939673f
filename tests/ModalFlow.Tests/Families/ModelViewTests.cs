using ModalFlow.Data;
using ModalFlow.Inference;
using ModalFlow.Tests.Support;
using ModalFlow.Vision;
using Xunit;

namespace ModalFlow.Tests.Families;

/// <summary>
/// <see cref="ModelFolder.View"/> against the patch-set geometry of each family: the paper's red-box mask is sent through
/// View, and a token is related by the mapper exactly when its View rectangle holds an exactly-red pixel of the viewed
/// mask (tokens without pixels are the mapper's newlines). For an interpolated OneVision token the rectangle is the
/// bounding box of its source cells, so only "related ⇒ red inside" holds there.
/// </summary>
public class ModelViewTests
{
    public static IEnumerable<object[]> Folders() =>
    [
        ["llava-1.5 pad"], ["llava-1.5 crop"], ["llava-next transformers"], ["llava-next llava-next"], ["qwen2-vl"], ["onevision"],
    ];

    private static (ModelFolder Folder, ImageMode? Mode) Open(string name) => name switch
    {
        "llava-1.5 pad" => (ModelFolder.Read(SharedData.Fixture("tiny-llava-1.5")), ImageMode.Pad),
        "llava-1.5 crop" => (ModelFolder.Read(SharedData.Fixture("tiny-llava-1.5")), ImageMode.Crop),
        "llava-next transformers" => (ModelFolder.Read(SharedData.Fixture("tiny-llava-next"), new LoadOptions { Anyres = AnyresArithmetic.Transformers }), null),
        "llava-next llava-next" => (ModelFolder.Read(SharedData.Fixture("tiny-llava-next"), new LoadOptions { Anyres = AnyresArithmetic.LlavaNext }), null),
        "qwen2-vl" => (ModelFolder.Read(FamilyFolders.AsDownloaded(FamilyFolders.Qwen2Vl)), null),
        "onevision" => (ModelFolder.Read(FamilyFolders.AsDownloaded(FamilyFolders.Onevision)), null),
        _ => throw new ArgumentOutOfRangeException(nameof(name)),
    };

    [SharedTheory]
    [MemberData(nameof(Folders))]
    public void Token_Rectangles_Hold_Exactly_The_Red_Pixels_The_Patch_Mapper_Marks(string name)
    {
        var (folder, mode) = Open(name);
        var rng = new Random(15);
        var mapper = folder.PatchMapper(mode);
        int cases = 0, interpolatedCases = 0;
        var problems = new List<string>();
        foreach (var (w, h) in new[] { (320, 240), (500, 375), (110, 352), (640, 480), (336, 336), (75, 60), (800, 600) })
        {
            for (int rep = 0; rep < 3; rep++)
            {
                var boxes = Enumerable.Range(0, 1 + rng.Next(3)).Select(_ =>
                {
                    int x = rng.Next(w), y = rng.Next(h);
                    return new Box(x, y, rng.Next(1, Math.Max(2, (w - x) / 2)), rng.Next(1, Math.Max(2, (h - y) / 2)));
                }).ToArray();
                var sets = mapper.Map(w, h, boxes);
                var view = folder.View(ObjectPatchMapper.DrawMask(w, h, boxes), mode);
                Assert.Equal(folder.PlanImage(w, h, mode).ImageTokens, view.Tokens.Count);
                bool interpolated = folder is ModalFlow.Families.LlavaOnevision.LlavaOnevisionModelFolder ov && ov.Config.PlanImage(w, h).Interpolated;
                if (interpolated) interpolatedCases++;
                cases++;

                var noPixels = Enumerable.Range(0, view.Tokens.Count).Where(k => view.Tokens[k] is null).ToArray();
                if (!noPixels.SequenceEqual(sets.Newlines))
                    problems.Add($"{w}x{h}: tokens without pixels [{string.Join(", ", noPixels.Take(8))}] are not the newlines [{string.Join(", ", sets.Newlines.Take(8))}]");
                var related = sets.Related.ToHashSet();
                for (int k = 0; k < view.Tokens.Count; k++)
                {
                    if (view.Tokens[k] is not { } region) continue;
                    bool red = HasRed(view.Crops[region.Crop].Image, region.Rect);
                    bool isRelated = related.Contains(k);
                    if (isRelated && !red) problems.Add($"{w}x{h} boxes {string.Join(" ", boxes)}: token {k} is related but its rectangle {region.Rect} in crop {region.Crop} has no red pixel");
                    if (!interpolated && red && !isRelated) problems.Add($"{w}x{h} boxes {string.Join(" ", boxes)}: token {k}'s rectangle {region.Rect} in crop {region.Crop} holds red but the mapper says other");
                }
            }
        }
        Assert.True(problems.Count == 0, $"{problems.Count} mismatches over {cases} cases; first: {string.Join("\n", problems.Take(5))}");
        if (name == "onevision") Assert.True(interpolatedCases > 0, "expected some interpolated OneVision cases");
    }

    [SharedFact]
    public void Llava15_View_Is_The_Picture_Whose_Pixel_Values_The_Model_Takes()
    {
        var folder = (ModalFlow.Families.Llava.LlavaModelFolder)ModelFolder.Read(SharedData.Fixture("tiny-llava-1.5"));
        var rng = new Random(3);
        var pixels = new byte[250 * 180 * 3];
        rng.NextBytes(pixels);
        var image = new RgbImage(250, 180, pixels);
        var preprocessor = folder.ImagePreprocessor(ImageMode.Pad);
        var view = folder.View(image, ImageMode.Pad);
        var crop = Assert.Single(view.Crops).Image;
        var expected = preprocessor.Preprocess(image).PixelValues;
        var actual = preprocessor.ToPixelValues(crop);
        int first = Enumerable.Range(0, expected.Length).FirstOrDefault(i => expected[i] != actual[i], -1);
        Assert.True(first < 0, $"pixel value {first}: view {(first < 0 ? 0 : actual[first])}, model input {(first < 0 ? 0 : expected[first])}");
    }

    [SharedFact]
    public void Next_Tiles_Are_Windows_Of_The_Viewed_Canvas()
    {
        var folder = (ModalFlow.Families.Llava.LlavaModelFolder)ModelFolder.Read(SharedData.Fixture("tiny-llava-next"));
        var rng = new Random(4);
        var pixels = new byte[500 * 375 * 3];
        rng.NextBytes(pixels);
        var image = new RgbImage(500, 375, pixels);
        var plan = folder.PlanAnyres(image.Width, image.Height);
        var tiles = Anyres.GeometryTiles(image, plan);
        var view = folder.View(image);
        Assert.Equal(tiles[0].Pixels, view.Crops[0].Image.Pixels);
        var canvas = view.Crops[1].Image;
        Assert.Equal((plan.CanvasWidth, plan.CanvasHeight), (canvas.Width, canvas.Height));
        for (int t = 1; t < tiles.Length; t++)
        {
            // In transformers' arithmetic an odd pad makes the last tile row or column one pixel short (the pad's far
            // side is one pixel narrower than the canvas); that tile is the top-left part of its window.
            int col = (t - 1) % plan.GridCols, row = (t - 1) / plan.GridCols;
            Assert.Equal((plan.TileWidth(col), plan.TileHeight(row)), (tiles[t].Width, tiles[t].Height));
            var window = RgbImage.Filled(tiles[t].Width, tiles[t].Height, Rgb8.Black);
            window.Paste(canvas, -col * plan.TileSize, -row * plan.TileSize);
            Assert.True(tiles[t].Pixels.AsSpan().SequenceEqual(window.Pixels), $"tile {t - 1} ({plan}) differs from its window of the canvas");
        }
    }

    [SharedFact]
    public void View_Refuses_An_Image_Mode_The_Family_Does_Not_Have()
    {
        var folder = ModelFolder.Read(FamilyFolders.AsDownloaded(FamilyFolders.Qwen2Vl));
        var e = Assert.Throws<InputException>(() => folder.View(RgbImage.Filled(64, 64, Rgb8.Black), ImageMode.Pad));
        Assert.Contains("--image-mode", e.Message);
    }

    private static bool HasRed(RgbImage image, PixelRect r)
    {
        var red = ObjectPatchMapper.ObjectColor;
        for (int y = r.Y; y < r.Y + r.Height; y++)
            for (int x = r.X; x < r.X + r.Width; x++)
                if (image.GetPixel(x, y) == red) return true;
        return false;
    }
}

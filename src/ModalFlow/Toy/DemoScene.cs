using ModalFlow.Vision;
using SkiaSharp;

namespace ModalFlow.Toy;

/// <summary>A small synthetic scene (coloured shapes on a plain background), drawn with SkiaSharp and saved as PNG.</summary>
public static class DemoScene
{
    public static void WritePng(string path, int width = 480, int height = 360)
    {
        using var surface = SKSurface.Create(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        var canvas = surface.Canvas;
        canvas.Clear(new SKColor(200, 200, 190));
        using (var red = new SKPaint { Color = new SKColor(220, 30, 30), IsAntialias = false })
            canvas.DrawRect(new SKRect(60, 90, 180, 210), red);
        using (var blue = new SKPaint { Color = new SKColor(30, 60, 220), IsAntialias = false })
            canvas.DrawCircle(340, 180, 70, blue);
        using var image = surface.Snapshot();
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        using var fs = File.Create(path);
        data.SaveTo(fs);
    }

    /// <summary>The scene's object boxes (x, y, w, h) as the paper's CSVs give them.</summary>
    public static IReadOnlyDictionary<string, (int X, int Y, int W, int H)> Boxes { get; } = new Dictionary<string, (int, int, int, int)>
    {
        ["square"] = (60, 90, 120, 120),
        ["circle"] = (270, 110, 140, 140),
    };

    public static RgbImage Decode(string path) => ImageDecoder.Decode(path);
}

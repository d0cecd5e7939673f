using System.Globalization;
using System.Text;
using SkiaSharp;

namespace ModalFlow.Toy;

/// <summary>
/// A small deterministic set of synthetic scenes and questions in the paper's CSV schema A (single central object with
/// options): one coloured shape per scene, "Is the square red or blue?". Images are JPEGs named by img_id, boxes are
/// the shape's (x, y, w, h), so every experiment — including the object-patch one — runs on it.
/// </summary>
public static class DemoDataset
{
    public const string TaskName = "ToyChoose";
    public static readonly string[] Shapes = ["square", "circle", "triangle"];
    public static readonly (string Name, SKColor Color)[] Colors =
        [("red", new(220, 30, 30)), ("blue", new(30, 60, 220)), ("green", new(30, 170, 60)), ("yellow", new(235, 210, 30))];

    private const string Header = "question_id,img_id,question,answer,true option,false option,central object name,central object id," +
        "type_detailed,type_semantic,type_structural,operations,captions,image_w,image_h,central object w,central object h,central object x,central object y";

    /// <summary>Writes <paramref name="count"/> scenes into <paramref name="dir"/>/images and the task CSV; returns the CSV path.</summary>
    public static string Write(string dir, int count = 8, int seed = 7)
    {
        var images = Directory.CreateDirectory(Path.Combine(dir, "images")).FullName;
        var rng = new Random(seed);
        var csv = new StringBuilder(Header).Append('\n');
        for (int i = 0; i < count; i++)
        {
            int w = rng.Next(360, 640), h = rng.Next(300, 480);
            string shape = Shapes[rng.Next(Shapes.Length)];
            int c = rng.Next(Colors.Length), other = (c + 1 + rng.Next(Colors.Length - 1)) % Colors.Length;
            int size = rng.Next(90, Math.Min(w, h) / 2), x = rng.Next(0, w - size), y = rng.Next(0, h - size);
            string imgId = (9000000 + i).ToString(CultureInfo.InvariantCulture);
            DrawScene(Path.Combine(images, imgId + ".jpg"), w, h, shape, Colors[c].Color, x, y, size, rng);
            var (a, b) = rng.Next(2) == 0 ? (Colors[c].Name, Colors[other].Name) : (Colors[other].Name, Colors[c].Name);
            string qid = "0" + (4200000 + i).ToString(CultureInfo.InvariantCulture);   // leading zero, as half of GQA's ids
            csv.Append(string.Join(',', qid, imgId, $"Is the {shape} {a} or {b}?", Colors[c].Name, Colors[c].Name, Colors[other].Name, shape,
                (100 + i).ToString(CultureInfo.InvariantCulture), "chooseAttr", "attr", "choose", "\"[]\"", "\"a synthetic scene\"",
                w, h, size, size, x, y)).Append('\n');
        }
        var path = Path.Combine(dir, $"demo_{TaskName}.csv");
        File.WriteAllText(path, csv.ToString());
        return path;
    }

    private static void DrawScene(string path, int w, int h, string shape, SKColor color, int x, int y, int size, Random rng)
    {
        using var bitmap = new SKBitmap(w, h, SKColorType.Rgba8888, SKAlphaType.Opaque);
        using (var canvas = new SKCanvas(bitmap))
        {
            canvas.Clear(new SKColor((byte)rng.Next(150, 230), (byte)rng.Next(150, 230), (byte)rng.Next(150, 230)));
            using var paint = new SKPaint { Color = color, IsAntialias = true };
            switch (shape)
            {
                case "square": canvas.DrawRect(x, y, size, size, paint); break;
                case "circle": canvas.DrawCircle(x + size / 2f, y + size / 2f, size / 2f, paint); break;
                default:
                    using (var p = new SKPath())
                    {
                        p.MoveTo(x + size / 2f, y);
                        p.LineTo(x + size, y + size);
                        p.LineTo(x, y + size);
                        p.Close();
                        canvas.DrawPath(p, paint);
                    }
                    break;
            }
        }
        using var data = bitmap.Encode(SKEncodedImageFormat.Jpeg, 92);
        using var fs = File.Create(path);
        data.SaveTo(fs);
    }
}

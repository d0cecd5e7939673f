using ModalFlow.Data;
using SkiaSharp;

namespace ModalFlow.Tests.Support;

/// <summary>
/// An images folder for a slice of task rows: the real GQA images in ../shared/data/images where they exist, and for
/// the other rows a generated JPEG of the row's image_w × image_h (geometry is what the patch sets depend on).
/// </summary>
public static class TaskImages
{
    public static string Create(IEnumerable<GqaTaskRow> rows, string dir)
    {
        Directory.CreateDirectory(dir);
        foreach (var row in rows)
        {
            var target = Path.Combine(dir, row.ImageFileName);
            if (File.Exists(target)) continue;
            var real = SharedData.Available ? SharedData.DataFile("images", row.ImageFileName) : null;
            if (real is not null && File.Exists(real)) { File.Copy(real, target); continue; }
            using var bitmap = new SKBitmap(row.ImageWidth, row.ImageHeight, SKColorType.Rgba8888, SKAlphaType.Opaque);
            using (var canvas = new SKCanvas(bitmap))
            {
                int seed = row.QuestionId.Aggregate(17, (h, c) => h * 31 + c);
                canvas.Clear(new SKColor((byte)(seed & 0xFF), (byte)((seed >> 8) & 0xFF), (byte)((seed >> 16) & 0xFF)));
                using var paint = new SKPaint { Color = new SKColor(230, 40, 40) };
                foreach (var b in row.PatchBoxes) canvas.DrawRect(b.X, b.Y, b.W, b.H, paint);
            }
            using var data = bitmap.Encode(SKEncodedImageFormat.Jpeg, 90);
            using var fs = File.Create(target);
            data.SaveTo(fs);
        }
        return dir;
    }
}

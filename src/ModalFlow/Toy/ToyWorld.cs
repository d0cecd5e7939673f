using System.Globalization;
using System.Text;
using SkiaSharp;

namespace ModalFlow.Toy;

/// <summary>
/// A deterministic synthetic VQA world in the paper's six task styles and CSV schemas (SCHEMA.md A–D): scenes of
/// coloured shapes on a plain background, questions whose answer depends only on the image, exact object boxes.
/// The right answer is known by construction, so a model trained on it has a known information flow: the answer
/// must come from the image through the question to the last position.
/// </summary>
public static class ToyWorld
{
    public static readonly string[] Shapes = ["square", "circle", "triangle", "star"];
    public static readonly (string Name, SKColor Color)[] Colors =
        [("red", new(215, 35, 35)), ("blue", new(35, 70, 215)), ("green", new(35, 165, 70)), ("yellow", new(230, 205, 35))];

    private sealed record Obj(string Shape, int Color, int X, int Y, int Size)
    {
        public string ColorName => Colors[Color].Name;
        public int CenterX => X + Size / 2;
    }

    private static readonly Dictionary<string, string> Headers = new()
    {
        ["A"] = "question_id,img_id,question,answer,true option,false option,central object name,central object id,image_w,image_h,central object w,central object h,central object x,central object y",
        ["B"] = "question_id,img_id,question,answer,central object name,central object id,image_w,image_h,central object w,central object h,central object x,central object y",
        ["C"] = "question_id,img_id,question,answer,true option,false option,object1 name,object1 id,object2 name,object2 id,image_w,image_h,object1 w,object1 h,object1 x,object1 y,object2 w,object2 h,object2 x,object2 y",
        ["D"] = "question_id,img_id,question,answer,object1 name,object1 id,object2 name,object2 id,image_w,image_h,object1 w,object1 h,object1 x,object1 y,object2 w,object2 h,object2 x,object2 y",
    };

    /// <summary>The six tasks with their schema letter.</summary>
    public static IReadOnlyList<(string Task, string Schema)> Tasks { get; } =
        [("ChooseAttr", "A"), ("ChooseCat", "A"), ("ChooseRel", "C"), ("CompareAttr", "D"), ("LogicalObj", "D"), ("QueryAttr", "B")];

    /// <summary>Every word a toy question or answer uses (for the generated tokenizer).</summary>
    public static IReadOnlyList<string> Vocabulary { get; } =
    [
        .. Shapes, .. Shapes.Select(s => s + "s"), .. Colors.Select(c => c.Name), "what", "color", "is", "the", "which", "shape", "on",
        "side", "of", "picture", "left", "right", "to", "or", "are", "there", "either", "yes", "no", "do", "and", "have", "in",
        "common", "a", "kind",
    ];

    /// <summary>
    /// Writes images/ and one CSV per task (toy_&lt;Task&gt;.csv) with <paramref name="perTask"/> rows each into
    /// <paramref name="dir"/>; the same (seed, perTask, size) gives byte-identical CSVs and pixel-identical images.
    /// </summary>
    public static IReadOnlyDictionary<string, string> Write(string dir, int perTask, int seed, int imageSize = 224)
    {
        var images = Directory.CreateDirectory(Path.Combine(dir, "images")).FullName;
        var files = new Dictionary<string, string>();
        int imageCounter = 0;
        foreach (var (task, schema) in Tasks)
        {
            var rng = new Random(HashCode.Combine(seed, task.Length, task[0], task[^1]));
            var csv = new StringBuilder(Headers[schema]).Append('\n');
            for (int i = 0; i < perTask; i++)
            {
                string imgId = (seed * 1_000_000 + imageCounter++).ToString(CultureInfo.InvariantCulture);
                string qid = "0" + (seed * 1_000_000 + imageCounter).ToString(CultureInfo.InvariantCulture);
                var row = Generate(task, rng, imageSize);
                Draw(Path.Combine(images, imgId + ".png"), imageSize, row.Objects, rng);
                csv.Append(qid).Append(',').Append(imgId).Append(",\"").Append(row.Question.Replace("\"", "\"\"")).Append("\",").Append(row.Answer);
                foreach (var f in row.Fields) csv.Append(',').Append(f);
                csv.Append('\n');
            }
            var path = Path.Combine(dir, $"toy_{task}.csv");
            File.WriteAllText(path, csv.ToString());
            files[task] = path;
        }
        return files;
    }

    private sealed record Row(string Question, string Answer, IReadOnlyList<string> Fields, IReadOnlyList<Obj> Objects);

    private static string Box(Obj o) => $"{o.Size},{o.Size},{o.X},{o.Y}";

    private static Row Generate(string task, Random rng, int size)
    {
        string I(int v) => v.ToString(CultureInfo.InvariantCulture);
        switch (task)
        {
            case "ChooseAttr":
                {
                    var objs = Place(rng, size, 2, distinctShapes: true);
                    var o = objs[0];
                    int other = (o.Color + 1 + rng.Next(Colors.Length - 1)) % Colors.Length;
                    var (a, b) = Order(rng, o.ColorName, Colors[other].Name);
                    return new($"What color is the {o.Shape}, {a} or {b}?", o.ColorName,
                        [o.ColorName, Colors[other].Name, o.Shape, "1", I(size), I(size), Box(o)], objs);
                }
            case "ChooseCat":
                {
                    var objs = Place(rng, size, 2, distinctShapes: true, distinctColors: true);
                    var o = objs[0];
                    string other = Shapes.Where(s => s != o.Shape).ElementAt(rng.Next(Shapes.Length - 1));
                    var (a, b) = Order(rng, o.Shape, other);
                    return new($"Which shape is {o.ColorName}, a {a} or a {b}?", o.Shape, [o.Shape, other, "shape", "1", I(size), I(size), Box(o)], objs);
                }
            case "QueryAttr":
                {
                    var objs = Place(rng, size, 2, distinctShapes: true, separatedX: true);
                    var o = objs[0];
                    string side = o.CenterX < size / 2 ? "left" : "right";
                    return new($"On which side of the picture is the {o.Shape}?", side, [o.Shape, "1", I(size), I(size), Box(o)], objs);
                }
            case "ChooseRel":
                {
                    var objs = Place(rng, size, 2, distinctShapes: true, separatedX: true);
                    Obj reference = objs[0], subject = objs[1];
                    string answer = subject.CenterX < reference.CenterX ? "left" : "right";
                    string other = answer == "left" ? "right" : "left";
                    var (a, b) = Order(rng, "left", "right");
                    return new($"Is the {subject.Shape} to the {a} or to the {b} of the {reference.Shape}?", answer,
                        [answer, other, reference.Shape, "1", subject.Shape, "2", I(size), I(size), Box(reference), Box(subject)], objs);
                }
            case "CompareAttr":
                {
                    // Two objects sharing exactly one attribute: the colour or the shape.
                    bool sameColor = rng.Next(2) == 0;
                    var objs = Place(rng, size, 2, distinctShapes: sameColor, distinctColors: !sameColor);
                    objs[1] = sameColor ? objs[1] with { Color = objs[0].Color } : objs[1] with { Shape = objs[0].Shape };
                    string n1 = $"{objs[0].ColorName} {objs[0].Shape}", n2 = $"{objs[1].ColorName} {objs[1].Shape}";
                    return new($"What do the {n1} and the {n2} have in common?", sameColor ? "color" : "shape",
                        [objs[0].Shape, "1", objs[1].Shape, "2", I(size), I(size), Box(objs[0]), Box(objs[1])], objs);
                }
            default: // LogicalObj
                {
                    bool yes = rng.Next(2) == 0;
                    var objs = Place(rng, size, 2, distinctShapes: true);
                    var absent = Shapes.Where(s => objs.All(o => o.Shape != s)).ToList();
                    string asked1 = yes ? objs[0].Shape : absent[0];
                    string asked2 = absent[^1];
                    var (a, b) = Order(rng, asked1, asked2);
                    // object1 = the asked shape when present, else an object that is there (its box is the evidence).
                    var evidence = objs.FirstOrDefault(o => o.Shape == asked1) ?? objs[0];
                    return new($"Are there either {a}s or {b}s?", yes ? "yes" : "no",
                        [evidence.Shape, "1", asked2, "-", I(size), I(size), Box(evidence), "-,-,-,-"], objs);
                }
        }
    }

    private static (string, string) Order(Random rng, string a, string b) => rng.Next(2) == 0 ? (a, b) : (b, a);

    private static List<Obj> Place(Random rng, int size, int count, bool distinctShapes = false, bool distinctColors = false, bool separatedX = false)
    {
        for (int attempt = 0; ; attempt++)
        {
            var objs = new List<Obj>();
            var shapes = Shapes.OrderBy(_ => rng.Next()).ToList();
            var colors = Enumerable.Range(0, Colors.Length).OrderBy(_ => rng.Next()).ToList();
            for (int k = 0; k < count; k++)
            {
                int s = rng.Next(size / 5, size / 3);
                objs.Add(new Obj(distinctShapes ? shapes[k] : shapes[rng.Next(shapes.Count)], distinctColors ? colors[k] : colors[rng.Next(colors.Count)],
                    rng.Next(0, size - s), rng.Next(0, size - s), s));
            }
            bool overlap = objs.Any(p => objs.Any(q => p != q && p.X < q.X + q.Size && q.X < p.X + p.Size && p.Y < q.Y + q.Size && q.Y < p.Y + p.Size));
            bool separated = !separatedX || (Math.Abs(objs[0].CenterX - objs[1].CenterX) > size / 6
                && (objs[0].CenterX < size / 2 - size / 12 || objs[0].CenterX > size / 2 + size / 12));
            if ((!overlap && separated) || attempt > 1000) return objs;
        }
    }

    private static void Draw(string path, int size, IReadOnlyList<Obj> objs, Random rng)
    {
        using var bitmap = new SKBitmap(size, size, SKColorType.Rgba8888, SKAlphaType.Opaque);
        using (var canvas = new SKCanvas(bitmap))
        {
            byte g = (byte)rng.Next(120, 200);
            canvas.Clear(new SKColor(g, (byte)(g + rng.Next(-15, 15)), (byte)(g + rng.Next(-15, 15))));
            foreach (var o in objs)
            {
                using var paint = new SKPaint { Color = Colors[o.Color].Color, IsAntialias = false };
                float x = o.X, y = o.Y, s = o.Size;
                switch (o.Shape)
                {
                    case "square": canvas.DrawRect(x, y, s, s, paint); break;
                    case "circle": canvas.DrawCircle(x + s / 2, y + s / 2, s / 2, paint); break;
                    default:
                        using (var p = new SKPath())
                        {
                            if (o.Shape == "triangle") { p.MoveTo(x + s / 2, y); p.LineTo(x + s, y + s); p.LineTo(x, y + s); }
                            else
                            {
                                for (int k = 0; k < 10; k++)
                                {
                                    double r = k % 2 == 0 ? s / 2.0 : s / 4.5, a = -Math.PI / 2 + k * Math.PI / 5;
                                    float px = (float)(x + s / 2 + r * Math.Cos(a)), py = (float)(y + s / 2 + r * Math.Sin(a));
                                    if (k == 0) p.MoveTo(px, py); else p.LineTo(px, py);
                                }
                            }
                            p.Close();
                            canvas.DrawPath(p, paint);
                        }
                        break;
                }
            }
        }
        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        using var fs = File.Create(path);
        data.SaveTo(fs);
    }
}

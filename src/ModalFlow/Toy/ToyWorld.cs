using System.Globalization;
using System.Text;
using ModalFlow.Data;
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
        "common", "a", "kind", "size",
    ];

    /// <summary>
    /// The seed of a task's question stream: stable across processes and machines (FNV-1a of the task name mixed with
    /// <paramref name="seed"/>; .NET's HashCode is randomised per process and must not be used for this).
    /// </summary>
    public static int StableSeed(int seed, string task)
    {
        uint h = 2166136261;
        foreach (char c in task) h = (h ^ c) * 16777619;
        return (int)((h ^ (uint)seed * 2654435761u) & 0x7FFFFFFF);
    }

    /// <summary>
    /// Writes images/ and one CSV per task (toy_&lt;Task&gt;.csv) with <paramref name="perTask"/> rows each into
    /// <paramref name="dir"/>; the same (seed, perTask, size) gives byte-identical CSVs and pixel-identical images in
    /// any process. <paramref name="balanced"/> (default) keeps questions so that every answer — and, where the question
    /// names two options, the true option in first and in second place — occurs equally often (as far as
    /// <paramref name="perTask"/> divides): a constant answer then scores what chance gives, so the image-blind baseline
    /// of an evaluation is not a sampling accident.
    /// </summary>
    public static IReadOnlyDictionary<string, string> Write(string dir, int perTask, int seed, int imageSize = 224, bool balanced = true)
    {
        var images = Directory.CreateDirectory(Path.Combine(dir, "images")).FullName;
        var files = new Dictionary<string, string>();
        int imageCounter = 0;
        foreach (var (task, schema) in Tasks)
        {
            var rng = new Random(StableSeed(seed, task));
            var csv = new StringBuilder(Headers[schema]).Append('\n');
            int cells = BalanceCells(task);
            var taken = new Dictionary<string, int>(StringComparer.Ordinal);
            for (int i = 0; i < perTask; i++)
            {
                string imgId = (seed * 1_000_000 + imageCounter++).ToString(CultureInfo.InvariantCulture);
                string qid = "0" + (seed * 1_000_000 + imageCounter).ToString(CultureInfo.InvariantCulture);
                ToySample sample;
                while (true)
                {
                    sample = Sample(task, rng, imageSize);
                    if (!balanced) break;
                    // Quota per cell: an even share of the task's rows, rounded up.
                    string key = BalanceKey(sample);
                    if (taken.GetValueOrDefault(key) < (perTask + cells - 1) / cells) { taken[key] = taken.GetValueOrDefault(key) + 1; break; }
                }
                File.WriteAllBytes(Path.Combine(images, imgId + ".png"), RenderPng(sample));
                csv.Append(qid).Append(',').Append(imgId).Append(",\"").Append(sample.Question.Replace("\"", "\"\"")).Append("\",").Append(sample.Answer);
                foreach (var f in sample.Fields) csv.Append(',').Append(f);
                csv.Append('\n');
            }
            var path = Path.Combine(dir, $"toy_{task}.csv");
            File.WriteAllText(path, csv.ToString());
            files[task] = path;
        }
        return files;
    }

    /// <summary>Answer, and for two-option questions whether the true option is named first.</summary>
    private static string BalanceKey(ToySample s) => GqaTasks.HasOptions(GqaTasks.SchemaOf(s.Task)!.Value)
        ? $"{s.Answer}|{s.Question.IndexOf(s.Fields[0], StringComparison.Ordinal) < s.Question.IndexOf(s.Fields[1], StringComparison.Ordinal)}"
        : s.Answer;

    private static int BalanceCells(string task) => task switch
    {
        "ChooseAttr" => Colors.Length * 2,
        "ChooseCat" => Shapes.Length * 2,
        "ChooseRel" => 4,
        _ => 2,
    };

    private sealed record Row(string Question, string Answer, IReadOnlyList<string> Fields, IReadOnlyList<ToyObject> Objects);

    private static string Box(ToyObject o) => $"{o.Size},{o.Size},{o.X},{o.Y}";

    /// <summary>One question of <paramref name="task"/> about a new scene of side <paramref name="size"/> (all draws from <paramref name="rng"/>).</summary>
    public static ToySample Sample(string task, Random rng, int size)
    {
        if (!Tasks.Any(t => t.Task == task)) throw new ArgumentException($"unknown toy task '{task}'; expected one of {string.Join(", ", Tasks.Select(t => t.Task))}", nameof(task));
        var row = Generate(task, rng, size);
        byte g = (byte)rng.Next(120, 200);
        var background = new SKColor(g, (byte)(g + rng.Next(-15, 15)), (byte)(g + rng.Next(-15, 15)));
        return new ToySample(task, row.Question, row.Answer, row.Fields, row.Objects, size, background);
    }

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
                    ToyObject reference = objs[0], subject = objs[1];
                    string answer = subject.CenterX < reference.CenterX ? "left" : "right";
                    string other = answer == "left" ? "right" : "left";
                    var (a, b) = Order(rng, "left", "right");
                    return new($"Is the {subject.Shape} to the {a} or to the {b} of the {reference.Shape}?", answer,
                        [answer, other, reference.Shape, "1", subject.Shape, "2", I(size), I(size), Box(reference), Box(subject)], objs);
                }
            case "CompareAttr":
                {
                    // GQA's "What do the X and the Y have in common?": two different shapes sharing exactly one attribute,
                    // their colour or their size, so the answer is in the image only.
                    bool sameColor = rng.Next(2) == 0;
                    var objs = Place(rng, size, 2, distinctShapes: true, distinctColors: !sameColor, large: sameColor ? Differ(rng) : Same(rng));
                    if (sameColor) objs[1] = objs[1] with { Color = objs[0].Color };
                    return new($"What do the {objs[0].Shape} and the {objs[1].Shape} have in common?", sameColor ? "color" : "size",
                        [objs[0].Shape, "1", objs[1].Shape, "2", I(size), I(size), Box(objs[0]), Box(objs[1])], objs);
                }
            default: // LogicalObj
                {
                    // "yes": one shape that is there and one that is not; "no": the two that are not. Every pair of shapes
                    // is then equally likely under both answers, so the words alone say nothing about the answer.
                    bool yes = rng.Next(2) == 0;
                    var objs = Place(rng, size, 2, distinctShapes: true);
                    var absent = Shapes.Where(s => objs.All(o => o.Shape != s)).ToList();
                    string asked1 = yes ? objs[rng.Next(objs.Count)].Shape : absent[0];
                    string asked2 = yes ? absent[rng.Next(absent.Count)] : absent[1];
                    var (a, b) = Order(rng, asked1, asked2);
                    // object1 = the asked shape when present, else an object that is there (its box is the evidence).
                    var evidence = objs.FirstOrDefault(o => o.Shape == asked1) ?? objs[0];
                    return new($"Are there either {a}s or {b}s?", yes ? "yes" : "no",
                        [evidence.Shape, "1", asked2, "-", I(size), I(size), Box(evidence), "-,-,-,-"], objs);
                }
        }
    }

    private static (string, string) Order(Random rng, string a, string b) => rng.Next(2) == 0 ? (a, b) : (b, a);

    private static bool[] Same(Random rng) { bool l = rng.Next(2) == 0; return [l, l]; }

    private static bool[] Differ(Random rng) { bool l = rng.Next(2) == 0; return [l, !l]; }

    /// <summary>Scenes are a <see cref="Cells"/>×<see cref="Cells"/> grid of cells; each object sits centred in its own cell.</summary>
    public const int Cells = 4;

    /// <summary>
    /// Places <paramref name="count"/> objects in distinct cells of the scene's grid, each centred in its cell and small
    /// (45–60 % of the cell) or large (80–95 %); <paramref name="large"/> fixes the size classes, otherwise they are
    /// random. With <paramref name="separatedX"/> the first two objects are in different columns. Cells align with
    /// the vision tower's patches (a cell is 2×2 patches of the toy model), so every object covers the same patches
    /// wherever it is: the tower learns shapes quickly and the related patches of a box are exactly its cell's.
    /// </summary>
    private static List<ToyObject> Place(Random rng, int size, int count, bool distinctShapes = false, bool distinctColors = false, bool separatedX = false,
        bool[]? large = null)
    {
        int cell = size / Cells;
        var shapes = Shapes.OrderBy(_ => rng.Next()).ToList();
        var colors = Enumerable.Range(0, Colors.Length).OrderBy(_ => rng.Next()).ToList();
        var cells = Enumerable.Range(0, Cells * Cells).OrderBy(_ => rng.Next()).ToList();
        if (separatedX && cells[1] % Cells == cells[0] % Cells)
            cells[1] = cells.Skip(2).First(c => c % Cells != cells[0] % Cells);
        var objs = new List<ToyObject>();
        for (int k = 0; k < count; k++)
        {
            bool isLarge = large?[k] ?? rng.Next(2) == 0;
            int s = isLarge ? rng.Next(cell * 80 / 100, cell * 95 / 100 + 1) : rng.Next(cell * 45 / 100, cell * 60 / 100 + 1);
            int cx = cells[k] % Cells * cell, cy = cells[k] / Cells * cell;
            objs.Add(new ToyObject(distinctShapes ? shapes[k] : shapes[rng.Next(shapes.Count)], distinctColors ? colors[k] : colors[rng.Next(colors.Count)],
                cx + (cell - s) / 2, cy + (cell - s) / 2, s, isLarge));
        }
        return objs;
    }

    /// <summary>The scene as a PNG file's bytes (what <see cref="Write"/> stores).</summary>
    public static byte[] RenderPng(ToySample sample)
    {
        using var bitmap = new SKBitmap(sample.ImageSize, sample.ImageSize, SKColorType.Rgba8888, SKAlphaType.Opaque);
        using (var canvas = new SKCanvas(bitmap))
        {
            canvas.Clear(sample.Background);
            foreach (var o in sample.Objects) DrawObject(canvas, o, Colors[o.Color].Color);
        }
        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    /// <summary>
    /// Per-patch ground truth on a <paramref name="grid"/>×<paramref name="grid"/> patch grid (row-major): the index of
    /// the object that covers most of the patch's pixels, or -1 where objects cover less than
    /// <paramref name="minCover"/> of it. Drawn with the same geometry as the image, so shapes are exact.
    /// </summary>
    public static int[] PatchObjects(ToySample sample, int grid, double minCover = 0.15)
    {
        int size = sample.ImageSize;
        using var bitmap = new SKBitmap(size, size, SKColorType.Rgba8888, SKAlphaType.Opaque);
        using (var canvas = new SKCanvas(bitmap))
        {
            canvas.Clear(SKColors.Black);
            for (int k = 0; k < sample.Objects.Count; k++) DrawObject(canvas, sample.Objects[k], new SKColor((byte)(k + 1), 0, 0));
        }
        var counts = new int[grid * grid, sample.Objects.Count + 1];
        for (int y = 0; y < size; y++)
            for (int x = 0; x < size; x++)
                counts[y * grid / size * grid + x * grid / size, bitmap.GetPixel(x, y).Red]++;
        var result = new int[grid * grid];
        for (int p = 0; p < result.Length; p++)
        {
            int best = 0, bestCount = 0, total = 0;
            for (int k = 1; k <= sample.Objects.Count; k++)
            {
                total += counts[p, k];
                if (counts[p, k] > bestCount) (best, bestCount) = (k, counts[p, k]);
            }
            total += counts[p, 0];
            result[p] = bestCount >= minCover * total && bestCount > 0 ? best - 1 : -1;
        }
        return result;
    }

    private static void DrawObject(SKCanvas canvas, ToyObject o, SKColor color)
    {
        using var paint = new SKPaint { Color = color, IsAntialias = false };
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

/// <summary>One shape in a toy scene: its kind, colour index into <see cref="ToyWorld.Colors"/>, box and size class.</summary>
public sealed record ToyObject(string Shape, int Color, int X, int Y, int Size, bool Large)
{
    public string ColorName => ToyWorld.Colors[Color].Name;
    public int CenterX => X + Size / 2;
}

/// <summary>A toy question with its scene: the CSV fields after the answer (schema of the task) and everything needed to draw it.</summary>
public sealed record ToySample(string Task, string Question, string Answer, IReadOnlyList<string> Fields, IReadOnlyList<ToyObject> Objects, int ImageSize,
    SKColor Background);

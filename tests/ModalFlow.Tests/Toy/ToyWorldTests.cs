using ModalFlow.Data;
using ModalFlow.Tests.Support;
using ModalFlow.Toy;
using ModalFlow.Vision;
using Xunit;

namespace ModalFlow.Tests.Toy;

public class ToyWorldTests
{
    [SharedFact]
    public void Toy_Tasks_Read_Back_In_The_Papers_Schemas_With_Boxes_On_The_Objects()
    {
        var dir = Directory.CreateTempSubdirectory("mf-toy-");
        try
        {
            var files = ToyWorld.Write(dir.FullName, perTask: 24, seed: 3, imageSize: 224);
            Assert.Equal(6, files.Count);
            var mapper = ObjectPatchMapper.Llava15Pad();
            foreach (var (task, file) in files)
            {
                var read = GqaTaskReader.ReadFile(file);
                Assert.Equal(task, read.Task);
                Assert.Empty(read.Errors);
                Assert.Equal(24, read.Rows.Length);
                // Balanced: every answer equally often (within one), so a constant answer scores chance.
                var counts = read.Rows.GroupBy(r => r.Answer).Select(g => g.Count()).ToList();
                Assert.True(counts.Count >= 2 && counts.Max() - counts.Min() <= (task is "ChooseAttr" or "ChooseCat" ? 2 : 1), $"{task}: answers {string.Join(",", counts)}");
                Assert.True(ToyProbe.BlindBaseline(read.Rows) <= 0.55, $"{task}: blind baseline {ToyProbe.BlindBaseline(read.Rows):P0}");
                foreach (var row in read.Rows)
                {
                    var img = ImageDecoder.Decode(Path.Combine(dir.FullName, "images", row.ImgId + ".png"));
                    Assert.Equal((224, 224), (img.Width, img.Height));
                    // The central object / object1 box holds that object's colour, not the background.
                    var box = row.CentralObjectBox ?? row.Object1Box!.Value;
                    var center = img.GetPixel(box.X + box.W / 2, box.Y + box.H * 2 / 3);
                    Assert.True(ToyWorld.Colors.Any(c => c.Color.Red == center.R && c.Color.Green == center.G && c.Color.Blue == center.B),
                        $"{task} {row.QuestionId}: pixel {center} at the box centre is not an object colour");
                    Assert.NotEmpty(mapper.Map(row).Related);
                    AssertAnswerFollowsFromThePicture(row, img);
                }
            }
            // Deterministic: the same seed writes the same CSVs.
            var again = Directory.CreateTempSubdirectory("mf-toy2-");
            try
            {
                var files2 = ToyWorld.Write(again.FullName, perTask: 24, seed: 3, imageSize: 224);
                foreach (var (task, file) in files) Assert.Equal(File.ReadAllText(file), File.ReadAllText(files2[task]));
            }
            finally { again.Delete(true); }
        }
        finally { dir.Delete(true); }
    }

    /// <summary>The answer, recomputed from the drawn pixels and the CSV boxes alone (not from the generator's objects).</summary>
    private static void AssertAnswerFollowsFromThePicture(GqaTaskRow row, RgbImage img)
    {
        string ColorAt(Box b)
        {
            var p = img.GetPixel(b.X + b.W / 2, b.Y + b.H * 2 / 3);
            return ToyWorld.Colors.Single(c => c.Color.Red == p.R && c.Color.Green == p.G && c.Color.Blue == p.B).Name;
        }
        double Cx(Box b) => b.X + b.W / 2.0;
        switch (row.Task)
        {
            case GqaTasks.ChooseAttr: Assert.Equal(ColorAt(row.CentralObjectBox!.Value), row.Answer); break;
            case GqaTasks.ChooseCat:
                // "Which shape is red, …?": the boxed object has the colour asked about; its category ("shape") is the object name.
                Assert.Contains($"is {ColorAt(row.CentralObjectBox!.Value)},", row.Question);
                Assert.Equal(("shape", row.TrueOption), (row.CentralObjectName, row.Answer));
                break;
            case GqaTasks.QueryAttr: Assert.Equal(Cx(row.CentralObjectBox!.Value) < row.ImageWidth / 2.0 ? "left" : "right", row.Answer); break;
            case GqaTasks.ChooseRel: Assert.Equal(Cx(row.Object2Box!.Value) < Cx(row.Object1Box!.Value) ? "left" : "right", row.Answer); break;
            case GqaTasks.CompareAttr:
                {
                    Box a = row.Object1Box!.Value, b = row.Object2Box!.Value;
                    bool sameColor = ColorAt(a) == ColorAt(b), sameSize = (a.W * ToyWorld.Cells > row.ImageWidth * 0.7) == (b.W * ToyWorld.Cells > row.ImageWidth * 0.7);
                    Assert.True(sameColor != sameSize, $"{row.QuestionId}: exactly one attribute must be shared");
                    Assert.Equal(sameColor ? "color" : "size", row.Answer);
                    break;
                }
            case GqaTasks.LogicalObj:
                Assert.Contains(row.Answer, new[] { "yes", "no" });
                if (row.Answer == "yes") Assert.Contains(row.Object1Name + "s", row.Question);
                break;
        }
    }

    [SharedFact]
    public void Question_Streams_Are_Seeded_The_Same_In_Every_Process()
    {
        // FNV-1a("ChooseAttr") xor 12·2654435761 (mod 2^32), low 31 bits — computed outside .NET. HashCode.Combine would
        // differ from process to process and silently change the generated worlds.
        Assert.Equal(1542366607, ToyWorld.StableSeed(12, "ChooseAttr"));
        Assert.NotEqual(ToyWorld.StableSeed(11, "ChooseAttr"), ToyWorld.StableSeed(12, "ChooseAttr"));
    }

    [SharedFact]
    public void Patch_Truth_Follows_The_Drawn_Shape()
    {
        var rng = new Random(5);
        for (int i = 0; i < 20; i++)
        {
            var sample = ToyWorld.Sample(GqaTasks.ChooseAttr, rng, 224);
            var owners = ToyWorld.PatchObjects(sample, 8, minCover: 0.5);
            // A patch owned by an object at ≥ 50% lies in its box; the object's box centre patch is owned by it
            // for squares (a square fills its box).
            for (int p = 0; p < owners.Length; p++)
            {
                if (owners[p] < 0) continue;
                var o = sample.Objects[owners[p]];
                int px = p % 8 * 28, py = p / 8 * 28;
                Assert.True(px + 28 > o.X && px < o.X + o.Size && py + 28 > o.Y && py < o.Y + o.Size, $"patch {p} outside object {owners[p]}'s box");
            }
            foreach (var (o, k) in sample.Objects.Select((o, k) => (o, k)).Where(t => t.o.Shape == "square" && t.o.Large))
            {
                int cx = (o.X + o.Size / 2) / 28, cy = (o.Y + o.Size / 2) / 28;
                Assert.Equal(k, owners[cy * 8 + cx]);
            }
        }
    }

    [SharedFact]
    public void Blind_Baseline_Is_The_Best_Constant_Answer_Counting_Named_Options()
    {
        GqaTaskRow Row(string q, string answer, string? t = null, string? f = null) =>
            new("ChooseAttr", GqaSchema.A, "x.csv", 2, "1", "1", q, answer, t, f, "square", null, null, null, null, null, 10, 10);
        // Answers red, red, blue, green: the most frequent answer is right 2/4 times; the first option named 3/4 times.
        var rows = new[]
        {
            Row("What color is the square, red or blue?", "red", "red", "blue"),
            Row("What color is the square, red or green?", "red", "red", "green"),
            Row("What color is the square, blue or red?", "blue", "blue", "red"),
            Row("What color is the square, yellow or green?", "green", "green", "yellow"),
        };
        Assert.Equal(0.75, ToyProbe.BlindBaseline(rows));
        Assert.Equal(2.0 / 3, ToyProbe.BlindBaseline([.. rows[..2].Select(r => r with { TrueOption = null, FalseOption = null }), rows[3] with { TrueOption = null }]));
    }
}

using System.Diagnostics;
using System.Text.Json;
using ModalFlow.Data;
using ModalFlow.Tests.Support;
using ModalFlow.Vision;
using Xunit;
using Xunit.Abstractions;

namespace ModalFlow.Tests.Data;

/// <summary>One row of fixtures/patch-sets/patch_sets.json (llava15_pad part).</summary>
public sealed record PatchGoldenRow(string Kind, string Task, string QuestionId, int ImageW, int ImageH, Box[] Boxes, int[][] Drawn,
    int TokenCount, int[] Related, int[] Other)
{
    public override string ToString() => $"{Kind} {Task} {QuestionId} {ImageW}x{ImageH}";
}

public static class PatchGolden
{
    public static string File => SharedData.Fixture("patch-sets", "patch_sets.json");

    private static readonly Lazy<PatchGoldenRow[]> RowsLazy = new(Load);
    public static PatchGoldenRow[] Rows => RowsLazy.Value;

    public static IEnumerable<object[]> Ids() => Rows.Select((_, i) => new object[] { i });

    private static PatchGoldenRow[] Load()
    {
        var root = JsonDocument.Parse(System.IO.File.ReadAllBytes(File)).RootElement;
        static int[] Ints(JsonElement e) => e.EnumerateArray().Select(x => x.GetInt32()).ToArray();
        IEnumerable<PatchGoldenRow> Read(string kind) => root.GetProperty(kind).EnumerateArray().Select(r =>
        {
            var m = r.GetProperty(PatchSetModes.Key(PatchSetMode.Llava15Pad));
            return new PatchGoldenRow(kind, r.GetProperty("task").GetString()!, r.GetProperty("question_id").GetString()!,
                r.GetProperty("image_w").GetInt32(), r.GetProperty("image_h").GetInt32(),
                r.GetProperty("boxes_xywh").EnumerateArray().Select(b => { var v = Ints(b); return new Box(v[0], v[1], v[2], v[3]); }).ToArray(),
                r.GetProperty("boxes_drawn_x0y0x1y1").EnumerateArray().Select(Ints).ToArray(),
                m.GetProperty("n_image_tokens").GetInt32(), Ints(m.GetProperty("related")), Ints(m.GetProperty("other")));
        });
        return [.. Read("rows"), .. Read("synthetic_rows")];
    }
}

public class PatchGoldenTests
{
    private static readonly ObjectPatchMapper Mapper = ObjectPatchMapper.Llava15Pad();

    [Fact]
    public void Golden_File_Has_48_Csv_Rows_And_7_Synthetic()
    {
        Assert.Equal(48, PatchGolden.Rows.Count(r => r.Kind == "rows"));
        Assert.Equal(7, PatchGolden.Rows.Count(r => r.Kind == "synthetic_rows"));
        Assert.All(PatchGolden.Rows, r => Assert.Equal(576, r.TokenCount));
    }

    [Theory]
    [MemberData(nameof(PatchGolden.Ids), MemberType = typeof(PatchGolden))]
    public void Llava15Pad_Fast_And_Reference_Equal_Golden_Related_And_Other(int index)
    {
        var g = PatchGolden.Rows[index];
        Assert.Equal(g.Drawn, g.Boxes.Select(b => new[] { b.X, b.Y, b.X1, b.Y1 }).ToArray());
        var fast = Mapper.Map(g.ImageW, g.ImageH, g.Boxes);
        var reference = Mapper.MapReference(g.ImageW, g.ImageH, g.Boxes);
        AssertSets(g, "fast", fast);
        AssertSets(g, "reference", reference);
    }

    private static void AssertSets(PatchGoldenRow g, string path, ObjectPatchSets s)
    {
        Assert.Equal(g.TokenCount, s.ImageTokenCount);
        var missing = g.Related.Except(s.Related).ToArray();
        var extra = s.Related.Except(g.Related).ToArray();
        if (missing.Length + extra.Length > 0)
            Assert.Fail($"{g} ({path}): related differ: golden-only [{string.Join(",", missing.Take(20))}], ours-only [{string.Join(",", extra.Take(20))}]");
        Assert.Equal(g.Related, s.Related.ToArray());
        Assert.Equal(g.Other, s.Other.ToArray());
        Assert.Empty(s.Newlines);
    }
}

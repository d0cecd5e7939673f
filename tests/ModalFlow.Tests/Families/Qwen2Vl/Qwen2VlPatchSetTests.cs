using System.Text.Json;
using ModalFlow.Data;
using ModalFlow.Families.Qwen2Vl;
using ModalFlow.Tests.Data;
using ModalFlow.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace ModalFlow.Tests.Families.Qwen2Vl;

/// <summary>One row of fixtures/patch-sets/qwen2_vl.json (rows, synthetic_rows, extra_rows).</summary>
public sealed record Qwen2VlGoldenRow(string Kind, string QuestionId, int ImageW, int ImageH, Box[] Boxes, int[][] Drawn, JsonElement Json)
{
    public override string ToString() => $"{Kind} {QuestionId} {ImageW}x{ImageH}";
}

public class Qwen2VlPatchSetTests(ITestOutputHelper log)
{
    public static string GoldenFile => SharedData.Fixture("patch-sets", "qwen2_vl.json");

    private static readonly Lazy<JsonElement> Root = new(() => JsonDocument.Parse(File.ReadAllBytes(GoldenFile)).RootElement);

    private static readonly Lazy<Qwen2VlGoldenRow[]> RowsLazy = new(() =>
    {
        static int[] Ints(JsonElement e) => e.EnumerateArray().Select(x => x.GetInt32()).ToArray();
        return [.. new[] { "rows", "synthetic_rows", "extra_rows" }.SelectMany(kind => Root.Value.GetProperty(kind).EnumerateArray().Select(r =>
            new Qwen2VlGoldenRow(kind, r.GetProperty("question_id").GetString()!, r.GetProperty("image_w").GetInt32(), r.GetProperty("image_h").GetInt32(),
                r.GetProperty("boxes_xywh").EnumerateArray().Select(b => { var v = Ints(b); return new Box(v[0], v[1], v[2], v[3]); }).ToArray(),
                r.GetProperty("boxes_drawn_x0y0x1y1").EnumerateArray().Select(Ints).ToArray(), r)))];
    });

    public static TheoryData<int> RowIds => new(Enumerable.Range(0, RowsLazy.Value.Length));

    /// <summary>The two modes of the golden file: the published Instruct preprocessor and the tiny fixture's.</summary>
    private static readonly Dictionary<string, Qwen2VlPatchMapper> Modes = new()
    {
        ["qwen2_vl_instruct"] = Qwen2VlPatchMapper.Instruct(),
        ["tiny_qwen2_vl"] = new Qwen2VlPatchMapper(Qwen2VlImageProcessorOptions.Load(TinyQwen2Vl.Dir)),
    };

    [SharedFact]
    public void Golden_File_Has_48_Rows_11_Synthetic_1_Extra_And_The_Two_Modes()
    {
        Assert.Equal(48, RowsLazy.Value.Count(r => r.Kind == "rows"));
        Assert.Equal(11, RowsLazy.Value.Count(r => r.Kind == "synthetic_rows"));
        Assert.Equal(1, RowsLazy.Value.Count(r => r.Kind == "extra_rows"));
        Assert.Equal(Modes.Keys.Order(), Root.Value.GetProperty("modes").EnumerateObject().Select(p => p.Name).Order());
    }

    /// <summary>Every row, both modes: geometry fields and the related / other sets, by the fast and the reference path.</summary>
    [SharedTheory]
    [MemberData(nameof(RowIds))]
    public void Both_Modes_Fast_And_Reference_Equal_Golden_Geometry_And_Sets(int index)
    {
        var g = RowsLazy.Value[index];
        Assert.Equal(g.Drawn, g.Boxes.Select(b => new[] { b.X, b.Y, b.X1, b.Y1 }).ToArray());
        foreach (var (mode, mapper) in Modes)
        {
            var m = g.Json.GetProperty(mode);
            var plan = mapper.Plan(g.ImageW, g.ImageH);
            Assert.Equal(m.GetProperty("n_image_tokens").GetInt32(), plan.ImageTokenCount);
            Assert.Equal(Ints(m, "resized_hw"), new[] { plan.ResizedHeight, plan.ResizedWidth });
            Assert.Equal(Ints(m, "image_grid_thw"), new[] { plan.Grid.T, plan.Grid.H, plan.Grid.W });
            Assert.Equal(Ints(m, "merged_grid_hw"), new[] { plan.MergedRows, plan.MergedCols });
            // Where round-half-to-even decided (the definition in patch-sets/README.md): x / 28 is exactly k + 0.5.
            var half = new[] { ("h", g.ImageH), ("w", g.ImageW) }.Where(a => a.Item2 % 28 == 14).Select(a => a.Item1);
            Assert.Equal(m.GetProperty("smart_resize_round_half").EnumerateArray().Select(e => e.GetString()!), half);

            foreach (var (path, sets) in new[] { ("fast", mapper.Map(g.ImageW, g.ImageH, g.Boxes)), ("reference", mapper.MapReference(g.ImageW, g.ImageH, g.Boxes)) })
            {
                var related = Ints(m, "related");
                if (!related.SequenceEqual(sets.Related))
                    Assert.Fail($"{g} {mode} ({path}): golden-only [{string.Join(",", related.Except(sets.Related).Take(20))}], "
                        + $"ours-only [{string.Join(",", sets.Related.Except(related).Take(20))}]");
                Assert.Equal(Ints(m, "other"), sets.Other.ToArray());
                Assert.Empty(sets.Newlines);
                Assert.Equal(m.GetProperty("n_related").GetInt32(), sets.Related.Length);
                Assert.Equal(m.GetProperty("n_other").GetInt32(), sets.Other.Length);
            }
        }
    }

    /// <summary>The golden file's own check of the tiny fixture cases, and the cases' token counts, from the image sizes alone.</summary>
    [SharedFact]
    public void Token_Counts_Of_The_Tiny_Fixture_Cases_Follow_From_The_Image_Size()
    {
        var tiny = Modes["tiny_qwen2_vl"];
        var checks = Root.Value.GetProperty("tiny_fixture_token_count_check").EnumerateArray()
            .Where(c => c.GetProperty("case").GetString()!.Contains("/tiny-qwen2-vl/", StringComparison.Ordinal)).ToArray();
        Assert.Equal(3, checks.Length);
        foreach (var check in checks)
        {
            var wh = Ints(check, "image_wh");
            Assert.Equal(check.GetProperty("n_image_tokens_case").GetInt32(), tiny.ImageTokenCount(wh[0], wh[1]));
        }
        foreach (var id in FixtureCase.CaseIds(TinyQwen2Vl.Name))
        {
            var c = TinyQwen2Vl.Case(id);
            var wh = Ints(c.Json, "image_size_wh");
            Assert.Equal(c.NumImageTokens, tiny.ImageTokenCount(wh[0], wh[1]));
            Assert.Equal(TinyQwen2Vl.Grid(c), tiny.Plan(wh[0], wh[1]).Grid);
        }
    }

    /// <summary>Random sizes (including upscaled small images and half-rounded sides) and boxes: fast path = full mask path.</summary>
    [SharedTheory]
    [InlineData("qwen2_vl_instruct")]
    [InlineData("tiny_qwen2_vl")]
    public void Fast_Path_Equals_Reference_On_Random_Sizes_And_Boxes(string mode)
    {
        var mapper = Modes[mode];
        var rng = new Random(2025 + mode.Length);
        int related = 0;
        for (int i = 0; i < 50; i++)
        {
            int Side() => rng.Next(6) switch
            {
                0 => rng.Next(28, 80),           // grows to min_pixels
                1 => 28 * rng.Next(1, 30) + 14,  // exactly k + 0.5 patches-of-28: round half to even
                _ => rng.Next(28, 900),
            };
            int w = Side(), h = Side();
            var boxes = Enumerable.Range(0, rng.Next(0, 4)).Select(_ => rng.Next(5) switch
            {
                0 => new Box(0, 0, w, h),
                1 => new Box(rng.Next(w), rng.Next(h), rng.Next(3), rng.Next(3)),
                2 => new Box(rng.Next(w), rng.Next(h), rng.Next(w + 100), rng.Next(h + 100)),
                _ => Inside(rng, w, h),
            }).ToArray();
            var fast = mapper.Map(w, h, boxes);
            var reference = mapper.MapReference(w, h, boxes);
            if (!fast.Related.SequenceEqual(reference.Related))
                Assert.Fail($"{mode} case {i}: {w}x{h} boxes [{string.Join(", ", boxes)}]: fast-only "
                    + $"[{string.Join(",", fast.Related.Except(reference.Related).Take(10))}], reference-only "
                    + $"[{string.Join(",", reference.Related.Except(fast.Related).Take(10))}]");
            Assert.Equal(reference.Other.ToArray(), fast.Other.ToArray());
            Assert.Equal(mapper.ImageTokenCount(w, h), fast.ImageTokenCount);
            related += fast.Related.Length;
        }
        log.WriteLine($"{mode}: 50 cases, {related} related tokens in all");
        Assert.True(related > 0);
    }

    [SharedFact]
    public void Fast_Path_Equals_Reference_On_Every_40th_Csv_Row_Instruct()
    {
        var mapper = Modes["qwen2_vl_instruct"];
        var rows = GqaTaskReaderTests.All.Values.SelectMany(t => t.Rows).Where((_, i) => i % 40 == 0).ToList();
        Assert.True(rows.Count > 120);
        foreach (var row in rows)
        {
            var reference = mapper.MapReference(row.ImageWidth, row.ImageHeight, row.PatchBoxes);
            Assert.True(reference.Related.SequenceEqual(mapper.Map(row).Related), row.ToString());
        }
    }

    /// <summary>Absolute positions are the image start plus the block index; the random control draws from Other.</summary>
    [SharedFact]
    public void Sets_Give_Sequence_Positions_From_The_Image_Start()
    {
        var c = TinyQwen2Vl.Case("ironing_rel");
        var (start, end) = c.Range("image");
        var sets = Modes["tiny_qwen2_vl"].Map(570, 380, [new Box(100, 50, 200, 150)]);
        Assert.Equal(end - start, sets.ImageTokenCount);
        Assert.Equal(sets.Related.Select(i => start + i), sets.RelatedPositions(start).Positions);
        Assert.All(sets.RandomControl("q1"), i => Assert.Contains(i, sets.Other));
    }

    private static int[] Ints(JsonElement e, string name) => e.GetProperty(name).EnumerateArray().Select(x => x.GetInt32()).ToArray();

    private static Box Inside(Random rng, int w, int h)
    {
        int x = rng.Next(w), y = rng.Next(h);
        return new Box(x, y, rng.Next(w - x), rng.Next(h - y));
    }
}

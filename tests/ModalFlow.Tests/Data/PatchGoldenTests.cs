using System.Text.Json;
using ModalFlow.Data;
using ModalFlow.Tests.Support;
using ModalFlow.Vision;
using Xunit;

namespace ModalFlow.Tests.Data;

/// <summary>One mode's sets of a golden row.</summary>
/// <param name="Newline">NeXT's newline positions (empty for llava15_pad).</param>
/// <param name="CanvasWh">NeXT: canvas (width, height); GridRowsCols, KeptRowsCols: (rows, cols); TransformersGridRowsCols likewise. Null for llava15_pad.</param>
public sealed record PatchGoldenSets(int TokenCount, int[] Related, int[] Other, int[] Newline,
    int[]? CanvasWh, int[]? GridRowsCols, int[]? KeptRowsCols, int[]? TransformersGridRowsCols);

/// <summary>One row of fixtures/patch-sets/patch_sets.json.</summary>
public sealed record PatchGoldenRow(string Kind, string Task, string QuestionId, int ImageW, int ImageH, Box[] Boxes, int[][] Drawn,
    PatchGoldenSets Pad, PatchGoldenSets Next)
{
    public PatchGoldenSets For(PatchSetMode mode) => mode == PatchSetMode.Llava15Pad ? Pad : Next;

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
        static int[]? Opt(JsonElement m, string name) => m.TryGetProperty(name, out var e) ? Ints(e) : null;
        static PatchGoldenSets Sets(JsonElement r, PatchSetMode mode)
        {
            var m = r.GetProperty(PatchSetModes.Key(mode));
            return new PatchGoldenSets(m.GetProperty("n_image_tokens").GetInt32(), Ints(m.GetProperty("related")), Ints(m.GetProperty("other")),
                Opt(m, "newline") ?? [], Opt(m, "canvas_wh"), Opt(m, "grid_rows_cols"), Opt(m, "kept_rows_cols"), Opt(m, "transformers_v4_44_grid_rows_cols"));
        }
        IEnumerable<PatchGoldenRow> Read(string kind) => root.GetProperty(kind).EnumerateArray().Select(r =>
            new PatchGoldenRow(kind, r.GetProperty("task").GetString()!, r.GetProperty("question_id").GetString()!,
                r.GetProperty("image_w").GetInt32(), r.GetProperty("image_h").GetInt32(),
                r.GetProperty("boxes_xywh").EnumerateArray().Select(b => { var v = Ints(b); return new Box(v[0], v[1], v[2], v[3]); }).ToArray(),
                r.GetProperty("boxes_drawn_x0y0x1y1").EnumerateArray().Select(Ints).ToArray(),
                Sets(r, PatchSetMode.Llava15Pad), Sets(r, PatchSetMode.LlavaNextAnyres)));
        return [.. Read("rows"), .. Read("synthetic_rows")];
    }
}

public class PatchGoldenTests
{
    private static readonly ObjectPatchMapper Mapper = ObjectPatchMapper.Llava15Pad();

    /// <summary>The goldens ran the paper's code, i.e. the original LLaVA-NeXT arithmetic (patch-sets/README.md).</summary>
    private static readonly ObjectPatchMapper Next = ObjectPatchMapper.LlavaNextAnyres(AnyresArithmetic.LlavaNext);

    [SharedFact]
    public void Golden_File_Has_48_Csv_Rows_And_7_Synthetic()
    {
        Assert.Equal(48, PatchGolden.Rows.Count(r => r.Kind == "rows"));
        Assert.Equal(7, PatchGolden.Rows.Count(r => r.Kind == "synthetic_rows"));
        Assert.All(PatchGolden.Rows, r => Assert.Equal(576, r.Pad.TokenCount));
    }

    /// <summary>The golden file's own statement of its NeXT setting: pinpoints and arithmetic.</summary>
    [SharedFact]
    public void Golden_Next_Mode_Is_The_Original_LlavaNext_Arithmetic_With_The_Default_Pinpoints()
    {
        var mode = JsonDocument.Parse(System.IO.File.ReadAllBytes(PatchGolden.File)).RootElement.GetProperty("modes").GetProperty("llava_next_anyres");
        var pinpoints = mode.GetProperty("image_grid_pinpoints_wh").EnumerateArray()
            .Select(p => (p[0].GetInt32(), p[1].GetInt32())).ToArray();
        Assert.Equal(Anyres.LlavaNextPinpoints, pinpoints);
        Assert.StartsWith("LLaVA-NeXT original", mode.GetProperty("arithmetic").GetString());
        Assert.Equal(AnyresArithmetic.LlavaNext, ObjectPatchMapper.Create(PatchSetMode.LlavaNextAnyres, ImageProcessingOptions.LlavaHf,
            ModalFlow.Checkpoints.ClipVisionConfig.LlavaDefault).Arithmetic);
    }

    [SharedTheory]
    [MemberData(nameof(PatchGolden.Ids), MemberType = typeof(PatchGolden))]
    public void Llava15Pad_Fast_And_Reference_Equal_Golden_Related_And_Other(int index)
    {
        var g = PatchGolden.Rows[index];
        Assert.Equal(g.Drawn, g.Boxes.Select(b => new[] { b.X, b.Y, b.X1, b.Y1 }).ToArray());
        var fast = Mapper.Map(g.ImageW, g.ImageH, g.Boxes);
        var reference = Mapper.MapReference(g.ImageW, g.ImageH, g.Boxes);
        AssertSets(g, g.Pad, "fast", fast);
        AssertSets(g, g.Pad, "reference", reference);
    }

    /// <summary>
    /// Every row's llava_next_anyres sets (n_image_tokens, related, other, newline), and its canvas / grid / kept grid,
    /// from the original-arithmetic plan; the transformers grid from <see cref="AnyresArithmetic.Transformers"/>.
    /// </summary>
    [SharedTheory]
    [MemberData(nameof(PatchGolden.Ids), MemberType = typeof(PatchGolden))]
    public void LlavaNextAnyres_Fast_And_Reference_Equal_Golden_Sets_And_Geometry(int index)
    {
        var g = PatchGolden.Rows[index];
        var n = g.Next;
        var plan = Next.PlanAnyres(g.ImageW, g.ImageH);
        Assert.Equal(n.CanvasWh, new[] { plan.CanvasWidth, plan.CanvasHeight });
        Assert.Equal(n.GridRowsCols, new[] { plan.GridRows, plan.GridCols });
        Assert.Equal(n.KeptRowsCols, new[] { plan.KeptRows, plan.KeptCols });
        var t = Anyres.Plan(g.ImageW, g.ImageH, Anyres.LlavaNextPinpoints, AnyresArithmetic.Transformers);
        Assert.Equal(n.TransformersGridRowsCols, new[] { t.GridRows, t.GridCols });
        Assert.Equal(n.TokenCount, Next.ImageTokenCount(g.ImageW, g.ImageH));

        AssertSets(g, n, "fast", Next.Map(g.ImageW, g.ImageH, g.Boxes));
        AssertSets(g, n, "reference", Next.MapReference(g.ImageW, g.ImageH, g.Boxes));
    }

    private static void AssertSets(PatchGoldenRow g, PatchGoldenSets expected, string path, ObjectPatchSets s)
    {
        Assert.Equal(expected.TokenCount, s.ImageTokenCount);
        var missing = expected.Related.Except(s.Related).ToArray();
        var extra = s.Related.Except(expected.Related).ToArray();
        if (missing.Length + extra.Length > 0)
            Assert.Fail($"{g} ({path}): related differ ({missing.Length} golden-only, {extra.Length} ours-only): golden-only "
                + $"[{string.Join(",", missing.Take(20))}], ours-only [{string.Join(",", extra.Take(20))}]");
        Assert.Equal(expected.Related, s.Related.ToArray());
        Assert.Equal(expected.Other, s.Other.ToArray());
        Assert.Equal(expected.Newline, s.Newlines.ToArray());
    }
}

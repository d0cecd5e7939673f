using ModalFlow.Data;
using ModalFlow.Families.LlavaOnevision;
using ModalFlow.Platform;
using ModalFlow.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace ModalFlow.Tests.Families.LlavaOnevision;

public class LlavaOnevisionPatchMapperTests(ITestOutputHelper log)
{
    private static readonly Dictionary<string, LlavaOnevisionPatchMapper> Mappers = new()
    {
        [OnevisionPatchGolden.RealMode] = OnevisionPatchGolden.Mapper(OnevisionPatchGolden.RealMode),
        [OnevisionPatchGolden.TinyMode] = OnevisionPatchGolden.Mapper(OnevisionPatchGolden.TinyMode),
    };

    public static TheoryData<int, string> RowModes => OnevisionPatchGolden.RowModes();

    [SharedFact]
    public void Golden_File_Has_48_Rows_11_Synthetic_And_1_Extra()
    {
        Assert.Equal(48, OnevisionPatchGolden.Rows.Count(r => r.Kind == "rows"));
        Assert.Equal(11, OnevisionPatchGolden.Rows.Count(r => r.Kind == "synthetic_rows"));
        Assert.Equal(1, OnevisionPatchGolden.Rows.Count(r => r.Kind == "extra_rows"));
        foreach (var mode in new[] { OnevisionPatchGolden.RealMode, OnevisionPatchGolden.TinyMode })
        {
            var m = OnevisionPatchGolden.Root.GetProperty("modes").GetProperty(mode);
            Assert.Equal(m.GetProperty("n_base_tokens").GetInt32(), Mappers[mode].Plan(100, 100).BaseTokenCount);
        }
    }

    /// <summary>Every row, both modes: the sets and every intermediate the golden file records.</summary>
    [SharedTheory]
    [MemberData(nameof(RowModes))]
    public void Sets_Equal_The_Golden_File(int index, string mode)
    {
        var row = OnevisionPatchGolden.Rows[index];
        var g = row.Modes[mode];
        var m = Mappers[mode].MapDetailed(row.ImageW, row.ImageH, row.Boxes);
        var p = m.Plan;
        Assert.Equal(g.TokenCount, p.ImageTokenCount);
        Assert.Equal(g.Int("n_base_tokens"), p.BaseTokenCount);
        Assert.Equal(g.Ints("best_resolution_hw"), new[] { p.CanvasHeight, p.CanvasWidth });
        Assert.Equal(g.Ints("grid_rows_cols"), new[] { p.GridRows, p.GridCols });
        Assert.Equal(g.Ints("canvas_content_hw"), new[] { p.ResizedHeight, p.ResizedWidth });
        Assert.Equal(g.Ints("canvas_padded_hw"), new[] { p.PaddedHeight, p.PaddedWidth });
        Assert.Equal(g.Ints("unpadded_rows_cols"), new[] { p.UnpaddedRows, p.UnpaddedCols });
        Assert.Equal(g.Ints("packed_rows_cols"), new[] { p.PackedRows, p.PackedCols });
        Assert.Equal(g.Json.GetProperty("interpolated").GetBoolean(), p.Interpolated);
        Assert.Equal(g.Json.GetProperty("anyres_max_ratio").GetDouble(), Math.Round(p.Ratio, 6));
        Assert.Equal(g.Ints("newline"), m.Sets.Newlines);
        Assert.Equal(g.Ints("related_unpadded_grid"), m.RelatedUnpaddedGrid);
        AssertSame(g.Ints("related"), m.Sets.Related, $"{row} {mode} related");
        AssertSame(g.Ints("other"), m.Sets.Other, $"{row} {mode} other");
        Assert.Equal(g.Int("n_related_base"), m.RelatedBaseCount);
    }

    public static TheoryData<int, int, int, int, int, int> OtherSizes()
    {
        // (w, h, box x, y, w, h): interpolated and not, odd canvas differences, boxes on tile seams and image edges.
        var data = new TheoryData<int, int, int, int, int, int>
        {
            { 500, 349, 10, 20, 200, 100 },
            { 349, 500, 0, 0, 348, 499 },
            { 101, 38, 50, 10, 3, 3 },
            { 250, 251, 240, 0, 9, 250 },
            { 230, 114, 0, 100, 229, 13 },
            { 1000, 71, 990, 0, 20, 70 },
            { 71, 1000, 0, 400, 70, 5 },
            { 640, 480, 223, 111, 2, 300 },
            { 1439, 1000, 700, 500, 1, 1 },
            { 300, 300, 150, 150, 0, 0 },
            { 1280, 960, 100, 100, 300, 200 },
            { 2000, 700, 1999, 699, 5, 5 },
        };
        return data;
    }

    /// <summary>Against the plain path in the test (full mask, the reference's steps, torch's own interpolate of the 0/1 map).</summary>
    [SharedTheory]
    [MemberData(nameof(OtherSizes))]
    public void Sets_Equal_The_Plain_Reference_Path_On_Other_Sizes_And_Boxes(int w, int h, int bx, int by, int bw, int bh)
    {
        TorchRuntime.Initialize();
        Box[] boxes = [new(bx, by, bw, bh), new(w / 3, h / 2, w / 5, h / 7)];
        var mapper = Mappers[OnevisionPatchGolden.TinyMode];
        var sets = mapper.Map(w, h, boxes);
        var (related, other, newline) = OnevisionReference.PatchSets(w, h, boxes, mapper.Pinpoints, mapper.TileSize, mapper.PatchSize);
        AssertSame(related, sets.Related, $"{w}x{h} related");
        AssertSame(other, sets.Other, $"{w}x{h} other");
        Assert.Equal(newline, sets.Newlines);
        log.WriteLine($"{mapper.Plan(w, h)}: {sets}");
    }

    [SharedFact]
    public void Real_Settings_Interpolated_Image_Equals_The_Plain_Reference_Path()
    {
        TorchRuntime.Initialize();
        var mapper = Mappers[OnevisionPatchGolden.RealMode];
        Box[] boxes = [new(301, 222, 417, 333), new(1200, 0, 79, 959)];
        var plan = mapper.Plan(1280, 960);
        Assert.True(plan.Interpolated);
        var sets = mapper.Map(1280, 960, boxes);
        var (related, other, newline) = OnevisionReference.PatchSets(1280, 960, boxes, mapper.Pinpoints, mapper.TileSize, mapper.PatchSize);
        AssertSame(related, sets.Related, "related");
        AssertSame(other, sets.Other, "other");
        Assert.Equal(newline, sets.Newlines);
    }

    /// <summary>The nonzero-weight sources equal what torch's bilinear interpolate of one-hot maps reads.</summary>
    [SharedFact]
    public void Bilinear_Sources_Equal_Torch_Interpolate_Of_One_Hot_Inputs()
    {
        TorchRuntime.Initialize();
        foreach (var (inSize, outSize) in new[] { (22, 19), (32, 28), (81, 70), (108, 93), (7, 3), (5, 5), (3, 7), (54, 48) })
        {
            var sources = LlavaOnevisionPatchMapper.BilinearSources(inSize, outSize);
            for (int i = 0; i < inSize; i++)
            {
                var oneHot = new float[inSize];
                oneHot[i] = 1f;
                using var input = TorchSharp.torch.tensor(oneHot, [1, 1, 1, inSize]);
                using var output = TorchSharp.torch.nn.functional.interpolate(input, size: [1, outSize],
                    mode: TorchSharp.torch.InterpolationMode.Bilinear, align_corners: false);
                var o = output.data<float>().ToArray();
                for (int d = 0; d < outSize; d++)
                    Assert.True(o[d] > 0 == sources[d].Contains(i), $"{inSize}->{outSize}: output {d} from input {i}: torch {o[d]}, sources [{string.Join(", ", sources[d])}]");
            }
        }
    }

    /// <summary>The task rows themselves (paper CSVs): their boxes (object2 skipped when "-") and size give the golden sets.</summary>
    [SharedFact]
    public void Map_Of_The_Csv_Task_Rows_Equals_The_Golden_Sets()
    {
        var all = GqaTaskReader.ReadAll(ModalFlow.Tests.Support.SharedData.DataFile("paper-gqa"));
        var mapper = Mappers[OnevisionPatchGolden.TinyMode];
        int checkedRows = 0;
        foreach (var golden in OnevisionPatchGolden.Rows.Where(r => r.Kind == "rows"))
        {
            var row = all[golden.Task].Rows.Single(r => r.QuestionId == golden.QuestionId);
            Assert.Equal(golden.Boxes, row.PatchBoxes);
            var sets = mapper.Map(row);
            var g = golden.Modes[OnevisionPatchGolden.TinyMode];
            AssertSame(g.Ints("related"), sets.Related, $"{golden} related");
            AssertSame(g.Ints("other"), sets.Other, $"{golden} other");
            checkedRows++;
        }
        Assert.Equal(48, checkedRows);
    }

    private static void AssertSame(IReadOnlyList<int> expected, IReadOnlyList<int> actual, string what)
    {
        if (expected.SequenceEqual(actual)) return;
        var missing = expected.Except(actual).Take(10);
        var extra = actual.Except(expected).Take(10);
        Assert.Fail($"{what}: {actual.Count} positions, expected {expected.Count}; missing [{string.Join(", ", missing)}], extra [{string.Join(", ", extra)}]");
    }
}

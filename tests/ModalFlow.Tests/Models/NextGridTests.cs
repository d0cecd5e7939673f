using ModalFlow.Checkpoints;
using ModalFlow.Models;
using ModalFlow.Tests.Support;
using Xunit;

namespace ModalFlow.Tests.Models;

/// <summary>LLaVA-NeXT feature-grid arithmetic (unpad, newlines, token count) against the fixtures and anyres-cases.md.</summary>
public class NextGridTests
{
    public static TheoryData<string, string> FixtureCases()
    {
        var data = new TheoryData<string, string>();
        foreach (var model in new[] { NextModels.Vicuna, NextModels.Llama3 })
            foreach (var id in FixtureCase.CaseIds(model)) data.Add(model, id);
        return data;
    }

    [SharedTheory]
    [MemberData(nameof(FixtureCases))]
    public void Fixture_Case_Grid_Gives_Its_Unpadded_Rows_Cols_And_Token_Count(string model, string id)
    {
        var c = FixtureCase.Load(model, id);
        var cfg = LlavaConfig.Load(SharedData.Fixture(model));
        var wh = c.Json.GetProperty("image_size_wh");
        int cols = c.Json.GetProperty("grid_cols").GetInt32(), rows = c.Json.GetProperty("grid_rows").GetInt32();
        var grid = cfg.NextGridFor(cols * 336, rows * 336, wh[0].GetInt32(), wh[1].GetInt32());
        Assert.Equal(c.Json.GetProperty("unpadded_feature_rows").GetInt32(), grid.KeptRows);
        Assert.Equal(c.Json.GetProperty("unpadded_feature_cols").GetInt32(), grid.KeptCols);
        Assert.Equal(c.Json.GetProperty("newline_tokens").GetInt32(), grid.NewlineTokens);
        Assert.Equal(c.Json.GetProperty("base_tokens").GetInt32(), grid.BaseTokens);
        Assert.Equal(c.NumImageTokens, grid.ImageTokens);
        Assert.Equal(5, grid.Tiles);
    }

    // anyres-cases.md "Worked examples" (original LLaVA-NeXT arithmetic = transformers v4.44.2 truncation):
    // W, H, canvas cols, rows, kept rows, kept cols, tokens.
    [SharedTheory]
    [InlineData(500, 375, 2, 2, 36, 48, 2340)]
    [InlineData(375, 500, 2, 2, 48, 36, 2352)]
    [InlineData(640, 480, 2, 2, 36, 48, 2340)]
    [InlineData(500, 334, 2, 1, 24, 36, 1464)]
    [InlineData(1024, 411, 3, 1, 24, 60, 2040)]
    [InlineData(320, 240, 1, 2, 18, 24, 1026)]   // original's canvas choice
    [InlineData(320, 240, 2, 1, 24, 32, 1368)]   // transformers' canvas choice
    [InlineData(110, 352, 1, 2, 48, 14, 1296)]   // 110·(48/352) = 14.999999999999998 → int() = 14 (recent transformers round to 15)
    [InlineData(1024, 899, 2, 2, 42, 48, 2634)]
    [InlineData(1439, 1439, 2, 2, 48, 48, 2928)] // square: the equal-ratio branch cuts columns, none here
    [InlineData(682, 1024, 2, 2, 48, 32, 2160)]  // int(682·48/1024) = 31 → pad 8 → 32 columns kept
    public void Worked_Examples_Of_Anyres_Cases(int w, int h, int cols, int rows, int keptRows, int keptCols, int tokens)
    {
        var grid = NextGrid.Create(cols, rows, 24, w, h);
        Assert.Equal((keptRows, keptCols, tokens), (grid.KeptRows, grid.KeptCols, grid.ImageTokens));
        // The cut is symmetric (same count off both ends) and only on one axis.
        Assert.Equal(grid.FeatureCols - grid.ColEnd, grid.ColStart);
        Assert.Equal(grid.FeatureRows - grid.RowEnd, grid.RowStart);
        Assert.True(grid.RowStart == 0 || grid.ColStart == 0);
    }

    [SharedFact]
    public void Offsets_Place_Newlines_After_Every_Kept_Row_And_Skip_Cut_Cells()
    {
        var grid = NextGrid.Create(2, 2, 24, 500, 375);              // rows [6, 42) kept, all 48 columns
        Assert.Equal((6, 42, 0, 48), (grid.RowStart, grid.RowEnd, grid.ColStart, grid.ColEnd));
        Assert.Equal(576 + 48, grid.NewlineOffset(0));
        Assert.Equal(576 + 35 * 49 + 48, grid.NewlineOffset(35));
        Assert.Equal(grid.ImageTokens - 1, grid.NewlineOffset(grid.KeptRows - 1));
        Assert.Equal(-1, grid.GridFeatureOffset(5, 10));
        Assert.Equal(576 + 10, grid.GridFeatureOffset(6, 10));
        Assert.Equal(576 + 49 + 47, grid.GridFeatureOffset(7, 47));
        Assert.Equal(-1, grid.GridFeatureOffset(42, 0));
        var all = new HashSet<int>();
        for (int r = 0; r < grid.FeatureRows; r++)
            for (int col = 0; col < grid.FeatureCols; col++)
                if (grid.GridFeatureOffset(r, col) is var o and >= 0) Assert.True(all.Add(o));
        for (int r = 0; r < grid.KeptRows; r++) Assert.True(all.Add(grid.NewlineOffset(r)));
        Assert.Equal(Enumerable.Range(576, grid.GridTokens), all.Order());
    }

    [SharedFact]
    public void Bad_Canvas_And_Sizes_Are_Rejected()
    {
        var cfg = LlavaConfig.Load(SharedData.Fixture(NextModels.Vicuna));
        Assert.Throws<ArgumentException>(() => cfg.NextGridFor(1008, 1008, 500, 375));   // not a pinpoint
        Assert.Throws<ArgumentOutOfRangeException>(() => NextGrid.Create(2, 2, 24, 0, 375));
        Assert.Throws<ArgumentException>(() => NextGrid.FromCanvas(700, 672, 336, 24, 500, 375));
        Assert.Equal(NextGrid.Create(1, 3, 24, 200, 700), cfg.NextGridFor(336, 1008, 200, 700));
        var llava = LlavaConfig.Load(SharedData.Fixture("tiny-llava-1.5"));
        Assert.Throws<NotSupportedException>(() => llava.NextGridFor(672, 672, 500, 375));
    }
}

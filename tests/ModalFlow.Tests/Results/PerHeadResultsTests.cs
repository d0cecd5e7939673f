using Microsoft.Data.Sqlite;
using ModalFlow.Results;
using ModalFlow.Tests.Support;
using Xunit;

namespace ModalFlow.Tests.Results;

/// <summary>
/// Per-head rows (issue 13) through the results code: the heads column in the store (old stores included), exports,
/// aggregates, heat maps and the report; the paper's format stays byte-identical; the self-check's records.
/// </summary>
public class PerHeadResultsTests
{
    private const int Layers = 3, Heads = 2;

    /// <summary>Per sample and layer: the all-heads row (−10·layer %), each head alone (−(layer+1)(head+1)), each all-but-one (−5 − head).</summary>
    private static List<KnockoutRow> Rows(int samples = 4, string task = "ChooseAttr")
    {
        var rows = new List<KnockoutRow>();
        for (int s = 0; s < samples; s++)
            for (int l = 0; l < Layers; l++)
            {
                KnockoutRow Row(double rel, string heads) => new KnockoutRow(task, $"q{s}", "img", "red", "red", "What colour?", "heads", "Image->Question", 1, l,
                    $"{l}", "first", 7, 0.5, 0.5 * (1 + rel / 100), Math.Log(0.5 * (1 + rel / 100)), rel + 0.1 * s, 7)
                { Heads = heads };
                rows.Add(Row(-10 * l, ""));
                for (int h = 0; h < Heads; h++)
                {
                    rows.Add(Row(-(l + 1) * (h + 1), HeadSelection.Alone(h)));
                    rows.Add(Row(-5 - h, HeadSelection.AllBut(h)));
                }
            }
        return rows;
    }

    [SharedFact]
    public void Head_Codes_Parse_Describe_And_Sort()
    {
        Assert.Equal((false, -1), HeadSelection.Parse(""));
        Assert.Equal((false, 3), HeadSelection.Parse("3"));
        Assert.Equal((true, 0), HeadSelection.Parse("-0"));
        Assert.Equal([0, 2, 3], HeadSelection.Edited("-1", 4).ToArray());
        Assert.Equal([1], HeadSelection.Edited("1", 4).ToArray());
        Assert.Empty(HeadSelection.Edited("", 4));
        Assert.Equal("all heads but 2", HeadSelection.Describe("-2"));
        Assert.Throws<InputException>(() => HeadSelection.Parse("x1"));
        Assert.Throws<InputException>(() => HeadSelection.Edited("4", 4));
        var sorted = new List<string> { "-1", "10", "", "2", "-0" };
        sorted.Sort(HeadSelection.Compare);
        Assert.Equal(["", "2", "10", "-0", "-1"], sorted);
    }

    [SharedFact]
    public void Aggregates_Group_By_Heads_And_Leave_The_All_Heads_Means_As_They_Were()
    {
        var rows = Rows();
        foreach (var ci in new[] { CiOptions.StudentT, CiOptions.Bootstrap })
        {
            var mixed = Aggregator.Aggregate(rows, ci: ci);
            Assert.Equal(Layers * (2 * Heads + 1), mixed.Count);
            var alone = Assert.Single(mixed, a => a.Heads == "1" && a.Layer == 2);
            Assert.Equal(-6 + 0.1 * 1.5, alone.Mean, 1e-12);   // −(2+1)(1+1) plus the samples' mean offset 0.1·(0+1+2+3)/4
            Assert.Equal(4, alone.N);
            var only = Aggregator.Aggregate(rows.Where(r => r.Heads.Length == 0), ci: ci);
            Assert.Equal(only, mixed.Where(a => a.Heads.Length == 0).ToList());   // same numbers, same bootstrap streams
        }
        // Order: all heads, then heads alone, then all-but-one, layer by layer within each.
        var order = Aggregator.Aggregate(rows).Select(a => a.Heads).Distinct().ToList();
        Assert.Equal(["", "0", "1", "-0", "-1"], order);
    }

    [SharedFact]
    public void Per_Head_Rows_Stay_Out_Of_The_Paper_Format_Which_Stays_Byte_Identical_And_In_Our_Exports()
    {
        using var dir = new TempDir();
        var paperRows = PaperFormatTests.FixtureRows();
        var perHead = paperRows.Select(r => r with { NewScore = r.NewScore / 2, Heads = "0" }).ToList();
        var run = new RunResults([.. paperRows, .. perHead], [], [], []);
        Exporter.WriteAll(Path.Combine(dir.Path, "p"), run, [], [], KnockoutCsvFormat.Paper);
        PaperFormatTests.AssertSameBytes(PaperFormatTests.TestData(PaperFormatTests.PaperFile), Path.Combine(dir.Path, "p", "knockout_first.csv"));
        PaperFormatTests.AssertSameBytes(PaperFormatTests.TestData(PaperFormatTests.PaperFile), Path.Combine(dir.Path, "p", Exporter.PaperFolder, PaperFormatTests.PaperFile));
        Assert.Equal(run.Knockout, ResultReader.ReadKnockoutParquet(Path.Combine(dir.Path, "p", "knockout_first.parquet")));
        Exporter.WriteAll(Path.Combine(dir.Path, "o"), run, [], []);
        Assert.Equal(run.Knockout, ResultReader.ReadKnockoutCsv(Path.Combine(dir.Path, "o", "knockout_first.csv")));
    }

    /// <summary>The knockout table as stores wrote it before per-head maps (no heads column, key without it).</summary>
    private const string OldKnockoutTable = """
        CREATE TABLE knockout (
            task TEXT NOT NULL, question_id TEXT NOT NULL, image_id TEXT NOT NULL, answer TEXT NOT NULL, predicted TEXT NOT NULL,
            question TEXT NOT NULL, experiment TEXT NOT NULL, block_desc TEXT NOT NULL, window INTEGER NOT NULL, layer INTEGER NOT NULL,
            window_layers TEXT NOT NULL, subword TEXT NOT NULL, target_token_id INTEGER NOT NULL, base_score REAL NOT NULL,
            new_score REAL NOT NULL, logprob_new REAL NOT NULL, relative_diff REAL NOT NULL, top1_new INTEGER NOT NULL,
            PRIMARY KEY (task, question_id, experiment, block_desc, subword, layer));
        INSERT INTO knockout VALUES ('ChooseAttr', '001', 'img', 'red', 'red', 'q?', '2', 'Image->Question', 9, 4, '0 1 2', 'first', 7, 0.5, 0.25, -1.386, -50, 7);
        CREATE TABLE samples (task TEXT NOT NULL, question_id TEXT NOT NULL, status TEXT NOT NULL, reason TEXT, detail TEXT, PRIMARY KEY (task, question_id));
        INSERT INTO samples VALUES ('ChooseAttr', '001', 'done', NULL, NULL);
        """;

    private static string OldStore(string dir, string name)
    {
        var path = Path.Combine(dir, name, RunStore.FileName);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        db.Open();
        using var cmd = db.CreateCommand();
        cmd.CommandText = OldKnockoutTable;
        cmd.ExecuteNonQuery();
        return path;
    }

    [SharedFact]
    public void A_Store_Without_The_Heads_Column_Reads_As_All_Heads_And_A_Writer_Upgrades_It()
    {
        using var dir = new TempDir();
        var path = OldStore(dir.Path, "old");
        using (var reader = RunStore.Open(path))
        {
            Assert.False(reader.HasHeadsColumn);   // a reader leaves the table alone
            var row = Assert.Single(reader.KnockoutRows());
            Assert.Equal("", row.Heads);
            Assert.Equal(-50, row.RelativeDiff);
            Assert.Null(reader.Results().Verification);   // no self-check recorded: the report says nothing about it
        }
        Assert.False(RunStore.Open(path).HasHeadsColumn);
        using (var writer = RunStore.OpenWriter(path))
        {
            Assert.True(writer.HasHeadsColumn);
            var before = Assert.Single(writer.KnockoutRows());
            // The key now has the heads: the same sample, condition and layer for one head is another row.
            writer.CommitSample("ChooseAttr", "002", [before with { QuestionId = "002" }, before with { QuestionId = "002", Heads = "1" }], []);
            Assert.Equal(3, writer.KnockoutRows().Count);
        }
    }

    [SharedFact]
    public void An_Old_Shard_Merges_Into_A_New_Store_With_Every_Head()
    {
        using var dir = new TempDir();
        var path = OldStore(dir.Path, "shard");
        var manifest = new RunManifest
        {
            Model = "m", CheckpointFingerprint = "f", DType = "f32", Task = "ChooseAttr", DataFile = "d.csv", DataFingerprint = "g", Images = "i",
            Experiment = "2", Window = 9, Subword = "first", Filter = "correct", Preprocessing = "pad", Engine = "fast", ShardIndex = 1, ShardCount = 1,
            CodeVersion = "old",
        };
        using (var old = RunStore.Open(path)) old.BeginOrResume(manifest);   // a reader's Open adds missing tables, never the column
        using var shard = RunStore.Open(path);
        using var merged = RunStore.OpenWriter(Path.Combine(dir.Path, "merged", RunStore.FileName));
        merged.MergeShard(shard);
        Assert.Equal("", Assert.Single(merged.KnockoutRows()).Heads);
    }

    [SharedFact]
    public void Self_Check_Records_Are_Committed_With_The_Sample_And_Read_Back()
    {
        using var dir = new TempDir();
        using var store = RunStore.OpenWriter(dir.File(RunStore.FileName));
        var a = new SampleVerification("T", "1", 0.01, 2, 180, 3e-7, "Image->Question@1 head 0 (layers 1; heads 0): p2 0.5 vs naive 0.5", 1.5, 0.2, 1e-4);
        var b = new SampleVerification("T", "2", 0.01, 1, 180, double.NaN, "cell", 1.0, 0.1, 1e-4);
        store.CommitSample("T", "1", [], [], verification: a);
        store.CommitSample("T", "2", [], [], verification: b);
        var back = store.Verifications();
        Assert.Equal(a, back[0]);
        Assert.True(double.IsNaN(back[1].MaxAbsDeltaP2));
        var summary = store.Results().Verification!;
        Assert.False(summary.Passed);   // NaN fails
        Assert.Equal(3, summary.Cells);
        Assert.Equal(360, summary.TotalCells);
        Assert.Equal(2.5, summary.KnockoutSeconds, 12);
    }

    [SharedFact]
    public void Heat_Maps_Hold_The_Layer_By_Head_Means_On_A_Symmetric_Scale()
    {
        var aggregates = Aggregator.Aggregate(Rows());
        var maps = HeadMapFigures.Maps(aggregates);
        Assert.Equal(2, maps.Count);
        var alone = Assert.Single(maps, m => !m.Complement);
        var allBut = Assert.Single(maps, m => m.Complement);
        Assert.Equal((Layers, Heads), (alone.Layers, alone.Heads));
        for (int l = 0; l < Layers; l++)
            for (int h = 0; h < Heads; h++)
            {
                Assert.Equal(aggregates.Single(a => a.Heads == HeadSelection.Alone(h) && a.Layer == l).Mean, alone.Values[l, h]);
                Assert.Equal(aggregates.Single(a => a.Heads == HeadSelection.AllBut(h) && a.Layer == l).Mean, allBut.Values[l, h]);
            }
        var (lo, hi) = HeadMapFigures.ColorRange(alone);
        Assert.Equal(-hi, lo);
        Assert.Equal(alone.Values.Cast<double>().Max(Math.Abs), hi);
        Assert.Equal(1, alone.Window);
        Assert.Equal(4, alone.MaxN);

        var plot = HeadMapFigures.Plot(alone, new FigureOptions { ModelName = "toy" });
        Assert.Equal(HeadMapFigures.HeadAxisLabel, plot.Axes.Bottom.Label.Text);
        Assert.Equal(HeadMapFigures.LayerAxisLabel, plot.Axes.Left.Label.Text);
        var bar = Assert.IsType<ScottPlot.Panels.ColorBar>(plot.Axes.GetPanels().Single(p => p is ScottPlot.Panels.ColorBar));
        Assert.Equal(HeadMapFigures.ColorBarLabel, bar.Label);
        var heatmap = plot.GetPlottables<ScottPlot.Plottables.Heatmap>().Single();
        Assert.Equal(new ScottPlot.Range(lo, hi), heatmap.ManualRange);
        Assert.Contains("Image→Question knocked out in one head at a time", plot.Axes.Title.Label.Text);
        Assert.Contains("window 1 · toy · N = 4", plot.Axes.Title.Label.Text);
        Assert.Equal("0.0", HeadMapFigures.CellText(-0.004, "0.0"));   // never "-0.0"
        Assert.Equal("-0.5", HeadMapFigures.CellText(-0.5, "0.0"));
        Assert.Equal("0.00", HeadMapFigures.ValueFormat(0.75));
        Assert.Equal("0", HeadMapFigures.ValueFormat(50));
    }

    [SharedFact]
    public void The_Pipeline_Draws_Heat_Maps_And_The_Report_Has_A_Per_Head_Section_And_The_Self_Check()
    {
        using var dir = new TempDir();
        var verification = VerificationSummary.Of([new SampleVerification("ChooseAttr", "q0", 0.01, 1, 60, 2e-7, "cell", 2, 0.1, 1e-4)]);
        var run = new RunResults(Rows(), [], [], []) { Verification = verification };
        var output = ResultsPipeline.Run(dir.Path, run, new ResultsOptions { Figures = FigureOptions.Default with { Svg = false } });
        var maps = output.Figures.Where(HeadMapFigures.IsHeadMap).ToList();
        Assert.Equal(2, maps.Count);
        foreach (var f in maps)
        {
            using var bmp = SkiaSharp.SKBitmap.Decode(f.Path);
            Assert.True(bmp is { Width: 640, Height: 480 }, f.Path);
        }
        // Line figures show the all-heads rows only (one line, not five).
        Assert.Contains(output.Figures, f => f.Kind == "knockout");
        var report = File.ReadAllText(output.Report);
        Assert.Contains("Self-check: 1 of 60 knockout cells", report);
        Assert.Contains("passed", report);
        Assert.Contains("## Per-head maps: Image→Question (window 1, first sub-word)", report);
        // all heads: the largest drop is layer 2 (−20 + 0.15); one head: layer 2, head 1 (−6 + 0.15); at layer 2 the best head spared is 0 (−5 + 0.15).
        Assert.Contains("| ChooseAttr | 4 | -19.85 (2) | -5.85 (2, 1) | head 0: -4.85 (layer 2) |", report);
        Assert.Contains("heads_heads_ChooseAttr_Image-_Question_alone_first.png", report);
        // The knockout section sees the all-heads aggregates only.
        Assert.Contains("| ChooseAttr | Image→Question | 2 | -19.85 |", report);

        var failed = run with { Verification = VerificationSummary.Of([new SampleVerification("ChooseAttr", "q0", 0.01, 1, 60, 0.2, "Image->Question@1", 2, 0.1, 1e-4)]) };
        var text = ReportWriter.Build(failed, Aggregator.Aggregate(failed.Knockout), [], [], dir.Path);
        Assert.Contains("**SELF-CHECK FAILED.**", text);
        Assert.Contains("Image->Question@1", text);
        Assert.True(text.IndexOf("SELF-CHECK FAILED", StringComparison.Ordinal) < text.IndexOf("## Samples", StringComparison.Ordinal));   // at the top
    }
}

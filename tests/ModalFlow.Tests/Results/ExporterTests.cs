using System.Text;
using ModalFlow.Results;
using ModalFlow.Tests.Support;
using Parquet;
using Xunit;

namespace ModalFlow.Tests.Results;

public class ExporterTests
{
    /// <summary>Rows with every awkward value the CSV has to carry: leading zeros, quotes, commas, line breaks, non-finite and extreme doubles.</summary>
    private static List<KnockoutRow> AwkwardRows(string subword = "first") =>
    [
        new("ChooseAttr", "06695482", "2370134", "empty", "empty", "Is the jar full or empty?", "exp1", "Question->Last", 9, 0, "0-4", subword,
            2175, 0.1 + 0.2, 0.30000000000000004 * (1 - 1e-9), -1.2039728043259361, -3.3306690738754696E-14, 2175),
        new("ChooseAttr", "0012", "n2401803", "white, brown", "\"white\"", "Is the label, which says \"honey\", white?\nSecond line\r\nthird", "exp1", "Image->Last", 9, 39, "35-39", subword,
            long.MaxValue, double.Epsilon, 4.9e-324, double.NegativeInfinity, -100, -1) { Heads = "3" },
        new("QueryAttr", "7", "img", "", " spaced ", "naïve café – 日本", "", "Last->Last", 0, 17, "", subword,
            0, 1, double.NaN, double.NaN, double.PositiveInfinity, long.MinValue),
        new("QueryAttr", "8", "img", "a", "a", "q", "exp1", "Last->Last", 9, 3, "0-7", subword,
            -5, 1e300, 1.7976931348623157E+308, -0.0, -0.0, 1) { Heads = "-0" },
    ];

    [SharedFact]
    public void KnockoutCsv_Has_The_Papers_Columns_First_Then_Ours()
    {
        using var dir = new TempDir();
        var path = dir.File("k.csv");
        Exporter.WriteKnockoutCsv(path, AwkwardRows());
        var header = File.ReadLines(path).First();
        Assert.Equal("question_id,image,answer,predicted answer,question,block_desc,layer,base_score_first,new_score_first,relative diff first,"
            + "task,experiment,window,window_layers,target_token_id,logprob_new,top1_new,heads", header);
        Exporter.WriteKnockoutCsv(path, AwkwardRows("final"));
        Assert.StartsWith("question_id,image,answer,predicted answer,question,block_desc,layer,base_score_final,new_score_final,relative diff final,task,",
            File.ReadLines(path).First());
    }

    [SharedFact]
    public void KnockoutCsv_Reads_Back_Exactly()
    {
        using var dir = new TempDir();
        foreach (var subword in new[] { "first", "final" })
        {
            var rows = AwkwardRows(subword);
            var path = dir.File($"k_{subword}.csv");
            Exporter.WriteKnockoutCsv(path, rows);
            var back = ResultReader.ReadKnockoutCsv(path);
            Assert.Equal(rows, back);
            for (int i = 0; i < rows.Count; i++)   // record equality treats -0.0 == 0.0; the bits must survive too
            {
                Assert.Equal(BitConverter.DoubleToInt64Bits(rows[i].RelativeDiff), BitConverter.DoubleToInt64Bits(back[i].RelativeDiff));
                Assert.Equal(BitConverter.DoubleToInt64Bits(rows[i].LogProbNew), BitConverter.DoubleToInt64Bits(back[i].LogProbNew));
            }
        }
    }

    [SharedFact]
    public void KnockoutCsv_Quotes_Per_Rfc4180_With_Invariant_Numbers()
    {
        using var dir = new TempDir();
        var path = dir.File("k.csv");
        Exporter.WriteKnockoutCsv(path, AwkwardRows());
        var text = File.ReadAllText(path);
        Assert.Contains("\n06695482,2370134,empty,empty,Is the jar full or empty?,Question->Last,0,0.30000000000000004,", text);
        Assert.Contains("\"white, brown\",\"\"\"white\"\"\",\"Is the label, which says \"\"honey\"\", white?\nSecond line\r\nthird\"", text);
        Assert.Contains(",Image->Last,39,5E-324,5E-324,-100,ChooseAttr,exp1,9,35-39,9223372036854775807,-inf,-1,3\n", text);
        Assert.Contains(",NaN,inf,QueryAttr,", text);
        Assert.DoesNotContain("\uFEFF", text);
        Assert.False(new UTF8Encoding(false, true).GetString(File.ReadAllBytes(path)).Length == 0);
    }

    [SharedFact]
    public void Csv_Exports_Are_Byte_Identical_For_The_Same_Rows()
    {
        using var dir = new TempDir();
        var rows = SyntheticResults.Knockout(samplesPerTask: 3);
        var lens = SyntheticResults.Lens(samplesPerTask: 3);
        var run = new RunResults(rows, lens, [new ExcludedSample("ChooseAttr", "1", "wrong_answer", "predicted 'no', gold 'yes'")], []);
        var a = Exporter.WriteAll(Path.Combine(dir.Path, "a"), run, Aggregator.Aggregate(rows), Aggregator.AggregateLens(lens));
        var shuffled = run with { Knockout = rows.ToList() };
        var b = Exporter.WriteAll(Path.Combine(dir.Path, "b"), shuffled, Aggregator.Aggregate(rows.OrderBy(_ => Random.Shared.Next())), Aggregator.AggregateLens(lens));
        Assert.Equal(a.Select(Path.GetFileName), b.Select(Path.GetFileName));
        Assert.Equal(["knockout_first.csv", "knockout_first.parquet", "aggregates.csv", "aggregates.parquet", "lens.csv", "lens.parquet",
            "lens_aggregates.csv", "lens_aggregates.parquet", "excluded.csv"], a.Select(Path.GetFileName));
        foreach (var (pa, pb) in a.Zip(b).Where(p => p.First.EndsWith(".csv", StringComparison.Ordinal)))
            Assert.Equal(File.ReadAllBytes(pa), File.ReadAllBytes(pb));
        Assert.Empty(Directory.GetFiles(dir.Path, "*.tmp", SearchOption.AllDirectories));
    }

    [SharedFact]
    public void WriteAll_Writes_One_Knockout_File_Per_Subword_And_Single_Writers_Refuse_A_Mix()
    {
        using var dir = new TempDir();
        var rows = AwkwardRows("first").Concat(AwkwardRows("final")).ToList();
        var files = Exporter.WriteAll(dir.Path, new RunResults(rows, [], [], [new MalformedRow("x.csv", 3, "2 fields; the header has 17")]), [], []);
        Assert.Equal(["knockout_first.csv", "knockout_first.parquet", "knockout_final.csv", "knockout_final.parquet", "malformed.csv"], files.Select(Path.GetFileName));
        Assert.Equal(AwkwardRows("final"), ResultReader.ReadKnockoutCsv(dir.File("knockout_final.csv")));
        Assert.Throws<ArgumentException>(() => Exporter.WriteKnockoutCsv(dir.File("mixed.csv"), rows));
        Assert.False(File.Exists(dir.File("mixed.csv")));
    }

    [SharedFact]
    public async Task KnockoutParquet_Has_Typed_Columns_And_Reads_Back_Exactly()
    {
        using var dir = new TempDir();
        var rows = AwkwardRows();
        var path = dir.File("k.parquet");
        Exporter.WriteKnockoutParquet(path, rows);
        Assert.Equal(rows, ResultReader.ReadKnockoutParquet(path));

        var schema = await ParquetReader.ReadSchemaAsync(path);
        var types = schema.GetDataFields().ToDictionary(f => f.Name, f => f.ClrType);
        Assert.Contains(types["question_id"], new[] { typeof(string), typeof(ReadOnlyMemory<char>) });   // UTF-8 string columns, not bytes
        Assert.Equal(typeof(int), types["layer"]);
        Assert.Equal(typeof(int), types["window"]);
        Assert.Equal(typeof(double), types["relative diff first"]);
        Assert.Equal(typeof(long), types["target_token_id"]);
        Assert.Equal(typeof(long), types["top1_new"]);
        Assert.Equal(Exporter.PaperKnockoutColumns("first").Concat(Exporter.ExtraKnockoutColumns), schema.GetDataFields().Select(f => f.Name));

        var big = SyntheticResults.Knockout(samplesPerTask: 110);   // > one row group (100 000 rows)
        Assert.True(big.Count > Table.RowGroupSize);
        Exporter.WriteKnockoutParquet(path, big);
        Assert.Equal(big, ResultReader.ReadKnockoutParquet(path));
        Exporter.WriteKnockoutParquet(path, []);
        Assert.Empty(ResultReader.ReadKnockoutParquet(path));
    }

    [SharedFact]
    public void Other_Tables_Have_Documented_Headers()
    {
        using var dir = new TempDir();
        var lens = SyntheticResults.Lens(samplesPerTask: 2);
        Exporter.WriteAggregatesCsv(dir.File("a.csv"), Aggregator.Aggregate(SyntheticResults.Knockout(2)));
        Exporter.WriteLensCsv(dir.File("l.csv"), lens);
        Exporter.WriteLensAggregatesCsv(dir.File("la.csv"), Aggregator.AggregateLens(lens));
        Exporter.WriteExcludedCsv(dir.File("e.csv"), [new ExcludedSample("T", "001", "missing_image", "no file 1.jpg, in images/")]);
        Assert.Equal("task,experiment,block_desc,subword,layer,n,mean,std_error,ci95_low,ci95_high,ci_method,window,heads", File.ReadLines(dir.File("a.csv")).First());
        Assert.Equal("task,question_id,answer,predicted answer,token_kind,token_text,token_id,layer,prob_raw,prob_norm", File.ReadLines(dir.File("l.csv")).First());
        Assert.Equal("task,token_kind,layer,n,mean_raw,std_error_raw,ci95_low_raw,ci95_high_raw,mean_norm,std_error_norm,ci95_low_norm,ci95_high_norm,ci_method",
            File.ReadLines(dir.File("la.csv")).First());
        Assert.Equal(["task,question_id,reason,detail", "T,001,missing_image,\"no file 1.jpg, in images/\""], File.ReadLines(dir.File("e.csv")));
    }

    [SharedFact]
    public void Reader_Accepts_The_Papers_Own_Csv_With_Defaults_For_Our_Columns()
    {
        using var dir = new TempDir();
        var path = dir.File("paper.csv");
        File.WriteAllText(path,
            "\uFEFF,question_id,image,answer,predicted answer,question,block_desc,layer,base_score_first,new_score_first,relative diff first\r\n" +
            "0,06695482,2370134,left,left,\"Is it left, or right?\",image->last,0,0.8,0.4,-50.0\r\n" +
            "\r\n" +
            "1,011,2370134,left,left,q,image->last,1,0.8,0.8,0\r\n");
        var rows = ResultReader.ReadKnockoutCsv(path, task: "ChooseRel");
        Assert.Equal(2, rows.Count);
        Assert.Equal(new KnockoutRow("ChooseRel", "06695482", "2370134", "left", "left", "Is it left, or right?", "", "image->last", 0, 0, "", "first",
            -1, 0.8, 0.4, double.NaN, -50.0, -1), rows[0]);
        Assert.Equal("011", rows[1].QuestionId);
    }

    [SharedFact]
    public void Reader_Reports_Malformed_Records_With_Line_Numbers()
    {
        using var dir = new TempDir();
        var path = dir.File("bad.csv");
        Exporter.WriteKnockoutCsv(path, AwkwardRows());   // the second row spans lines 3-5
        var lines = File.ReadAllText(path);
        File.WriteAllText(path, lines + "1,2,3\n9,img,a,a,q,Last->Last,seven,0.5,0.5,0,T,e,9,,1,0,1,\n9,img,a,a,\"q,Last->Last,3,0.5,0.5,0,T,e,9,,1,0,1,\n");

        var malformed = new List<MalformedRow>();
        var rows = ResultReader.ReadKnockoutCsv(path, malformed);
        Assert.Equal(AwkwardRows(), rows);
        Assert.Equal(3, malformed.Count);
        Assert.Equal((8L, "3 fields; the header has 18"), (malformed[0].Line, malformed[0].Problem));
        Assert.Equal(9, malformed[1].Line);
        Assert.Contains("'layer': 'seven' is not an integer", malformed[1].Problem);
        Assert.Equal(10, malformed[2].Line);
        Assert.Contains("not closed", malformed[2].Problem);

        var e = Assert.Throws<InputException>(() => ResultReader.ReadKnockoutCsv(path));
        Assert.Equal(path, e.File);
        Assert.Equal("line 8", e.Field);

        File.WriteAllText(path, "question_id,image,answer\n1,2,3\n");
        var missing = Assert.Throws<InputException>(() => ResultReader.ReadKnockoutCsv(path, new List<MalformedRow>()));
        Assert.Contains("relative diff first", missing.Message);
        Assert.Throws<InputException>(() => ResultReader.ReadKnockoutCsv(dir.File("nope.csv")));
    }

    [SharedFact]
    public void AtomicFile_Leaves_The_Old_File_When_A_Write_Fails()
    {
        using var dir = new TempDir();
        var path = dir.File("x.csv");
        AtomicFile.WriteAllText(path, "old\n");
        Assert.Throws<InvalidOperationException>(() => AtomicFile.WriteText(path, w => { w.Write("half"); throw new InvalidOperationException("boom"); }));
        Assert.Equal("old\n", File.ReadAllText(path));
        Assert.Single(Directory.GetFiles(dir.Path));
    }
}

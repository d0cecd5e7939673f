using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using ModalFlow.Results;
using ModalFlow.Tests.Support;
using Xunit;

namespace ModalFlow.Tests.Results;

/// <summary>
/// The paper's per-sample CSV both ways, held to files that pandas itself wrote (TestData/make_*.py, pandas 1.5.3 /
/// numpy 1.24.2 on Debian 12) from the same doubles.
/// </summary>
public class PaperFormatTests
{
    internal static string TestData(string name) => Path.Combine(AppContext.BaseDirectory, "Results", "TestData", name);

    internal const string PaperFile = "GQA_val_correct_question_with_choose_ChooseAttr_window9_Image_Central_Object___Question.csv";

    /// <summary>
    /// InformationFlow.py at commit c9a1111dac4baa175f67716fab473789320187c0 appends, per sample and layer,
    /// <code>
    /// re={"question_id": question_id, "image": img_id, "goden answer": answer, "predicted answer": predicted_answer,
    ///     "question": question, "block_desc": block_desc, "layer": layer, "base_score_first": base_score_first,
    ///     "new_score_first": new_score_first, "relative diff first": (new_score_first - base_score_first) * 100.0 / base_score_first}
    /// </code>
    /// and writes pd.DataFrame.from_records(results).to_csv(path, index=False): the keys in insertion order, no index.
    /// </summary>
    internal static readonly string[] InformationFlowKeys =
        ["question_id", "image", "goden answer", "predicted answer", "question", "block_desc", "layer", "base_score_first", "new_score_first", "relative diff first"];

    private static double F64(string hex) => BitConverter.Int64BitsToDouble(BinaryPrimitives.ReadInt64BigEndian(Convert.FromHexString(hex)));

    /// <summary>The rows make_paper_knockout_csv.py wrote, as KnockoutRows under our names (block renamed, image id bare).</summary>
    internal static List<KnockoutRow> FixtureRows()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(TestData("paper_knockout_rows.json")));
        return doc.RootElement.EnumerateArray().Select(e =>
        {
            double b = F64(e.GetProperty("base").GetString()!), n = F64(e.GetProperty("new").GetString()!);
            double rel = b != 0 ? (n - b) / b * 100 : F64(e.GetProperty("rel").GetString()!);   // our order of operations; the writer redoes the paper's
            Assert.Equal("Image Central Object->Question", e.GetProperty("block").GetString());
            return new KnockoutRow("ChooseAttr", e.GetProperty("question_id").GetString()!, e.GetProperty("img_id").GetString()!, e.GetProperty("answer").GetString()!,
                e.GetProperty("predicted").GetString()!, e.GetProperty("question").GetString()!, "3", "Related Image Patches->Question", 9,
                e.GetProperty("layer").GetInt32(), "", "first", 1, b, n, double.NaN, rel, 1);
        }).ToList();
    }

    internal static void AssertSameBytes(string expectedPath, string actualPath)
    {
        var expected = File.ReadAllBytes(expectedPath);
        var actual = File.ReadAllBytes(actualPath);
        if (expected.AsSpan().SequenceEqual(actual)) return;
        var e = Encoding.UTF8.GetString(expected).Split('\n');
        var a = Encoding.UTF8.GetString(actual).Split('\n');
        int i = 0;
        while (i < Math.Min(e.Length, a.Length) && e[i] == a[i]) i++;
        Assert.Fail($"first difference at line {i + 1}:\n  pandas: {(i < e.Length ? e[i] : "<end>")}\n  ours:   {(i < a.Length ? a[i] : "<end>")}");
    }

    [SharedFact]
    public void Header_Is_InformationFlow_Records_Keys_In_Order()
    {
        Assert.Equal(InformationFlowKeys, PaperFormat.KnockoutColumns());
        Assert.Equal(string.Join(',', InformationFlowKeys), File.ReadLines(TestData(PaperFile)).First());
    }

    [SharedFact]
    public void Paper_Csv_Is_Byte_Identical_To_What_Pandas_Writes_For_The_Same_Doubles()
    {
        using var dir = new TempDir();
        var path = dir.File("paper.csv");
        PaperFormat.WriteKnockoutCsv(path, FixtureRows());
        AssertSameBytes(TestData(PaperFile), path);
    }

    [SharedFact]
    public void Per_Condition_Files_Are_Named_And_Written_As_The_Papers_Code_Does()
    {
        // merge_lineplot.py reads f"{task_name.split('.csv')[0]}_window{window}_Image_Central_Object___Question.csv" etc.
        Assert.Equal(PaperFile, PaperFormat.FileName("ChooseAttr", 9, "Related Image Patches->Question"));
        Assert.Equal("GQA_val_correct_question_with_positionQuery_QueryAttr_window7_Image___Last.csv", PaperFormat.FileName("QueryAttr", 7, "Image->Last"));
        Assert.Equal("GQA_val_correct_question_with_twoCommon_CompareAttr_window9_Image_Without_Central_Object___Question.csv",
            PaperFormat.FileName("CompareAttr", 9, "Other Image Patches->Question"));
        using var dir = new TempDir();
        var files = PaperFormat.WritePerCondition(dir.Path, FixtureRows());
        AssertSameBytes(TestData(PaperFile), Assert.Single(files));
    }

    [SharedFact]
    public void Floats_Are_Spelled_As_Numpy_And_Python_Repr_Spell_Them()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(TestData("python_float_repr.json")));
        var pairs = doc.RootElement.EnumerateArray().Select(e => (Hex: e[0].GetString()!, Text: e[1].GetString()!)).ToList();
        Assert.True(pairs.Count > 3000);
        var bad = pairs.Select(p => (p.Hex, p.Text, Ours: PythonFloat.Repr(F64(p.Hex)))).Where(p => p.Ours != p.Text).Take(5).ToList();
        Assert.True(bad.Count == 0, "first mismatches (bits: numpy / ours): " + string.Join("; ", bad.Select(b => $"{b.Hex}: {b.Text} / {b.Ours}")));
        Assert.Equal(("nan", "inf", "-inf"), (PythonFloat.Repr(double.NaN), PythonFloat.Repr(double.PositiveInfinity), PythonFloat.Repr(double.NegativeInfinity)));
    }

    [SharedFact]
    public void The_Papers_Own_File_Reads_Back_Under_Our_Names()
    {
        // The question with a lone CR: Python's csv writer leaves it unquoted, so the record breaks in two on reading
        // (pandas' own reader breaks it the same way); both halves are reported, the rest reads back exactly.
        var malformed = new List<MalformedRow>();
        var rows = ResultReader.ReadKnockoutCsv(TestData(PaperFile), malformed);
        Assert.Equal([8L, 9L], malformed.Select(m => m.Line));
        var expected = FixtureRows().Where(r => !r.Question.Contains('\r', StringComparison.Ordinal)).ToList();
        Assert.Equal(expected.Count, rows.Count);
        for (int i = 0; i < rows.Count; i++)
        {
            var (r, e) = (rows[i], expected[i]);
            Assert.Equal(("ChooseAttr", 9, "Related Image Patches->Question", "first"), (r.Task, r.Window, r.BlockDesc, r.Subword));   // task and window from the file name
            Assert.Equal((e.QuestionId, e.ImageId, e.Answer, e.Predicted, e.Question, e.Layer), (r.QuestionId, r.ImageId, r.Answer, r.Predicted, r.Question, r.Layer));
            Assert.Equal(BitConverter.DoubleToInt64Bits(e.BaseScore), BitConverter.DoubleToInt64Bits(r.BaseScore));
            Assert.Equal(BitConverter.DoubleToInt64Bits(e.NewScore), BitConverter.DoubleToInt64Bits(r.NewScore));
            if (double.IsNaN(PaperFormat.RelativeDiff(e))) Assert.True(double.IsNaN(r.RelativeDiff));   // NaN's payload is not written
            else Assert.Equal(BitConverter.DoubleToInt64Bits(PaperFormat.RelativeDiff(e)), BitConverter.DoubleToInt64Bits(r.RelativeDiff));
        }
        Assert.True(double.IsNaN(rows.Single(r => r.Layer == 10).RelativeDiff));   // written "" (pandas' na_rep)
        Assert.True(double.IsPositiveInfinity(rows.Single(r => r.Layer == 9).RelativeDiff));
    }

    [SharedFact]
    public void Paper_Block_Names_Map_Both_Ways_As_The_Papers_Scripts_Do()
    {
        Assert.Equal("Image Central Object->Question", PaperFormat.ToPaperBlock("Related Image Patches->Question"));
        Assert.Equal("Image Without Central Object->Question", PaperFormat.ToPaperBlock("Other Image Patches->Question"));
        Assert.Equal("Image->Last", PaperFormat.ToPaperBlock("Image->Last"));
        // vil/merge_lineplot.py's read_csv renames, applied in order.
        Assert.Equal("Related Image Patches->Question", PaperFormat.FromPaperBlock("Image Objects->Question"));
        Assert.Equal("Other Image Patches->Question", PaperFormat.FromPaperBlock("Image Without Objects->Question"));
        Assert.Equal("Other Image Patches->Question", PaperFormat.FromPaperBlock("Image Without Central Object with pad->Question"));
        Assert.Equal("Question->Last", PaperFormat.FromPaperBlock("Question->last"));
        foreach (var ours in new[] { "Question->Last", "Image->Last", "Last->Last", "Image->Question", "Related Image Patches->Question", "Other Image Patches->Question" })
            Assert.Equal(ours, PaperFormat.FromPaperBlock(PaperFormat.ToPaperBlock(ours)));
    }

    [SharedFact]
    public void Paper_Files_Of_Any_Name_Read_With_Task_And_Window_Given_Or_Defaulted()
    {
        using var dir = new TempDir();
        var path = dir.File("mine.csv");
        File.Copy(TestData(PaperFile), path);
        var rows = ResultReader.ReadKnockoutCsv(path, new List<MalformedRow>(), task: "Mine");
        Assert.All(rows, r => Assert.Equal(("Mine", 0), (r.Task, r.Window)));
        Assert.Equal((null, null), PaperFormat.ParseFileName(path));
        Assert.Equal(("LogicalObj", 7), PaperFormat.ParseFileName("a/GQA_val_correct_question_with_existThatOr_LogicalObj_window7_Last___Last.csv"));
    }

    [SharedFact]
    public void Exporter_Writes_The_Paper_Format_When_Asked_And_Ours_Otherwise()
    {
        using var dir = new TempDir();
        var run = new RunResults(FixtureRows(), [], [], []);
        var paper = Exporter.WriteAll(Path.Combine(dir.Path, "p"), run, [], [], KnockoutCsvFormat.Paper);
        AssertSameBytes(TestData(PaperFile), Path.Combine(dir.Path, "p", "knockout_first.csv"));
        Assert.Contains(Path.Combine(dir.Path, "p", Exporter.PaperFolder, PaperFile), paper);
        Exporter.WriteAll(Path.Combine(dir.Path, "o"), run, [], []);
        Assert.StartsWith("question_id,image,answer,", File.ReadLines(Path.Combine(dir.Path, "o", "knockout_first.csv")).First());
        Assert.False(Directory.Exists(Path.Combine(dir.Path, "o", Exporter.PaperFolder)));
        // The Parquet file keeps all our columns in both formats.
        Assert.Equal(run.Knockout.Count, ResultReader.ReadKnockoutParquet(Path.Combine(dir.Path, "p", "knockout_first.parquet")).Count);
    }
}

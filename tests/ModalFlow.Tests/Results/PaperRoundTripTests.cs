using System.Text.Json;
using ModalFlow.Data;
using ModalFlow.Results;
using ModalFlow.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace ModalFlow.Tests.Results;

/// <summary>
/// `modalflow run --format paper` on the tiny fixture model writes the paper's per-sample CSV, and `modalflow compare`
/// holds a run against such files: 0 against itself, the change against a perturbed copy.
/// </summary>
public sealed class PaperRoundTripTests(ITestOutputHelper log) : IDisposable
{
    private readonly DirectoryInfo _tmp = Directory.CreateTempSubdirectory("mf-paper-");

    public void Dispose() => _tmp.Delete(true);

    private static (int Code, string Out, string Err) Run(params string[] args) => ModalFlow.Tests.Cli.CliTests.Run(args);

    [SharedFact]
    public void Run_Format_Paper_Writes_The_Papers_Csv_And_Compare_Finds_Zero_Then_The_Perturbation()
    {
        var paperGqa = SharedData.DataFile("paper-gqa");
        var data = GqaTaskReader.ReadTask(paperGqa, "ChooseAttr");
        var images = TaskImages.Create(data.Rows.Take(2), Path.Combine(_tmp.FullName, "images"));
        var outDir = Path.Combine(_tmp.FullName, "run");
        var (code, _, err) = Run("run", "--model", SharedData.Fixture("tiny-llava-1.5"), "--task", "ChooseAttr", "--data-dir", paperGqa, "--images", images,
            "--experiment", "1", "--window", "3", "--limit", "2", "--filter", "none", "--format", "paper", "--ci", "bootstrap", "--out", outDir);
        Assert.True(code == 0, err);

        // The header is InformationFlow.py's record keys; every row has its ten fields in its formats.
        var csv = Path.Combine(outDir, "knockout_first.csv");
        var lines = File.ReadAllLines(csv);
        Assert.Equal(string.Join(',', PaperFormatTests.InformationFlowKeys), lines[0]);
        List<KnockoutRow> stored;
        using (var store = RunStore.Open(Path.Combine(outDir, RunStore.FileName))) stored = [.. store.KnockoutRows()];
        Assert.Equal(stored.Count + 1, lines.Length);
        for (int i = 0; i < stored.Count; i++)
        {
            var r = stored[i];
            var f = lines[i + 1].Split(',');   // the fixture rows' questions hold no commas
            Assert.Equal(10, f.Length);
            Assert.Equal([r.QuestionId, r.ImageId + ".jpg", r.Answer, r.Predicted, r.Question, r.BlockDesc, r.Layer.ToString(System.Globalization.CultureInfo.InvariantCulture)], f[..7]);
            Assert.Equal(r.BaseScore, double.Parse(f[7], System.Globalization.CultureInfo.InvariantCulture));
            Assert.Equal(r.NewScore, double.Parse(f[8], System.Globalization.CultureInfo.InvariantCulture));
            Assert.Equal(r.RelativeDiff, double.Parse(f[9], System.Globalization.CultureInfo.InvariantCulture), 1e-9);
            Assert.All(f[7..], v => Assert.DoesNotContain("E", v));   // Python spells exponents 'e'
        }
        var perCondition = Directory.GetFiles(Path.Combine(outDir, Exporter.PaperFolder)).Select(f => Path.GetFileName(f)).Order().ToArray();
        Assert.Equal(["GQA_val_correct_question_with_choose_ChooseAttr_window3_Image___Last.csv", "GQA_val_correct_question_with_choose_ChooseAttr_window3_Last___Last.csv",
            "GQA_val_correct_question_with_choose_ChooseAttr_window3_Question___Last.csv"], perCondition);
        Assert.Contains("bootstrap", File.ReadLines(Path.Combine(outDir, "aggregates.csv")).ElementAt(1));

        // Against itself: every row matched, nothing differs.
        var files = Directory.GetFiles(Path.Combine(outDir, Exporter.PaperFolder)).Order().ToArray();
        var (c0, out0, err0) = Run(["compare", "--run", outDir, "--json", "--paper-csv", .. files]);
        Assert.True(c0 == 0, err0);
        using (var doc = JsonDocument.Parse(out0))
        {
            var root = doc.RootElement;
            Assert.Equal(stored.Count, root.GetProperty("matched").GetInt32());
            Assert.True(root.GetProperty("max_abs_delta_pp").GetDouble() < 1e-9, out0);
            Assert.Equal((0, 0), (root.GetProperty("only_in_run").GetInt32(), root.GetProperty("only_in_files").GetInt32()));
            Assert.All(root.GetProperty("figures").EnumerateArray(), f => Assert.True(File.Exists(f.GetString())));
        }

        // A perturbed copy: one relative change +3 pp, one row gone.
        var target = files.Single(f => f.EndsWith("Question___Last.csv", StringComparison.Ordinal));
        var rows = File.ReadAllLines(target).ToList();
        var fields = rows[2].Split(',');
        double rel = double.Parse(fields[9], System.Globalization.CultureInfo.InvariantCulture);
        fields[9] = PythonFloat.Repr(rel + 3);
        rows[2] = string.Join(',', fields);
        var removed = rows[3].Split(',');
        rows.RemoveAt(3);
        var perturbed = Path.Combine(_tmp.FullName, Path.GetFileName(target));
        File.WriteAllText(perturbed, string.Join('\n', rows) + "\n");
        var (c1, out1, err1) = Run("compare", "--run", outDir, "--paper-csv", perturbed);
        Assert.True(c1 == 0, err1);
        log.WriteLine(out1);
        Assert.Contains("max |\u0394 relative change| = 3 pp", out1);
        Assert.Matches($@"Question->Last\s+{rows.Count - 1}\s+3\s+", out1);
        Assert.Contains($"question {removed[0]}  Question->Last  layer {removed[6]}", out1);
        Assert.Contains("rows only in the run: 1\n", out1.ReplaceLineEndings("\n"));   // the removed row
        Assert.Contains($"conditions only in the run: Image->Last ({stored.Count / 3} rows), Last->Last ({stored.Count / 3} rows)", out1);
    }
}

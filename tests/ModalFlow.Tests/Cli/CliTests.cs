using System.Text.Json;
using ModalFlow.Tests.Support;
using Xunit;

namespace ModalFlow.Tests.Cli;

/// <summary>The `modalflow` commands run in memory against the fixture model.</summary>
public class CliTests
{
    internal static (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = ModalFlow.Cli.Cli.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    private static readonly string Model = SharedData.Fixture("tiny-llava-1.5");

    [SharedTheory]
    [InlineData("dog_jar")]
    [InlineData("ironing_rel")]
    [InlineData("tree_attr")]
    public void Predict_Json_Gives_The_Fixture_Top1_And_Probability_From_The_Image_File(string id)
    {
        var c = FixtureCase.Load("tiny-llava-1.5", id);
        var (code, stdout, stderr) = Run("predict", "--model", Model, "--image", c.ImagePath, "--question", c.Question, "--json", "--max-new-tokens", "3");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);   // stdout holds exactly one JSON object
        var r = doc.RootElement;
        Assert.Equal(c.Top1Id, r.GetProperty("first_token_id").GetInt64());
        Assert.Equal(c.Top1Prob, r.GetProperty("first_token_prob").GetDouble(), 1e-4);
        Assert.Equal(c.NumImageTokens, r.GetProperty("num_image_tokens").GetInt32());
        Assert.Equal(c.SeqLen, r.GetProperty("num_positions").GetInt32());
        var top = r.GetProperty("top").EnumerateArray().ToList();
        Assert.Equal(5, top.Count);
        var golden = c.Json.GetProperty("top10_ids").EnumerateArray().Select(x => x.GetInt64()).Take(5);
        Assert.Equal(golden, top.Select(t => t.GetProperty("id").GetInt64()));
        Assert.False(string.IsNullOrEmpty(r.GetProperty("answer").GetString()));
    }

    [SharedFact]
    public void Trace_Json_Reproduces_The_Fixture_Window_Sweeps()
    {
        var c = FixtureCase.Load("tiny-llava-1.5", "ironing_rel");
        var (code, stdout, stderr) = Run("trace", "--model", Model, "--image", c.ImagePath, "--question", c.Question,
            "--block", "Image->Question", "--block", "Question->Last", "--block", "Image->Last", "--block", "Last->Last",
            "--window", "3", "--lens", "--json", "--max-new-tokens", "2");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var r = doc.RootElement;
        Assert.Equal(c.Top1Id, r.GetProperty("first_token_id").GetInt64());
        Assert.Equal(c.Top1Prob, r.GetProperty("p1").GetDouble(), 1e-4);
        using var ko = JsonDocument.Parse(File.ReadAllText(Path.Combine(c.Dir, "knockout.json")));
        var windows = ko.RootElement.GetProperty("configs").EnumerateArray().Where(g => g.GetProperty("kind").GetString() == "window").ToList();
        var conditions = r.GetProperty("conditions").EnumerateArray().ToList();
        Assert.Equal(4, conditions.Count);
        int compared = 0;
        foreach (var cond in conditions)
        {
            var block = cond.GetProperty("block").GetString();
            foreach (var layer in cond.GetProperty("layers").EnumerateArray())
            {
                var g = windows.Single(w => w.GetProperty("block_desc").GetString() == block && w.GetProperty("center_layer").GetInt32() == layer.GetProperty("layer").GetInt32());
                double pNew = g.GetProperty("p_new").GetDouble();
                if (pNew < 1e-4) Assert.Equal(g.GetProperty("logprob_new").GetDouble(), layer.GetProperty("logprob2").GetDouble(), 1e-2);
                else Assert.True(Math.Abs(g.GetProperty("relative_change_pct").GetDouble() - layer.GetProperty("relative_change").GetDouble()) <= 0.05,
                    $"{block}@{layer.GetProperty("layer")}: {layer.GetProperty("relative_change")} vs {g.GetProperty("relative_change_pct")}");
                compared++;
            }
        }
        Assert.Equal(windows.Count, compared);
        var lens = r.GetProperty("lens").EnumerateArray().ToList();
        var rawGolden = c.Array("lens_raw_prob").AsFloats();
        Assert.Equal(rawGolden.Length, lens.Count);
        for (int i = 0; i < lens.Count; i++) Assert.Equal(rawGolden[i], lens[i].GetProperty("prob_raw").GetDouble(), 1e-4);
    }

    [SharedFact]
    public void Errors_Go_To_Stderr_With_A_Nonzero_Code_And_No_Stack_Trace()
    {
        var (code, stdout, stderr) = Run("predict", "--model", Model, "--image", "/nonexistent/cat.jpg", "--question", "What is it?", "--json");
        Assert.Equal(2, code);
        Assert.Equal("", stdout);
        Assert.Contains("/nonexistent/cat.jpg", stderr);
        Assert.DoesNotContain("   at ", stderr);
        var (code2, _, stderr2) = Run("predict", "--model", "/nonexistent/model", "--image", "x.jpg", "--question", "q");
        Assert.Equal(2, code2);
        Assert.Contains("/nonexistent/model", stderr2);
        var (code3, _, stderr3) = Run("predict", "--model", Model, "--image", "/nonexistent/cat.jpg", "--question", "q", "--verbose");
        Assert.Equal(2, code3);
        Assert.Contains("   at ", stderr3);
    }

    [SharedFact]
    public void Options_Are_Validated_Before_Anything_Runs()
    {
        var (code, _, stderr) = Run("predict", "--model", Model, "--image", "x.jpg", "--question", "q", "--image-mode", "stretch");
        Assert.NotEqual(0, code);
        Assert.Contains("stretch", stderr);
        var (code2, _, stderr2) = Run("trace", "--model", Model, "--image", "x.jpg", "--question", "q", "--block", "Image");
        Assert.Equal(2, code2);
        Assert.Contains("Source->Target", stderr2);
    }
}

public class DemoCommandTests
{
    [SharedFact]
    public void Demo_Runs_The_Checks_And_All_Four_Experiments_On_The_Embedded_Toy_Model()
    {
        var dir = Directory.CreateTempSubdirectory("mf-demo-");
        try
        {
            var (code, stdout, stderr) = CliTests.Run("demo", "--out", dir.FullName, "--per-task", "2");
            Assert.True(code == 0, stderr + stdout);
            Assert.Contains("what the method must show", stdout);
            foreach (var (task, _) in ModalFlow.Toy.ToyWorld.Tasks) Assert.Contains(task, stdout);
            var report = File.ReadAllText(Path.Combine(dir.FullName, "report.md"));
            foreach (var exp in ModalFlow.Experiments.ExperimentDefinition.All)
            {
                Assert.Contains($"Experiment {exp.Name}", report);
                var figures = Directory.GetFiles(Path.Combine(dir.FullName, $"exp{exp.Name}", "figures"), "*.png");
                Assert.NotEmpty(figures);
                foreach (var f in figures) ModalFlow.Vision.ImageDecoder.Decode(f);
            }
            // The demo's first prediction is the ordinary predict path on the embedded folder.
            var row = ModalFlow.Data.GqaTaskReader.ReadFile(Path.Combine(ModalFlow.Toy.EmbeddedToy.EvalDir, "toy_ChooseAttr.csv")).Rows[0];
            var (code2, json, err2) = CliTests.Run("predict", "--model", ModalFlow.Toy.EmbeddedToy.ModelDir, "--image",
                Path.Combine(ModalFlow.Toy.EmbeddedToy.EvalDir, "images", row.ImgId + ".png"), "--question", row.Question, "--json");
            Assert.True(code2 == 0, err2);
            using var doc = System.Text.Json.JsonDocument.Parse(json);
            Assert.Contains($"\"{row.Question}\" → {doc.RootElement.GetProperty("answer").GetString()!.Trim()} ", stdout);
        }
        finally { dir.Delete(true); }
    }

    [SharedFact]
    public void Demo_On_A_Missing_Model_Folder_Names_It()
    {
        var (code, _, stderr) = CliTests.Run("demo", "--out", Path.GetTempPath(), "--model", "/nonexistent/toy", "--data", "/nonexistent/data");
        Assert.Equal(2, code);
        Assert.Contains("/nonexistent/toy", stderr);
    }
}

public class PositionsCommandTests
{
    [SharedFact]
    public void Positions_Json_Gives_Layout_Named_Sets_And_The_Papers_Patch_Indices()
    {
        using var golden = System.Text.Json.JsonDocument.Parse(File.ReadAllText(SharedData.Fixture("patch-sets", "patch_sets.json")));
        var data = SharedData.DataFile("paper-gqa");
        int checkedRows = 0;
        foreach (var row in golden.RootElement.GetProperty("rows").EnumerateArray().Where((_, i) => i % 8 == 0))
        {
            var task = row.GetProperty("task").GetString()!;
            var csv = Directory.GetFiles(data, $"*_{task}.csv").Single();
            var qid = row.GetProperty("question_id").GetString()!;
            var (code, stdout, stderr) = CliTests.Run("positions", "--model", SharedData.Fixture("tiny-llava-1.5"), "--data", csv, "--question-id", qid, "--json");
            Assert.True(code == 0, stderr);
            using var doc = System.Text.Json.JsonDocument.Parse(stdout);
            var r = doc.RootElement;
            int start = r.GetProperty("image_start").GetInt32();
            Assert.Equal(576, r.GetProperty("n_image_tokens").GetInt32());
            var sets = r.GetProperty("sets");
            int[] Ints(System.Text.Json.JsonElement e) => e.EnumerateArray().Select(x => x.GetInt32()).ToArray();
            Assert.Equal(Enumerable.Range(start, 576), Ints(sets.GetProperty("Image")));
            Assert.Equal([r.GetProperty("seq_len").GetInt32() - 1], Ints(sets.GetProperty("Last")));
            var related = Ints(row.GetProperty("llava15_pad").GetProperty("related"));
            var other = Ints(row.GetProperty("llava15_pad").GetProperty("other"));
            Assert.Equal(related, Ints(r.GetProperty("image_patches_relative").GetProperty("Related Image Patches")));
            Assert.Equal(other, Ints(r.GetProperty("image_patches_relative").GetProperty("Other Image Patches")));
            Assert.Equal(related.Select(p => p + start), Ints(sets.GetProperty("Related Image Patches")));
            checkedRows++;
        }
        Assert.True(checkedRows >= 6);
        var missing = CliTests.Run("positions", "--model", SharedData.Fixture("tiny-llava-1.5"), "--data",
            Directory.GetFiles(data, "*_QueryAttr.csv").Single(), "--question-id", "999999999");
        Assert.Equal(2, missing.Code);
        Assert.Contains("question_id", missing.Err);
    }
}

public class InspectCommandTests
{
    [SharedFact]
    public void Inspect_Describes_Format_Sizes_Tokenizer_And_Weights_Without_Loading_Them()
    {
        var (code, stdout, stderr) = CliTests.Run("inspect", "--model", SharedData.Fixture("tiny-llava-1.5"), "--json");
        Assert.True(code == 0, stderr);
        using var doc = System.Text.Json.JsonDocument.Parse(stdout);
        var r = doc.RootElement;
        Assert.Equal("llava-hf", r.GetProperty("format").GetString());
        Assert.Equal(8, r.GetProperty("text").GetProperty("layers").GetInt32());
        Assert.Equal(4, r.GetProperty("text").GetProperty("kv_heads").GetInt32());
        Assert.Equal(32064, r.GetProperty("text").GetProperty("vocab").GetInt32());
        Assert.Equal(576, r.GetProperty("image_tokens").GetInt32());
        Assert.Equal("vicuna_v1", r.GetProperty("template").GetString());
        Assert.Equal(118, r.GetProperty("weight_dtypes").GetProperty("F32").GetInt32());
        var bad = CliTests.Run("inspect", "--model", SharedData.Fixture("tiny-llava-1.5"), "--image-size", "500by375");
        Assert.Equal(2, bad.Code);
        Assert.Contains("--image-size", bad.Err);
    }
}

using ModalFlow.Tests.Support;
using Xunit;

namespace ModalFlow.Tests.Cli;

/// <summary>Parse errors follow the error contract: stderr only, exit 2, nothing on stdout, no help text; help names `modalflow`.</summary>
public class ParseErrorTests
{
    private static readonly string Model = SharedData.Fixture("tiny-llava-1.5");

    public static TheoryData<string[], string[]> Errors => new()
    {
        // unknown option (with its value), and the suggestion
        { ["predict", "--modle", Model, "--image", "x.jpg", "--question", "q"], ["unknown option '--modle'", "did you mean '--model'?"] },
        // an option of another verb: model-loading options are not on report
        { ["report", "--run", "r", "--tokenizer", "t.model"], ["unknown option '--tokenizer'", "modalflow report"] },
        // a typo in a verb, and in a sub-verb
        { ["trac", "--model", Model], ["unknown command 'trac'", "did you mean 'trace'?"] },
        { ["toy", "trian"], ["unknown command 'trian'", "did you mean 'train'?"] },
        // no verb at all
        { [], ["needs a command", "predict", "run"] },
        // missing required options and argument
        { ["run", "--model", Model, "--task", "ChooseAttr", "--images", "i"], ["missing required option --experiment", "missing required option --out"] },
        { ["merge", "--out", "o"], ["'modalflow merge' needs SHARD_DIR"] },
        // bad enum values
        { ["predict", "--model", Model, "--image", "x.jpg", "--question", "q", "--image-mode", "crp"], ["--image-mode: 'crp' is not one of auto, pad, crop", "did you mean 'crop'?"] },
        { ["run", "--model", Model, "--task", "ChooseAttr", "--images", "i", "--out", "o", "--experiment", "5"], ["--experiment: '5' is not one of 1, 2, 3, 4, custom"] },
        { ["trace", "--model", Model, "--image", "x.jpg", "--question", "q", "--block", "Image->Question", "--dtype", "fp16"], ["--dtype: 'fp16' is not one of f32, bf16"] },
        // bad numbers, a missing value, a malformed block, a stray argument
        { ["demo", "--window", "0"], ["--window: 0; expected at least 1"] },
        { ["trace", "--model", Model, "--image", "x.jpg", "--question", "q", "--block", "Image->Question", "--window", "nine"], ["--window: 'nine' is not a whole number"] },
        { ["run", "--model", Model, "--task", "ChooseAttr", "--images", "i", "--out", "o", "--experiment", "1", "--shard", "3/2"], ["--shard: '3/2'"] },
        { ["predict", "--model", Model, "--image", "x.jpg", "--question"], ["option --question needs a value"] },
        { ["trace", "--model", Model, "--image", "x.jpg", "--question", "q", "--block", "Image"], ["'Image' is not a block", "Source->Target"] },
        { ["run", "--model", Model, "--task", "ChooseAttr", "--images", "i", "--out", "o", "--experiment", "custom", "--block", "Imge->Last"],
            ["unknown position set 'Imge'", "did you mean 'Image'?"] },
        { ["inspect", "--model", Model, "extra"], ["unexpected argument 'extra'"] },
    };

    [SharedTheory]
    [MemberData(nameof(Errors))]
    public void Parse_Errors_Go_To_Stderr_Only_With_Exit_2(string[] args, string[] expected)
    {
        var (code, stdout, stderr) = CliTests.Run(args);
        Assert.True(code == 2, $"exit {code}\nstdout: {stdout}\nstderr: {stderr}");
        Assert.Equal("", stdout);
        foreach (var e in expected) Assert.True(stderr.Contains(e, StringComparison.Ordinal), $"stderr lacks \"{e}\":\n{stderr}");
        Assert.StartsWith("error: ", stderr);
        Assert.DoesNotContain("Usage:", stderr);   // a message, not the help text
        Assert.DoesNotContain("   at ", stderr);
    }

    [SharedFact]
    public void Help_Names_The_Command_Modalflow_And_Goes_To_Stdout()
    {
        var (code, stdout, stderr) = CliTests.Run("--help");
        Assert.Equal(0, code);
        Assert.Equal("", stderr);
        Assert.Contains("modalflow [command] [options]", stdout);
        Assert.DoesNotContain("ModalFlow.Cli", stdout);
        var run = CliTests.Run("run", "--help");
        Assert.Contains("modalflow run [options]", run.Out);
    }

    [SharedTheory]
    [InlineData("report")]
    [InlineData("merge")]
    [InlineData("toy", "train")]
    [InlineData("toy", "data")]
    [InlineData("bench", "knockout")]
    [InlineData("demo")]
    public void Verbs_That_Load_No_Model_Folder_Show_No_Model_Loading_Options(params string[] verb)
    {
        var (code, stdout, _) = CliTests.Run([.. verb, "--help"]);
        Assert.Equal(0, code);
        foreach (var o in new[] { "--tokenizer", "--anyres", "--vision-tower", "--dtype" }) Assert.DoesNotContain(o, stdout);
    }

    [SharedTheory]
    [InlineData("predict")]
    [InlineData("trace")]
    [InlineData("run")]
    [InlineData("positions")]
    [InlineData("inspect")]
    public void Verbs_That_Read_A_Model_Folder_Show_Its_Options(string verb)
    {
        var (_, stdout, _) = CliTests.Run(verb, "--help");
        foreach (var o in new[] { "--model", "--tokenizer", "--anyres", "--vision-tower" }) Assert.Contains(o, stdout);
    }

    [SharedFact]
    public void An_Unknown_Task_Lists_The_Tasks_Found_And_The_Folder_Searched()
    {
        var data = SharedData.DataFile("paper-gqa");
        var images = Directory.CreateTempSubdirectory("mf-images-");
        try
        {
            var (code, stdout, stderr) = CliTests.Run("run", "--model", Model, "--task", "ChooseAtr", "--data-dir", data, "--images", images.FullName,
                "--experiment", "1", "--out", Path.Combine(images.FullName, "out"));
            Assert.Equal(2, code);
            Assert.Equal("", stdout);
            Assert.Contains("unknown task 'ChooseAtr'", stderr);
            Assert.Contains("did you mean 'ChooseAttr'?", stderr);
            Assert.Contains(Path.GetFullPath(data), stderr);
            Assert.Contains("tasks found there: ChooseAttr, ChooseCat, ChooseRel, CompareAttr, LogicalObj, QueryAttr", stderr);
            var empty = CliTests.Run("run", "--model", Model, "--task", "ChooseAttr", "--data-dir", images.FullName, "--images", images.FullName,
                "--experiment", "1", "--out", Path.Combine(images.FullName, "out"));
            Assert.Equal(2, empty.Code);
            Assert.Contains(images.FullName, empty.Err);
            Assert.Contains("no task CSVs", empty.Err);
            Assert.False(Directory.Exists(Path.Combine(images.FullName, "out")));   // refused before anything was written
        }
        finally { images.Delete(true); }
    }

    [SharedFact]
    public void A_Window_Wider_Than_The_Model_Gives_A_One_Line_Note_And_Still_Runs()
    {
        var c = FixtureCase.Load("tiny-llava-1.5", "ironing_rel");
        var layers = ModalFlow.Checkpoints.LlavaConfig.Load(Model).Text.NumHiddenLayers;
        var (code, stdout, stderr) = CliTests.Run("trace", "--model", Model, "--image", c.ImagePath, "--question", c.Question,
            "--block", "Question->Last", "--window", $"{2 * layers + 1}", "--json", "--max-new-tokens", "1");
        Assert.True(code == 0, stderr);
        var note = Assert.Single(stderr.Split('\n'), l => l.StartsWith("note: window", StringComparison.Ordinal));
        Assert.Contains($"wider than the model's {layers} decoder layers", note);
        using var doc = System.Text.Json.JsonDocument.Parse(stdout);   // stdout is still one JSON object
        var (_, _, quiet) = CliTests.Run("trace", "--model", Model, "--image", c.ImagePath, "--question", c.Question,
            "--block", "Question->Last", "--window", $"{layers}", "--json", "--max-new-tokens", "1");
        Assert.DoesNotContain("note: window", quiet);
    }
}

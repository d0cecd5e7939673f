using ModalFlow.Data;
using ModalFlow.Experiments;
using ModalFlow.Results;
using ModalFlow.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace ModalFlow.Tests.Experiments;

/// <summary>Every experiment on the two LLaVA-NeXT fixture models (Vicuna and Llama-3), anyres image tokens included.</summary>
public sealed class NextEndToEndTests(ITestOutputHelper log) : IDisposable
{
    private readonly DirectoryInfo _tmp = Directory.CreateTempSubdirectory("mf-next-e2e-");

    public void Dispose() => _tmp.Delete(true);

    public static TheoryData<string, string> ModelsAndTasks => new()
    {
        { "tiny-llava-next", GqaTasks.ChooseRel },
        { "tiny-llama3-llava-next", GqaTasks.ChooseAttr },
    };

    [SharedTheory]
    [MemberData(nameof(ModelsAndTasks))]
    public void Every_Experiment_Runs_On_The_Next_Fixture_Model(string model, string task)
    {
        var paperGqa = SharedData.DataFile("paper-gqa");
        var data = GqaTaskReader.ReadTask(paperGqa, task);
        var images = TaskImages.Create(data.Rows.Take(2), Path.Combine(_tmp.FullName, "images"));
        var tokenizer = model.Contains("llama3") ? new[] { "--tokenizer", SharedData.Fixture("tokenizers", "llama3", "tokenizer.model") } : [];
        foreach (var exp in ExperimentDefinition.All)
        {
            var outDir = Path.Combine(_tmp.FullName, $"{model}-exp{exp.Name}");
            string[] args = ["run", "--model", SharedData.Fixture(model), "--task", task, "--data-dir", paperGqa, "--images", images,
                "--experiment", exp.Name, "--window", "3", "--limit", "2", "--filter", "none", "--out", outDir, .. tokenizer,
                // The self-check's naive forward costs 6-12 s per cell on NeXT's ~3,000 positions; SelfCheckTests cover it.
                "--verify", "0"];
            var (code, _, stderr) = ModalFlow.Tests.Cli.CliTests.Run(args);
            Assert.True(code == 0, stderr);
            using var store = RunStore.Open(Path.Combine(outDir, RunStore.FileName));
            var (used, excluded) = store.Counts();
            foreach (var e in store.Excluded()) log.WriteLine($"{model} exp{exp.Name}: excluded {e.QuestionId}: {e.Reason}: {e.Detail}");
            // A box covering the whole image leaves no "other" patch: that sample is excluded from Exp 3, with its reason.
            Assert.Equal(2, used + excluded);
            Assert.True(used >= 1);
            Assert.All(store.Excluded(), e => Assert.Equal("position set", e.Reason));
            if (exp.Lens) Assert.Equal(used * 9 * 4, store.LensRows().Count);
            else Assert.Equal(used * exp.Blocks.Count * 8, store.KnockoutRows().Count);
            Assert.NotEmpty(Directory.GetFiles(Path.Combine(outDir, "figures"), "*.png"));
        }
    }

    [SharedFact]
    public void Positions_For_Next_Equal_The_Papers_Anyres_Patch_Sets()
    {
        using var golden = System.Text.Json.JsonDocument.Parse(File.ReadAllText(SharedData.Fixture("patch-sets", "patch_sets.json")));
        var data = SharedData.DataFile("paper-gqa");
        int checkedRows = 0;
        foreach (var row in golden.RootElement.GetProperty("rows").EnumerateArray().Where((_, i) => i % 6 == 0))
        {
            var csv = Directory.GetFiles(data, $"*_{row.GetProperty("task").GetString()}.csv").Single();
            // The goldens executed the paper's code: the original LLaVA-NeXT arithmetic.
            var (code, stdout, stderr) = ModalFlow.Tests.Cli.CliTests.Run("positions", "--model", SharedData.Fixture("tiny-llava-next"), "--anyres", "llava-next",
                "--data", csv, "--question-id", row.GetProperty("question_id").GetString()!, "--json");
            Assert.True(code == 0, stderr);
            using var doc = System.Text.Json.JsonDocument.Parse(stdout);
            var next = row.GetProperty("llava_next_anyres");
            int[] Ints(System.Text.Json.JsonElement e) => e.EnumerateArray().Select(x => x.GetInt32()).ToArray();
            Assert.Equal(next.GetProperty("n_image_tokens").GetInt32(), doc.RootElement.GetProperty("n_image_tokens").GetInt32());
            var rel = doc.RootElement.GetProperty("image_patches_relative");
            Assert.Equal(Ints(next.GetProperty("related")), Ints(rel.GetProperty("Related Image Patches")));
            Assert.Equal(Ints(next.GetProperty("other")), Ints(rel.GetProperty("Other Image Patches")));
            checkedRows++;
        }
        Assert.True(checkedRows >= 8);
    }
}

using System.Text.Json;
using ModalFlow.Data;
using ModalFlow.Results;
using ModalFlow.Tests.Cli;
using ModalFlow.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace ModalFlow.Tests.Families;

/// <summary>
/// The verbs on Qwen2-VL and LLaVA-OneVision folders as downloaded: `positions --json` gives the golden patch sets (the
/// paper's rule on each family's geometry, computed through transformers' own processors) in each mode the tiny folders
/// can express; `inspect` names the family and its position ids; `predict` / `trace --json` answer; `run` does
/// Experiments 1–4 end to end.
/// </summary>
public sealed class FamilyCliTests(ITestOutputHelper log) : IDisposable
{
    private readonly DirectoryInfo _tmp = Directory.CreateTempSubdirectory("mf-family-cli-");

    public void Dispose() => _tmp.Delete(true);

    /// <summary>(family folder, golden file, golden mode, extra CLI options that select that mode).</summary>
    public static TheoryData<string, string, string, string[]> PatchModes => new()
    {
        { FamilyFolders.Qwen2Vl, "qwen2_vl.json", "tiny_qwen2_vl", [] },
        { FamilyFolders.Qwen2Vl, "qwen2_vl.json", "qwen2_vl_instruct", ["--min-pixels", "3136", "--max-pixels", "12845056"] },
        { FamilyFolders.Onevision, "llava_onevision.json", "tiny_llava_onevision", [] },
    };

    [SharedTheory]
    [MemberData(nameof(PatchModes))]
    public void Positions_Json_Gives_The_Golden_Patch_Sets(string model, string golden, string mode, string[] extra)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(SharedData.Fixture("patch-sets", golden)));
        var tasks = GqaTasks.All.ToDictionary(t => t, t => GqaTaskReader.TaskFile(SharedData.DataFile("paper-gqa"), t));
        // One row per task (the golden rows come from the paper's CSVs), covering both empty-set kinds when present.
        var rows = doc.RootElement.GetProperty("rows").EnumerateArray().GroupBy(r => r.GetProperty("task").GetString()!).Select(g => g.First()).ToList();
        Assert.Equal(6, rows.Count);
        foreach (var r in rows)
        {
            var (code, stdout, stderr) = CliTests.Run(["positions", "--model", FamilyFolders.AsDownloaded(model), "--data", tasks[r.GetProperty("task").GetString()!],
                "--question-id", r.GetProperty("question_id").GetString()!, "--json", .. extra]);
            Assert.True(code == 0, stderr);
            using var got = JsonDocument.Parse(stdout);
            var g = r.GetProperty(mode);
            Assert.Equal(g.GetProperty("n_image_tokens").GetInt32(), got.RootElement.GetProperty("n_image_tokens").GetInt32());
            var patches = got.RootElement.GetProperty("image_patches_relative");
            int[] Ints(JsonElement e) => e.EnumerateArray().Select(x => x.GetInt32()).ToArray();
            Assert.Equal(Ints(g.GetProperty("related")), Ints(patches.GetProperty(ObjectPatchSets.RelatedName)));
            Assert.Equal(Ints(g.GetProperty("other")), Ints(patches.GetProperty(ObjectPatchSets.OtherName)));
        }
    }

    [SharedFact]
    public void Inspect_Predict_And_Trace_On_Both_Families()
    {
        foreach (var (model, family, scheme) in new[] { (FamilyFolders.Qwen2Vl, "qwen2-vl", "M-RoPE"), (FamilyFolders.Onevision, "llava-onevision", "1-D RoPE") })
        {
            var dir = FamilyFolders.AsDownloaded(model);
            var c = FixtureCase.Load(model, "dog_jar");
            var (code, stdout, stderr) = CliTests.Run("inspect", "--model", dir, "--image-size", "1439x1439", "--json");
            Assert.True(code == 0, stderr);
            using (var doc = JsonDocument.Parse(stdout))
            {
                Assert.Equal(family, doc.RootElement.GetProperty("family").GetString());
                Assert.StartsWith(scheme, doc.RootElement.GetProperty("text").GetProperty("position_ids").GetString());
                Assert.Equal(c.NumImageTokens, doc.RootElement.GetProperty("image_tokens").GetInt32());
            }
            (code, stdout, stderr) = CliTests.Run("predict", "--model", dir, "--image", c.ImagePath, "--question", c.Question, "--max-new-tokens", "2", "--json");
            Assert.True(code == 0, stderr);
            using (var doc = JsonDocument.Parse(stdout))
            {
                Assert.Equal(c.Top1Id, doc.RootElement.GetProperty("first_token_id").GetInt64());
                Assert.Equal(c.Top1Prob, doc.RootElement.GetProperty("first_token_prob").GetDouble(), 1e-4);
            }
            (code, stdout, stderr) = CliTests.Run("trace", "--model", dir, "--image", c.ImagePath, "--question", c.Question, "--block", "Image->Question",
                "--window", "3", "--lens", "--json");
            Assert.True(code == 0, stderr);
            using (var doc = JsonDocument.Parse(stdout))
            {
                var layers = doc.RootElement.GetProperty("conditions")[0].GetProperty("layers").EnumerateArray().ToList();
                Assert.Equal(6, layers.Count);
                // Golden window-3 Image->Question knockouts of this case (fixtures' knockout.json).
                using var ko = JsonDocument.Parse(File.ReadAllText(Path.Combine(c.Dir, "knockout.json")));
                var golden = ko.RootElement.GetProperty("configs").EnumerateArray()
                    .Where(g => g.GetProperty("kind").GetString() == "window" && g.GetProperty("block_desc").GetString() == "Image->Question").ToList();
                for (int l = 0; l < 6; l++)
                    Assert.Equal(golden[l].GetProperty("p_new").GetDouble(), layers[l].GetProperty("p2").GetDouble(), 1e-4);
                Assert.Equal(7, doc.RootElement.GetProperty("lens").GetArrayLength());
            }
            log.WriteLine($"{model}: inspect, predict, trace agree with the fixture");
        }
    }

    [SharedFact]
    public void Run_Does_Experiments_1_To_4_On_Both_Families()
    {
        const int limit = 2;
        foreach (var model in new[] { FamilyFolders.Qwen2Vl, FamilyFolders.Onevision })
        {
            var data = GqaTaskReader.ReadTask(SharedData.DataFile("paper-gqa"), GqaTasks.ChooseAttr);
            var images = TaskImages.Create(data.Rows.Take(limit), Path.Combine(_tmp.FullName, "images"));
            foreach (var exp in new[] { "1", "2", "3", "4" })
            {
                var outDir = Path.Combine(_tmp.FullName, $"{model}-exp{exp}");
                var (code, stdout, stderr) = CliTests.Run("run", "--model", FamilyFolders.AsDownloaded(model), "--task", GqaTasks.ChooseAttr,
                    "--data-dir", SharedData.DataFile("paper-gqa"), "--images", images, "--experiment", exp, "--window", "3", "--limit", $"{limit}",
                    "--filter", "none", "--out", outDir);
                Assert.True(code == 0, stderr);
                using var store = RunStore.Open(Path.Combine(outDir, RunStore.FileName));
                Assert.Equal((limit, 0), store.Counts());
                var manifest = store.Manifest!;
                Assert.Equal(model == FamilyFolders.Qwen2Vl ? "qwen2-vl" : "llava-onevision", manifest.Family);
                Assert.DoesNotContain("pad", manifest.Preprocessing, StringComparison.Ordinal);
                if (exp == "4") Assert.NotEmpty(store.LensRows());
                else Assert.Equal(limit * (exp == "1" || exp == "3" ? 3 : 1) * 6, store.KnockoutRows().Count);
                log.WriteLine($"{model} exp {exp}: {manifest.Preprocessing}, {store.KnockoutRows().Count} knockout rows, {store.LensRows().Count} lens rows");
            }
        }
    }
}

using System.Text.Json;
using ModalFlow.Inference;
using ModalFlow.Results;
using ModalFlow.Tests.Families;
using ModalFlow.Tests.Support;
using ModalFlow.Toy;
using ModalFlow.Tracing;
using Xunit;
using Xunit.Abstractions;

namespace ModalFlow.Tests.Cli;

/// <summary>`trace --per-head` and `run --experiment heads` (issue 13) on the fixture families and the embedded toy model.</summary>
public sealed class PerHeadCliTests(ITestOutputHelper log) : IDisposable
{
    private readonly DirectoryInfo _tmp = Directory.CreateTempSubdirectory("mf-perhead-");

    public void Dispose() => _tmp.Delete(true);

    /// <summary>The model folder of a fixture as the CLI takes it, with the extra arguments its family needs.</summary>
    private static (string Folder, string[] Extra) Fixture(string model) => model switch
    {
        FamilyFolders.Qwen2Vl or FamilyFolders.Onevision => (FamilyFolders.AsDownloaded(model), []),
        "tiny-llama3-llava-next" => (SharedData.Fixture(model), ["--tokenizer", SharedData.Fixture("tokenizers", "llama3", "tokenizer.model")]),
        _ => (SharedData.Fixture(model), []),
    };

    private static JsonElement Trace(string model, string caseId, params string[] more)
    {
        var c = FixtureCase.Load(model, caseId);
        var (folder, extra) = Fixture(model);
        var (code, stdout, stderr) = CliTests.Run(["trace", "--model", folder, "--image", c.ImagePath, "--question", c.Question,
            "--block", "Image->Question", "--per-head", "--max-new-tokens", "2", "--json", .. extra, .. more]);
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        return doc.RootElement.Clone();
    }

    [SharedFact]
    public void Trace_Per_Head_Json_Is_The_Map_Of_Single_Head_Knockouts()
    {
        const string model = "tiny-llava-1.5";
        var r = Trace(model, "ironing_rel");
        var cond = Assert.Single(r.GetProperty("conditions").EnumerateArray());
        Assert.Equal(1, cond.GetProperty("window").GetInt32());   // --per-head defaults to one layer at a time
        int heads = cond.GetProperty("num_heads").GetInt32();
        var alone = cond.GetProperty("heads").EnumerateArray().ToList();
        var allBut = cond.GetProperty("all_heads_but").EnumerateArray().ToList();
        var layers = cond.GetProperty("layers").EnumerateArray().ToList();
        Assert.Equal(4, heads);
        Assert.Equal(8, layers.Count);
        Assert.Equal(layers.Count * heads, alone.Count);
        Assert.Equal(layers.Count * heads, allBut.Count);

        // The independent path: each cell as its own knockout spec on the naive engine.
        var c = FixtureCase.Load(model, "ironing_rel");
        using var m = LoadedModel.Load(SharedData.Fixture(model));
        using var input = PreparedInput.Create(m, c.ImagePath, c.Question);
        using var clean = CleanRun.Create(m.Decoder, input.Embeds, input.Positions);
        var sources = NamedPositions.Resolve("Image", input.Layout);
        var targets = NamedPositions.Resolve("Question", input.Layout);
        KnockoutSpec Spec(JsonElement e, bool complement)
        {
            int l = e.GetProperty("layer").GetInt32(), h = e.GetProperty("head").GetInt32();
            return new KnockoutSpec(sources, targets, [l]) { Heads = complement ? [.. Enumerable.Range(0, heads).Where(x => x != h)] : [h] };
        }
        var specs = alone.Select(e => Spec(e, false)).Concat(allBut.Select(e => Spec(e, true))).ToList();
        var naive = new NaiveKnockoutEngine().Run(clean, specs);
        var cells = alone.Concat(allBut).ToList();
        double worst = 0;
        for (int i = 0; i < cells.Count; i++)
        {
            double p2 = cells[i].GetProperty("p2").GetDouble();
            worst = Math.Max(worst, Math.Abs(p2 - naive[i].P2));
            Assert.True(Math.Abs(p2 - naive[i].P2) <= 1e-5, $"cell {i} ({specs[i].Layers[0]}, heads {string.Join(" ", specs[i].Heads)}): trace {p2:R}, naive {naive[i].P2:R}");
            Assert.Equal(Tracer.RelativeChange(clean.P1, p2), cells[i].GetProperty("relative_change").GetDouble(), 1e-6);
        }
        log.WriteLine($"{cells.Count} cells; worst |p2 trace - p2 naive single spec| = {worst:E2}");
    }

    public static TheoryData<string> Families => new() { "tiny-llava-1.5", FamilyFolders.Qwen2Vl, FamilyFolders.Onevision, "tiny-llama3-llava-next" };

    [SharedTheory]
    [MemberData(nameof(Families))]
    public void Trace_Per_Head_Works_For_Every_Family_And_Both_Engines_Agree(string model)
    {
        var fast = Trace(model, "dog_jar");
        // The naive engine pays a full forward per cell (2·L·H of them): on Llama-3-NeXT's ~3,000 positions that is
        // 20+ minutes, so there the CLI runs the fast engine only; its fast ≡ naive per head on NeXT geometry is
        // PerHeadKnockoutTests.PerHead_FastPath_Equals_NaivePath_On_LlavaNext's check.
        bool naiveToo = model != "tiny-llama3-llava-next";
        var naive = naiveToo ? Trace(model, "dog_jar", "--engine", "naive") : fast;
        var cfg = JsonDocument.Parse(File.ReadAllText(Path.Combine(Fixture(model).Folder, "config.json"))).RootElement;
        var text = cfg.TryGetProperty("text_config", out var t) ? t : cfg;
        int layers = text.GetProperty("num_hidden_layers").GetInt32(), heads = text.GetProperty("num_attention_heads").GetInt32();
        var f = Assert.Single(fast.GetProperty("conditions").EnumerateArray());
        var n = Assert.Single(naive.GetProperty("conditions").EnumerateArray());
        Assert.Equal(heads, f.GetProperty("num_heads").GetInt32());   // query heads, also where key/value heads are shared
        double worst = 0;
        foreach (var key in new[] { "heads", "all_heads_but" })
        {
            var a = f.GetProperty(key).EnumerateArray().ToList();
            var b = n.GetProperty(key).EnumerateArray().ToList();
            Assert.Equal(layers * heads, a.Count);
            for (int i = 0; i < a.Count; i++)
            {
                double pa = a[i].GetProperty("p2").GetDouble(), pb = b[i].GetProperty("p2").GetDouble();
                Assert.InRange(pa, 0, 1);
                worst = Math.Max(worst, Math.Abs(pa - pb));
                Assert.True(Math.Abs(pa - pb) <= 1e-5, $"{model} {key}[{i}]: fast {pa:R}, naive {pb:R}");
            }
        }
        log.WriteLine($"{model}: {layers} layers x {heads} query heads; " + (naiveToo ? $"worst |p2 fast - naive| = {worst:E2}" : "fast engine only"));
    }

    [SharedFact]
    public void Trace_Per_Head_Text_Shows_Two_Layer_By_Head_Tables()
    {
        var c = FixtureCase.Load("tiny-llava-1.5", "ironing_rel");
        var (code, stdout, stderr) = CliTests.Run("trace", "--model", SharedData.Fixture("tiny-llava-1.5"), "--image", c.ImagePath, "--question", c.Question,
            "--block", "Image->Question", "--per-head", "--window", "3", "--max-new-tokens", "2");
        Assert.True(code == 0, stderr);
        Assert.Contains("Image->Question, window 3: change % with ONE head knocked out", stdout);
        Assert.Contains("Image->Question, window 3: change % with EVERY head BUT ONE knocked out", stdout);
        Assert.Contains("  layer       all       h0       h1       h2       h3", stdout);
        Assert.Equal(2 * 8, stdout.Split('\n').Count(l => System.Text.RegularExpressions.Regex.IsMatch(l, @"^\s+\d+(\s+-?\d+\.\d\d){5}\s*$")));
    }

    [SharedFact]
    public void Run_Heads_On_A_Toy_Task_Stores_The_Maps_Exports_And_Draws_Them_And_Its_Self_Check_Passes()
    {
        EmbeddedToy.EnsurePresent();
        var outDir = Path.Combine(_tmp.FullName, "heads");
        var (code, stdout, stderr) = CliTests.Run("run", "--model", EmbeddedToy.ModelDir, "--data", Path.Combine(EmbeddedToy.EvalDir, "toy_ChooseCat.csv"),
            "--images", Path.Combine(EmbeddedToy.EvalDir, "images"), "--experiment", "heads", "--block", "Image->Question", "--limit", "3", "--out", outDir);
        Assert.True(code == 0, stderr);
        log.WriteLine(stdout);
        Assert.Contains("window 1", stderr);   // the per-head default
        using var store = RunStore.Open(Path.Combine(outDir, RunStore.FileName));
        int used = store.Counts().Done;
        Assert.True(used >= 1, "the toy model answers ChooseCat correctly");
        var rows = store.KnockoutRows();
        const int layers = 4, heads = 4;   // the toy decoder
        Assert.Equal(used * layers * (2 * heads + 1), rows.Count);
        var codes = rows.Select(r => r.Heads).Distinct().Order(Comparer<string>.Create(HeadSelection.Compare)).ToList();
        Assert.Equal(["", "0", "1", "2", "3", "-0", "-1", "-2", "-3"], codes);
        Assert.All(rows, r => Assert.Equal(1, r.Window));
        var v = store.Verification()!;
        Assert.True(v.Passed, v.Describe());
        Assert.True(v.Cells >= 1);
        Assert.Contains("self-check", stdout);

        Assert.Equal(rows, ResultReader.ReadKnockoutParquet(Path.Combine(outDir, "knockout_first.parquet")));
        Assert.Equal(rows.Count, ResultReader.ReadKnockoutCsv(Path.Combine(outDir, "knockout_first.csv")).Count);
        var aggregates = File.ReadAllLines(Path.Combine(outDir, "aggregates.csv"));
        Assert.EndsWith(",heads", aggregates[0]);
        Assert.Equal(layers * (2 * heads + 1), aggregates.Length - 1);
        foreach (var kind in new[] { "alone", "all_but" })
        {
            var png = Path.Combine(outDir, "figures", $"heads_heads_ChooseCat_Image-_Question_{kind}_first.png");
            using var bmp = SkiaSharp.SKBitmap.Decode(png);
            Assert.True(bmp is { Width: 640, Height: 480 }, png);
        }
        var report = File.ReadAllText(Path.Combine(outDir, "report.md"));
        Assert.Contains("## Per-head maps: Image→Question (window 1, first sub-word)", report);
        Assert.Contains("Self-check:", report);
    }

    [SharedFact]
    public void Run_Heads_Without_A_Block_Is_Refused()
    {
        var (code, _, stderr) = CliTests.Run("run", "--model", EmbeddedToy.ModelDir, "--data", Path.Combine(EmbeddedToy.EvalDir, "toy_ChooseCat.csv"),
            "--images", Path.Combine(EmbeddedToy.EvalDir, "images"), "--experiment", "heads", "--out", Path.Combine(_tmp.FullName, "x"));
        Assert.Equal(2, code);
        Assert.Contains("'heads' needs at least one --block", stderr);
    }
}

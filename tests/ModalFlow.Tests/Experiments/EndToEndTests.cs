using System.Diagnostics;
using ModalFlow.Data;
using ModalFlow.Experiments;
using ModalFlow.Results;
using ModalFlow.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace ModalFlow.Tests.Experiments;

/// <summary>Every experiment on the tiny fixture model over a slice of each of the paper's six task CSVs.</summary>
public sealed class EndToEndTests(ITestOutputHelper log) : IDisposable
{
    private readonly DirectoryInfo _tmp = Environment.GetEnvironmentVariable("MODALFLOW_KEEP_RUNS") is { Length: > 0 } keep
        ? Directory.CreateDirectory(keep) : Directory.CreateTempSubdirectory("mf-e2e-");
    private static string PaperGqa => SharedData.DataFile("paper-gqa");
    private static string Model => SharedData.Fixture("tiny-llava-1.5");

    public void Dispose()
    {
        if (Environment.GetEnvironmentVariable("MODALFLOW_KEEP_RUNS") is not { Length: > 0 }) _tmp.Delete(true);
    }

    public static TheoryData<string> Tasks => new(GqaTasks.All);

    [SharedTheory]
    [MemberData(nameof(Tasks))]
    public void Every_Experiment_Runs_On_A_Slice_Of_The_Task(string task)
    {
        const int limit = 3;
        var data = GqaTaskReader.ReadTask(PaperGqa, task);
        var images = TaskImages.Create(data.Rows.Take(limit), Path.Combine(_tmp.FullName, "images"));
        foreach (var exp in ExperimentDefinition.All)
        {
            var outDir = Path.Combine(_tmp.FullName, $"{task}-exp{exp.Name}");
            var (code, stdout, stderr) = ModalFlow.Tests.Cli.CliTests.Run("run", "--model", Model, "--task", task, "--data-dir", PaperGqa,
                "--images", images, "--experiment", exp.Name, "--window", "3", "--limit", $"{limit}", "--filter", "none", "--out", outDir);
            Assert.True(code == 0, stderr);
            Assert.Contains("samples used", stdout);
            using var store = RunStore.Open(Path.Combine(outDir, RunStore.FileName));
            var (used, excluded) = store.Counts();
            Assert.Equal(limit, used + excluded);
            var rows = store.KnockoutRows();
            var lens = store.LensRows();
            if (exp.Lens)
            {
                // Every used sample has L+1 rows per token kind; the model's own output row is a probability.
                Assert.Equal(used * 9 * (data.Schema is GqaSchema.A or GqaSchema.C ? 4 : 2), lens.Count);
                Assert.All(lens, l => Assert.InRange(l.ProbRaw, 0, 1));
            }
            else
            {
                var blocksPerSample = rows.GroupBy(r => r.QuestionId).Select(g => g.Select(r => r.BlockDesc).Distinct().Count());
                Assert.All(blocksPerSample, n => Assert.Equal(exp.Blocks.Count, n));
                Assert.Equal(used * exp.Blocks.Count * 8, rows.Count);
                Assert.All(rows, r => Assert.True(double.IsFinite(r.RelativeDiff) && r.NewScore >= 0 && r.NewScore <= 1));
            }
            // Exports and figures come with every run: the CSV parses back with the right row count, figures are valid.
            if (!exp.Lens)
            {
                var csv = Path.Combine(outDir, "knockout_first.csv");
                Assert.Equal(rows.Count, ResultReader.ReadKnockoutCsv(csv).Count);
                Assert.True(File.Exists(Path.Combine(outDir, "knockout_first.parquet")));
                Assert.True(File.Exists(Path.Combine(outDir, "aggregates.csv")));
            }
            var pngs = Directory.GetFiles(Path.Combine(outDir, "figures"), "*.png");
            var svgs = Directory.GetFiles(Path.Combine(outDir, "figures"), "*.svg");
            Assert.NotEmpty(pngs);
            Assert.Equal(pngs.Length, svgs.Length);
            foreach (var png in pngs)
            {
                using var bmp = SkiaSharp.SKBitmap.Decode(png);
                Assert.True(bmp is { Width: > 100, Height: > 100 }, png);
            }
            Assert.All(svgs, svg => Assert.Contains("<svg", File.ReadAllText(svg)));
            Assert.True(File.Exists(Path.Combine(outDir, "report.md")));
            foreach (var e in store.Excluded()) log.WriteLine($"{task} exp{exp.Name}: excluded {e.QuestionId}: {e.Reason}: {e.Detail}");
            log.WriteLine($"{task} exp{exp.Name}: {used} used, {excluded} excluded, {rows.Count} knockout rows, {lens.Count} lens rows");
        }
    }

    [SharedFact]
    public void Final_Subword_Run_Stores_Final_Subword_Rows()
    {
        var data = GqaTaskReader.ReadTask(PaperGqa, GqaTasks.ChooseAttr);
        var images = TaskImages.Create(data.Rows.Take(2), Path.Combine(_tmp.FullName, "images"));
        var outDir = Path.Combine(_tmp.FullName, "final");
        var (code, _, stderr) = ModalFlow.Tests.Cli.CliTests.Run("run", "--model", Model, "--task", "ChooseAttr", "--data-dir", PaperGqa,
            "--images", images, "--experiment", "2", "--window", "3", "--limit", "2", "--filter", "none", "--subword", "final", "--out", outDir);
        Assert.True(code == 0, stderr);
        using var store = RunStore.Open(Path.Combine(outDir, RunStore.FileName));
        Assert.All(store.KnockoutRows(), r => Assert.Equal("final", r.Subword));
        Assert.NotEmpty(store.KnockoutRows());
    }

    [SharedFact]
    public void Resuming_With_Different_Settings_Is_Refused_Naming_The_Field()
    {
        var data = GqaTaskReader.ReadTask(PaperGqa, GqaTasks.QueryAttr);
        var images = TaskImages.Create(data.Rows.Take(1), Path.Combine(_tmp.FullName, "images"));
        var outDir = Path.Combine(_tmp.FullName, "resume");
        string[] Args(string window) => ["run", "--model", Model, "--task", "QueryAttr", "--data-dir", PaperGqa, "--images", images,
            "--experiment", "2", "--window", window, "--limit", "1", "--filter", "none", "--out", outDir];
        Assert.Equal(0, ModalFlow.Tests.Cli.CliTests.Run(Args("3")).Code);
        var (code, _, stderr) = ModalFlow.Tests.Cli.CliTests.Run(Args("5"));
        Assert.Equal(2, code);
        Assert.Contains("Window (stored 3, now 5)", stderr);
        Assert.Contains("refusing to resume", stderr);
    }

    [SharedFact]
    public void Shards_Merge_Exactly_Once_Into_The_Same_Rows_As_One_Run()
    {
        var data = GqaTaskReader.ReadTask(PaperGqa, GqaTasks.LogicalObj);
        var images = TaskImages.Create(data.Rows.Take(5), Path.Combine(_tmp.FullName, "images"));
        string[] Args(string outDir, string shard) => ["run", "--model", Model, "--task", "LogicalObj", "--data-dir", PaperGqa, "--images", images,
            "--experiment", "1", "--window", "3", "--limit", "5", "--filter", "none", "--shard", shard, "--out", outDir];
        var whole = Path.Combine(_tmp.FullName, "whole");
        Assert.Equal(0, ModalFlow.Tests.Cli.CliTests.Run(Args(whole, "1/1")).Code);
        var s1 = Path.Combine(_tmp.FullName, "s1");
        var s2 = Path.Combine(_tmp.FullName, "s2");
        Assert.Equal(0, ModalFlow.Tests.Cli.CliTests.Run(Args(s1, "1/2")).Code);
        Assert.Equal(0, ModalFlow.Tests.Cli.CliTests.Run(Args(s2, "2/2")).Code);
        var merged = Path.Combine(_tmp.FullName, "merged");
        var (code, stdout, stderr) = ModalFlow.Tests.Cli.CliTests.Run("merge", "--out", merged, s1, s2);
        Assert.True(code == 0, stderr);
        Assert.Contains("all 2 shards merged", stdout);
        // Merging a shard again is refused instead of duplicating its rows.
        var again = ModalFlow.Tests.Cli.CliTests.Run("merge", "--out", merged, s2);
        Assert.Equal(2, again.Code);
        Assert.Contains("already merged", again.Err);
        using var a = RunStore.Open(Path.Combine(whole, RunStore.FileName));
        using var b = RunStore.Open(Path.Combine(merged, RunStore.FileName));
        Assert.Equal(a.KnockoutRows(), b.KnockoutRows());
        Assert.Equal(a.Counts(), b.Counts());
    }
}

/// <summary>The shipped Slurm job-array script, run by bash as Slurm would (array task ids, then the merge job).</summary>
public sealed class SlurmScriptTests : IDisposable
{
    private readonly DirectoryInfo _tmp = Directory.CreateTempSubdirectory("mf-slurm-");

    public void Dispose() => _tmp.Delete(true);

    private static string RepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "ModalFlow.slnx"))) return d.FullName;
        throw new DirectoryNotFoundException("repository root");
    }

    private int Bash(string script, Dictionary<string, string> env)
    {
        var psi = new ProcessStartInfo("bash", [script]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var (k, v) in env) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        p.StandardOutput.ReadToEnd();
        p.StandardError.ReadToEnd();
        p.WaitForExit();
        return p.ExitCode;
    }

    [SharedFact]
    public void Array_Tasks_Then_Merge_Produce_The_Full_Run()
    {
        // A stand-in repo whose ./modalflow is the CLI this test assembly ships with.
        var repo = Directory.CreateDirectory(Path.Combine(_tmp.FullName, "repo")).FullName;
        var shim = Path.Combine(repo, "modalflow");
        File.WriteAllText(shim, $"#!/usr/bin/env bash\nexec \"{Path.Combine(AppContext.BaseDirectory, "ModalFlow.Cli")}\" \"$@\"\n");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(shim, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var data = GqaTaskReader.ReadTask(SharedData.DataFile("paper-gqa"), GqaTasks.QueryAttr);
        var images = TaskImages.Create(data.Rows.Take(3), Path.Combine(_tmp.FullName, "images"));
        var root = Path.Combine(_tmp.FullName, "runs");
        var env = new Dictionary<string, string>
        {
            ["MF_REPO"] = repo, ["MF_MODEL"] = SharedData.Fixture("tiny-llava-1.5"), ["MF_TASK"] = "QueryAttr",
            ["MF_DATA_DIR"] = SharedData.DataFile("paper-gqa"), ["MF_IMAGES"] = images, ["MF_EXPERIMENT"] = "2",
            ["MF_RUN_ROOT"] = root, ["MF_SHARDS"] = "2", ["MF_ARGS"] = "--window 3 --limit 3 --filter none",
        };
        var script = Path.Combine(RepoRoot(), "scripts", "slurm", "modalflow-array.sbatch");
        for (int i = 1; i <= 2; i++) Assert.Equal(0, Bash(script, new(env) { ["SLURM_ARRAY_TASK_ID"] = $"{i}" }));
        Assert.Equal(0, Bash(script, new(env) { ["MF_MERGE"] = "1" }));
        using var merged = RunStore.Open(Path.Combine(root, "merged", RunStore.FileName));
        Assert.Equal([1, 2], merged.MergedShards());
        Assert.Equal(3, merged.Counts().Done);
    }
}

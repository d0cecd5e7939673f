using Microsoft.Data.Sqlite;
using ModalFlow.Data;
using ModalFlow.Results;
using ModalFlow.Tests.Support;
using Xunit;

namespace ModalFlow.Tests.Cli;

/// <summary>`modalflow merge` with shards missing or unfinished: refused unless --allow-partial, and then the store and report say so.</summary>
public sealed class MergeCommandTests : IDisposable
{
    private readonly DirectoryInfo _tmp = Directory.CreateTempSubdirectory("mf-merge-");

    public void Dispose() => _tmp.Delete(true);

    private string Dir(string name) => Path.Combine(_tmp.FullName, name);

    [SharedFact]
    public void Missing_Or_Unfinished_Shards_Are_Refused_Unless_Allow_Partial_Which_The_Report_States()
    {
        var data = GqaTaskReader.ReadTask(SharedData.DataFile("paper-gqa"), GqaTasks.LogicalObj);
        var images = TaskImages.Create(data.Rows.Take(6), Dir("images"));
        string[] Args(string outDir, string shard) => ["run", "--model", SharedData.Fixture("tiny-llava-1.5"), "--task", "LogicalObj",
            "--data-dir", SharedData.DataFile("paper-gqa"), "--images", images, "--experiment", "2", "--window", "3", "--limit", "6",
            "--filter", "none", "--shard", shard, "--out", outDir];
        for (int i = 1; i <= 3; i++) Assert.Equal(0, CliTests.Run(Args(Dir($"shard-{i}"), $"{i}/3")).Code);

        // Shard 3 lost a sample (as if killed before it finished): it is not ready, and shard 4's folder does not exist.
        using (var db = new SqliteConnection($"Data Source={Path.Combine(Dir("shard-3"), RunStore.FileName)};Pooling=false"))
        {
            db.Open();
            using var cmd = db.CreateCommand();
            // Everything the sample's one transaction wrote: its rows, its self-check record and its "done" mark.
            cmd.CommandText = "DELETE FROM knockout WHERE question_id = (SELECT MIN(question_id) FROM samples); " +
                "DELETE FROM verification WHERE question_id = (SELECT MIN(question_id) FROM samples); " +
                "DELETE FROM samples WHERE question_id = (SELECT MIN(question_id) FROM samples)";
            cmd.ExecuteNonQuery();
        }
        var merged = Dir("merged");
        var refused = CliTests.Run("merge", "--out", merged, Dir("shard-1"), Dir("shard-2"), Dir("shard-3"));
        Assert.Equal(2, refused.Code);
        Assert.Equal("", refused.Out);
        Assert.Contains("1 of 3 shards missing (3)", refused.Err);
        Assert.Contains("shard 3/3", refused.Err);
        Assert.Contains("unfinished, 1 of 2 samples", refused.Err);
        Assert.Contains("--allow-partial", refused.Err);
        Assert.False(File.Exists(Path.Combine(merged, RunStore.FileName)), "a refused merge writes nothing");

        var partial = CliTests.Run("merge", "--out", merged, "--allow-partial", Dir("shard-1"), Dir("shard-2"), Dir("shard-3"), Dir("shard-4"));
        Assert.True(partial.Code == 0, partial.Err);
        Assert.Contains("2 of 3 shards merged", partial.Out);
        Assert.Contains("still missing: 3", partial.Out);
        using (var store = RunStore.Open(Path.Combine(merged, RunStore.FileName)))
        {
            var p = store.PartialMerge();
            Assert.NotNull(p);
            Assert.Equal([1, 2], p.Merged);
            Assert.Equal([3], p.Missing);
            Assert.Equal(3, p.ShardCount);
            Assert.Equal(p.Notice, store.Results().Partial?.Notice);
        }
        var report = File.ReadAllLines(Path.Combine(merged, "report.md"));
        Assert.StartsWith("#", report[0]);
        var firstText = report.Skip(1).First(l => l.Length > 0);
        Assert.Contains("Partial results: 2 of 3 shards merged; missing shard 3.", firstText);
        // `report` regenerates it with the notice once.
        Assert.Equal(0, CliTests.Run("report", "--run", merged).Code);
        Assert.Single(File.ReadAllLines(Path.Combine(merged, "report.md")), l => l.Contains("Partial results", StringComparison.Ordinal));

        // Shard 3 resumed to the end, then merged into the same folder: complete, and the notice is gone.
        Assert.Equal(0, CliTests.Run(Args(Dir("shard-3"), "3/3")).Code);
        var rest = CliTests.Run("merge", "--out", merged, Dir("shard-3"));
        Assert.True(rest.Code == 0, rest.Err);
        Assert.Contains("all 3 shards merged", rest.Out);
        using (var store = RunStore.Open(Path.Combine(merged, RunStore.FileName)))
        {
            Assert.Null(store.PartialMerge());
            Assert.Equal(6, store.Counts().Done);
        }
        Assert.DoesNotContain("Partial results", File.ReadAllText(Path.Combine(merged, "report.md")));
    }

    [SharedFact]
    public void A_Shard_That_Is_Still_Being_Written_Is_Not_Merged()
    {
        var shard = Dir("busy");
        var data = GqaTaskReader.ReadTask(SharedData.DataFile("paper-gqa"), GqaTasks.QueryAttr);
        var images = TaskImages.Create(data.Rows.Take(1), Dir("images"));
        Assert.Equal(0, CliTests.Run("run", "--model", SharedData.Fixture("tiny-llava-1.5"), "--task", "QueryAttr", "--data-dir",
            SharedData.DataFile("paper-gqa"), "--images", images, "--experiment", "2", "--window", "3", "--limit", "1", "--filter", "none",
            "--out", shard).Code);
        using (RunFolderLock.Acquire(shard))   // a writer holds it (as a resumed run would)
        {
            var r = CliTests.Run("merge", "--out", Dir("merged"), shard);
            Assert.Equal(2, r.Code);
            Assert.Contains("still being written by", r.Err);
            Assert.Contains($"pid {Environment.ProcessId}", r.Err);
        }
        Assert.Equal(0, CliTests.Run("merge", "--out", Dir("merged"), shard).Code);
    }
}

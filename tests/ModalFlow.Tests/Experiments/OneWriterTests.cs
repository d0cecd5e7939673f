using ModalFlow.Data;
using ModalFlow.Results;
using ModalFlow.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace ModalFlow.Tests.Experiments;

/// <summary>
/// One writer per run folder, with real `modalflow run` child processes: a second live writer is refused at start and
/// the first finishes intact; a writer killed with SIGKILL is taken over by the next run without a manual step; Ctrl-C
/// (SIGINT) stops a run with how far it got; and the folder ends with exactly the rows of an uninterrupted run.
/// </summary>
public sealed class OneWriterTests(ITestOutputHelper log) : IDisposable
{
    private readonly DirectoryInfo _tmp = Directory.CreateTempSubdirectory("mf-writer-");

    public void Dispose() => _tmp.Delete(true);

    private const int Samples = 16;   // enough that a Ctrl-C sent after progress always lands before the last sample

    private static string[] Args(string outDir, string images) =>
    [
        "run", "--model", SharedData.Fixture("tiny-llava-1.5"), "--task", "ChooseAttr", "--data-dir", SharedData.DataFile("paper-gqa"),
        "--images", images, "--experiment", "1", "--window", "3", "--limit", $"{Samples}", "--filter", "none", "--out", outDir,
    ];

    [SharedFact]
    public void Second_Writer_Is_Refused_Killed_Writer_Is_Taken_Over_And_Rows_Equal_An_Uninterrupted_Run()
    {
        var data = GqaTaskReader.ReadTask(SharedData.DataFile("paper-gqa"), GqaTasks.ChooseAttr);
        var images = TaskImages.Create(data.Rows.Take(Samples), Path.Combine(_tmp.FullName, "images"));

        // 1. An uninterrupted run; while it writes, a second run on the same folder is refused and a report may read it.
        var reference = Path.Combine(_tmp.FullName, "reference");
        using (var first = ChildRun.Start(Args(reference, images)))
        {
            if (!first.WaitForProgress(2)) Assert.Fail($"the first run ended early (exit {first.Wait()}):\n{first.Stderr}");
            using (var second = ChildRun.Start(Args(reference, images)))
            {
                int code = second.Wait();
                log.WriteLine("second writer: " + second.Stderr);
                Assert.False(first.Process.HasExited, "the first run must still be running while the second is refused");
                Assert.True(code == 2, $"second writer exited {code}:\n{second.Stderr}");
                Assert.Equal("", second.Stdout);
                Assert.Contains("another modalflow process is writing this run folder", second.Stderr);
                Assert.Contains($"pid {first.Process.Id} on host {Environment.MachineName}", second.Stderr);
                Assert.Contains("since ", second.Stderr);
                Assert.DoesNotContain("SqliteException", second.Stderr);
            }
            var report = ModalFlow.Tests.Cli.CliTests.Run("report", "--run", reference);
            Assert.True(report.Code == 0, "reading a run folder while it is written must stay allowed: " + report.Err);
            int firstCode = first.Wait();
            Assert.True(firstCode == 0, $"the first run exited {firstCode}:\n{first.Stderr}");
        }
        Assert.False(File.Exists(Path.Combine(reference, RunFolderLock.RecordName)), "a finished run leaves no lock record");

        // 2. A run killed with SIGKILL leaves its lock record; the next run takes over by itself.
        var resumed = Path.Combine(_tmp.FullName, "resumed");
        int killedPid;
        using (var victim = ChildRun.Start(Args(resumed, images)))
        {
            if (!victim.WaitForProgress(4)) Assert.Fail($"the run ended early (exit {victim.Wait()}):\n{victim.Stderr}");
            killedPid = victim.Process.Id;
            victim.Process.Kill();
            victim.Wait();
        }
        var left = RunFolderLock.ReadRecord(Path.Combine(resumed, RunFolderLock.RecordName));
        Assert.Equal(killedPid, left?.Pid);
        int committedAtKill;
        using (var s = RunStore.Open(Path.Combine(resumed, RunStore.FileName))) committedAtKill = s.Counts().Done;
        log.WriteLine($"killed pid {killedPid} with {committedAtKill} samples committed");

        // 3. The next run takes over (no manual step) and is stopped with Ctrl-C: exit 130, how far, how to resume.
        using (var interrupted = ChildRun.Start(Args(resumed, images)))
        {
            if (!interrupted.WaitForProgress(committedAtKill + 1)) Assert.Fail($"the resumed run ended early (exit {interrupted.Wait()}):\n{interrupted.Stderr}");
            interrupted.Signal(2);
            int code = interrupted.Wait();
            log.WriteLine("interrupted run: " + interrupted.Stderr);
            Assert.True(code == 130, $"Ctrl-C exited {code}:\n{interrupted.Stderr}");
            Assert.Contains($"pid {killedPid}", interrupted.Stderr);
            Assert.Contains("no longer running; taking over", interrupted.Stderr);
            Assert.Matches($@"interrupted: \d+ of {Samples} samples finished", interrupted.Stderr);
            Assert.Contains("Run the same command again to resume", interrupted.Stderr);
            Assert.Contains("modalflow run --model ", interrupted.Stderr);
        }
        using (var s = RunStore.Open(Path.Combine(resumed, RunStore.FileName)))
            Assert.InRange(s.Counts().Done, committedAtKill + 1, Samples - 1);

        // 4. The same command finishes the run: the same rows as the uninterrupted one, none twice.
        using (var last = ChildRun.Start(Args(resumed, images)))
        {
            int lastCode = last.Wait();
            Assert.True(lastCode == 0, $"the final run exited {lastCode}:\n{last.Stderr}");
        }
        using var a = RunStore.Open(Path.Combine(reference, RunStore.FileName));
        using var b = RunStore.Open(Path.Combine(resumed, RunStore.FileName));
        Assert.Equal(a.Counts(), b.Counts());
        var ra = a.KnockoutRows();
        Assert.Equal(Samples * 3 * 8, ra.Count);
        Assert.Equal(ra, b.KnockoutRows());
    }
}

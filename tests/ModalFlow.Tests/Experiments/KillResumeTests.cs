using System.Diagnostics;
using System.Runtime.CompilerServices;
using ModalFlow.Data;
using ModalFlow.Results;
using ModalFlow.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace ModalFlow.Tests.Experiments;

/// <summary>A real `modalflow run` child process is killed (SIGKILL) at random moments and resumed.</summary>
public sealed class KillResumeTests(ITestOutputHelper log) : IDisposable
{
    private readonly DirectoryInfo _tmp = Directory.CreateTempSubdirectory("mf-kill-");

    public void Dispose() => _tmp.Delete(true);

    private static string CliPath => Path.Combine(AppContext.BaseDirectory, "ModalFlow.Cli");

    private string[] Args(string outDir, string images) =>
    [
        "run", "--model", SharedData.Fixture("tiny-llava-1.5"), "--task", "ChooseAttr", "--data-dir", SharedData.DataFile("paper-gqa"),
        "--images", images, "--experiment", "1", "--window", "3", "--limit", "20", "--filter", "none", "--out", outDir,
    ];

    /// <summary>Starts the CLI; <paramref name="finished"/> tracks the "k/N" of its progress lines on stderr.</summary>
    private static Process Start(string[] args, StrongBox<int>? finished = null, System.Collections.Concurrent.ConcurrentQueue<string>? stderr = null)
    {
        var psi = new ProcessStartInfo(CliPath) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        var p = Process.Start(psi)!;
        p.OutputDataReceived += (_, _) => { };
        p.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null) stderr?.Enqueue(e.Data);
            var m = e.Data is null ? null : System.Text.RegularExpressions.Regex.Match(e.Data, @"\] (\d+)/\d+ ");
            if (finished is not null && m is { Success: true }) Volatile.Write(ref finished.Value, int.Parse(m.Groups[1].Value));
        };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return p;
    }

    [SharedFact]
    public void Killed_Run_Resumes_To_Exactly_The_Uninterrupted_Result()
    {
        var data = GqaTaskReader.ReadTask(SharedData.DataFile("paper-gqa"), GqaTasks.ChooseAttr);
        var images = TaskImages.Create(data.Rows.Take(20), Path.Combine(_tmp.FullName, "images"));

        var reference = Path.Combine(_tmp.FullName, "reference");
        var sw = Stopwatch.StartNew();
        var referenceErr = new System.Collections.Concurrent.ConcurrentQueue<string>();
        using (var p = Start(Args(reference, images), stderr: referenceErr))
        {
            p.WaitForExit();
            Assert.True(p.ExitCode == 0, $"reference run exited {p.ExitCode}:\n{string.Join('\n', referenceErr.TakeLast(40))}");
        }
        double fullSeconds = sw.Elapsed.TotalSeconds;

        var resumed = Path.Combine(_tmp.FullName, "resumed");
        var rng = new Random(20261125);
        int kills = 0;
        for (int attempt = 0; attempt < 8; attempt++)
        {
            var progress = new StrongBox<int>(-1);
            using var p = Start(Args(resumed, images), progress);
            // The first kill lands during start-up; later ones once the child reports progress, then after a random
            // extra delay, so they fall anywhere in a sample (inside a transaction too).
            if (attempt > 0)
                while (Volatile.Read(ref progress.Value) < 0 && !p.HasExited) Thread.Sleep(5);
            if (p.WaitForExit(rng.Next(attempt == 0 ? 50 : 0, attempt == 0 ? 600 : 1500))) break;   // finished: nothing left to kill
            p.Kill(entireProcessTree: true);
            p.WaitForExit();
            kills++;
            long done = 0;
            var db = Path.Combine(resumed, RunStore.FileName);
            if (File.Exists(db)) { using var s = RunStore.Open(db); done = s.Counts().Done; }
            log.WriteLine($"kill {kills} (progress seen {progress.Value}): {done} samples committed");
        }
        Assert.True(kills >= 5, $"only {kills} kills landed");
        var finalErr = new System.Collections.Concurrent.ConcurrentQueue<string>();
        using (var p = Start(Args(resumed, images), stderr: finalErr))
        {
            p.WaitForExit();
            Assert.True(p.ExitCode == 0, $"final resumed run exited {p.ExitCode}:\n{string.Join('\n', finalErr.TakeLast(40))}");
        }

        using var a = RunStore.Open(Path.Combine(reference, RunStore.FileName));
        using var b = RunStore.Open(Path.Combine(resumed, RunStore.FileName));
        Assert.Equal(a.Counts(), b.Counts());
        var ra = a.KnockoutRows();
        var rb = b.KnockoutRows();
        Assert.Equal(20 * 3 * 8, ra.Count);
        Assert.Equal(ra.Count, rb.Count);
        // Same rows, same values, bit for bit (primary keys rule out duplicates); the first difference is printed whole.
        int first = Enumerable.Range(0, ra.Count).FirstOrDefault(i => !ra[i].Equals(rb[i]), -1);
        Assert.True(first < 0, first < 0 ? "" : $"row {first} differs:\n uninterrupted {ra[first]}\n resumed       {rb[first]}");
    }
}

using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.RegularExpressions;

namespace ModalFlow.Tests.Experiments;

/// <summary>
/// The `modalflow` CLI as a real child process (the one built beside this test assembly), with its stderr lines kept
/// and the "k/N" of its progress lines tracked.
/// </summary>
public sealed partial class ChildRun : IDisposable
{
    private readonly ConcurrentQueue<string> _stderr = new();
    private readonly ConcurrentQueue<string> _stdout = new();
    private int _finished = -1;

    public static string CliPath => Path.Combine(AppContext.BaseDirectory, "ModalFlow.Cli");

    public Process Process { get; }

    private ChildRun(IEnumerable<string> args)
    {
        // A test host started in the background (`cmd &`) inherits SIGINT ignored, and so would the child: its Ctrl-C
        // handling could never run. coreutils' env restores the default disposition before starting the CLI.
        var psi = SigIntIgnored()
            ? new ProcessStartInfo("env", ["--default-signal=INT", CliPath])
            : new ProcessStartInfo(CliPath);
        psi.RedirectStandardOutput = true;
        psi.RedirectStandardError = true;
        psi.UseShellExecute = false;
        foreach (var a in args) psi.ArgumentList.Add(a);
        Process = Process.Start(psi)!;
        Process.OutputDataReceived += (_, e) => { if (e.Data is not null) _stdout.Enqueue(e.Data); };
        Process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            _stderr.Enqueue(e.Data);
            var m = Progress().Match(e.Data);
            if (m.Success) Volatile.Write(ref _finished, int.Parse(m.Groups[1].Value));
        };
        Process.BeginOutputReadLine();
        Process.BeginErrorReadLine();
    }

    public static ChildRun Start(IEnumerable<string> args) => new(args);

    /// <summary>Whether this process ignores SIGINT (bit 2 of SigIgn in /proc/self/status).</summary>
    private static bool SigIntIgnored()
    {
        const string status = "/proc/self/status";
        if (!File.Exists(status)) return false;
        var line = File.ReadLines(status).FirstOrDefault(l => l.StartsWith("SigIgn:", StringComparison.Ordinal));
        return line is not null && (Convert.ToUInt64(line["SigIgn:".Length..].Trim(), 16) & (1UL << (2 - 1))) != 0;
    }

    /// <summary>The last "k" of a "k/N" progress line, or -1 before the first.</summary>
    public int Finished => Volatile.Read(ref _finished);

    public string Stderr => string.Join('\n', _stderr);
    public string Stdout => string.Join('\n', _stdout);

    /// <summary>Waits until the child has reported at least <paramref name="k"/> finished samples; false if it exited first.</summary>
    public bool WaitForProgress(int k)
    {
        while (Finished < k)
        {
            if (Process.HasExited) return false;
            Thread.Sleep(5);
        }
        return true;
    }

    /// <summary>Waits for the exit (and the end of its output) and returns the exit code.</summary>
    public int Wait()
    {
        Process.WaitForExit();
        return Process.ExitCode;
    }

    /// <summary>Sends a signal by number (2 = SIGINT, as Ctrl-C) with the system's `kill`.</summary>
    public void Signal(int signal)
    {
        using var kill = System.Diagnostics.Process.Start(new ProcessStartInfo("kill", [$"-{signal}", Process.Id.ToString()]) { UseShellExecute = false })!;
        kill.WaitForExit();
    }

    public void Dispose()
    {
        if (!Process.HasExited) Process.Kill(entireProcessTree: true);
        Process.Dispose();
    }

    [GeneratedRegex(@"\] (\d+)/\d+ ")]
    private static partial Regex Progress();
}

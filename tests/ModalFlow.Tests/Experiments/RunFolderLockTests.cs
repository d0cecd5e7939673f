using System.Diagnostics;
using System.Text.Json;
using ModalFlow.Results;
using ModalFlow.Tests.Support;
using Xunit;

namespace ModalFlow.Tests.Experiments;

/// <summary>The run folder's writer lock in one process: refusal, take-over of dead or unverifiable holders, release.</summary>
public sealed class RunFolderLockTests : IDisposable
{
    private readonly DirectoryInfo _tmp = Directory.CreateTempSubdirectory("mf-lock-");

    public void Dispose() => _tmp.Delete(true);

    private string Folder(string name) => Path.Combine(_tmp.FullName, name);

    private static void WriteRecord(string folder, RunFolderHolder h)
    {
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, RunFolderLock.RecordName), JsonSerializer.Serialize(h));
    }

    /// <summary>A pid that belonged to a process of ours that has exited (and been reaped).</summary>
    private static int DeadPid()
    {
        using var p = Process.Start(new ProcessStartInfo("true") { UseShellExecute = false })!;
        p.WaitForExit();
        return p.Id;
    }

    [SharedFact]
    public void A_Second_Writer_Is_Refused_Naming_The_Holder_And_Released_Locks_Can_Be_Taken_Again()
    {
        var dir = Folder("a");
        using (var first = RunFolderLock.Acquire(dir))
        {
            var record = RunFolderLock.ReadRecord(Path.Combine(dir, RunFolderLock.RecordName));
            Assert.NotNull(record);
            Assert.Equal(Environment.ProcessId, record.Pid);
            Assert.Equal(Environment.MachineName, record.Host);
            Assert.Equal(HolderState.Alive, RunFolderLock.StateOf(record));
            var e = Assert.Throws<InputException>(() => RunFolderLock.Acquire(dir));
            Assert.Contains($"pid {Environment.ProcessId} on host {Environment.MachineName}", e.Message);
            Assert.Contains("One writer per run folder", e.Message);
            // Even --force-unlock cannot take a folder whose holder the OS sees alive.
            Assert.Throws<InputException>(() => RunFolderLock.Acquire(dir, force: true));
            Assert.NotNull(RunFolderLock.ActiveWriter(dir));
        }
        Assert.False(File.Exists(Path.Combine(dir, RunFolderLock.RecordName)));
        Assert.Null(RunFolderLock.ActiveWriter(dir));
        using var again = RunFolderLock.Acquire(dir);
        Assert.Null(again.TakenOverFrom);
    }

    [SharedFact]
    public void A_Record_Left_By_A_Dead_Process_On_This_Host_Is_Taken_Over()
    {
        var dir = Folder("dead");
        int pid = DeadPid();
        Assert.Null(RunFolderLock.ProcessStartOf(pid));
        var me = RunFolderLock.Current();
        WriteRecord(dir, me with { Pid = pid, ProcessStart = "12345", Since = DateTimeOffset.UtcNow.AddHours(-1) });
        Assert.Null(RunFolderLock.ActiveWriter(dir));
        using var l = RunFolderLock.Acquire(dir);
        Assert.Equal(pid, l.TakenOverFrom?.Pid);
        Assert.Equal(Environment.ProcessId, RunFolderLock.ReadRecord(l.RecordPath)!.Pid);
    }

    [SharedFact]
    public void A_Reused_Pid_Is_Not_Mistaken_For_The_Holder()
    {
        // The recorded pid is alive (it is this process) but started at another time: a new process with the old pid.
        var dir = Folder("reused");
        var me = RunFolderLock.Current();
        Assert.False(string.IsNullOrEmpty(me.ProcessStart));
        var old = me with { ProcessStart = me.ProcessStart + "0", Since = DateTimeOffset.UtcNow.AddDays(-3) };
        Assert.Equal(HolderState.Dead, RunFolderLock.StateOf(old));
        WriteRecord(dir, old);
        using var l = RunFolderLock.Acquire(dir);
        Assert.Equal(old.Since, l.TakenOverFrom?.Since);
    }

    [SharedFact]
    public void A_Record_From_Another_Host_Is_Refused_With_How_To_Take_Over_And_Force_Takes_It()
    {
        var dir = Folder("other-host");
        var other = RunFolderLock.Current() with { Host = "node-elsewhere-17", Pid = 4242, Since = DateTimeOffset.UtcNow.AddMinutes(-5) };
        Assert.Equal(HolderState.Unknown, RunFolderLock.StateOf(other));
        WriteRecord(dir, other);
        var e = Assert.Throws<InputException>(() => RunFolderLock.Acquire(dir));
        Assert.Contains("pid 4242 on host node-elsewhere-17", e.Message);
        Assert.Contains("--force-unlock", e.Message);
        Assert.Contains(Path.Combine(dir, RunFolderLock.RecordName), e.Message);
        Assert.Equal("node-elsewhere-17", RunFolderLock.ReadRecord(Path.Combine(dir, RunFolderLock.RecordName))!.Host);   // left as it was
        Assert.NotNull(RunFolderLock.ActiveWriter(dir));
        using var l = RunFolderLock.Acquire(dir, force: true);
        Assert.Equal("node-elsewhere-17", l.TakenOverFrom?.Host);
    }

    [SharedFact]
    public void A_Record_Left_Half_Written_Is_Taken_Over_After_A_Moment()
    {
        // A writer killed between creating its record and writing it leaves an empty or cut-off file.
        var dir = Folder("garbage");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, RunFolderLock.RecordName), "{ \"pid\": 12");
        var sw = Stopwatch.StartNew();
        using var l = RunFolderLock.Acquire(dir);
        Assert.True(sw.Elapsed >= TimeSpan.FromSeconds(1.5), "a record being written gets a moment to appear");
        Assert.Equal(Environment.ProcessId, RunFolderLock.ReadRecord(l.RecordPath)!.Pid);
    }

    [SharedFact]
    public void The_Writer_Store_Holds_The_Lock_And_Readers_Need_None()
    {
        var path = Path.Combine(Folder("store"), RunStore.FileName);
        using (var writer = RunStore.OpenWriter(path))
        {
            Assert.NotNull(writer.WriterLock);
            Assert.Throws<InputException>(() => RunStore.OpenWriter(path));
            using var reader = RunStore.Open(path);
            Assert.Equal((0, 0), reader.Counts());
        }
        using var next = RunStore.OpenWriter(path);
        Assert.NotNull(next.WriterLock);
    }
}

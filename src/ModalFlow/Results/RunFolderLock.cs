using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace ModalFlow.Results;

/// <summary>Who holds a run folder: enough to check, from the same host, whether that process still lives.</summary>
public sealed record RunFolderHolder
{
    [JsonPropertyName("pid")] public required int Pid { get; init; }
    [JsonPropertyName("host")] public required string Host { get; init; }
    /// <summary>The kernel's boot id and pid namespace: a pid only means something on the same boot, in the same namespace.</summary>
    [JsonPropertyName("machine")] public required string Machine { get; init; }
    /// <summary>The process's start time as the OS counts it (Linux: clock ticks after boot), so a reused pid is not mistaken for the holder.</summary>
    [JsonPropertyName("process_start")] public required string ProcessStart { get; init; }
    [JsonPropertyName("since")] public required DateTimeOffset Since { get; init; }
    [JsonPropertyName("command")] public string Command { get; init; } = "";

    /// <summary>"pid 123 on host node7 since 2026-12-01 10:00:00Z".</summary>
    [JsonIgnore]
    public string Who => $"pid {Pid} on host {Host} since {Since.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)}Z";

    public override string ToString() => Who + (Command.Length > 0 ? $" ({Command})" : "");
}

/// <summary>Whether a recorded holder is still running, seen from this process.</summary>
public enum HolderState
{
    /// <summary>Same host, and the process with that pid and start time runs.</summary>
    Alive,
    /// <summary>Same host, and no such process (gone, a zombie, or the pid now belongs to another process).</summary>
    Dead,
    /// <summary>Another host (or another boot, another pid namespace): its process cannot be checked from here.</summary>
    Unknown,
}

/// <summary>
/// One writer per run folder. Two layers, because neither is enough alone:
/// <list type="bullet">
/// <item><c>run.lock.flock</c> is held open with <see cref="FileShare.None"/> for the writer's lifetime (on Unix .NET
///   takes <c>flock(LOCK_EX)</c>): the kernel drops it when the process dies, even by kill -9, so a dead holder never
///   blocks and two processes on one machine can never both hold it. That file is never deleted (a deleted lock file
///   lets two processes lock two different files).</item>
/// <item><c>run.lock</c> says who holds the folder (<see cref="RunFolderHolder"/>), created with O_EXCL (CreateNew), so
///   it is the lock where flock does not reach (some shared file systems, other hosts). A record left by a dead process
///   on this host (its pid gone or reused: the start time differs) is taken over; a record from another host cannot be
///   checked and is refused unless the caller forces it (<c>--force-unlock</c>, or deleting the file).</item>
/// </list>
/// Readers (reports) take no lock: SQLite's WAL lets them read while the writer writes.
/// </summary>
public sealed class RunFolderLock : IDisposable
{
    public const string RecordName = "run.lock";
    public const string MutexName = "run.lock.flock";

    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(2);
    private FileStream? _mutex;

    private RunFolderLock(string folder, FileStream mutex, RunFolderHolder self, RunFolderHolder? takenOverFrom)
    {
        Folder = folder;
        _mutex = mutex;
        Self = self;
        TakenOverFrom = takenOverFrom;
    }

    public string Folder { get; }
    public RunFolderHolder Self { get; }
    /// <summary>The previous holder whose record was replaced (dead on this host, or forced), or null.</summary>
    public RunFolderHolder? TakenOverFrom { get; }
    public string RecordPath => Path.Combine(Folder, RecordName);

    /// <summary>Takes the folder for writing, or throws <see cref="InputException"/> naming the holder and how to take over.</summary>
    /// <param name="force">Replace a record this process cannot check (another host's). A holder the OS still sees alive is never replaced.</param>
    public static RunFolderLock Acquire(string folder, bool force = false)
    {
        folder = Path.GetFullPath(folder);
        Directory.CreateDirectory(folder);
        var recordPath = Path.Combine(folder, RecordName);
        var deadline = DateTime.UtcNow + Settle;
        while (true)
        {
            FileStream mutex;
            try { mutex = new FileStream(Path.Combine(folder, MutexName), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None); }
            catch (IOException) when (File.Exists(Path.Combine(folder, MutexName)))
            {
                // The OS says a live process holds it. Its record may be a moment behind (being written or removed).
                var live = ReadRecord(recordPath);
                if (live is null && DateTime.UtcNow < deadline) { Thread.Sleep(50); continue; }
                throw Held(folder, live, "it is running (the operating system holds its lock); wait for it to finish or stop it first");
            }
            try
            {
                var self = Current();
                if (TryCreateRecord(recordPath, self)) return new RunFolderLock(folder, mutex, self, null);
                var holder = ReadRecord(recordPath);
                // Created but not yet written (by a writer the OS lock does not reach: wait a moment), or left half-written
                // by a writer killed in that moment: a live writer writes its record within milliseconds.
                if (holder is null && DateTime.UtcNow < deadline) { mutex.Dispose(); Thread.Sleep(50); continue; }
                var state = holder is null ? HolderState.Dead : StateOf(holder);
                switch (state)
                {
                    case HolderState.Alive:
                        throw Held(folder, holder, "it is running on this host");
                    case HolderState.Unknown when !force:
                        throw Held(folder, holder, $"it runs on another host (this is {Environment.MachineName}), where this process cannot check it. " +
                            $"If it is no longer running (its job was killed), rerun with --force-unlock or delete {recordPath}");
                }
                File.Delete(recordPath);
                if (TryCreateRecord(recordPath, self)) return new RunFolderLock(folder, mutex, self, holder);
                mutex.Dispose();   // someone else replaced it first: look again
            }
            catch
            {
                mutex.Dispose();
                throw;
            }
        }
    }

    /// <summary>
    /// Who writes <paramref name="folder"/> now, described for a message, or null when nobody does: for commands that
    /// read a folder and must not read it half-written (merge). A record this process cannot check counts as a writer.
    /// </summary>
    public static string? ActiveWriter(string folder)
    {
        folder = Path.GetFullPath(folder);
        var recordPath = Path.Combine(folder, RecordName);
        var mutexPath = Path.Combine(folder, MutexName);
        if (File.Exists(mutexPath))
        {
            try { using var probe = new FileStream(mutexPath, FileMode.Open, FileAccess.ReadWrite, FileShare.None); }
            catch (IOException) { return $"{ReadRecord(recordPath)?.ToString() ?? "a process"}, which is running"; }
        }
        if (ReadRecord(recordPath) is not { } holder) return null;
        return StateOf(holder) switch
        {
            HolderState.Dead => null,
            HolderState.Alive => $"{holder}, which is running on this host",
            _ => $"{holder}, on another host, where this process cannot check it (if it is gone, delete {recordPath})",
        };
    }

    /// <summary>Whether <paramref name="h"/> still runs, as far as this process can tell.</summary>
    public static HolderState StateOf(RunFolderHolder h)
    {
        if (h.Host != Environment.MachineName || h.Machine != MachineId()) return HolderState.Unknown;
        return ProcessStartOf(h.Pid) is { } start && start == h.ProcessStart ? HolderState.Alive : HolderState.Dead;
    }

    /// <summary>This process as a holder.</summary>
    public static RunFolderHolder Current() => new()
    {
        Pid = Environment.ProcessId,
        Host = Environment.MachineName,
        Machine = MachineId(),
        ProcessStart = ProcessStartOf(Environment.ProcessId) ?? "",
        Since = DateTimeOffset.UtcNow,
        Command = CommandLine(),
    };

    public static RunFolderHolder? ReadRecord(string path)
    {
        try
        {
            var text = File.ReadAllText(path);
            return text.Length == 0 ? null : JsonSerializer.Deserialize<RunFolderHolder>(text);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException) { return null; }
    }

    /// <summary>The process's start time as the OS records it, or null when there is no such (living) process.</summary>
    public static string? ProcessStartOf(int pid)
    {
        if (OperatingSystem.IsLinux())
        {
            string stat;
            try { stat = File.ReadAllText($"/proc/{pid}/stat"); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
            // "pid (comm) state ppid … starttime …": comm may hold spaces and parentheses, so split after the last ')'.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            if (fields.Length < 20 || fields[0] is "Z" or "X" or "x") return null;   // a zombie has exited
            return fields[19];                                                        // field 22: starttime
        }
        try
        {
            using var p = Process.GetProcessById(pid);
            return p.HasExited ? null : p.StartTime.ToUniversalTime().Ticks.ToString(CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception) { return null; }
    }

    /// <summary>The boot and pid namespace this process lives in (Linux); pids compare only within one.</summary>
    private static string MachineId()
    {
        if (!OperatingSystem.IsLinux()) return "";
        string boot = "", ns = "";
        try { boot = File.ReadAllText("/proc/sys/kernel/random/boot_id").Trim(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        try { ns = new FileInfo("/proc/self/ns/pid").LinkTarget ?? ""; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        return $"{boot} {ns}";
    }

    private static string CommandLine()
    {
        var args = Environment.GetCommandLineArgs();
        var name = args.Length > 0 ? Path.GetFileName(args[0]) : "";
        var text = string.Join(' ', args.Skip(1).Prepend(name.StartsWith("ModalFlow.Cli", StringComparison.Ordinal) ? "modalflow" : name));
        return text.Length > 300 ? text[..300] + "…" : text;
    }

    private static bool TryCreateRecord(string path, RunFolderHolder self)
    {
        try
        {
            using var fs = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.Read);
            JsonSerializer.Serialize(fs, self, new JsonSerializerOptions { WriteIndented = true });
            fs.Flush(flushToDisk: true);
            return true;
        }
        catch (IOException) when (File.Exists(path)) { return false; }
    }

    private static InputException Held(string folder, RunFolderHolder? holder, string why) =>
        new(folder, null, $"another modalflow process is writing this run folder: {holder?.ToString() ?? "details not recorded"}; {why}. " +
            "One writer per run folder, so this one stops here (nothing was written). Reading it meanwhile is fine: modalflow report --run " + folder);

    /// <summary>Removes this process's record (only if it is still its own), then lets the OS lock go.</summary>
    public void Dispose()
    {
        if (_mutex is null) return;
        try
        {
            if (ReadRecord(RecordPath) is { } r && r.Pid == Self.Pid && r.ProcessStart == Self.ProcessStart && r.Since == Self.Since) File.Delete(RecordPath);
        }
        catch (IOException) { }
        _mutex.Dispose();
        _mutex = null;
    }
}

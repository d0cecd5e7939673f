namespace ModalFlow.Platform;

/// <summary>Resident memory of this process from /proc/self/status (Linux); falls back to the working set elsewhere.</summary>
public static class ProcessMemory
{
    public static double RssMb() => Read("VmRSS:") ?? Environment.WorkingSet / 1048576.0;

    public static double PeakRssMb() => Read("VmHWM:") ?? RssMb();

    private static double? Read(string key)
    {
        const string status = "/proc/self/status";
        if (!File.Exists(status)) return null;
        foreach (var line in File.ReadLines(status))
        {
            if (!line.StartsWith(key, StringComparison.Ordinal)) continue;
            var parts = line[key.Length..].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return long.Parse(parts[0]) / 1024.0;   // kB
        }
        return null;
    }
}

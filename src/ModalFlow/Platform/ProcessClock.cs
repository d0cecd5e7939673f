using System.Diagnostics;
using System.Globalization;

namespace ModalFlow.Platform;

/// <summary>
/// Seconds since this process started, on the kernel's boot clock. <see cref="Process.StartTime"/> is derived from the
/// boot time in wall-clock terms, so it is off by however far the wall clock has been stepped since boot (NTP, a virtual
/// machine resumed from a snapshot: 16 s measured here); /proc/self/stat's start time and /proc/uptime share one clock.
/// </summary>
public static class ProcessClock
{
    private const double ClockTicksPerSecond = 100;   // USER_HZ: 100 on every Linux ABI .NET runs on

    public static double SecondsSinceStart()
    {
        try
        {
            if (OperatingSystem.IsLinux())
            {
                var stat = File.ReadAllText("/proc/self/stat");
                // Fields after the command name (which may hold spaces or parentheses): state is field 3, starttime field 22.
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                double started = long.Parse(fields[22 - 3], CultureInfo.InvariantCulture) / ClockTicksPerSecond;
                double uptime = double.Parse(File.ReadAllText("/proc/uptime").Split(' ')[0], CultureInfo.InvariantCulture);
                return Math.Max(0, uptime - started);
            }
        }
        catch (Exception e) when (e is IOException or FormatException or IndexOutOfRangeException or UnauthorizedAccessException) { }
        return Math.Max(0, (DateTime.Now - Process.GetCurrentProcess().StartTime).TotalSeconds);
    }
}

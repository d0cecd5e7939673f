using System.Runtime.InteropServices;

namespace ModalFlow.Platform;

/// <summary>
/// Transparent huge pages for fresh, large allocations that are about to be written once (loaded weights). Writing a fresh
/// allocation costs one page fault per 4 KiB page; with huge pages it is one per 2 MiB, which is most of a warm load's
/// time on virtual machines (measured here: 11-15 s/GB of fresh memory with 4 KiB pages, 7-8 s/GB with huge pages; the
/// same copy into reused memory takes 0.2 s/GB). Advice only: where the kernel or libc does not take it, nothing changes.
/// </summary>
public static unsafe partial class HugePages
{
    private const int MadvHugepage = 14;
    private const long MinBytes = 4L << 20;

    [LibraryImport("libc", EntryPoint = "madvise")]
    private static partial int Madvise(nint address, nuint length, int advice);

    private static bool _unavailable = !OperatingSystem.IsLinux();

    /// <summary>Advises huge pages for the whole pages inside [start, start + length) when it is at least 4 MiB.</summary>
    public static void Advise(byte* start, long length)
    {
        if (_unavailable || length < MinBytes) return;
        long first = ((long)start + 4095) & ~4095L, end = ((long)start + length) & ~4095L;
        try { Madvise((nint)first, (nuint)(end - first), MadvHugepage); }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { _unavailable = true; }
    }
}

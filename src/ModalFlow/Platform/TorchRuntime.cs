using System.Runtime.InteropServices;
using TorchSharp;

namespace ModalFlow.Platform;

/// <summary>
/// One place that prepares libtorch before the first tensor is made: preloads the optional MKL shim
/// (see build/TorchSharpPlatform.targets) and fixes the thread count. Call <see cref="Initialize"/> first.
/// </summary>
public static class TorchRuntime
{
    private const string ShimFileName = "libmkl_intel_cpu_shim.so";
    private const int RTLD_NOW = 0x2, RTLD_GLOBAL = 0x100;
    private static readonly object Gate = new();
    private static bool _initialized;

    /// <summary>True when the MKL shim was found and loaded into the global symbol scope.</summary>
    public static bool MklShimLoaded { get; private set; }

    [DllImport("libc.so.6", EntryPoint = "dlopen")]
    private static extern IntPtr DlOpen(string path, int flags);

    [DllImport("libc.so.6", EntryPoint = "malloc_trim")]
    private static extern int MallocTrim(nuint pad);

    /// <summary>
    /// Returns freed native heap memory to the OS. glibc keeps large freed blocks (its mmap threshold grows after
    /// the first big frees), so a long sweep's RSS would ratchet up without any leak. Between samples use
    /// <see cref="NativeHeapTrimmer"/>, which calls this only when the process grew (each trim makes the next sample fault).
    /// </summary>
    public static void TrimNativeHeap()
    {
        if (!OperatingSystem.IsLinux()) return;
        try { MallocTrim(0); }
        catch (DllNotFoundException) { }
        catch (EntryPointNotFoundException) { }
    }

    public static void Initialize()
    {
        lock (Gate)
        {
            if (_initialized) return;
            _initialized = true;
            // The shim must be in the global scope before libtorch_cpu.so resolves the MKL symbol
            // lazily; NativeLibrary.Load uses RTLD_LOCAL, which cannot interpose, hence dlopen.
            if (OperatingSystem.IsLinux() && Environment.GetEnvironmentVariable("MODALFLOW_MKL_SHIM") != "0")
            {
                var shim = Path.Combine(AppContext.BaseDirectory, ShimFileName);
                if (File.Exists(shim))
                {
                    try { MklShimLoaded = DlOpen(shim, RTLD_NOW | RTLD_GLOBAL) != IntPtr.Zero; }
                    catch (DllNotFoundException) { MklShimLoaded = false; }
                }
            }
            // Touch the native library now, so that a load failure surfaces here with a clear message.
            try
            {
                _ = torch.get_num_threads();
            }
            catch (TypeInitializationException e)
            {
                throw new InvalidOperationException(
                    "libtorch could not be loaded. On Debian 12 this usually means libLibTorchSharp.so in the output " +
                    "folder was not patched (GLIBCXX_3.4.32); rebuild with the repository's Directory.Build.targets. " +
                    "Check with: ldd -r " + Path.Combine(AppContext.BaseDirectory, "libLibTorchSharp.so"), e);
            }
        }
    }
}

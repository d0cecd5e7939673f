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

    [DllImport("libc.so.6", EntryPoint = "setenv")]
    private static extern int SetEnv(string name, string value, int overwrite);

    [DllImport("libc.so.6", EntryPoint = "mallopt")]
    private static extern int MallOpt(int param, int value);

    [DllImport("libc.so.6", EntryPoint = "malloc_trim")]
    private static extern int MallocTrim(nuint pad);

    /// <summary>
    /// Returns freed native heap memory to the OS. glibc keeps freed blocks (and, as <see cref="KeepFreedMemory"/> sets it up,
    /// never trims on its own), so a long sweep's RSS would ratchet up without any leak. Between samples use
    /// <see cref="NativeHeapTrimmer"/>, which calls this only when the process grew (each trim makes the next sample fault).
    /// </summary>
    public static void TrimNativeHeap()
    {
        if (OperatingSystem.IsLinux()) CallLibc(() => MallocTrim(0));
    }

    public static void Initialize()
    {
        lock (Gate)
        {
            if (_initialized) return;
            _initialized = true;
            LimitOpenMpSpinning();
            KeepFreedMemory();
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
            WarmUpVectorMath();
        }
    }

    /// <summary>How long (in pause instructions) libtorch's idle OpenMP threads spin before they sleep, unless the user set it.</summary>
    public const string OpenMpSpinCount = "10000";

    /// <summary>
    /// libgomp's idle threads spin up to 300,000 pause instructions (milliseconds on recent x86) after every parallel region
    /// before they sleep. The C# kernels that run between libtorch calls (<see cref="Models.FewRowProduct"/>, split over .NET's
    /// thread pool) then share the cores with spinning threads: measured on 2 cores (hidden 1024, 16 layers), 31 decoding
    /// steps of 4 samples in lockstep took 5.97 s by default, 3.69 s at 10,000, 4.03 s at 1,000 and 4.53 s with
    /// OMP_WAIT_POLICY=passive (which slows libtorch's own back-to-back ops); the knockout sweeps ran as fast at 10,000 as by
    /// default, slower at 1,000. libgomp reads its settings when it is loaded, so this runs before the first tensor; a user's
    /// own OMP_WAIT_POLICY or GOMP_SPINCOUNT is left alone.
    /// </summary>
    private static void LimitOpenMpSpinning()
    {
        if (!OperatingSystem.IsLinux()) return;
        if (Environment.GetEnvironmentVariable("OMP_WAIT_POLICY") is not null || Environment.GetEnvironmentVariable("GOMP_SPINCOUNT") is not null) return;
        CallLibc(() => SetEnv("GOMP_SPINCOUNT", OpenMpSpinCount, 0));
    }

    private const int M_TRIM_THRESHOLD = -1, M_MMAP_THRESHOLD = -3;

    /// <summary>glibc's largest mmap threshold (32 MiB on 64-bit): blocks up to it come from the heap and are reused.</summary>
    private const int MmapThresholdBytes = 32 << 20;

    /// <summary>
    /// Freed tensor memory stays in glibc's heap for the next tensor instead of going back to the OS after every free.
    /// By default glibc serves blocks above a threshold that starts at 128 KiB from fresh mappings and trims the heap's top
    /// once it holds twice that free; every later tensor of that size then faults its pages in again, and the kernel zeroes
    /// each one. On this VM that was about 7 GB of zeroed pages in a 12-sample `run` of the 1024-wide benchmark model
    /// (1.83 M minor faults; 45.4 s): with blocks up to 32 MiB from the heap and no automatic trim, 0.90 M faults and 42.2 s.
    /// Memory is still given back: <see cref="NativeHeapTrimmer"/> trims between samples when the process grew. A user's own
    /// malloc settings (GLIBC_TUNABLES, MALLOC_TRIM_THRESHOLD_, MALLOC_MMAP_THRESHOLD_) are left alone.
    /// </summary>
    private static void KeepFreedMemory()
    {
        if (!OperatingSystem.IsLinux()) return;
        if (Environment.GetEnvironmentVariable("GLIBC_TUNABLES")?.Contains("glibc.malloc.", StringComparison.Ordinal) == true
            || Environment.GetEnvironmentVariable("MALLOC_TRIM_THRESHOLD_") is not null || Environment.GetEnvironmentVariable("MALLOC_MMAP_THRESHOLD_") is not null) return;
        CallLibc(() =>
        {
            MallOpt(M_MMAP_THRESHOLD, MmapThresholdBytes);
            MallOpt(M_TRIM_THRESHOLD, int.MaxValue);
        });
    }

    /// <summary>A glibc call that only tunes or tidies: where the C library lacks it (another libc), nothing happens.</summary>
    private static void CallLibc(Action call)
    {
        try { call(); }
        catch (DllNotFoundException) { }
        catch (EntryPointNotFoundException) { }
    }

    // Every float elementwise function ATen may route to MKL's VML (more than it does: a warm-up of one that does not costs nothing).
    private static readonly (string Name, Func<torch.Tensor, torch.Tensor> Apply)[] VectorMath =
    [
        ("abs", x => x.abs()),
        ("acos", x => x.acos()),
        ("asin", x => x.asin()),
        ("atan", x => x.atan()),
        ("ceil", x => x.ceil()),
        ("cos", x => x.cos()),
        ("cosh", x => x.cosh()),
        ("erf", x => x.erf()),
        ("erfc", x => x.erfc()),
        ("erfinv", x => x.erfinv()),
        ("exp", x => x.exp()),
        ("expm1", x => x.expm1()),
        ("floor", x => x.floor()),
        ("lgamma", x => x.lgamma()),
        ("log", x => x.log()),
        ("log10", x => x.log10()),
        ("log1p", x => x.log1p()),
        ("log2", x => x.log2()),
        ("reciprocal", x => x.reciprocal()),
        ("round", x => x.round()),
        ("rsqrt", x => x.rsqrt()),
        ("sigmoid", x => x.sigmoid()),
        ("sin", x => x.sin()),
        ("sinh", x => x.sinh()),
        ("sqrt", x => x.sqrt()),
        ("tan", x => x.tan()),
        ("tanh", x => x.tanh()),
        ("trunc", x => x.trunc()),
    ];

    /// <summary>The elementwise functions <see cref="Initialize"/> warms up.</summary>
    public static IReadOnlyList<string> WarmedUpFunctions { get; } = [.. VectorMath.Select(f => f.Name)];

    /// <summary>
    /// Calls every elementwise math function once on a tensor too small to be split across threads. libtorch computes
    /// them with MKL's vector math (VML), which sets each function up on its first call; when that first call comes from
    /// two threads at once (a large tensor, split by ATen's parallel_for), the second thread's half can come out wrong.
    /// Measured here with the MKL shim: the first cos of a fresh process over 637×16 values returned up to 1.5e-4 off on
    /// rows 318..636 in 6 of 100 processes (a clean pass's rotary table, so its p1 and prefix keys: the self-check then
    /// caught the fast engine disagreeing with the naive one, which computes its own table later); 0 of 200 after this.
    /// </summary>
    private static void WarmUpVectorMath()
    {
        using var scope = torch.NewDisposeScope();
        foreach (var dtype in new[] { torch.ScalarType.Float32, torch.ScalarType.Float64 })
        {
            var x = torch.linspace(0.1, 0.9, 8, dtype);                                    // inside every function's domain
            foreach (var f in VectorMath) _ = f.Apply(x);
        }
    }

    /// <summary>One of <see cref="WarmedUpFunctions"/> applied to <paramref name="x"/>.</summary>
    public static torch.Tensor Apply(string name, torch.Tensor x) =>
        (VectorMath.FirstOrDefault(f => f.Name == name).Apply ?? throw new ArgumentException($"not a warmed-up function: {name}", nameof(name)))(x);
}

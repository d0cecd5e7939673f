using System.Diagnostics;
using ModalFlow.Platform;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace ModalFlow.Tests.Platform;

/// <summary>
/// libtorch computes elementwise math (cos, exp, tanh, …) with MKL's vector math, which sets itself up on its first call.
/// When two threads make that first call at once, one thread's share can come out wrong: seen here as a clean pass whose
/// rotary cos table was up to 1.5e-4 off on rows 318..636 (its p1 0.481176 instead of 0.480888, in about 1 of 20 fresh
/// processes of `modalflow trace` with the GC collecting often, and under CI's load), which the run's self-check then
/// reported as the fast engine disagreeing with the naive one. <see cref="TorchRuntime.Initialize"/> warms every such
/// function up on one thread.
/// </summary>
public sealed class VectorMathWarmUpTests(ITestOutputHelper log)
{
    private static string ProbePath => Path.Combine(AppContext.BaseDirectory, "ModalFlow.Bench");

    /// <summary>
    /// Fresh processes (the profiling host's <c>firstcall</c> mode: each function's first multi-threaded call against its
    /// second, bit for bit) with frequent collections, which made the race show: without the warm-up, 6 of 100 such
    /// processes differed on cos alone.
    /// </summary>
    [Fact]
    public async Task A_Fresh_Process_First_Elementwise_Call_Equals_Its_Second()
    {
        Assert.True(File.Exists(ProbePath), $"{ProbePath} is missing: the test project references bench/ModalFlow.Bench");
        const int processes = 40;
        var failures = new List<string>();
        for (int i = 0; i < processes; i++)
        {
            // The first call of the process is the one that races; cos first (the rotary table's), then every other function.
            string[] functions = i == 0 ? [.. TorchRuntime.WarmedUpFunctions] : ["cos", TorchRuntime.WarmedUpFunctions[i % TorchRuntime.WarmedUpFunctions.Count]];
            var psi = new ProcessStartInfo(ProbePath) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in new[] { "64", "2", "firstcall" }.Concat(functions)) psi.ArgumentList.Add(a);
            psi.Environment["DOTNET_GCgen0size"] = "10000";                      // collections every few KB: the timing that races
            using var p = Process.Start(psi)!;
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            await p.WaitForExitAsync();
            var (output, errors) = (await stdout, await stderr);
            var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.True(lines.Length == 2 * functions.Length, $"probe {i} printed {lines.Length} lines for {functions.Length} functions × 2 dtypes (exit {p.ExitCode}):\n{output}\n{errors}");
            failures.AddRange(lines.Where(l => !l.EndsWith(": equal", StringComparison.Ordinal)).Select(l => $"process {i}: {l}"));
        }
        foreach (var f in failures) log.WriteLine(f);
        Assert.True(failures.Count == 0, "first calls differed from second calls:\n" + string.Join("\n", failures));
    }

    [Fact]
    public void Every_Warmed_Up_Function_Is_Distinct_And_Applies()
    {
        Assert.Equal(TorchRuntime.WarmedUpFunctions.Count, TorchRuntime.WarmedUpFunctions.Distinct().Count());
        using var scope = NewDisposeScope();
        var x = linspace(0.1, 0.9, 5, ScalarType.Float32);
        foreach (var name in TorchRuntime.WarmedUpFunctions)
        {
            var y = TorchRuntime.Apply(name, x);
            Assert.Equal(x.shape, y.shape);
            Assert.True(y.isfinite().all().item<bool>(), $"{name} of (0.1 … 0.9) is not finite");
        }
        // Spot values, so that a name maps to its own function.
        Assert.Equal(Math.Cos(0.5), TorchRuntime.Apply("cos", tensor(0.5)).item<double>(), 12);
        Assert.Equal(Math.Tanh(0.5), TorchRuntime.Apply("tanh", tensor(0.5)).item<double>(), 12);
        Assert.Equal(Math.Log2(0.5), TorchRuntime.Apply("log2", tensor(0.5)).item<double>(), 12);
        Assert.Throws<ArgumentException>(() => TorchRuntime.Apply("softmax", x));
    }
}

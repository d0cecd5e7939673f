using ModalFlow.Checkpoints;
using ModalFlow.Platform;
using ModalFlow.Tests.Support;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;

namespace ModalFlow.Tests.Checkpoints;

/// <summary>
/// Resident memory while loading the tiny-llava-1.5 weights: the loaded tensors should cost about one copy of the
/// data in anonymous memory (RssAnon); the mapping shows up as file-backed pages (RssFile), which Dispose returns.
/// </summary>
public sealed class SafetensorsMemoryTests(ITestOutputHelper output)
{
    private static void Settle()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
    }

    [SharedTheory]
    [InlineData("model.safetensors")]
    [InlineData("model.bf16.safetensors")]
    public void Loading_TinyLlava_As_F32_Costs_About_One_Copy(string file)
    {
        TorchRuntime.Initialize();
        var path = SharedData.Fixture("tiny-llava-1.5", file);
        var tensorsBefore = LiveTensors.Count();

        Settle();
        var r0 = ProcFiles.Rss.Now();
        var f = SafetensorsFile.Open(path);
        var r1 = ProcFiles.Rss.Now();
        var loaded = f.Names.Select(n => f.Load(n, torch.ScalarType.Float32, torch.CPU)).ToList();
        Settle();
        var r2 = ProcFiles.Rss.Now();
        f.Dispose();
        var r3 = ProcFiles.Rss.Now();
        foreach (var t in loaded) t.Dispose();
        Settle();
        var r4 = ProcFiles.Rss.Now();

        var resultBytes = loaded.Count == 0 ? 0 : f.Entries.Sum(e => e.ElementCount) * 4;
        const double MiB = 1048576.0;
        output.WriteLine($"{file}: {new FileInfo(path).Length / MiB:F1} MiB on disk, {resultBytes / MiB:F1} MiB as F32 tensors");
        output.WriteLine($"  before open        {r0}");
        output.WriteLine($"  open (header only) Δ {r1 - r0}");
        output.WriteLine($"  load all as F32    Δ {r2 - r1}");
        output.WriteLine($"  dispose file       Δ {r3 - r2}");
        output.WriteLine($"  dispose tensors    Δ {r4 - r3}");

        Assert.Equal(tensorsBefore, LiveTensors.Count());
        // One copy: the anonymous growth is the F32 result, not twice it (a managed byte[] staging copy or an
        // unconverted intermediate would add a second copy). Allocator slack allowed: a quarter plus 4 MiB.
        var anonGrowth = (r2 - r1).Anon;
        Assert.True(anonGrowth < resultBytes * 1.25 + 4 * MiB,
            $"RssAnon grew {anonGrowth / MiB:F1} MiB for {resultBytes / MiB:F1} MiB of tensors");
    }
}

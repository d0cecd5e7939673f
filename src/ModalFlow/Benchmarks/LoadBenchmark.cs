using System.Diagnostics;
using System.Runtime.InteropServices;
using ModalFlow.Checkpoints;
using ModalFlow.Inference;
using ModalFlow.Platform;

namespace ModalFlow.Benchmarks;

/// <param name="WeightBytes">The weight files the loader reads (safetensors or .bin shards), in bytes.</param>
/// <param name="FirstLoadS">The first load (it may read the files from disk into the page cache).</param>
/// <param name="WarmLoadS">Each later load, the files in the page cache.</param>
/// <param name="WarmReadyS">Each later load followed by one read of every decoder weight: where the loader maps the files
/// (<see cref="SafetensorsFile"/>), that read is what faults their pages in, so this is the time to a model ready to run.</param>
/// <param name="FloorS">Per repeat, the best time to copy the same files from the page cache into fresh memory with one
/// bulk read per file (huge pages advised as the loader does): what any loader that copies must pay at least.</param>
public sealed record LoadBenchResult(string Model, string DType, long WeightBytes, double FirstLoadS, IReadOnlyList<double> WarmLoadS,
    IReadOnlyList<double> WarmReadyS, IReadOnlyList<double> FloorS)
{
    public double BestWarmLoadS => WarmLoadS.Count == 0 ? FirstLoadS : WarmLoadS.Min();
    public double BestWarmReadyS => WarmReadyS.Min();
    public double ReadySPerGb => BestWarmReadyS / (WeightBytes / 1e9);
    public double BestFloorS => FloorS.Min();
    public double WarmSPerGb => BestWarmLoadS / (WeightBytes / 1e9);
    public double FloorSPerGb => BestFloorS / (WeightBytes / 1e9);

    /// <summary>Warm load over the copy floor: 1 means the loader costs what copying the bytes costs.</summary>
    public double Ratio => BestWarmLoadS / BestFloorS;
}

/// <summary>
/// `bench load`: how long a model folder takes to load (weights into the compute dtype, tokenizer, config) with the
/// files in the page cache, next to the floor measured in the same run: the same bytes copied into fresh memory.
/// </summary>
public static class LoadBenchmark
{
    public static LoadBenchResult Run(string folder, LoadOptions options, int repeats, Action<string>? progress = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(repeats, 1);
        TorchRuntime.Initialize();
        var files = WeightFiles(folder);
        long bytes = files.Sum(f => new FileInfo(f).Length);
        double first = TimeLoad(folder, options).Load;
        progress?.Invoke($"first load {first:F2} s ({bytes / 1e9:F2} GB of weight files)");
        var warm = new List<double>();
        var ready = new List<double>();
        var floor = new List<double>();
        for (int r = 0; r < repeats; r++)
        {
            floor.Add(TimeFloor(files));
            var (load, readyS) = TimeLoad(folder, options);
            warm.Add(load);
            ready.Add(readyS);
            progress?.Invoke($"repeat {r + 1}/{repeats}: load {load:F2} s, ready {readyS:F2} s, copy floor {floor[^1]:F2} s");
        }
        return new LoadBenchResult(folder, options.DType.ToString(), bytes, first, warm, ready, floor);
    }

    /// <summary>The weight files the loader reads: those of the checkpoint <see cref="TensorCheckpoint.Open"/> picks.</summary>
    private static string[] WeightFiles(string folder)
    {
        using var checkpoint = TensorCheckpoint.Open(folder);
        return [.. checkpoint.Names.Select(checkpoint.FileOf).Distinct().Order(StringComparer.Ordinal)];
    }

    /// <summary>Seconds to load, and to load and then read every decoder weight once (a mapped load's deferred page faults).</summary>
    private static (double Load, double Ready) TimeLoad(string folder, LoadOptions options)
    {
        long start = Stopwatch.GetTimestamp();
        double load, ready;
        using (var model = LoadedModel.Load(folder, options))
        {
            load = Stopwatch.GetElapsedTime(start).TotalSeconds;
            if (model.Decoder is TorchSharp.torch.nn.Module decoder)
                foreach (var p in decoder.parameters()) p.sum().Dispose();
            ready = Stopwatch.GetElapsedTime(start).TotalSeconds;
        }
        TorchRuntime.TrimNativeHeap();   // the next load gets fresh memory again, as a new process would
        return (load, ready);
    }

    private static unsafe double TimeFloor(string[] files)
    {
        long start = Stopwatch.GetTimestamp();
        foreach (var f in files)
        {
            using var handle = File.OpenHandle(f);
            long length = RandomAccess.GetLength(handle);
            var buffer = (byte*)NativeMemory.AlignedAlloc((nuint)Math.Max(1, length), 4096);
            try
            {
                HugePages.Advise(buffer, length);
                for (long done = 0; done < length;)
                {
                    int n = RandomAccess.Read(handle, new Span<byte>(buffer + done, (int)Math.Min(length - done, 1 << 30)), done);
                    if (n == 0) throw new IOException($"{f}: ended at byte {done} of {length}");
                    done += n;
                }
            }
            finally { NativeMemory.AlignedFree(buffer); }
        }
        return Stopwatch.GetElapsedTime(start).TotalSeconds;
    }
}

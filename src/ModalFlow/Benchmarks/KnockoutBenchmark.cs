using System.Diagnostics;
using ModalFlow.Checkpoints;
using ModalFlow.Models;
using ModalFlow.Platform;
using ModalFlow.Tracing;
using static TorchSharp.torch;

namespace ModalFlow.Benchmarks;

/// <summary>
/// A decoder with LLaVA-1.5's sequence geometry (35 prefix tokens, 576 image tokens, the real 26-token text after
/// the image with a 7-token question, 637 positions, vocab 32064) and reduced width/depth so it runs on 2 CPU cores.
/// </summary>
public sealed record BenchGeometry
{
    public int Hidden { get; init; } = 512;
    public int Layers { get; init; } = 16;
    public int Heads { get; init; } = 8;
    public int KvHeads { get; init; } = 8;
    public int Intermediate { get; init; } = 1376;
    public int Vocab { get; init; } = 32064;
    public int PrefixTokens { get; init; } = 35;
    public int ImageTokens { get; init; } = 576;
    public int TextAfterImage { get; init; } = 26;
    public int QuestionOffset { get; init; } = 2;
    public int QuestionTokens { get; init; } = 7;
    public int SeqLen => PrefixTokens + ImageTokens + TextAfterImage;
}

/// <summary>
/// Seconds per sample for one condition's full window sweep (every centre layer). The clean pass is not in these:
/// both engines need it once per sample (p1, the target token) and every condition of the sample shares it.
/// </summary>
public sealed record EngineTiming(double NaiveSPerSample, double FastSPerSample, double Ratio, double MaxRelDiffP2)
{
    /// <summary>Knockouts per sample.</summary>
    public int Knockouts { get; init; }

    /// <summary>
    /// When set, the naive time is extrapolated linearly from this many measured naive knockouts per sample (a naive
    /// knockout is one full forward whatever the spec, so its cost is the same for every spec); null when all ran.
    /// </summary>
    public int? NaiveExtrapolatedFrom { get; init; }
}

/// <summary>
/// The memory floor of a sweep: reading once, on this machine and in the same run, every weight it multiplies by.
/// <paramref name="FastOverFloor"/>: the fast sweep's time in multiples of it.
/// </summary>
public sealed record ReadFloor(double Seconds, double Megabytes, double FastOverFloor);

public sealed record KnockoutBenchResult(BenchGeometry Model, int Window, int Samples, double CleanSPerSample,
    EngineTiming ImageToQuestion, EngineTiming QuestionToLast, ReadFloor QuestionToLastReadFloor, EngineTiming PerHeadMap, EngineTiming PaperGridPerSample,
    double PaperSweepRatioWithClean, int MemoryKnockouts, double RssMbStart, double RssMbEnd, long LiveTensorsStart, long LiveTensorsEnd, bool MklShim, int Threads);

/// <summary>
/// Time per sample of a full window sweep (every centre layer) for Image→Question and Question→Last on the naive
/// and fast engines, measured in one run (ratios, not absolute numbers, are the claim), plus a flat-memory check
/// over many consecutive knockouts.
/// </summary>
public static class KnockoutBenchmark
{
    /// <param name="naiveSubset">
    /// Naive knockouts measured per sample for the per-head map and the Experiments 1+2+3 grid (the rest extrapolated
    /// linearly: a naive knockout is one full forward, the same cost whatever the spec); 0 = run them all.
    /// </param>
    public static KnockoutBenchResult Run(BenchGeometry g, int samples = 2, int window = 9, int memoryKnockouts = 1000, Action<string>? progress = null,
        int naiveSubset = 16)
    {
        TorchRuntime.Initialize();
        var cfg = new LlamaTextConfig
        {
            VocabSize = g.Vocab, HiddenSize = g.Hidden, IntermediateSize = g.Intermediate, NumHiddenLayers = g.Layers,
            NumAttentionHeads = g.Heads, NumKeyValueHeadsRaw = g.KvHeads, RmsNormEps = 1e-5, MaxPositionEmbeddings = 4096,
        };
        using var decoder = new LlamaDecoder(cfg, new RandomWeightSource(7, ScalarType.Float32, CPU, std: 0.05, headStd: 0.1), "language_model.", false);
        int qStart = g.PrefixTokens + g.ImageTokens + g.QuestionOffset;
        var image = PositionSet.Range("Image", g.PrefixTokens, g.PrefixTokens + g.ImageTokens);
        var question = PositionSet.Range("Question", qStart, qStart + g.QuestionTokens);
        var last = PositionSet.Of("Last", [g.SeqLen - 1]);
        List<KnockoutSpec> Sweep(PositionSet s, PositionSet t) =>
            Enumerable.Range(0, g.Layers).Select(l => new KnockoutSpec(s, t, LayerWindow.Around(l, window, g.Layers), $"{s.Name}->{t.Name}@{l}")).ToList();
        var i2q = Sweep(image, question);
        var q2l = Sweep(question, last);
        var fast = new FastKnockoutEngine();
        var naive = new NaiveKnockoutEngine();

        Tensor Embeds(int seed)
        {
            using var generator = new Generator((ulong)seed);                // held (and freed) here: a temporary could be finalized during the draw
            return TensorFactories.Normal(0, 1, [1, g.SeqLen, g.Hidden], generator);
        }

        // Warm-up (first calls allocate and JIT).
        using (var e = Embeds(99))
        using (var clean = CleanRun.Create(decoder, e))
        {
            fast.Run(clean, q2l.Take(2).ToList());
            naive.Run(clean, q2l.Take(1).ToList());
        }

        double cleanS = 0;
        int cleanRuns = 0;
        var trimmer = new NativeHeapTrimmer();                              // between samples, as a run does
        // withClean: the clean pass is part of both sides' time (a whole sample's work), not only of cleanS.
        EngineTiming Time(List<KnockoutSpec> specs, string name, int naiveSubset = 0, bool withClean = false)
        {
            double naiveS = 0, fastS = 0, maxRel = 0;
            var measured = naiveSubset > 0 && naiveSubset < specs.Count
                ? Enumerable.Range(0, naiveSubset).Select(i => (int)((long)i * specs.Count / naiveSubset)).ToList()   // spread over the list
                : Enumerable.Range(0, specs.Count).ToList();
            var naiveSpecs = measured.Select(i => specs[i]).ToList();
            for (int s = 0; s < samples; s++)
            {
                using var scope = NewDisposeScope();
                var sw = Stopwatch.StartNew();
                using var clean = CleanRun.Create(decoder, Embeds(s));
                double c = sw.Elapsed.TotalSeconds;
                cleanS += c;
                cleanRuns++;
                sw.Restart();
                var f = fast.Run(clean, specs);
                fastS += sw.Elapsed.TotalSeconds + (withClean ? c : 0);
                sw.Restart();
                var n = naive.Run(clean, naiveSpecs);
                naiveS += sw.Elapsed.TotalSeconds * specs.Count / naiveSpecs.Count + (withClean ? c : 0);
                for (int i = 0; i < measured.Count; i++) maxRel = Math.Max(maxRel, Math.Abs(f[measured[i]].P2 - n[i].P2) / n[i].P2);
                trimmer.AfterSample();
                progress?.Invoke($"{name}: sample {s + 1}/{samples}: naive {naiveS / (s + 1):F2} s{(naiveSpecs.Count < specs.Count ? $" (from {naiveSpecs.Count} of {specs.Count})" : "")}, fast {fastS / (s + 1):F3} s per sample");
            }
            return new EngineTiming(naiveS / samples, fastS / samples, naiveS / fastS, maxRel)
            {
                Knockouts = specs.Count,
                NaiveExtrapolatedFrom = naiveSpecs.Count < specs.Count ? naiveSpecs.Count : null,
            };
        }

        var tI2Q = Time(i2q, "Image->Question");
        var tQ2L = Time(q2l, "Question->Last");
        var floor = WeightReadFloor(decoder, tQ2L.FastSPerSample);
        // Full per-head map of Image→Question: every (layer, head) alone, window 1.
        var map = Enumerable.Range(0, g.Layers).SelectMany(l => Enumerable.Range(0, g.Heads)
            .Select(h => new KnockoutSpec(image, question, [l], $"Image->Question@{l}") { Heads = [h] })).ToList();
        var tMap = Time(map, "per-head map", naiveSubset);
        // Experiments 1 + 2 + 3 of one sample: seven window sweeps (Exp 3's object patches: a 60-patch object, the other
        // patches, a random 60-patch control), clean pass included on both sides.
        var rng = new Random(3);
        var related = PositionSet.Of("Related Image Patches", Enumerable.Range(g.PrefixTokens + g.ImageTokens / 3, Math.Min(60, g.ImageTokens / 3)));
        var other = PositionSet.Of("Other Image Patches", image.Positions.Except(related.Positions));
        var random = PositionSet.Of("Random Image Patches", image.Positions.OrderBy(_ => rng.Next()).Take(related.Count));
        var grid = Sweep(image, last).Concat(q2l).Concat(Sweep(last, last)).Concat(i2q)
            .Concat(Sweep(related, question)).Concat(Sweep(other, question)).Concat(Sweep(random, question)).ToList();
        var tGrid = Time(grid, "Experiments 1+2+3", naiveSubset, withClean: true);
        double clean1 = cleanS / cleanRuns;
        // The paper's Exp 1 + Exp 2 per sample (four blocks; I→L and L→L cost as Q→L, same t₀), clean pass included once.
        double naivePaper = clean1 + tI2Q.NaiveSPerSample + 3 * tQ2L.NaiveSPerSample;
        double fastPaper = clean1 + tI2Q.FastSPerSample + 3 * tQ2L.FastSPerSample;

        // Flat memory: many consecutive fast knockouts (sweeps of all four paper blocks over fresh samples).
        var allBlocks = i2q.Concat(q2l).Concat(Sweep(image, last)).Concat(Sweep(last, last)).ToList();
        using (var warm = CleanRun.Create(decoder, Embeds(999))) fast.Run(warm, allBlocks);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        TorchRuntime.TrimNativeHeap();
        long liveStart = Tensor.TotalCount;
        double rssStart = ProcessMemory.RssMb();
        int done = 0, sample = 0;
        while (done < memoryKnockouts)
        {
            using var scope = NewDisposeScope();
            using var clean = CleanRun.Create(decoder, Embeds(1000 + sample++));
            var batch = allBlocks.Take(Math.Min(allBlocks.Count, memoryKnockouts - done)).ToList();
            fast.Run(clean, batch);
            done += batch.Count;
            trimmer.AfterSample();
        }
        GC.Collect();
        GC.WaitForPendingFinalizers();
        TorchRuntime.TrimNativeHeap();                                      // retained memory, measured as at the start
        long liveEnd = Tensor.TotalCount;
        double rssEnd = ProcessMemory.RssMb();
        progress?.Invoke($"memory: {done} knockouts over {sample} samples: RSS {rssStart:F0} → {rssEnd:F0} MB, live tensors {liveStart} → {liveEnd}");
        return new KnockoutBenchResult(g, window, samples, clean1, tI2Q, tQ2L, floor, tMap, tGrid, naivePaper / fastPaper,
            done, rssStart, rssEnd, liveStart, liveEnd, TorchRuntime.MklShimLoaded, get_num_threads());
    }

    /// <summary>
    /// A →Last sweep recomputes one row per window, so it is bound by reading its weights (every layer's matrices and the
    /// output embedding) once: timed here as a plain sum of each, with the same threads, best of 5.
    /// </summary>
    private static ReadFloor WeightReadFloor(LlamaDecoder decoder, double fastSeconds)
    {
        var weights = Enumerable.Range(0, decoder.NumLayers).SelectMany(l => decoder.Layer(l).parameters()).Where(p => p.dim() == 2)
            .Cast<Tensor>().Append(decoder.OutputEmbedding).ToList();
        double best = double.MaxValue;
        for (int rep = 0; rep < 6; rep++)
        {
            using var scope = NewDisposeScope();
            var sw = Stopwatch.StartNew();
            foreach (var w in weights) w.sum();
            if (rep > 0) best = Math.Min(best, sw.Elapsed.TotalSeconds);    // the first pass warms up
        }
        double mb = weights.Sum(w => w.numel() * w.element_size()) / 1e6;
        return new ReadFloor(best, mb, fastSeconds / best);
    }
}

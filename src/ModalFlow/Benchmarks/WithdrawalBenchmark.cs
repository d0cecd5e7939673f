using System.Diagnostics;
using ModalFlow.Checkpoints;
using ModalFlow.Experiments;
using ModalFlow.Models;
using ModalFlow.Platform;
using ModalFlow.Text;
using ModalFlow.Tracing;
using static TorchSharp.torch;

namespace ModalFlow.Benchmarks;

public sealed record WithdrawalBenchResult(BenchGeometry Model, int Samples, double CleanSPerSample, double CleanWithAttentionSPerSample,
    EngineTiming WithdrawalGrid, int WithdrawalKnockouts, EngineTiming PruneGrid, int PruneKnockouts, string PruneSettings, bool MklShim, int Threads);

/// <summary>
/// Cost per sample of `run --experiment withdrawal` (every image token withdrawn from layer K on, K = 0 … L−1; K = L is
/// the clean run) and of `run --experiment prune` at its default grid (FastV-ranked and random, three keep fractions at
/// K = 2), on the naive and the fast engine, measured in one run on the decoder of <see cref="KnockoutBenchmark"/>
/// (LLaVA-1.5's sequence geometry, random weights). The clean pass is timed apart (with and without keeping the
/// last row's attention, which pruning needs).
/// </summary>
public static class WithdrawalBenchmark
{
    public static WithdrawalBenchResult Run(BenchGeometry g, int samples = 2, Action<string>? progress = null)
    {
        TorchRuntime.Initialize();
        var cfg = new LlamaTextConfig
        {
            VocabSize = g.Vocab, HiddenSize = g.Hidden, IntermediateSize = g.Intermediate, NumHiddenLayers = g.Layers,
            NumAttentionHeads = g.Heads, NumKeyValueHeadsRaw = g.KvHeads, RmsNormEps = 1e-5, MaxPositionEmbeddings = 4096,
        };
        using var decoder = new LlamaDecoder(cfg, new RandomWeightSource(7, ScalarType.Float32, CPU, std: 0.05, headStd: 0.1), "language_model.", false);
        var image = new TokenSpan(g.PrefixTokens, g.PrefixTokens + g.ImageTokens);
        var grid = PruneGrid.Default;
        var withdrawal = Enumerable.Range(0, g.Layers)
            .Select(k => ImageWithdrawal.Spec(image.Positions(), g.SeqLen, k, g.Layers, $"withdraw@{k}")!).ToList();
        List<KnockoutSpec> Prune(CleanRun clean, string id) =>
            grid.At.SelectMany(k => grid.Keep.SelectMany(r => new[]
            {
                ImageWithdrawal.Spec(Pruning.FastVWithdrawn(clean, image, k, r), g.SeqLen, k, g.Layers, $"fastv {r}@{k}")!,
                ImageWithdrawal.Spec(Pruning.RandomWithdrawn(image, id, r), g.SeqLen, k, g.Layers, $"random {r}@{k}")!,
            })).ToList();
        var fast = new FastKnockoutEngine();
        var naive = new NaiveKnockoutEngine();
        Tensor Embeds(int seed)
        {
            using var generator = new Generator((ulong)seed);                // held (and freed) here: a temporary could be finalized during the draw
            return TensorFactories.Normal(0, 1, [1, g.SeqLen, g.Hidden], generator);
        }
        var positions = PositionIds.Sequential(g.SeqLen);

        using (var e = Embeds(99))                                                     // warm-up (first calls allocate and JIT)
        using (var clean = CleanRun.Create(decoder, e, positions, keepLastRowAttention: true))
        {
            fast.Run(clean, withdrawal.Take(2).ToList());
            naive.Run(clean, withdrawal.Take(1).ToList());
        }

        double cleanS = 0, cleanAttS = 0, wNaive = 0, wFast = 0, wRel = 0, pNaive = 0, pFast = 0, pRel = 0;
        int pruneCount = 0;
        var trimmer = new NativeHeapTrimmer();                                          // between samples, as a run does
        for (int s = 0; s < samples; s++)
        {
            using var scope = NewDisposeScope();
            using var e = Embeds(s);
            var sw = Stopwatch.StartNew();
            using (CleanRun.Create(decoder, e, positions)) cleanS += sw.Elapsed.TotalSeconds;
            sw.Restart();
            using var clean = CleanRun.Create(decoder, e, positions, keepLastRowAttention: true);
            cleanAttS += sw.Elapsed.TotalSeconds;

            sw.Restart();
            var f = fast.Run(clean, withdrawal);
            wFast += sw.Elapsed.TotalSeconds;
            sw.Restart();
            var n = naive.Run(clean, withdrawal);
            wNaive += sw.Elapsed.TotalSeconds;
            for (int i = 0; i < withdrawal.Count; i++) wRel = Math.Max(wRel, Math.Abs(f[i].P2 - n[i].P2) / n[i].P2);

            var prune = Prune(clean, $"sample-{s}");
            pruneCount = prune.Count;
            sw.Restart();
            var pf = fast.Run(clean, prune);
            pFast += sw.Elapsed.TotalSeconds;
            sw.Restart();
            var pn = naive.Run(clean, prune);
            pNaive += sw.Elapsed.TotalSeconds;
            for (int i = 0; i < prune.Count; i++) pRel = Math.Max(pRel, Math.Abs(pf[i].P2 - pn[i].P2) / pn[i].P2);
            trimmer.AfterSample();
            progress?.Invoke($"sample {s + 1}/{samples}: withdrawal grid naive {wNaive / (s + 1):F2} s, fast {wFast / (s + 1):F3} s; " +
                $"prune grid naive {pNaive / (s + 1):F2} s, fast {pFast / (s + 1):F3} s per sample");
        }
        return new WithdrawalBenchResult(g, samples, cleanS / samples, cleanAttS / samples,
            new EngineTiming(wNaive / samples, wFast / samples, wNaive / wFast, wRel), withdrawal.Count,
            new EngineTiming(pNaive / samples, pFast / samples, pNaive / pFast, pRel), pruneCount, grid.Describe(),
            TorchRuntime.MklShimLoaded, get_num_threads());
    }
}

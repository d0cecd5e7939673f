using ModalFlow.Checkpoints;
using ModalFlow.Models;
using ModalFlow.Platform;
using ModalFlow.Tests.Tracing;
using Xunit;
using static TorchSharp.torch;

namespace ModalFlow.Tests.Models;

/// <summary>
/// Decoding several samples' answers in lockstep (`run` groups them): each sample must get exactly the bits it gets alone,
/// whichever samples share its steps, or an answer (and a final-sub-word run) would depend on the shard, the resume point or
/// the group size. The property rests on <see cref="FewRowProduct"/> computing every row the same way for any row count.
/// </summary>
public sealed class LockstepDecodingTests
{
    private static void RequireKernel() =>
        Assert.True(FewRowProduct.HardwareSupported, "this processor lacks AVX/FMA: lockstep decoding is off here (Generation.LockstepRows = 1)");

    [Theory]
    [InlineData(1000, 37)]      // k: 62 chunks of 16, one of 8, a remainder of 8 elements; one thread
    [InlineData(2752, 1024)]    // the benchmark's down_proj: split over the intra-op threads
    [InlineData(7, 300)]        // shorter than one chunk: the remainder only
    public void Every_Row_Has_The_Same_Bits_In_Any_Batch_And_Agrees_With_Libtorch(int k, int outFeatures)
    {
        TorchRuntime.Initialize();
        RequireKernel();
        using var scope = NewDisposeScope();
        using var gen = new Generator((ulong)(k + outFeatures));
        var w = TensorFactories.Normal(0, 1, [outFeatures, k], gen);
        var x = TensorFactories.Normal(0, 1, [FewRowProduct.MaxRows, k], gen);
        var bias = TensorFactories.Normal(0, 1, [outFeatures], gen);
        var reference = nn.functional.linear(x.to(ScalarType.Float64), w.to(ScalarType.Float64), bias.to(ScalarType.Float64));
        for (int rows = 1; rows <= FewRowProduct.MaxRows; rows++)
        {
            var batch = Linear.Apply(x[..rows], w, bias, rowExact: true);                         // routed to FewRowProduct
            Assert.Equal(new long[] { rows, outFeatures }, batch.shape);
            for (int r = 0; r < rows; r++)
            {
                var alone = Linear.Apply(x[r..(r + 1)], w, bias, rowExact: true);
                Assert.True(batch[r..(r + 1)].Equals(alone), $"row {r} of {rows} differs from the same row alone");
            }
            // float32 rounding of a k-term sum against float64: |error| ≲ k · ε · Σ|w·x| (a loose bound; a wrong element is O(1)).
            var err = (batch.to(ScalarType.Float64) - reference[..rows]).abs();
            var bound = (x[..rows].abs().to(ScalarType.Float64).matmul(w.abs().to(ScalarType.Float64).t()) * (k * 6e-8)).add(Scalars.Of(1e-6));
            Assert.True(err.le(bound).all().item<bool>(), $"{rows} rows: max |error| {err.max().item<double>():E2}");
        }
    }

    [Fact]
    public void The_Kernel_Does_Not_Serve_What_It_Cannot_Compute_Exactly()
    {
        TorchRuntime.Initialize();
        using var scope = NewDisposeScope();
        var w = zeros(8, 16);
        int tooMany = FewRowProduct.MaxRows + 1;
        Assert.False(FewRowProduct.Serves(zeros(tooMany, 16), w, tooMany));                       // more rows than it serves
        Assert.False(FewRowProduct.Serves(zeros(2, 16, dtype: ScalarType.Float64), w.to(ScalarType.Float64), 2));
        Assert.False(FewRowProduct.Serves(zeros(2, 16, dtype: ScalarType.BFloat16), w.to(ScalarType.BFloat16), 2));
        var trainable = zeros(8, 16).requires_grad_(true);
        Assert.False(FewRowProduct.Serves(zeros(2, 16), trainable, 2));                           // autograd needs libtorch's op
        Assert.Equal(FewRowProduct.HardwareSupported, FewRowProduct.Serves(zeros(2, 16), w, 2));
    }

    // Widths chosen so that elementwise ops end in partial vectors (hidden 40, 48; intermediate 120, 144, 80): ATen's
    // tail handling differs between one row and several.
    public static TheoryData<string> Decoders => new() { "mha", "gqa", "odd", "qwen2-mrope" };

    private static (LlamaDecoder Decoder, Func<int, PositionIds> Positions) Build(string kind)
    {
        if (kind == "mha") return (FastKnockoutPropertyTests.RandomDecoder(31, 4, 4, 3), n => PositionIds.Sequential(n));
        if (kind == "gqa") return (FastKnockoutPropertyTests.RandomDecoder(32, 6, 2, 3), n => PositionIds.Sequential(n));
        if (kind == "odd") return (FastKnockoutPropertyTests.RandomDecoder(34, 5, 5, 2), n => PositionIds.Sequential(n));
        TorchRuntime.Initialize();
        var cfg = new LlamaTextConfig
        {
            ModelType = "qwen2_vl", VocabSize = 97, HiddenSize = 32, IntermediateSize = 80, NumHiddenLayers = 3, NumAttentionHeads = 4,
            NumKeyValueHeadsRaw = 2, RopeTheta = 1e6, QkvBias = true, RmsNormEps = 1e-6,
            RopeScaling = new RopeScaling { RopeType = "default", MropeSection = [1, 1, 2] },
        };
        var decoder = new LlamaDecoder(cfg, new RandomWeightSource(33, ScalarType.Float32, CPU), "", tiedEmbeddings: true);
        // An image grid in the middle: t stays, h and w run over a 2×3 grid, then text continues at max + 1.
        return (decoder, n =>
        {
            var t = new long[n];
            var h = new long[n];
            var w = new long[n];
            for (int i = 0; i < n; i++)
            {
                bool grid = i >= 2 && i < 8;
                t[i] = grid ? 2 : i < 2 ? i : i - 3;
                h[i] = grid ? 2 + (i - 2) / 3 : t[i];
                w[i] = grid ? 2 + (i - 2) % 3 : t[i];
            }
            return PositionIds.FromAxes([t, h, w]);
        }
        );
    }

    [Theory]
    [MemberData(nameof(Decoders))]
    public void Each_Sequence_Of_A_Lockstep_Step_Gets_The_Bits_It_Gets_Alone(string kind)
    {
        RequireKernel();
        var (decoder, positionsFor) = Build(kind);
        using (decoder)
        {
            using var scope = NewDisposeScope();
            using var gen = new Generator(41);
            int[] lengths = [12, 17, 12, 20, 9, 15];                                              // different prompts, one repeated length; two row blocks
            var prompts = lengths.Select(n => (Embeds: TensorFactories.Normal(0, 1, [1, n, decoder.HiddenSize], gen), Positions: positionsFor(n))).ToList();
            var caches = prompts.Select(p =>
            {
                var c = new KvCache(decoder.NumLayers);
                using var o = decoder.Forward(p.Embeds, p.Positions, fillCache: c);
                return c;
            }).ToList();
            try
            {
                var tokens = TensorFactories.Normal(0, 1, [lengths.Length, 1, decoder.HiddenSize], gen);
                for (int size = 1; size <= lengths.Length; size++)
                {
                    var alone = Enumerable.Range(0, size).Select(i =>
                    {
                        using var fork = caches[i].Fork();
                        return (Logits: decoder.Extend(tokens[i..(i + 1)], fork, prompts[i].Positions.Following(1)), Keys: fork.Keys[^1]!.clone());
                    }).ToList();
                    var forks = caches.Take(size).Select(c => c.Fork()).ToList();
                    var together = decoder.ExtendMany(tokens[..size], forks, prompts.Take(size).Select(p => p.Positions.Following(1)).ToList());
                    for (int i = 0; i < size; i++)
                    {
                        Assert.True(together[i..(i + 1)].Equals(alone[i].Logits), $"{kind}: sequence {i} of {size} decoded together differs from alone");
                        Assert.True(forks[i].Keys[^1]!.Equals(alone[i].Keys), $"{kind}: sequence {i} of {size}: appended keys differ");
                        Assert.Equal(lengths[i] + 1, forks[i].Length);
                    }
                    foreach (var f in forks) f.Dispose();
                }
            }
            finally
            {
                foreach (var c in caches) c.Dispose();
            }
        }
    }

    [Fact]
    public void Greedy_Answers_In_Lockstep_Equal_Each_Prompts_Own_And_Stop_At_Their_Own_End()
    {
        RequireKernel();
        using var decoder = FastKnockoutPropertyTests.RandomDecoder(51, 4, 2, 3);
        using var scope = NewDisposeScope();
        using var gen = new Generator(52);
        int[] lengths = [9, 14, 11];
        var prompts = lengths.Select(n => TensorFactories.Normal(0, 1, [1, n, decoder.HiddenSize], gen)).ToList();
        var cleans = prompts.Select(p =>
        {
            var c = new KvCache(decoder.NumLayers);
            using var o = decoder.Forward(p, PositionIds.Sequential((int)p.shape[1]), fillCache: c);
            return (Cache: c, First: o.LastLogits[0].argmax().item<long>());
        }).ToList();
        try
        {
            List<IReadOnlyList<long>> Alone(long[] eos) => cleans.Select((c, i) =>
            {
                using var fork = c.Cache.Fork();
                return Generation.Continue(decoder, fork, PositionIds.Sequential(lengths[i]), c.First, 12, eos);
            }).ToList();
            IReadOnlyList<IReadOnlyList<long>> Together(long[] eos)
            {
                var forks = cleans.Select(c => c.Cache.Fork()).ToList();
                try { return Generation.ContinueMany(decoder, cleans.Select((c, i) => new Continuation(forks[i], PositionIds.Sequential(lengths[i]), c.First)).ToList(), 12, eos); }
                finally { foreach (var f in forks) f.Dispose(); }
            }
            var free = Alone([]);
            Assert.All(free, t => Assert.Equal(12, t.Count));
            Assert.Equal(free, Together([]));
            // An end-of-sequence id taken from the middle of the second answer: that prompt stops there, the others go on
            // (or stop where they produce it too), and every answer still equals its own.
            long eosId = free[1][5];
            var stopped = Alone([eosId]);
            Assert.True(stopped[1].Count <= 5);
            Assert.Equal(stopped, Together([eosId]));
        }
        finally
        {
            foreach (var c in cleans) c.Cache.Dispose();
        }
    }
}

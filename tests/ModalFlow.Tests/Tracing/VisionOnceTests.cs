using ModalFlow.Benchmarks;
using ModalFlow.Families.Llava;
using ModalFlow.Inference;
using ModalFlow.Tests.Support;
using ModalFlow.Tracing;
using Xunit;

namespace ModalFlow.Tests.Tracing;

public class VisionOnceTests
{
    [SharedFact]
    public void Vision_Tower_Runs_Once_Per_Sample_However_Many_Knockouts_Follow()
    {
        using var m = LlavaLoadedModel.Load(SharedData.Fixture("tiny-llava-1.5"));
        var c = FixtureCase.Load("tiny-llava-1.5", "tree_attr");
        long before = m.Model.VisionTower.Calls;
        using var input = PreparedInput.Create(m, c.ImagePath, c.Question);
        Assert.Equal(before + 1, m.Model.VisionTower.Calls);
        Predictor.Predict(m, input, 3);
        using var clean = CleanRun.Create(m.Model.LanguageModel, input.Embeds);
        var blocks = BlockDescriptor.PaperBlocks.Select(BlockDescriptor.Parse).ToList();
        foreach (var engine in new[] { KnockoutEngineKind.Fast, KnockoutEngineKind.Naive })
        {
            var results = Tracer.Sweep(clean, input.Layout, blocks, 3, KnockoutEngine.Create(engine));
            Assert.Equal(4 * 8, results.Sum(r => r.Layers.Count));   // 32 knockouts per engine
        }
        LogitLens.Compute(clean, input.Layout.Last, [clean.TargetTokenId]);
        Assert.Equal(before + 1, m.Model.VisionTower.Calls);
    }

    [SharedFact]
    public void Benchmark_Harness_Agrees_Across_Engines_And_Leaves_No_Live_Tensors()
    {
        // Correctness and memory of the harness on a small geometry; its timings are reported by `modalflow bench`, not asserted.
        var g = new BenchGeometry { Hidden = 64, Heads = 2, KvHeads = 1, Intermediate = 96, Layers = 3, Vocab = 101, ImageTokens = 40 };
        var r = KnockoutBenchmark.Run(g, samples: 1, window: 3, memoryKnockouts: 40);
        Assert.True(r.ImageToQuestion.MaxRelDiffP2 <= 1e-5, $"I→Q fast vs naive {r.ImageToQuestion.MaxRelDiffP2:E2}");
        Assert.True(r.QuestionToLast.MaxRelDiffP2 <= 1e-5, $"Q→L fast vs naive {r.QuestionToLast.MaxRelDiffP2:E2}");
        // The read floor covers every layer's seven matrices and the output embedding, nothing else (float32).
        long headDim = g.Hidden / g.Heads, perLayer = 2L * g.Hidden * g.Heads * headDim + 2L * g.Hidden * g.KvHeads * headDim + 3L * g.Hidden * g.Intermediate;
        Assert.Equal((g.Layers * perLayer + (long)g.Vocab * g.Hidden) * 4 / 1e6, r.QuestionToLastReadFloor.Megabytes, 9);
        Assert.True(r.QuestionToLastReadFloor.Seconds > 0);
        Assert.Equal(r.QuestionToLast.FastSPerSample / r.QuestionToLastReadFloor.Seconds, r.QuestionToLastReadFloor.FastOverFloor, 9);
        Assert.Equal(40, r.MemoryKnockouts);
        Assert.Equal(r.LiveTensorsStart, r.LiveTensorsEnd);
    }
}

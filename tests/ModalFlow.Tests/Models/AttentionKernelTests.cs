using ModalFlow.Models;
using ModalFlow.Platform;
using ModalFlow.Tests.Tracing;
using Xunit;
using static TorchSharp.torch;

namespace ModalFlow.Tests.Models;

/// <summary>
/// The fused attention kernel (the clean pass's) computes what the eager one (transformers' formula, the naive engine's) does,
/// with the same additive mask, on MHA and GQA models, a batch of two and a mask edited per head; and watching the attention
/// pattern does not change a fused forward's numbers.
/// </summary>
public sealed class AttentionKernelTests
{
    public static TheoryData<int, int> Models => new() { { 4, 4 }, { 6, 2 } };

    private static (Tensor Logits, Tensor[] Residuals) Run(LlamaDecoder decoder, Tensor embeds, AttentionKernel kernel, DecoderHooks? hooks = null)
    {
        using var output = decoder.Forward(embeds, PositionIds.Sequential((int)embeds.shape[1]), hooks, keepResiduals: true, attention: kernel);
        return (output.LastLogits.clone(), output.Residuals!.Select(r => r.clone()).ToArray());
    }

    private static double MaxRelative(Tensor a, Tensor b) =>
        (a - b).abs().max().item<float>() / Math.Max(1e-30, b.abs().max().item<float>());

    [Theory]
    [MemberData(nameof(Models))]
    public void Fused_Equals_Eager_Up_To_Rounding_With_Causal_And_Edited_Masks(int heads, int kvHeads)
    {
        TorchRuntime.Initialize();
        using var scope = NewDisposeScope();
        using var decoder = FastKnockoutPropertyTests.RandomDecoder(41 + heads, heads, kvHeads, layers: 3);
        int n = 23;
        var embeds = normal(0, 1, [2, n, decoder.HiddenSize], generator: new Generator(5));
        // Layer 1: head 0 of the last 6 positions may not read positions 2..9 (a per-head knockout's mask).
        var blocked = zeros([1, heads, n, n], ScalarType.Bool);
        blocked[0, 0, (n - 6).., 2..10] = tensor(true);
        var edit = new DecoderHooks { AttentionMask = (l, causal) => l == 1 ? causal.masked_fill(blocked, Scalars.Of(Masks.MinValue(decoder.DType))) : null };
        foreach (var hooks in new[] { null, edit })
        {
            var (fusedLogits, fusedResiduals) = Run(decoder, embeds, AttentionKernel.Fused, hooks);
            var (eagerLogits, eagerResiduals) = Run(decoder, embeds, AttentionKernel.Eager, hooks);
            Assert.True(MaxRelative(fusedLogits, eagerLogits) < 1e-5, $"logits differ by {MaxRelative(fusedLogits, eagerLogits):E2}");
            for (int l = 0; l < fusedResiduals.Length; l++)
                Assert.True(MaxRelative(fusedResiduals[l], eagerResiduals[l]) < 1e-5, $"residual {l} differs by {MaxRelative(fusedResiduals[l], eagerResiduals[l]):E2}");
        }
        // The edit matters (so the comparison above covers the mask): the edited run's last logits move.
        var (plain, _) = Run(decoder, embeds, AttentionKernel.Fused);
        var (edited, _) = Run(decoder, embeds, AttentionKernel.Fused, edit);
        Assert.True(MaxRelative(edited, plain) > 1e-4, "the edited mask did not change the fused forward");
    }

    [Fact]
    public void Watching_The_Pattern_Leaves_A_Fused_Forward_Bit_For_Bit_And_Reports_The_Eager_Pattern()
    {
        TorchRuntime.Initialize();
        using var scope = NewDisposeScope();
        using var decoder = FastKnockoutPropertyTests.RandomDecoder(47, 6, 2, layers: 2);
        var embeds = normal(0, 1, [1, 17, decoder.HiddenSize], generator: new Generator(9));
        Tensor Pattern(AttentionKernel kernel, out Tensor logits)
        {
            var seen = new Tensor?[decoder.NumLayers];
            var hooks = new DecoderHooks { AttentionPattern = (l, p) => seen[l] = p.clone().DetachFromDisposeScope() };   // the layer's scope would free it
            (logits, _) = Run(decoder, embeds, kernel, hooks);
            var all = stack(seen.Select(p => p!), 0);
            foreach (var p in seen) p!.Dispose();
            return all;
        }
        var (unwatched, _) = Run(decoder, embeds, AttentionKernel.Fused);
        var fusedPattern = Pattern(AttentionKernel.Fused, out var watched);
        var eagerPattern = Pattern(AttentionKernel.Eager, out _);
        Assert.True(watched.Equals(unwatched), "the pattern hook changed the fused forward's logits");
        // Layer 0 reads the same input either way: the same formula gives the same bits. Later layers read residuals that
        // differ by the kernels' rounding.
        Assert.True(fusedPattern[0].Equals(eagerPattern[0]), "the fused forward reported another pattern than the eager formula");
        Assert.True(MaxRelative(fusedPattern, eagerPattern) < 1e-5, $"patterns differ by {MaxRelative(fusedPattern, eagerPattern):E2}");
    }
}

using ModalFlow.Checkpoints;
using ModalFlow.Models;
using ModalFlow.Platform;
using ModalFlow.Tests.Support;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace ModalFlow.Tests.Models;

/// <summary>
/// Device-agnostic code, proved without a GPU: the model is built on the meta device and the decoder paths run there
/// (full forward, suffix recompute, incremental decoding, masks, rotary tables, the projector, the image merge). A tensor
/// created on a hard-coded device would meet a meta tensor and libtorch would refuse the mix, so a CUDA build needs no
/// code change. Embedding lookups and convolutions have no meta kernel in this libtorch: those inputs are made on meta
/// directly (the lookups and the patch convolution take their device from their weights).
/// </summary>
public sealed class DeviceAgnosticTests
{
    public DeviceAgnosticTests() => TorchRuntime.Initialize();

    [SharedFact]
    public void Llava_Vision_Projector_Decoder_And_Suffix_Recompute_Run_On_The_Models_Device()
    {
        var cfg = LlavaConfig.Load(SharedData.Fixture("tiny-llava-1.5"));
        using var model = LlavaModel.Build(cfg, new MetaWeightSource());
        using var scope = NewDisposeScope();
        var features = model.Projector.Forward(empty([576, cfg.Vision.HiddenSize], device: META));   // [576, D]
        Assert.Equal(DeviceType.META, features.device_type);
        var text = empty([1, 7, cfg.Text.HiddenSize], device: META);
        var embeds = cat([text[.., ..3], features.unsqueeze(0), text[.., 3..]], 1);                    // [1, N, D] as EmbedWithImage merges
        AssertDecoderStaysOnMeta(model.LanguageModel, embeds, PositionIds.Sequential((int)embeds.shape[1]));
    }

    [SharedFact]
    public void Qwen2Vl_M_RoPE_Decoder_Runs_On_The_Models_Device()
    {
        var cfg = new LlamaTextConfig
        {
            ModelType = "qwen2_vl", VocabSize = 100, HiddenSize = 32, IntermediateSize = 64, NumHiddenLayers = 3, NumAttentionHeads = 2,
            NumKeyValueHeadsRaw = 1, RopeTheta = 1e6, QkvBias = true, RopeScaling = new RopeScaling { RopeType = "default", MropeSection = [2, 3, 3] },
        };
        using var decoder = new LlamaDecoder(cfg, new MetaWeightSource(), "", tiedEmbeddings: true);
        using var scope = NewDisposeScope();
        var embeds = empty([1, 12, 32], device: META);
        long[] t = [0, 1, 2, 2, 2, 2, 2, 2, 2, 5, 6, 7], h = [0, 1, 2, 2, 2, 3, 3, 4, 4, 5, 6, 7], w = [0, 1, 2, 3, 4, 2, 3, 2, 3, 5, 6, 7];
        AssertDecoderStaysOnMeta(decoder, embeds, PositionIds.FromAxes([t, h, w]));
    }

    private static void AssertDecoderStaysOnMeta(ITextDecoder decoder, Tensor embeds, PositionIds positions)
    {
        using var cache = new KvCache(decoder.NumLayers);
        // Eager attention: libtorch's fused attention has no meta kernel (its fallback calls where.self_out); it makes no tensor
        // of its own either, so what runs here is every op of the fused path but the kernel itself.
        using var output = decoder.Forward(embeds, positions, fillCache: cache, keepResiduals: true, attention: AttentionKernel.Eager);
        Assert.Equal(DeviceType.META, output.LastLogits.device_type);
        Assert.All(output.Residuals!, r => Assert.Equal(DeviceType.META, r.device_type));

        // The fast engine's suffix recompute is not checked here: its fused multi-variant attention (FusedSuffixAttention)
        // uses ATen ops without meta kernels (where.self_out); its tensors are made on qFolded.device (see the code).
        int n = positions.Length;
        // Incremental decoding appends at the next positions.
        using var fork = cache.Fork();
        var logits = decoder.Extend(empty([1, 1, decoder.HiddenSize], device: META), fork, positions.Following(1));
        Assert.Equal(DeviceType.META, logits.device_type);
        Assert.Equal(n + 1, fork.Length);
        Assert.Equal(n, cache.Length);

        // Lockstep decoding of two continuations (run's answer groups).
        using var a = cache.Fork();
        using var b = cache.Fork();
        var many = decoder.ExtendMany(empty([2, 1, decoder.HiddenSize], device: META), [a, b], [positions.Following(1), positions.Following(1)]);
        Assert.Equal(DeviceType.META, many.device_type);
        Assert.Equal(new long[] { 2, decoder.VocabSize }, many.shape);
        Assert.Equal(n + 1, b.Length);
    }
}

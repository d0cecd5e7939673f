using ModalFlow.Models;
using static TorchSharp.torch;

namespace ModalFlow.Tracing;

/// <summary>
/// The cache one clean forward of a sample fills (DESIGN §3): every layer's keys/values, the residual stream
/// entering every layer, and the clean last-position distribution. Knockouts of the sample read from it; the
/// vision tower and projector never run again. Owns its tensors: dispose it when the sample is done.
/// </summary>
public sealed class CleanRun : IDisposable
{
    private CleanRun(ITextDecoder decoder, Tensor embeds, PositionIds positions, KvCache cache, Tensor[] layerInputs, Tensor lastLogits, Tensor logProbs, long targetId,
        Tensor? lastRowAttention = null)
    {
        LastRowAttention = lastRowAttention;
        LastLogits = lastLogits;
        Decoder = decoder;
        Embeds = embeds;
        Positions = positions;
        Cache = cache;
        LayerInputs = layerInputs;
        LogProbs = logProbs;
        TargetTokenId = targetId;
        LogP1 = logProbs[targetId].item<float>();
        Top1Id = logProbs.argmax().item<long>();
        Top1Prob = Math.Exp(logProbs[Top1Id].item<float>());
    }

    public ITextDecoder Decoder { get; }

    /// <summary>The embedded input [1, N, D].</summary>
    public Tensor Embeds { get; }

    /// <summary>The input's position ids (every knockout recompute reads the same, e.g. Qwen2-VL's 3-D M-RoPE ids).</summary>
    public PositionIds Positions { get; }

    public KvCache Cache { get; }

    /// <summary>L+1 tensors [1, N, D]: index l = residual entering layer l (0 = embeddings), L = after the last layer (un-normed).</summary>
    public Tensor[] LayerInputs { get; }

    /// <summary>Clean logits at the last position [vocab], float32.</summary>
    public Tensor LastLogits { get; }

    /// <summary>Clean log-probabilities at the last position [vocab], float32.</summary>
    public Tensor LogProbs { get; }

    /// <summary>
    /// Opt-in (<c>keepLastRowAttention</c>), else null: [L, heads, N] float32, the attention probability each position
    /// receives from the last position, per layer and query head (FastV's ranking reads it: Experiments/Pruning.cs).
    /// </summary>
    public Tensor? LastRowAttention { get; }

    /// <summary>Bytes of tensor data this run holds (inputs, every layer's residual and keys/values, logits).</summary>
    public long Bytes
    {
        get
        {
            static long Of(Tensor? t) => t is null ? 0 : t.numel() * t.ElementSize;
            return Of(Embeds) + LayerInputs.Sum(Of) + Cache.Keys.Sum(Of) + Cache.Values.Sum(Of) + Of(LastLogits) + Of(LogProbs) + Of(LastRowAttention);
        }
    }

    public long SeqLen => Embeds.shape[1];
    public int NumLayers => Decoder.NumLayers;

    /// <summary>The token whose probability knockouts track (default: the clean top-1, the paper's first answer token).</summary>
    public long TargetTokenId { get; }
    public long Top1Id { get; }

    /// <summary>The clean top-1 token's probability.</summary>
    public double Top1Prob { get; }
    public double LogP1 { get; }
    public double P1 => Math.Exp(LogP1);

    /// <summary>Runs the clean pass at sequential positions 0..N-1 (1-D RoPE decoders: LLaVA).</summary>
    public static CleanRun Create(ITextDecoder decoder, Tensor embeds, long? targetTokenId = null) =>
        Create(decoder, embeds, PositionIds.Sequential((int)embeds.shape[1]), targetTokenId);

    /// <summary>
    /// Runs the clean pass at <paramref name="positions"/>. <paramref name="targetTokenId"/> null = the clean greedy token.
    /// <paramref name="keepLastRowAttention"/>: also keep <see cref="LastRowAttention"/> (read from the attention-pattern hook
    /// of the same forward; off by default so that other runs do not pay for it).
    /// </summary>
    public static CleanRun Create(ITextDecoder decoder, Tensor embeds, PositionIds positions, long? targetTokenId = null, bool keepLastRowAttention = false)
    {
        if (embeds.dim() != 3 || embeds.shape[0] != 1)
            throw new ArgumentException($"embeds must be [1, N, D], got [{string.Join(", ", embeds.shape)}]");
        var cache = new KvCache(decoder.NumLayers);
        var lastRows = keepLastRowAttention ? new Tensor?[decoder.NumLayers] : null;
        var hooks = lastRows is null ? null : new DecoderHooks
        {
            // [B, H, q, k] → the last query's row of batch item 0: [H, N]; detached, the layer's scope would free it.
            AttentionPattern = (l, p) => lastRows[l] = p[0, .., -1, ..].to(ScalarType.Float32).clone().DetachFromDisposeScope(),
        };
        try
        {
            using var scope = NewDisposeScope();
            using var output = decoder.Forward(embeds, positions, hooks, fillCache: cache, keepResiduals: true);
            var lastLogits = output.LastLogits[0].to(ScalarType.Float32);
            var logProbs = lastLogits.log_softmax(0);
            long target = targetTokenId ?? logProbs.argmax().item<long>();
            if (target < 0 || target >= logProbs.shape[0])
                throw new ArgumentOutOfRangeException(nameof(targetTokenId), $"{target} is outside the vocabulary");
            var inputs = output.Residuals!.Select(r => r.clone().DetachFromDisposeScope()).ToArray();
            Tensor? attention = null;
            if (lastRows is not null)
            {
                if (lastRows.Any(r => r is null)) throw new InvalidOperationException("the decoder did not report every layer's attention pattern");
                attention = stack(lastRows.Select(r => r!), 0).DetachFromDisposeScope();                                  // [L, H, N]
            }
            return new CleanRun(decoder, embeds.clone().DetachFromDisposeScope(), positions, cache, inputs, lastLogits.DetachFromDisposeScope(),
                logProbs.DetachFromDisposeScope(), target, attention);
        }
        catch
        {
            cache.Dispose();
            throw;
        }
        finally
        {
            if (lastRows is not null) foreach (var r in lastRows) r?.Dispose();
        }
    }

    public void Dispose()
    {
        Embeds.Dispose();
        Cache.Dispose();
        foreach (var t in LayerInputs) t.Dispose();
        LastLogits.Dispose();
        LogProbs.Dispose();
        LastRowAttention?.Dispose();
    }
}

/// <summary>The result of one knockout: the tracked token's new probability and the new top-1.</summary>
public sealed record KnockoutOutcome(KnockoutSpec Spec, double LogP2, long Top1New, double Top1NewProb)
{
    public double P2 => Math.Exp(LogP2);
}

using static TorchSharp.torch;

namespace ModalFlow.Models;

/// <summary>The clean next-token distribution at the last prompt position and the greedy continuation.</summary>
public sealed record GreedyResult(IReadOnlyList<long> TokenIds, float[] FirstTokenProbs)
{
    public long FirstTokenId => TokenIds.Count > 0 ? TokenIds[0] : -1;
}

public static class Generation
{
    /// <summary>
    /// Greedy decoding from embedded prompt [1, N, D] at <paramref name="positions"/> (temperature 0, as the paper):
    /// the first token is the argmax of the clean last-position logits; later tokens run incrementally on a KV cache.
    /// Stops at any of <paramref name="eosIds"/> (not included) or after <paramref name="maxNewTokens"/>.
    /// </summary>
    public static GreedyResult Greedy(ITextDecoder decoder, Tensor promptEmbeds, PositionIds positions, int maxNewTokens, IReadOnlyCollection<long> eosIds)
    {
        if (maxNewTokens < 1) throw new ArgumentOutOfRangeException(nameof(maxNewTokens), "at least one new token is needed");
        using var scope = NewDisposeScope();
        using var cache = new KvCache(decoder.NumLayers);
        using var first = decoder.Forward(promptEmbeds, positions, fillCache: cache);
        var firstProbs = first.LastLogits[0].to(ScalarType.Float32).softmax(0).cpu().data<float>().ToArray();
        long next = first.LastLogits[0].argmax().item<long>();
        return new GreedyResult(Continue(decoder, cache, positions, next, maxNewTokens, eosIds), firstProbs);
    }

    /// <summary>Greedy decoding at sequential positions 0..N-1 (1-D RoPE decoders).</summary>
    public static GreedyResult Greedy(ITextDecoder decoder, Tensor promptEmbeds, int maxNewTokens, IReadOnlyCollection<long> eosIds) =>
        Greedy(decoder, promptEmbeds, PositionIds.Sequential((int)promptEmbeds.shape[1]), maxNewTokens, eosIds);

    /// <summary>
    /// The greedy tokens from <paramref name="firstToken"/> on, given the prompt's keys/values in
    /// <paramref name="promptCache"/> (appended to: pass a <see cref="KvCache.Fork"/> to keep a clean run's intact) and the
    /// prompt's <paramref name="positions"/> (new tokens continue at max + 1 on every axis).
    /// </summary>
    public static IReadOnlyList<long> Continue(ITextDecoder decoder, KvCache promptCache, PositionIds positions, long firstToken,
        int maxNewTokens, IReadOnlyCollection<long> eosIds)
    {
        if (maxNewTokens < 1) throw new ArgumentOutOfRangeException(nameof(maxNewTokens), "at least one new token is needed");
        var tokens = new List<long>();
        long next = firstToken, position = positions.Next;
        int axes = positions.Axes;
        for (int step = 0; step < maxNewTokens && !eosIds.Contains(next); step++)
        {
            tokens.Add(next);
            if (step + 1 == maxNewTokens) break;
            using var stepScope = NewDisposeScope();
            var ids = tensor(new[] { next }, dtype: ScalarType.Int64, device: decoder.Device).unsqueeze(0);
            var at = PositionIds.FromAxes(Enumerable.Range(0, axes).Select(_ => new[] { position }).ToArray());
            var logits = decoder.Extend(decoder.Embed(ids), promptCache, at);
            next = logits[0].argmax().item<long>();
            position++;
        }
        return tokens;
    }
}

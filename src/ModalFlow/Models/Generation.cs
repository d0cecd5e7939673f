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
    /// Greedy decoding from embedded prompt [1, N, D] (temperature 0, as the paper): the first token is the argmax
    /// of the clean last-position logits; later tokens run incrementally on a KV cache. Stops at any of
    /// <paramref name="eosIds"/> (not included) or after <paramref name="maxNewTokens"/>.
    /// </summary>
    public static GreedyResult Greedy(LlamaDecoder decoder, Tensor promptEmbeds, int maxNewTokens, IReadOnlyCollection<long> eosIds)
    {
        if (maxNewTokens < 1) throw new ArgumentOutOfRangeException(nameof(maxNewTokens), "at least one new token is needed");
        using var scope = NewDisposeScope();
        using var cache = new KvCache(decoder.NumLayers);
        using var first = decoder.Forward(promptEmbeds, fillCache: cache);
        var probs = first.LastLogits[0].to(ScalarType.Float32).softmax(0);
        var firstProbs = probs.cpu().data<float>().ToArray();
        var tokens = new List<long>();
        long next = first.LastLogits[0].argmax().item<long>();
        for (int step = 0; step < maxNewTokens && !eosIds.Contains(next); step++)
        {
            tokens.Add(next);
            if (step + 1 == maxNewTokens) break;
            using var stepScope = NewDisposeScope();
            var ids = tensor(new[] { next }, dtype: ScalarType.Int64, device: decoder.Device).unsqueeze(0);
            var logits = decoder.Extend(decoder.Embed(ids), cache);
            next = logits[0].argmax().item<long>();
        }
        return new GreedyResult(tokens, firstProbs);
    }
}

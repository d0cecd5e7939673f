using TorchSharp;
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
        int maxNewTokens, IReadOnlyCollection<long> eosIds) =>
        ContinueMany(decoder, [new Continuation(promptCache, positions, firstToken)], maxNewTokens, eosIds)[0];

    /// <summary>Prompts decoded together where the products are row-exact (<see cref="LockstepRows"/>).</summary>
    public const int LockstepGroup = 4;

    /// <summary>
    /// How many prompts to decode in lockstep on <paramref name="decoder"/>: <see cref="LockstepGroup"/> where its products
    /// are computed row by row in a fixed order (<see cref="FewRowProduct"/>: CPU float32 with FMA), else 1: libtorch's
    /// batched products round differently from its one-row product, and an answer must not depend on which samples happened
    /// to share a step.
    /// Not 8, which the kernel serves: on the 1024-wide benchmark model a group of 8 decoded only 15% faster per sample than
    /// one of 4, while holding 8 clean runs (1 GB) made the next group's clean passes take 3.2 s instead of 1.8 s (fresh
    /// memory faulted in again on this VM).
    /// </summary>
    public static int LockstepRows(ITextDecoder decoder) =>
        decoder.Device.type == DeviceType.CPU && decoder.DType == ScalarType.Float32 && FewRowProduct.HardwareSupported ? LockstepGroup : 1;

    /// <summary>
    /// <see cref="Continue"/> for several prompts in lockstep: each step decodes one token of every prompt still going in one
    /// <see cref="ITextDecoder.ExtendMany"/> call, which reads the weights once for all of them. Each prompt's tokens are
    /// the ones it gets alone (ExtendMany's contract).
    /// </summary>
    public static IReadOnlyList<IReadOnlyList<long>> ContinueMany(ITextDecoder decoder, IReadOnlyList<Continuation> prompts, int maxNewTokens,
        IReadOnlyCollection<long> eosIds)
    {
        if (maxNewTokens < 1) throw new ArgumentOutOfRangeException(nameof(maxNewTokens), "at least one new token is needed");
        var tokens = prompts.Select(_ => new List<long>()).ToArray();
        var next = prompts.Select(p => p.FirstToken).ToArray();
        var position = prompts.Select(p => p.Positions.Next).ToArray();
        var going = Enumerable.Range(0, prompts.Count).ToList();
        for (int step = 0; step < maxNewTokens && going.Count > 0; step++)
        {
            going.RemoveAll(i => eosIds.Contains(next[i]));
            foreach (var i in going) tokens[i].Add(next[i]);
            if (step + 1 == maxNewTokens || going.Count == 0) break;
            using var stepScope = NewDisposeScope();
            var ids = tensor(going.Select(i => next[i]).ToArray(), dtype: ScalarType.Int64, device: decoder.Device).unsqueeze(1);  // [B, 1]
            var at = going.Select(i => PositionIds.FromAxes(Enumerable.Range(0, prompts[i].Positions.Axes).Select(_ => new[] { position[i] }).ToArray())).ToList();
            var logits = decoder.ExtendMany(decoder.Embed(ids), going.Select(i => prompts[i].Cache).ToList(), at);      // [B, vocab]
            var chosen = logits.argmax(1).cpu().data<long>().ToArray();
            for (int j = 0; j < going.Count; j++)
            {
                next[going[j]] = chosen[j];
                position[going[j]]++;
            }
        }
        return tokens;
    }
}

/// <summary>A prompt to continue greedily: its keys/values (appended to), its position ids and its first new token.</summary>
public sealed record Continuation(KvCache Cache, PositionIds Positions, long FirstToken);

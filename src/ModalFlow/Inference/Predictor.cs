using ModalFlow.Models;
using ModalFlow.Text;
using ModalFlow.Tracing;

namespace ModalFlow.Inference;

public sealed record TokenProbability(long Id, string Token, double Prob);

/// <summary>The greedy answer and the clean first-token distribution (what the paper's metric starts from).</summary>
public sealed record Prediction(string Answer, IReadOnlyList<long> AnswerTokenIds, long FirstTokenId, double FirstTokenProb,
    IReadOnlyList<TokenProbability> Top, int NumImageTokens, int NumPositions);

public static class Predictor
{
    /// <summary>Greedy answer with its own clean forward (`predict`).</summary>
    public static Prediction Predict(LoadedModel m, PreparedInput input, int maxNewTokens = 128, int topK = 5)
    {
        CheckMaxNewTokens(maxNewTokens);
        var result = Generation.Greedy(m.Decoder, input.Embeds, input.Positions, maxNewTokens, m.EosTokenIds.ToArray());
        return Build(m, input, result.TokenIds, result.FirstTokenProbs, topK);
    }

    /// <summary>
    /// Greedy answer continuing from a clean run of the same prompt: its last-position distribution is the first
    /// token's, and decoding goes on from a fork of its KV cache, so the prompt's forward runs once per sample.
    /// </summary>
    public static Prediction Predict(LoadedModel m, PreparedInput input, CleanRun clean, int maxNewTokens = 128, int topK = 5) =>
        PredictMany(m, [(input, clean)], maxNewTokens, topK)[0];

    /// <summary>
    /// <see cref="Predict(LoadedModel, PreparedInput, CleanRun, int, int)"/> for several samples, decoded in lockstep
    /// (<see cref="Generation.ContinueMany"/>: one weight read per step for all of them); each gets the answer it gets alone.
    /// </summary>
    public static IReadOnlyList<Prediction> PredictMany(LoadedModel m, IReadOnlyList<(PreparedInput Input, CleanRun Clean)> samples,
        int maxNewTokens = 128, int topK = 5)
    {
        CheckMaxNewTokens(maxNewTokens);
        foreach (var (input, clean) in samples)
            if (clean.SeqLen != input.Layout.SeqLen)
                throw new ArgumentException($"the clean run covers {clean.SeqLen} positions, the prompt {input.Layout.SeqLen}", nameof(samples));
        var forks = samples.Select(s => s.Clean.Cache.Fork()).ToList();
        try
        {
            var tokens = Generation.ContinueMany(m.Decoder, samples.Select((s, i) => new Continuation(forks[i], s.Clean.Positions, s.Clean.Top1Id)).ToList(),
                maxNewTokens, m.EosTokenIds.ToArray());
            return samples.Select((s, i) =>
            {
                using var probs = s.Clean.LogProbs.exp().cpu();
                return Build(m, s.Input, tokens[i], probs.data<float>().ToArray(), topK);
            }).ToList();
        }
        finally
        {
            foreach (var f in forks) f.Dispose();
        }
    }

    private static Prediction Build(LoadedModel m, PreparedInput input, IReadOnlyList<long> tokenIds, float[] probs, int topK)
    {
        var top = Enumerable.Range(0, probs.Length).OrderByDescending(i => probs[i]).Take(topK)
            .Select(i => new TokenProbability(i, TokenString(m.Tokenizer, i), probs[i])).ToList();
        var answer = Decode(m.Tokenizer, tokenIds).Trim();
        long first = tokenIds.Count > 0 ? tokenIds[0] : top[0].Id;
        return new Prediction(answer, tokenIds, first, probs[first], top, input.Layout.ImageTokenCount, input.Layout.SeqLen);
    }

    private static void CheckMaxNewTokens(int maxNewTokens)
    {
        if (maxNewTokens < 1) throw new InputException(null, "--max-new-tokens", $"{maxNewTokens}; expected at least 1");
    }

    /// <summary>Token string, or a placeholder for vocabulary padding rows the tokenizer does not know.</summary>
    public static string TokenString(ITextTokenizer t, long id) => t.IsKnownId((int)id) ? t.IdToToken((int)id) : $"<row {id}>";

    /// <summary>Decodes ids, skipping rows beyond the tokenizer (llava-hf pads the vocabulary to a multiple of 64).</summary>
    public static string Decode(ITextTokenizer t, IEnumerable<long> ids) => t.Decode(ids.Where(i => t.IsKnownId((int)i)).Select(i => (int)i));
}

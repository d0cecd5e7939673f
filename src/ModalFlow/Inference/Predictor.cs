using ModalFlow.Models;
using ModalFlow.Text;

namespace ModalFlow.Inference;

public sealed record TokenProbability(long Id, string Token, double Prob);

/// <summary>The greedy answer and the clean first-token distribution (what the paper's metric starts from).</summary>
public sealed record Prediction(string Answer, IReadOnlyList<long> AnswerTokenIds, long FirstTokenId, double FirstTokenProb,
    IReadOnlyList<TokenProbability> Top, int NumImageTokens, int NumPositions);

public static class Predictor
{
    public static Prediction Predict(LoadedModel m, PreparedInput input, int maxNewTokens = 128, int topK = 5)
    {
        if (maxNewTokens < 1) throw new InputException(null, "--max-new-tokens", $"{maxNewTokens}; expected at least 1");
        var eos = m.Config.Text.EosTokenIds.Select(i => (long)i).Append(m.Tokenizer.EosId).Distinct().ToArray();
        var result = Generation.Greedy(m.Model.LanguageModel, input.Embeds, maxNewTokens, eos);
        var probs = result.FirstTokenProbs;
        var top = Enumerable.Range(0, probs.Length).OrderByDescending(i => probs[i]).Take(topK)
            .Select(i => new TokenProbability(i, TokenString(m.Tokenizer, i), probs[i])).ToList();
        var answer = Decode(m.Tokenizer, result.TokenIds).Trim();
        long first = result.FirstTokenId >= 0 ? result.FirstTokenId : top[0].Id;
        return new Prediction(answer, result.TokenIds, first, probs[first], top, input.Layout.ImageTokenCount, input.Layout.SeqLen);
    }

    /// <summary>Token string, or a placeholder for vocabulary padding rows the tokenizer does not know.</summary>
    public static string TokenString(ITextTokenizer t, long id) => t.IsKnownId((int)id) ? t.IdToToken((int)id) : $"<row {id}>";

    /// <summary>Decodes ids, skipping rows beyond the tokenizer (llava-hf pads the vocabulary to a multiple of 64).</summary>
    public static string Decode(ITextTokenizer t, IEnumerable<long> ids) => t.Decode(ids.Where(i => t.IsKnownId((int)i)).Select(i => (int)i));
}

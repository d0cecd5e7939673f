using ModalFlow.Platform;
using ModalFlow.Text;
using ModalFlow.Tracing;
using static TorchSharp.torch;

namespace ModalFlow.Experiments;

/// <summary>
/// Which image tokens a pruning condition withdraws from layer K on: FastV's attention ranking and the random control.
/// <para>
/// FastV ("An Image is Worth 1/2 Tokens After Layer 2", Chen et al., ECCV 2024), as its code computes it
/// (github.com/pkunlp-icler/FastV at d165972, src/FastV/llava-hf/transformers/src/transformers/models/llama/modeling_llama.py,
/// <c>fastv_forward</c>): layer K−1 returns its attention probabilities (line 1105), at layer K they are averaged over the
/// heads of the first batch item (<c>torch.mean(last_layer_attention, dim=1)[0]</c>, line 1042), the row of the
/// <b>last query position</b> is taken (<c>[-1]</c>: in the prefill, the last prompt token), sliced to the image tokens,
/// and the top <c>round(image_token_length * (1 - fastv_r))</c> are kept (<c>topk</c>, line 1048); the others are removed
/// from the hidden states from layer K on while the kept tokens keep their position ids (line 1058). The attention-mask
/// variant (src/transformers/src/transformers/models/llama/modeling_llama.py, lines 763–810) ranks the same way and masks
/// the dropped columns for every query from layer K on — exactly the knockout run here. The paper's text describes the
/// score as the average attention a token receives from all other tokens; the code, which we follow, reads the last
/// query only.
/// </para>
/// Our details: the mean over heads is taken in float32 of the model's attention probabilities; ties are broken by the
/// lower position first (torch.topk's order among equal scores is unspecified); the kept count is
/// round-half-to-even(n · R) (Python's <c>round</c>), with R the kept fraction (FastV's 1 − r).
/// </summary>
public static class Pruning
{
    /// <summary>How many of <paramref name="imageTokens"/> are kept at fraction <paramref name="keep"/>: Python's round(n · R).</summary>
    public static int KeepCount(int imageTokens, double keep) => (int)Math.Round(imageTokens * keep, MidpointRounding.ToEven);

    /// <summary>
    /// FastV's score of every image token: the attention it receives from the last position at <paramref name="layer"/>
    /// (= K − 1), averaged over the query heads. Needs a run made with <c>keepLastRowAttention</c>.
    /// </summary>
    public static float[] FastVScores(CleanRun run, TokenSpan image, int layer)
    {
        var attention = run.LastRowAttention
            ?? throw new InvalidOperationException("FastV's ranking reads the clean run's attention: create it with CleanRun.Create(..., keepLastRowAttention: true)");
        if (layer < 0 || layer >= run.NumLayers) throw new ArgumentOutOfRangeException(nameof(layer), layer, $"expected a layer in 0 … {run.NumLayers - 1}");
        if (image.End > run.SeqLen) throw new ArgumentOutOfRangeException(nameof(image), image, $"the run has {run.SeqLen} positions");
        using var scope = NewDisposeScope();
        var row = attention[layer, .., image.Start..image.End].mean([0]).cpu();                     // [H, n] → [n]
        return row.data<float>().ToArray();
    }

    /// <summary>Indices (0-based within the image) of the <paramref name="keep"/> highest scores, ties to the lower index; ascending.</summary>
    public static int[] TopIndices(IReadOnlyList<float> scores, int keep)
    {
        if (keep < 0 || keep > scores.Count) throw new ArgumentOutOfRangeException(nameof(keep), keep, $"expected 0 … {scores.Count}");
        return Enumerable.Range(0, scores.Count).OrderByDescending(i => scores[i]).ThenBy(i => i).Take(keep).Order().ToArray();
    }

    /// <summary>The image positions FastV withdraws at K (absolute, ascending): those outside the top <paramref name="keep"/> fraction.</summary>
    public static int[] FastVWithdrawn(CleanRun run, TokenSpan image, int k, double keep)
    {
        var scores = FastVScores(run, image, k - 1);
        var kept = TopIndices(scores, KeepCount(image.Length, keep)).ToHashSet();
        return Enumerable.Range(0, image.Length).Where(i => !kept.Contains(i)).Select(i => image.Start + i).ToArray();
    }

    /// <summary>
    /// The random control: a permutation of the image's n tokens, deterministic per (<paramref name="questionId"/>,
    /// <paramref name="seed"/>) and independent of the platform; at keep fraction R the first round(n · R) entries are
    /// kept, so the kept sets of a sample are nested across R and the same at every K. Algorithm: a full
    /// <see cref="StableShuffle"/> of 0 … n−1 keyed by the question id (as the Exp 3 random patches).
    /// </summary>
    public static int[] RandomOrder(int n, string questionId, int seed = 0)
    {
        var order = Enumerable.Range(0, n).ToArray();
        StableShuffle.Shuffle(order, Math.Max(0, n - 1), questionId, seed);
        return order;
    }

    /// <summary>The image positions the random control withdraws at keep fraction <paramref name="keep"/> (absolute, ascending).</summary>
    public static int[] RandomWithdrawn(TokenSpan image, string questionId, double keep, int seed = 0)
    {
        var order = RandomOrder(image.Length, questionId, seed);
        return order.Skip(KeepCount(image.Length, keep)).Select(i => image.Start + i).Order().ToArray();
    }
}

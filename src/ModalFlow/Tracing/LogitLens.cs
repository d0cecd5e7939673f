using static TorchSharp.torch;

namespace ModalFlow.Tracing;

/// <summary>Which logit lens: the paper's (residual straight into the unembedding) or the standard one (final norm first).</summary>
public enum LensVariant
{
    /// <summary><c>softmax(h_l · W_Uᵀ)</c>, no final norm: what the paper's last_position_answer_prob.py computes.</summary>
    Raw,
    /// <summary><c>softmax(W_U · norm(h_l))</c>: the standard logit lens (nostalgebraist; TransformerLens).</summary>
    Normed,
}

/// <summary>
/// Per-layer logit lens at one position: rows 0..L, row l from the residual entering layer l (0 = embeddings);
/// row L is the model's own output (final norm applied once) in both variants, as transformers' last hidden state.
/// </summary>
public sealed record LensResult(int Position, IReadOnlyList<long> TokenIds, float[,] ProbRaw, float[,] ProbNorm,
    float[,] LogProbRaw, float[,] LogProbNorm, long[] ArgmaxRaw, long[] ArgmaxNorm, float[] MaxProbRaw, float[] MaxProbNorm)
{
    public int Rows => ArgmaxRaw.Length;

    public float[,] Prob(LensVariant v) => v == LensVariant.Raw ? ProbRaw : ProbNorm;
}

public static class LogitLens
{
    public static LensResult Compute(CleanRun clean, int position, IReadOnlyList<long> tokenIds)
    {
        if (position < 0 || position >= clean.SeqLen)
            throw new ArgumentOutOfRangeException(nameof(position), $"{position} is outside the sequence of {clean.SeqLen}");
        var decoder = clean.Decoder;
        int rows = clean.NumLayers + 1;
        using var scope = NewDisposeScope();
        var hs = stack(clean.LayerInputs.Select(t => t[0, position]));                 // [L+1, D]
        var below = hs[..clean.NumLayers];
        var top = decoder.FinalNorm(hs[clean.NumLayers..]);                              // [1, D]: the model's output state
        var raw = cat([decoder.Unembed(below), decoder.Unembed(top)], 0).to(ScalarType.Float32).log_softmax(-1);
        var normed = cat([decoder.Unembed(decoder.FinalNorm(below)), decoder.Unembed(top)], 0).to(ScalarType.Float32).log_softmax(-1);
        var ids = tensor(tokenIds.ToArray(), dtype: ScalarType.Int64, device: decoder.Device);
        float[,] Gather(Tensor lp, bool exp)
        {
            var sel = lp.index_select(1, ids);
            if (exp) sel = sel.exp();
            var flat = sel.cpu().data<float>().ToArray();
            var m = new float[rows, tokenIds.Count];
            Buffer.BlockCopy(flat, 0, m, 0, flat.Length * sizeof(float));
            return m;
        }
        var (rawMax, rawArg) = raw.max(-1);
        var (normMax, normArg) = normed.max(-1);
        return new LensResult(position, tokenIds.ToArray(), Gather(raw, true), Gather(normed, true), Gather(raw, false), Gather(normed, false),
            rawArg.cpu().data<long>().ToArray(), normArg.cpu().data<long>().ToArray(),
            rawMax.exp().cpu().data<float>().ToArray(), normMax.exp().cpu().data<float>().ToArray());
    }
}

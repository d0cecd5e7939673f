using ModalFlow.Results;
using ModalFlow.Tracing;

namespace ModalFlow.Experiments;

/// <summary>
/// Image-token withdrawal (VTW) and pruning (FastV) measured exactly, as knockouts (README, "Withdrawal and pruning").
/// For the first answer token, removing a set W of image tokens from layer K on is the same computation as blocking W
/// from every later position in layers K … L−1: positions before K are untouched, a withdrawn token's own later states
/// are read by nobody, and every kept position keeps its position id. So each (condition, K) is one knockout on the
/// fast engine, reading the clean run's cache (<see cref="WithdrawalCondition"/> names the conditions).
/// <para>
/// Rows: one per condition and K (Layer = K, WindowLayers = "K … L−1", Window = 0), tracking the run's target token
/// (the clean greedy answer's first, or final, sub-word); Top1New tells whether the greedy token survived. With
/// <c>--filter none</c> (first sub-word) every row has a twin with sub-word "gold" that tracks the gold answer's first
/// token instead (<see cref="GoldToken"/>), so accuracy against the gold answer comes from the same knockouts.
/// </para>
/// </summary>
public static class ImageWithdrawal
{
    /// <summary>Withdrawal (VTW): for every K = 0 … L, every image token is withdrawn from layer K on (K = L: nothing, p2 = p1).</summary>
    public static SampleRows Withdraw(SampleContext s)
    {
        var image = s.Input.Layout.Image.Positions();
        var cells = Enumerable.Range(0, s.Tracked.NumLayers + 1).Select(k => new Cell(WithdrawalCondition.All, k, image)).ToList();
        return Measure(s, cells);
    }

    /// <summary>
    /// Pruning: for every K and keep fraction R of the grid (<see cref="RunOptions.Prune"/>), FastV's rule (keep the top R
    /// by layer K−1's attention from the last position) and the random control of the same size (<see cref="Pruning"/>).
    /// </summary>
    public static SampleRows Prune(SampleContext s)
    {
        var grid = s.Options.Prune;
        grid.Validate(s.Tracked.NumLayers);
        var image = s.Input.Layout.Image;
        var cells = new List<Cell>();
        foreach (var k in grid.At)
        {
            foreach (var r in grid.Keep)
            {
                cells.Add(new Cell(new WithdrawalCondition(WithdrawalRule.FastV, r), k, Pruning.FastVWithdrawn(s.Tracked, image, k, r)));
                cells.Add(new Cell(new WithdrawalCondition(WithdrawalRule.Random, r), k, Pruning.RandomWithdrawn(image, s.Row.QuestionId, r, s.Options.RandomSeed)));
            }
        }
        return Measure(s, cells);
    }

    /// <summary>
    /// The knockout that withdraws <paramref name="withdrawn"/> from layer <paramref name="k"/> on: sources W, targets every
    /// position after min W that is not in W, layers k … L−1. Null when k = L (nothing to withdraw from).
    /// </summary>
    public static KnockoutSpec? Spec(IReadOnlyList<int> withdrawn, int seqLen, int k, int numLayers, string label = "")
    {
        if (k < 0 || k > numLayers) throw new ArgumentOutOfRangeException(nameof(k), k, $"expected 0 … {numLayers}");
        if (k == numLayers) return null;
        var sources = PositionSet.Of("Withdrawn", withdrawn);
        var gone = sources.Positions.ToHashSet();
        var targets = sources.Count == 0
            ? PositionSet.Of("Rest", [])
            : PositionSet.Of("Rest", Enumerable.Range(sources.First + 1, Math.Max(0, seqLen - sources.First - 1)).Where(p => !gone.Contains(p)));
        return new KnockoutSpec(sources, targets, Enumerable.Range(k, numLayers - k), label);
    }

    /// <summary>
    /// The gold answer's first token for the "gold" rows, or null when none are written (<c>--filter correct</c>, where the
    /// clean answer is the gold one, or the final sub-word). When the clean greedy answer equals the gold answer
    /// (case-insensitive, as the correctness filter) it is the clean first token; otherwise the first token of the gold
    /// answer as written, lowercased or capitalised — whichever the clean run finds most probable (the model's own
    /// spelling of it). A sample counts as right at K when the new greedy token is that token.
    /// </summary>
    public static long? GoldToken(SampleContext s)
    {
        if (s.Options.Filter != "none" || s.Options.Subword != ResultNames.FirstSubword) return null;
        var gold = s.Row.Answer.Trim();
        if (gold.Length == 0) return null;
        var lower = gold.ToLowerInvariant();
        if (s.Predicted == lower) return s.Target;
        long? best = null;
        double bestLogP = double.NegativeInfinity;
        foreach (var variant in new[] { gold, lower, char.ToUpperInvariant(lower[0]) + lower[1..] })
        {
            var ids = s.Model.Tokenizer.EncodeToIds(variant);
            if (ids.Length == 0 || ids[0] < 0 || ids[0] >= s.Tracked.LogProbs.shape[0]) continue;
            double lp = s.Tracked.LogProbs[ids[0]].item<float>();
            if (best is null || lp > bestLogP) (best, bestLogP) = (ids[0], lp);
        }
        return best;
    }

    /// <summary>One measured cell: a condition withdrawn from layer K on.</summary>
    private sealed record Cell(WithdrawalCondition Condition, int K, IReadOnlyList<int> Withdrawn);

    private static SampleRows Measure(SampleContext s, IReadOnlyList<Cell> cells)
    {
        var run = s.Tracked;
        int layers = run.NumLayers, n = (int)run.SeqLen;
        var specs = cells.Select(c => Spec(c.Withdrawn, n, c.K, layers, $"{c.Condition.BlockDesc}@{c.K}")).ToList();
        var work = Enumerable.Range(0, cells.Count).Where(i => specs[i] is not null).ToList();
        var logits = s.Engine.RunLogits(run, work.Select(i => specs[i]!).ToList());   // one engine call: the fast engine batches by t₀
        var byCell = new float[cells.Count][];
        for (int j = 0; j < work.Count; j++) byCell[work[j]] = logits[j];

        long? gold = GoldToken(s);
        double goldP1 = gold is { } g0 ? Math.Exp(run.LogProbs[g0].item<float>()) : double.NaN;
        var rows = new List<KnockoutRow>();
        var goldRows = new List<KnockoutRow>();
        for (int i = 0; i < cells.Count; i++)
        {
            var c = cells[i];
            var window = specs[i]?.Layers.ToArray() ?? [];
            // K = L: nothing withdrawn, the clean run's own numbers (p2 = p1 exactly).
            var (logP2, top1) = byCell[i] is { } l ? (LogSoftmaxAt(l, s.Target), ArgMax(l)) : (run.LogP1, run.Top1Id);
            rows.Add(s.KnockoutRow(c.Condition.BlockDesc, 0, c.K, window, Math.Exp(logP2), logP2, top1));
            if (gold is { } g)
            {
                double goldLogP2 = byCell[i] is { } lg ? LogSoftmaxAt(lg, g) : run.LogProbs[g].item<float>();
                double p2 = Math.Exp(goldLogP2);
                goldRows.Add(s.KnockoutRow(c.Condition.BlockDesc, 0, c.K, window, p2, goldLogP2, top1) with
                {
                    Subword = WithdrawalCondition.GoldSubword,
                    TargetTokenId = g,
                    BaseScore = goldP1,
                    RelativeDiff = Tracer.RelativeChange(goldP1, p2),
                });
            }
        }
        return new SampleRows([.. rows, .. goldRows], []);
    }

    /// <summary>log softmax(x)[t], in double: x[t] − (max + log Σ exp(x − max)).</summary>
    private static double LogSoftmaxAt(float[] x, long t)
    {
        double max = double.NegativeInfinity;
        foreach (var v in x) if (v > max) max = v;
        double sum = 0;
        foreach (var v in x) sum += Math.Exp(v - max);
        return x[t] - (max + Math.Log(sum));
    }

    /// <summary>The index of the largest value (the first on ties, as torch's argmax).</summary>
    private static long ArgMax(float[] x)
    {
        int best = 0;
        for (int i = 1; i < x.Length; i++) if (x[i] > x[best]) best = i;
        return best;
    }
}

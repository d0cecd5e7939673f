namespace ModalFlow.Results;

/// <summary>One condition of a <see cref="Comparison"/>: how far our relative changes are from the other side's.</summary>
/// <param name="BlockDesc">The condition (our name; the paper's names are renamed on reading).</param>
/// <param name="Matched">Rows present on both sides.</param>
/// <param name="MaxAbsDelta">Largest |ours − theirs| of the relative change, in percentage points (0 when nothing matched).</param>
/// <param name="MeanAbsDelta">Mean of the same over the matched rows.</param>
/// <param name="MaxAbsDeltaBase">Largest |Δ p₁| (the clean probability): non-zero means the clean runs differ.</param>
/// <param name="MaxAbsDeltaNew">Largest |Δ p₂| (the knocked-out probability).</param>
/// <param name="WorstQuestionId">Where <see cref="MaxAbsDelta"/> is reached (null when nothing matched).</param>
/// <param name="WorstLayer">The layer of that row.</param>
/// <param name="OnlyOurs">Rows of this condition only in the run.</param>
/// <param name="OnlyTheirs">Rows of this condition only in the other files.</param>
public sealed record ComparedCondition(string BlockDesc, int Matched, double MaxAbsDelta, double MeanAbsDelta, double MaxAbsDeltaBase, double MaxAbsDeltaNew,
    string? WorstQuestionId, int? WorstLayer, int OnlyOurs, int OnlyTheirs);

/// <summary>A row present on one side only.</summary>
public sealed record UnmatchedRow(string QuestionId, string BlockDesc, int Layer, string Subword);

/// <summary>
/// Our per-sample knockout rows against rows someone already has (the paper's own CSVs, or another run), joined by
/// question id, condition, window-centre layer and sub-word. Relative changes are compared in percentage points;
/// two non-finite values of the same kind (NaN and NaN, +∞ and +∞) count as equal, a finite value against a
/// non-finite one as an infinite difference.
/// </summary>
public sealed record Comparison(IReadOnlyList<ComparedCondition> Conditions, IReadOnlyList<UnmatchedRow> OnlyOurs, IReadOnlyList<UnmatchedRow> OnlyTheirs)
{
    public int Matched => Conditions.Sum(c => c.Matched);

    /// <summary>The largest |Δ| of the relative change over every matched row (pp).</summary>
    public double MaxAbsDelta => Conditions.Where(c => c.Matched > 0).Select(c => c.MaxAbsDelta).DefaultIfEmpty(0).Max();

    public static Comparison Of(IReadOnlyList<KnockoutRow> ours, IReadOnlyList<KnockoutRow> theirs)
    {
        var mine = Index(ours, "the run");
        var other = Index(theirs, "the other files");
        var blocks = mine.Keys.Concat(other.Keys).Select(k => k.Block).Distinct().Order(Comparer<string>.Create(ResultNames.CompareConditions)).ToList();
        var conditions = new List<ComparedCondition>();
        var onlyOurs = new List<UnmatchedRow>();
        var onlyTheirs = new List<UnmatchedRow>();
        foreach (var block in blocks)
        {
            int matched = 0, nOurs = 0, nTheirs = 0;
            double max = 0, sum = 0, maxBase = 0, maxNew = 0;
            string? worstQ = null;
            int? worstL = null;
            foreach (var (key, a) in mine.Where(kv => kv.Key.Block == block).OrderBy(kv => kv.Key.QuestionId, StringComparer.Ordinal).ThenBy(kv => kv.Key.Layer))
            {
                if (!other.TryGetValue(key, out var b))
                {
                    nOurs++;
                    onlyOurs.Add(new UnmatchedRow(key.QuestionId, key.Block, key.Layer, key.Subword));
                    continue;
                }
                matched++;
                double d = Delta(a.RelativeDiff, b.RelativeDiff);
                sum += d;
                if (worstQ is null || d > max) { max = d; worstQ = key.QuestionId; worstL = key.Layer; }
                maxBase = Math.Max(maxBase, Delta(a.BaseScore, b.BaseScore));
                maxNew = Math.Max(maxNew, Delta(a.NewScore, b.NewScore));
            }
            foreach (var key in other.Keys.Where(k => k.Block == block && !mine.ContainsKey(k)).OrderBy(k => k.QuestionId, StringComparer.Ordinal).ThenBy(k => k.Layer))
            {
                nTheirs++;
                onlyTheirs.Add(new UnmatchedRow(key.QuestionId, key.Block, key.Layer, key.Subword));
            }
            conditions.Add(new ComparedCondition(block, matched, max, matched > 0 ? sum / matched : 0, maxBase, maxNew, worstQ, worstL, nOurs, nTheirs));
        }
        return new Comparison(conditions, onlyOurs, onlyTheirs);
    }

    /// <summary>|a − b|, with equal non-finite values at 0 and a finite against a non-finite value at +∞.</summary>
    public static double Delta(double a, double b)
    {
        if (double.IsNaN(a) || double.IsNaN(b)) return double.IsNaN(a) && double.IsNaN(b) ? 0 : double.PositiveInfinity;
        if (double.IsInfinity(a) || double.IsInfinity(b)) return a == b ? 0 : double.PositiveInfinity;
        return Math.Abs(a - b);
    }

    private static Dictionary<(string QuestionId, string Block, int Layer, string Subword), KnockoutRow> Index(IReadOnlyList<KnockoutRow> rows, string side)
    {
        var index = new Dictionary<(string, string, int, string), KnockoutRow>();
        foreach (var r in rows)
            if (!index.TryAdd((r.QuestionId, r.BlockDesc, r.Layer, r.Subword), r))
                throw new InputException(null, "question_id",
                    $"{side} hold question {r.QuestionId}, {r.BlockDesc}, layer {r.Layer} ({r.Subword} sub-word) twice " +
                    $"(tasks {index[(r.QuestionId, r.BlockDesc, r.Layer, r.Subword)].Task} and {r.Task}?); compare one task, or one window, at a time");
        return index;
    }
}

namespace ModalFlow.Results;

/// <summary>
/// Per logit-lens token kind and layer: mean probability (raw = the paper's lens without the final norm, norm = with
/// it) over samples, each with its standard error and 95% interval (t or bootstrap, <see cref="CiMethod"/>).
/// Probabilities are fractions in [0, 1]; a t-interval is not clipped to that range here (the figures clip their bands). N is the number of samples (of finite raw or norm values, whichever is
/// larger; the two differ only when a probability was not finite).
/// </summary>
public sealed record LensAggregate(
    string Task,
    string TokenKind,
    int Layer,
    int N,
    double MeanRaw,
    double StdErrorRaw,
    double Ci95LowRaw,
    double Ci95HighRaw,
    double MeanNorm,
    double StdErrorNorm,
    double Ci95LowNorm,
    double Ci95HighNorm)
{
    /// <summary>How the intervals were computed: "t" or "bootstrap" (<see cref="CiOptions.Name"/>).</summary>
    public string CiMethod { get; init; } = "t";
}

/// <summary>
/// Turns per-sample rows into per-layer aggregates (see <see cref="SampleSummary"/> for the statistics).
/// <list type="bullet">
/// <item>Knockout rows group by (Task, Experiment, BlockDesc, Subword, Heads, Layer); the mean is of RelativeDiff (percent).</item>
/// <item>Lens rows group by (Task, TokenKind, Layer); both ProbRaw and ProbNorm are summarised.</item>
/// <item>When the rows hold two or more tasks, a pooled <see cref="ResultNames.AllTasks"/> ("All") group is added per
///   key, over all tasks' samples together (each sample weighs the same, so larger tasks weigh more).</item>
/// <item>Non-finite values (a NaN or ±∞ relative change from an underflowed p₁) are left out of the statistics and
///   counted by <see cref="CountNonFinite(IEnumerable{KnockoutRow})"/>; a group left with no value is omitted.</item>
/// <item>Guards: one sample may appear once per group (a duplicated shard would inflate N), and a group may not mix
///   window sizes (aggregate each window separately or give the runs different Experiment names).</item>
/// <item>Output order is fixed: task (paper order, All last), experiment, condition (paper legend order),
///   sub-word, layer; with the order-independent sums of <see cref="SampleSummary"/>, the same rows in any order
///   give identical aggregates.</item>
/// </list>
/// </summary>
public static class Aggregator
{
    public static IReadOnlyList<LayerAggregate> Aggregate(IEnumerable<KnockoutRow> rows, bool includeAllTasks = true, CiOptions? ci = null)
    {
        ci ??= CiOptions.StudentT;
        ci.Validate();
        var list = rows as IReadOnlyList<KnockoutRow> ?? rows.ToList();
        var groups = new Dictionary<(string Task, string Experiment, string Block, string Subword, string Heads, int Layer), Group>();
        foreach (var r in list)
        {
            Add(groups, (r.Task, r.Experiment, r.BlockDesc, r.Subword, r.Heads, r.Layer), r);
            if (includeAllTasks) Add(groups, (ResultNames.AllTasks, r.Experiment, r.BlockDesc, r.Subword, r.Heads, r.Layer), r);
        }
        bool pooled = includeAllTasks && list.Select(r => r.Task).Distinct().Count() >= 2;

        var result = new List<LayerAggregate>();
        foreach (var (key, g) in groups)
        {
            if (key.Task == ResultNames.AllTasks && !pooled) continue;
            if (g.Values.Count == 0) continue;
            // The all-heads stream key is the one from before per-head maps, so those bootstrap intervals stay as they were.
            var heads = key.Heads.Length == 0 ? "" : "\u0001heads " + key.Heads;
            var s = SampleSummary.Of(g.Values, ci, Bootstrap.StreamKey($"{key.Task}\u0001{key.Experiment}\u0001{key.Block}\u0001{key.Subword}\u0001{key.Layer}{heads}"));
            result.Add(new LayerAggregate(key.Task, key.Experiment, key.Block, key.Subword, key.Layer, s.N, s.Mean, s.StdError, s.Ci95Low, s.Ci95High)
            {
                Window = g.Window,
                CiMethod = ci.Name,
                Heads = key.Heads,
            });
        }
        result.Sort(CompareAggregates);
        return result;

        static void Add(Dictionary<(string, string, string, string, string, int), Group> groups, (string, string, string, string, string, int) key, KnockoutRow r)
        {
            if (!groups.TryGetValue(key, out var g)) groups[key] = g = new Group(r.Window);
            var sampleKey = key.Item1 == ResultNames.AllTasks ? r.Task + "\u0001" + r.QuestionId : r.QuestionId;
            if (!g.Samples.Add(sampleKey))
                throw new InputException(null, "question_id",
                    $"sample {r.Task}/{r.QuestionId} appears twice for {r.Experiment} {r.BlockDesc} ({r.Subword} sub-word{HeadsText(r.Heads)}) at layer {r.Layer}; " +
                    "each sample may be counted once per condition and layer (a shard merged twice?)");
            if (r.Window != g.Window)
                throw new InputException(null, "window",
                    $"{r.Task} {r.Experiment} {r.BlockDesc} ({r.Subword} sub-word) at layer {r.Layer} mixes windows {g.Window} and {r.Window}; " +
                    "aggregate each window separately or give the runs different experiment names");
            if (double.IsFinite(r.RelativeDiff)) g.Values.Add(r.RelativeDiff);
        }
    }

    public static IReadOnlyList<LensAggregate> AggregateLens(IEnumerable<LensRow> rows, bool includeAllTasks = true, CiOptions? ci = null)
    {
        ci ??= CiOptions.StudentT;
        ci.Validate();
        var list = rows as IReadOnlyList<LensRow> ?? rows.ToList();
        var groups = new Dictionary<(string Task, string Kind, int Layer), LensGroup>();
        foreach (var r in list)
        {
            Add(groups, (r.Task, r.TokenKind, r.Layer), r);
            if (includeAllTasks) Add(groups, (ResultNames.AllTasks, r.TokenKind, r.Layer), r);
        }
        bool pooled = includeAllTasks && list.Select(r => r.Task).Distinct().Count() >= 2;

        var result = new List<LensAggregate>();
        foreach (var (key, g) in groups)
        {
            if (key.Task == ResultNames.AllTasks && !pooled) continue;
            if (g.Raw.Count == 0 || g.Norm.Count == 0) continue;
            var streamKey = Bootstrap.StreamKey($"lens\u0001{key.Task}\u0001{key.Kind}\u0001{key.Layer}");
            var raw = SampleSummary.Of(g.Raw, ci, streamKey);
            var norm = SampleSummary.Of(g.Norm, ci, streamKey ^ 1);
            result.Add(new LensAggregate(key.Task, key.Kind, key.Layer, Math.Max(raw.N, norm.N),
                raw.Mean, raw.StdError, raw.Ci95Low, raw.Ci95High, norm.Mean, norm.StdError, norm.Ci95Low, norm.Ci95High)
            {
                CiMethod = ci.Name,
            });
        }
        result.Sort((a, b) =>
        {
            int c = ResultNames.CompareTasks(a.Task, b.Task);
            if (c == 0) c = ResultNames.CompareTokenKinds(a.TokenKind, b.TokenKind);
            return c != 0 ? c : a.Layer.CompareTo(b.Layer);
        });
        return result;

        static void Add(Dictionary<(string, string, int), LensGroup> groups, (string, string, int) key, LensRow r)
        {
            if (!groups.TryGetValue(key, out var g)) groups[key] = g = new LensGroup();
            var sampleKey = key.Item1 == ResultNames.AllTasks ? r.Task + "\u0001" + r.QuestionId : r.QuestionId;
            if (!g.Samples.Add(sampleKey))
                throw new InputException(null, "question_id",
                    $"lens sample {r.Task}/{r.QuestionId} appears twice for token kind {r.TokenKind} at layer {r.Layer}");
            if (double.IsFinite(r.ProbRaw)) g.Raw.Add(r.ProbRaw);
            if (double.IsFinite(r.ProbNorm)) g.Norm.Add(r.ProbNorm);
        }
    }

    private static string HeadsText(string heads) => heads.Length == 0 ? "" : ", heads " + heads;

    /// <summary>Knockout rows whose relative change is NaN or ±∞ (left out of the aggregates).</summary>
    public static int CountNonFinite(IEnumerable<KnockoutRow> rows) => rows.Count(r => !double.IsFinite(r.RelativeDiff));

    /// <summary>The fixed output order: task, experiment, condition, sub-word, heads (all, alone, all but one), layer.</summary>
    public static int CompareAggregates(LayerAggregate a, LayerAggregate b)
    {
        int c = ResultNames.CompareTasks(a.Task, b.Task);
        if (c == 0) c = string.CompareOrdinal(a.Experiment, b.Experiment);
        if (c == 0) c = ResultNames.CompareConditions(a.BlockDesc, b.BlockDesc);
        if (c == 0) c = ResultNames.CompareSubwords(a.Subword, b.Subword);
        if (c == 0) c = HeadSelection.Compare(a.Heads, b.Heads);
        return c != 0 ? c : a.Layer.CompareTo(b.Layer);
    }

    private sealed class Group(int window)
    {
        public int Window { get; } = window;
        public HashSet<string> Samples { get; } = new(StringComparer.Ordinal);
        public List<double> Values { get; } = [];
    }

    private sealed class LensGroup
    {
        public HashSet<string> Samples { get; } = new(StringComparer.Ordinal);
        public List<double> Raw { get; } = [];
        public List<double> Norm { get; } = [];
    }
}

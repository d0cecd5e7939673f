namespace ModalFlow.Results;

/// <summary>
/// One knockout result: a sample × condition (block) × window centre layer. The paper's per-sample CSV columns
/// (question_id, image, answer, predicted answer, question, block_desc, layer, base_score_first, new_score_first,
/// relative diff first) are a projection of this row (<see cref="Subword"/> says first or final sub-word).
/// </summary>
public sealed record KnockoutRow(
    string Task,
    string QuestionId,
    string ImageId,
    string Answer,
    string Predicted,
    string Question,
    string Experiment,
    string BlockDesc,
    int Window,
    int Layer,
    string WindowLayers,
    string Subword,
    long TargetTokenId,
    double BaseScore,
    double NewScore,
    double LogProbNew,
    double RelativeDiff,
    long Top1New)
{
    /// <summary>
    /// The query heads knocked out (<see cref="HeadSelection"/>): "" = every head (the paper's knockout), "3" = head 3
    /// alone, "-3" = every head but 3. Part of the row's identity; the paper's files have no such column.
    /// </summary>
    public string Heads { get; init; } = "";
}

/// <summary>
/// One logit-lens value: the probability of a token (e.g. the answer with a lowercase or a capitalised first letter,
/// the false option) at the last position after layer <see cref="Layer"/> (0 = embeddings, L = model output).
/// </summary>
public sealed record LensRow(
    string Task,
    string QuestionId,
    string Answer,
    string Predicted,
    string TokenKind,
    string TokenText,
    long TokenId,
    int Layer,
    double ProbRaw,
    double ProbNorm);

/// <summary>A sample the run skipped (wrong clean answer with --filter correct, missing image, …), kept for the summary.</summary>
public sealed record ExcludedSample(string Task, string QuestionId, string Reason, string Detail)
{
    /// <summary>Reason of a sample excluded because a position set was empty (<c>--empty-sets exclude</c>).</summary>
    public const string EmptyPositionSetReason = "empty position set";
}

/// <summary>How a finished (used) sample was measured when that differs from the ordinary case.</summary>
public sealed record SampleNote(string Reason, string Detail)
{
    /// <summary>Reason of a sample kept although a position set was empty: its knockouts block nothing (p2 = p1).</summary>
    public const string NothingBlockedReason = "nothing blocked";

    /// <summary>The paper's choice for an empty position set: keep the sample; knockouts involving the set block nothing.</summary>
    public static SampleNote NothingBlocked(IEnumerable<string> emptySets) =>
        new(NothingBlockedReason, $"{string.Join(", ", emptySets)} empty: knockouts involving it block nothing (p2 = p1)");
}

/// <summary>A used sample with its <see cref="SampleNote"/>.</summary>
public sealed record NotedSample(string Task, string QuestionId, string Reason, string Detail);

/// <summary>Per task × experiment × condition × layer: mean of the relative change with its standard error and 95% CI.</summary>
public sealed record LayerAggregate(
    string Task,
    string Experiment,
    string BlockDesc,
    string Subword,
    int Layer,
    int N,
    double Mean,
    double StdError,
    double Ci95Low,
    double Ci95High)
{
    /// <summary>The knockout window k of the group's rows (a group never mixes windows); 0 when unknown.</summary>
    public int Window { get; init; }

    /// <summary>How the interval was computed: "t" or "bootstrap" (<see cref="CiOptions.Name"/>).</summary>
    public string CiMethod { get; init; } = "t";

    /// <summary>The head selection of the group's rows (<see cref="KnockoutRow.Heads"/>); "" = every head.</summary>
    public string Heads { get; init; } = "";
}

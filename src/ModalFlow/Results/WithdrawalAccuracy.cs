namespace ModalFlow.Results;

/// <summary>
/// Accuracy of one withdrawal cell — task × tracked token × condition × K (and R) — over its samples.
/// <para>
/// A sample is right when the new greedy first token is the tracked one (Top1New = TargetTokenId): for the clean
/// answer's sub-word ("first", "final") that is "the answer survived"; for "gold" rows it is "the gold answer's first
/// token is predicted". Clean accuracy is 1 for the former and, for "gold", the share of samples whose clean first
/// token is the gold one. Loss = clean − withdrawn accuracy in percentage points, per sample (paired), with a
/// percentile-bootstrap 95% interval (1,000 resamples, seeded per group, <see cref="Bootstrap"/>), as the accuracy's.
/// </para>
/// </summary>
/// <param name="Keep">The kept fraction R (0 for every image token withdrawn).</param>
/// <param name="Layer">K: the first layer without the withdrawn tokens (L = nothing withdrawn).</param>
/// <param name="Accuracy">Fraction in [0, 1].</param>
/// <param name="LossPoints">100 · (clean − withdrawn accuracy).</param>
/// <param name="MeanRelativeChange">Mean relative change (%) of the tracked token's probability (finite values).</param>
public sealed record WithdrawalAccuracy(
    string Task,
    string Subword,
    string BlockDesc,
    WithdrawalRule Rule,
    double Keep,
    int Layer,
    int N,
    double Accuracy,
    double AccuracyLow,
    double AccuracyHigh,
    double CleanAccuracy,
    double LossPoints,
    double LossLow,
    double LossHigh,
    double MeanRelativeChange)
{
    /// <summary>The withdrawn fraction of the image tokens (1 − R; 1 for every image token).</summary>
    public double Dropped => Rule == WithdrawalRule.All ? 1 : 1 - Keep;

    /// <summary>The criterion of "can be withdrawn": the upper end of the loss's 95% interval is at most 1 point.</summary>
    public bool WithinOnePoint => LossHigh <= WithdrawalReport.TolerancePoints + 1e-9;
}

/// <summary>
/// What can be dropped at ≤ 1 point loss (<see cref="WithdrawalAccuracy.WithinOnePoint"/>), per task and tracked token.
/// Withdrawal (<see cref="WithdrawalRule.All"/>): <see cref="Layer"/> is the earliest K from which on every K' ≥ K stays
/// within 1 point (L when none does; then nothing can be withdrawn), and <see cref="Dropped"/> is 1 there. Pruning:
/// per rule and K, the largest fraction of image tokens among the grid's keep values that stays within 1 point
/// (0 when none does), with its keep fraction and accuracy.
/// </summary>
public sealed record WithdrawalDroppable(string Task, string Subword, WithdrawalRule Rule, int Layer, double Dropped, WithdrawalAccuracy? At)
{
    /// <summary>Withdrawal only: the earliest K judged by the mean loss alone (no interval), for comparison.</summary>
    public int? LayerByMean { get; init; }
}

using System.Globalization;

namespace ModalFlow.Results;

/// <summary>
/// One sample's self-check (issue 13): <see cref="Cells"/> of its <see cref="TotalCells"/> knockout cells were
/// recomputed with the naive engine against the same clean run, and <see cref="MaxAbsDeltaP2"/> is the largest
/// |p2 (run's engine) − p2 (naive)| among them (NaN when a value was not finite: a failure).
/// </summary>
/// <param name="Fraction">The requested share of cells (<c>run --verify</c>); 0 = off.</param>
/// <param name="WorstCell">The cell of <see cref="MaxAbsDeltaP2"/> ("Image->Question@3[2] layers 3", "" when none was checked).</param>
/// <param name="KnockoutSeconds">Time in the run's engine for this sample's knockouts.</param>
/// <param name="VerifySeconds">Time in the naive engine for the check.</param>
/// <param name="Tolerance">The largest |Δp2| that passes, for the run's dtype (<see cref="VerificationSummary.ToleranceFor"/>).</param>
public sealed record SampleVerification(string Task, string QuestionId, double Fraction, int Cells, int TotalCells, double MaxAbsDeltaP2,
    string WorstCell, double KnockoutSeconds, double VerifySeconds, double Tolerance)
{
    /// <summary>Whether this sample's check stayed within <see cref="Tolerance"/> (NaN fails).</summary>
    public bool Passed => Cells == 0 || MaxAbsDeltaP2 <= Tolerance;
}

/// <summary>A run's self-check over all its samples: what <c>report</c> shows and what makes a run fail (exit 3).</summary>
public sealed record VerificationSummary(int Samples, int Cells, int TotalCells, double MaxAbsDeltaP2, string WorstCell,
    double KnockoutSeconds, double VerifySeconds, double MinFraction, double MaxFraction, double Tolerance, bool Passed)
{
    /// <summary>
    /// The largest |Δp2| between the run's engine and the naive engine that passes in float32: there the two agree to
    /// about 1e-6 (README, numerical parity), so anything above 1e-4 is a wrong result, not rounding.
    /// </summary>
    public const double Float32Tolerance = 1e-4;

    /// <summary>
    /// The same in half precision: the engines multiply matrices of other shapes (a suffix batch vs the whole sequence)
    /// and round differently in 11 (f16) or 8 (bf16) bits of mantissa. Measured on the embedded toy model (every cell of
    /// Experiments 1 and 2, 16 samples of four tasks): up to 1.1e-3 in f16 and 8.3e-3 in bf16; the tolerances leave a
    /// margin of about 6-9x for deeper models. A wrong engine (a knockout at the wrong layer) moves p2 by the size of the
    /// effects measured, so in half precision only gross errors are caught; check a slice in f32 to catch small ones.
    /// </summary>
    public const double Float16Tolerance = 1e-2, BFloat16Tolerance = 5e-2;

    /// <summary>The tolerance for a compute dtype name (f32, f16, bf16).</summary>
    public static double ToleranceFor(string dtype) => dtype switch
    {
        "f16" or "float16" => Float16Tolerance,
        "bf16" or "bfloat16" => BFloat16Tolerance,
        _ => Float32Tolerance,
    };

    /// <summary>Nothing was recomputed although the run asked for it (e.g. only samples without knockouts).</summary>
    public bool NothingChecked => Cells == 0;

    /// <summary>Null when there is nothing to summarise.</summary>
    public static VerificationSummary? Of(IReadOnlyList<SampleVerification> samples)
    {
        if (samples.Count == 0) return null;
        var checkedOnes = samples.Where(s => s.Cells > 0).ToList();
        // A failed sample is the worst of all, then NaN (a non-finite p2), then the largest difference.
        var worst = checkedOnes.OrderBy(s => s.Passed).ThenByDescending(s => double.IsNaN(s.MaxAbsDeltaP2) ? double.PositiveInfinity : s.MaxAbsDeltaP2).FirstOrDefault();
        return new VerificationSummary(samples.Count, samples.Sum(s => s.Cells), samples.Sum(s => s.TotalCells),
            worst?.MaxAbsDeltaP2 ?? 0, worst is null ? "" : $"{worst.Task}/{worst.QuestionId} {worst.WorstCell}",
            samples.Sum(s => s.KnockoutSeconds), samples.Sum(s => s.VerifySeconds), samples.Min(s => s.Fraction), samples.Max(s => s.Fraction),
            samples.Max(s => s.Tolerance), samples.All(s => s.Passed));
    }

    /// <summary>"3.2%" or "1% to 5%" (resumes may ask for different shares).</summary>
    public string FractionText => MinFraction == MaxFraction ? Percent(MinFraction) : $"{Percent(MinFraction)} to {Percent(MaxFraction)}";

    /// <summary>One line for a console or a report: what was checked, the largest difference, the verdict and the cost.</summary>
    public string Describe()
    {
        if (MaxFraction == 0) return "self-check off (--verify 0): no knockout cell was recomputed with the naive engine";
        if (Cells == 0) return $"self-check: no knockout cells to recompute in {Samples} sample{(Samples == 1 ? "" : "s")}";
        var verdict = Passed ? $"passed (tolerance {Scientific(Tolerance)})" : $"FAILED (tolerance {Scientific(Tolerance)}; worst {WorstCell})";
        var share = Percent((double)Cells / Math.Max(1, TotalCells));
        return string.Create(CultureInfo.InvariantCulture,
            $"self-check: {Cells} of {TotalCells} knockout cells ({share}; asked {FractionText}) recomputed with the naive engine, max |Δp2| = {Scientific(MaxAbsDeltaP2)}: {verdict}; {Cost()}");
    }

    /// <summary>"verification 1.2 s vs knockouts 10.3 s (+12%)".</summary>
    public string Cost() =>
        string.Create(CultureInfo.InvariantCulture, $"verification {VerifySeconds:0.0} s vs knockouts {KnockoutSeconds:0.0} s") +
        (KnockoutSeconds > 0 ? string.Create(CultureInfo.InvariantCulture, $" (+{100 * VerifySeconds / KnockoutSeconds:0}%)") : "");

    /// <summary>"3.1e-7"; exactly 0 is "0".</summary>
    public static string Scientific(double v) => v == 0 ? "0" : v.ToString("0.0e0", CultureInfo.InvariantCulture);

    private static string Percent(double f) => string.Create(CultureInfo.InvariantCulture, $"{100 * f:0.###}%");
}

namespace ModalFlow.Results;

/// <summary>How the 95% interval of a per-layer mean is computed.</summary>
public enum CiMethod
{
    /// <summary>mean ± t(0.975, n − 1)·SE (<see cref="StudentT"/>); symmetric, can leave the possible range.</summary>
    StudentT,

    /// <summary>
    /// Percentile bootstrap of the mean, as seaborn's lineplot draws the paper's bands (its default
    /// <c>errorbar=("ci", 95)</c>, <c>n_boot=1000</c>): resample the values with replacement, take the mean, repeat,
    /// report the 2.5th and 97.5th percentiles (numpy's linear interpolation). Seeded here (seaborn's default is not),
    /// and always inside [min, max] of the values, so it never leaves what is possible.
    /// </summary>
    Bootstrap,
}

/// <summary>The interval method of the aggregates (and so of every band and report table).</summary>
public sealed record CiOptions
{
    public CiMethod Method { get; init; } = CiMethod.StudentT;

    /// <summary>Bootstrap resamples (seaborn's n_boot).</summary>
    public int Resamples { get; init; } = 1000;

    /// <summary>Bootstrap seed; each group's stream is this seed mixed with a hash of the group's key.</summary>
    public ulong Seed { get; init; }

    public static CiOptions StudentT { get; } = new();

    public static CiOptions Bootstrap { get; } = new() { Method = CiMethod.Bootstrap };

    /// <summary>Short name, as in the aggregates' <c>ci_method</c> column and the CLI's <c>--ci</c>: "t" or "bootstrap".</summary>
    public string Name => Method == CiMethod.Bootstrap ? "bootstrap" : "t";

    /// <summary>One line for reports and figure notes.</summary>
    public string Description => Method == CiMethod.Bootstrap
        ? $"percentile bootstrap of the mean, {Resamples} resamples, seed {Seed} (as seaborn draws the paper's bands)"
        : "Student t";

    /// <summary>"t" or "bootstrap" (the CLI's <c>--ci</c>).</summary>
    public static CiOptions Parse(string name) => name.Trim().ToLowerInvariant() switch
    {
        "t" or "student" or "student-t" => StudentT,
        "bootstrap" => Bootstrap,
        _ => throw new InputException(null, "--ci", $"'{name}'; expected t or bootstrap"),
    };

    internal void Validate()
    {
        if (Resamples < 100) throw new InputException(null, "bootstrap resamples", $"{Resamples}; expected at least 100 (seaborn: 1000)");
    }
}

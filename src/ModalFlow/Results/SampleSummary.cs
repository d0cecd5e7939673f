namespace ModalFlow.Results;

/// <summary>
/// Mean, standard error and two-sided 95% interval of one group of values.
/// SE = s / √n with the sample standard deviation s (n − 1 denominator). The interval is mean ± t(0.975, n − 1)·SE
/// (<see cref="CiMethod.StudentT"/>) or the seeded percentile bootstrap of the mean (<see cref="CiMethod.Bootstrap"/>).
/// With n = 1 there is no spread to estimate: SE is reported as 0 and the CI as [mean, mean] (never NaN), so a
/// single-sample layer plots as a line without a band; N in the output says how little that is.
/// </summary>
public readonly record struct SampleSummary(int N, double Mean, double StdError, double Ci95Low, double Ci95High)
{
    /// <summary>
    /// Summarises finite values. The values are sorted before summing (compensated) and before resampling, so the
    /// result does not depend on the order the rows came in: the same rows give bit-identical aggregates, whatever
    /// the shard order. <paramref name="streamKey"/> picks the group's bootstrap stream (see <see cref="Bootstrap.StreamKey"/>).
    /// </summary>
    public static SampleSummary Of(IEnumerable<double> values, CiOptions? ci = null, ulong streamKey = 0)
    {
        var xs = values.ToArray();
        if (xs.Length == 0) throw new ArgumentException("no values to summarise", nameof(values));
        foreach (var x in xs)
            if (!double.IsFinite(x)) throw new ArgumentException($"value {x} is not finite", nameof(values));
        Array.Sort(xs);
        int n = xs.Length;
        double mean = NeumaierSum(xs, 0) / n;
        if (n == 1) return new SampleSummary(1, mean, 0, mean, mean);
        double ss = NeumaierSum(xs, mean, squared: true);
        double se = Math.Sqrt(ss / (n - 1)) / Math.Sqrt(n);
        if (ci is { Method: CiMethod.Bootstrap })
        {
            var (low, high) = Bootstrap.MeanInterval(xs, ci.Resamples, ci.Seed ^ streamKey);
            return new SampleSummary(n, mean, se, low, high);
        }
        double half = StudentT.Quantile(0.975, n - 1) * se;
        return new SampleSummary(n, mean, se, mean - half, mean + half);
    }

    private static double NeumaierSum(double[] xs, double centre, bool squared = false)
    {
        double sum = 0, comp = 0;
        foreach (var raw in xs)
        {
            double v = squared ? (raw - centre) * (raw - centre) : raw;
            double t = sum + v;
            comp += Math.Abs(sum) >= Math.Abs(v) ? (sum - t) + v : (v - t) + sum;
            sum = t;
        }
        return sum + comp;
    }
}

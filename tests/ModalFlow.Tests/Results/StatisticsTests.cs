using ModalFlow.Results;
using ModalFlow.Tests.Support;
using Xunit;

namespace ModalFlow.Tests.Results;

public class StatisticsTests
{
    [SharedTheory]
    [InlineData(1, 12.7062)]
    [InlineData(2, 4.3027)]
    [InlineData(5, 2.5706)]
    [InlineData(30, 2.0423)]
    [InlineData(1000, 1.9623)]
    public void StudentT_Quantile_Matches_Printed_Tables(int df, double table)
    {
        Assert.Equal(table, Math.Round(StudentT.Quantile(0.975, df), 4));
    }

    // 17 significant digits, computed with mpmath (40 digits) by bisection on its regularized incomplete beta.
    [SharedTheory]
    [InlineData(1, 0.975, 12.706204736174705)]
    [InlineData(1, 0.9995, 636.61924876871962)]
    [InlineData(2, 0.995, 9.9248432009182931)]
    [InlineData(3, 0.975, 3.1824463052837096)]
    [InlineData(3, 0.9995, 12.923978636687483)]
    [InlineData(3, 0.6, 0.27667066233268991)]
    [InlineData(4, 0.975, 2.7764451051977944)]
    [InlineData(5, 0.975, 2.5705818356363155)]
    [InlineData(5, 0.995, 4.0321429835552281)]
    [InlineData(7, 0.75, 0.71114177808178631)]
    [InlineData(10, 0.975, 2.2281388519862747)]
    [InlineData(10, 0.9995, 4.5868938587026359)]
    [InlineData(30, 0.975, 2.0422724563012383)]
    [InlineData(30, 0.6, 0.25560536495191277)]
    [InlineData(100, 0.975, 1.9839715185235523)]
    [InlineData(100, 0.995, 2.6258905214380179)]
    [InlineData(1000, 0.975, 1.9623390808264085)]
    [InlineData(1000, 0.9995, 3.3002826484239129)]
    [InlineData(100000, 0.975, 1.9599877075346096)]
    [InlineData(100000, 0.75, 0.67449220355329221)]
    public void StudentT_Quantile_Matches_HighPrecision_References_To_1e12(double df, double p, double expected)
    {
        double q = StudentT.Quantile(p, df);
        Assert.True(Math.Abs(q - expected) <= 1e-12 * expected, $"t({p}, {df}) = {q:R}, expected {expected:R}, rel. error {Math.Abs(q - expected) / expected:E2}");
        double lower = StudentT.Quantile(1 - p, df);
        Assert.True(Math.Abs(lower + expected) <= 1e-11 * expected, $"t({1 - p}, {df}) = {lower:R}, expected {-expected:R}");
    }

    [SharedFact]
    public void StudentT_Cdf_Inverts_Quantile_And_Edges_Are_Exact()
    {
        foreach (var df in new[] { 1.0, 2, 2.5, 3, 9, 29, 199, 5000 })
            foreach (var p in new[] { 1e-6, 0.01, 0.2, 0.5, 0.7, 0.975, 0.999999 })
            {
                double t = StudentT.Quantile(p, df);
                Assert.True(Math.Abs(StudentT.Cdf(t, df) - p) <= 1e-13, $"df {df} p {p}: Cdf(Quantile) = {StudentT.Cdf(t, df):R}");
            }
        Assert.Equal(0.0, StudentT.Quantile(0.5, 7));
        Assert.Equal(double.PositiveInfinity, StudentT.Quantile(1, 7));
        Assert.Equal(double.NegativeInfinity, StudentT.Quantile(0, 7));
        Assert.Equal(0.5, StudentT.Cdf(0, 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => StudentT.Quantile(0.975, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => StudentT.Quantile(1.5, 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => StudentT.Quantile(double.NaN, 3));
    }

    [SharedFact]
    public void LogGamma_Matches_Known_Values()
    {
        Assert.Equal(0.57236494292470008707, SpecialFunctions.LogGamma(0.5), 14);
        Assert.Equal(0.0, SpecialFunctions.LogGamma(1), 14);
        Assert.Equal(Math.Log(362880), SpecialFunctions.LogGamma(10), 13);
        Assert.Equal(6.9071788853838536825, SpecialFunctions.LogGamma(1e-3), 13);
        Assert.True(Math.Abs(SpecialFunctions.LogGamma(500.5) - 2608.2229044109866551) < 1e-11);
    }

    [SharedFact]
    public void SampleSummary_Uses_Sample_Std_And_T_Interval()
    {
        var s = SampleSummary.Of([1.0, 3.0]);   // mean 2, s = √2, SE = 1, t(0.975, 1) = 12.706…
        Assert.Equal(2, s.N);
        Assert.Equal(2.0, s.Mean);
        Assert.Equal(1.0, s.StdError, 15);
        Assert.Equal(2 - 12.706204736174705, s.Ci95Low, 12);
        Assert.Equal(2 + 12.706204736174705, s.Ci95High, 12);

        var values = Enumerable.Range(0, 31).Select(i => Math.Sin(i) * 10).ToArray();
        var t = SampleSummary.Of(values);
        double mean = values.Average();
        double sd = Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / 30);
        Assert.Equal(mean, t.Mean, 13);
        Assert.Equal(sd / Math.Sqrt(31), t.StdError, 13);
        Assert.Equal(2.0422724563012383 * sd / Math.Sqrt(31), t.Ci95High - t.Mean, 12);
    }

    [SharedFact]
    public void SampleSummary_Of_One_Value_Has_Zero_Error_And_A_Point_Interval()
    {
        var s = SampleSummary.Of([-12.5]);
        Assert.Equal(new SampleSummary(1, -12.5, 0, -12.5, -12.5), s);
    }

    [SharedFact]
    public void SampleSummary_Is_Bitwise_Independent_Of_Order()
    {
        var rng = new Random(7);
        var values = Enumerable.Range(0, 1000).Select(_ => (rng.NextDouble() - 0.7) * Math.Pow(10, rng.Next(-3, 4))).ToArray();
        var a = SampleSummary.Of(values);
        var b = SampleSummary.Of(values.Reverse());
        var c = SampleSummary.Of(values.OrderBy(_ => rng.Next()));
        Assert.Equal(a, b);
        Assert.Equal(a, c);
    }
}

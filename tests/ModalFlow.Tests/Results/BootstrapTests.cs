using System.Text.Json;
using ModalFlow.Results;
using ModalFlow.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace ModalFlow.Tests.Results;

public class BootstrapTests(ITestOutputHelper log)
{
    private static string TestData(string name) => Path.Combine(AppContext.BaseDirectory, "Results", "TestData", name);

    [SharedFact]
    public void Percentile_Is_Numpys_Linear_Interpolation()
    {
        var rng = new Random(3);
        foreach (int n in new[] { 1, 2, 5, 1000 })
        {
            var a = Enumerable.Range(0, n).Select(_ => rng.NextDouble() * 200 - 100).Order().ToArray();
            foreach (double q in new[] { 0, 2.5, 50, 97.5, 100 })
            {
                // numpy: position q/100·(n−1) between its floor and ceiling neighbours.
                double pos = q / 100 * (n - 1);
                int lo = (int)Math.Floor(pos), hi = Math.Min(lo + 1, n - 1);
                double expected = a[lo] + (a[hi] - a[lo]) * (pos - lo);
                Assert.Equal(expected, Bootstrap.Percentile(a, q), 1e-12);
            }
            Assert.Equal((a[0], a[^1]), (Bootstrap.Percentile(a, 0), Bootstrap.Percentile(a, 100)));
        }
    }

    /// <summary>
    /// Seaborn's own intervals (TestData/make_seaborn_bootstrap.py: EstimateAggregator("mean", ("ci", 95))) for five
    /// groups: ours, from another random stream, must agree within Monte-Carlo noise — 1,000 resamples each: within
    /// 12% of the interval's width of seaborn's 100,000-resample interval; 100,000 each: within 2%.
    /// </summary>
    [SharedFact]
    public void Interval_Agrees_With_Seaborns_Up_To_Monte_Carlo_Noise()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(TestData("seaborn_bootstrap.json")));
        foreach (var g in doc.RootElement.EnumerateArray())
        {
            var values = g.GetProperty("values").EnumerateArray().Select(v => v.GetDouble()).Order().ToArray();
            double low = g.GetProperty("low_100000").GetDouble(), high = g.GetProperty("high_100000").GetDouble(), width = high - low;
            foreach (var (resamples, tolerance) in new[] { (1000, 0.12), (100_000, 0.02) })
            {
                var (ourLow, ourHigh) = Bootstrap.MeanInterval(values, resamples, seed: 5);
                log.WriteLine($"{g.GetProperty("name").GetString()} n={values.Length} B={resamples}: seaborn [{low:F4}, {high:F4}] (B=1000: [{g.GetProperty("low_1000").GetDouble():F4}, " +
                    $"{g.GetProperty("high_1000").GetDouble():F4}]), ours [{ourLow:F4}, {ourHigh:F4}]");
                Assert.True(Math.Abs(ourLow - low) <= tolerance * width && Math.Abs(ourHigh - high) <= tolerance * width,
                    $"{g.GetProperty("name").GetString()}, {resamples} resamples: ours [{ourLow}, {ourHigh}] vs seaborn [{low}, {high}]");
            }
        }
    }

    [SharedFact]
    public void Interval_Is_Seeded_Independent_Of_Row_Order_And_Inside_The_Data()
    {
        var rng = new Random(11);
        var values = Enumerable.Range(0, 30).Select(_ => -100 + 130 * rng.NextDouble()).ToArray();
        var ci = CiOptions.Bootstrap;
        var a = SampleSummary.Of(values, ci, 42);
        Assert.Equal(a, SampleSummary.Of(values.Reverse(), ci, 42));
        Assert.Equal(a, SampleSummary.Of(values.OrderBy(_ => rng.Next()), ci, 42));
        var other = SampleSummary.Of(values, ci, 43);
        Assert.NotEqual((a.Ci95Low, a.Ci95High), (other.Ci95Low, other.Ci95High));   // another group's stream
        Assert.Equal((a.Mean, a.StdError), (other.Mean, other.StdError));
        Assert.InRange(a.Ci95Low, values.Min(), a.Mean);
        Assert.InRange(a.Ci95High, a.Mean, values.Max());
        Assert.Equal(new SampleSummary(4, -7, 0, -7, -7), SampleSummary.Of([-7.0, -7, -7, -7], ci));
        Assert.Equal(new SampleSummary(1, 3, 0, 3, 3), SampleSummary.Of([3.0], ci));
    }

    [SharedFact]
    public void Near_The_Floor_The_T_Interval_Leaves_What_Is_Possible_And_The_Bootstrap_Does_Not()
    {
        double[] values = [-100, -100, -99.5, -98, -100, -20, -97, -100];
        var t = SampleSummary.Of(values);
        var b = SampleSummary.Of(values, CiOptions.Bootstrap);
        Assert.True(t.Ci95Low < -100, $"t low {t.Ci95Low}");
        Assert.True(b.Ci95Low >= -100, $"bootstrap low {b.Ci95Low}");
    }

    [SharedFact]
    public void Aggregates_Carry_The_Method_And_Window_And_Seaborn_Style_Bands_Differ_From_T()
    {
        var rows = SyntheticResults.Knockout(samplesPerTask: 12, tasks: ["ChooseAttr"]);
        var t = Aggregator.Aggregate(rows);
        var b = Aggregator.Aggregate(rows, ci: CiOptions.Bootstrap);
        Assert.Equal(t.Count, b.Count);
        Assert.All(t, a => Assert.Equal(("t", 9), (a.CiMethod, a.Window)));
        Assert.All(b, a => Assert.Equal("bootstrap", a.CiMethod));
        Assert.Equal(t.Select(a => a.Mean), b.Select(a => a.Mean));
        Assert.Equal(b, Aggregator.Aggregate(rows.OrderBy(r => r.QuestionId, StringComparer.Ordinal).Reverse(), ci: CiOptions.Bootstrap));   // seeded, order-free
        // Bootstrap intervals are narrower than t's for small n (no t inflation), never wider than the data.
        double tw = t.Average(a => a.Ci95High - a.Ci95Low), bw = b.Average(a => a.Ci95High - a.Ci95Low);
        log.WriteLine($"mean 95% width over {t.Count} groups (n = 12): t {tw:F3} pp, bootstrap {bw:F3} pp");
        Assert.InRange(bw / tw, 0.7, 1.0);
        Assert.Throws<InputException>(() => Aggregator.Aggregate(rows, ci: CiOptions.Bootstrap with { Resamples = 10 }));
        Assert.Equal(CiOptions.Bootstrap, CiOptions.Parse("bootstrap"));
        Assert.Throws<InputException>(() => CiOptions.Parse("bca"));
    }
}

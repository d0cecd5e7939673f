using System.Text.Json;
using ModalFlow.Experiments;
using ModalFlow.Results;
using ModalFlow.Tests.Results;
using ModalFlow.Tests.Support;
using ModalFlow.Toy;
using Xunit;
using Xunit.Abstractions;

namespace ModalFlow.Tests.Experiments;

/// <summary>
/// `modalflow plan` on the embedded toy LLaVA: its counts are what `run` stores for the same arguments, its per-shard
/// figures are the total over the shards rounded up (checked against a real shard's run), its sample count is an estimate
/// exactly when a filter can drop unmeasured samples, and bad input is exit 2. Timing accuracy is not a unit test (README).
/// </summary>
public sealed class CostPlanTests(ITestOutputHelper log) : IDisposable
{
    private readonly TempDir _tmp = new("mf-plan-");

    public void Dispose() => _tmp.Dispose();

    private static string[] Args(string experiment, int limit, string filter)
    {
        EmbeddedToy.EnsurePresent();
        return ["--model", EmbeddedToy.ModelDir, "--data", Path.Combine(EmbeddedToy.EvalDir, "toy_ChooseAttr.csv"), "--images", Path.Combine(EmbeddedToy.EvalDir, "images"),
            "--experiment", experiment, "--window", "1", "--limit", $"{limit}", "--filter", filter];
    }

    private static JsonElement Plan(params string[] args)
    {
        var (code, stdout, stderr) = ModalFlow.Tests.Cli.CliTests.Run(["plan", .. args, "--json"]);
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        return doc.RootElement.Clone();
    }

    private int RunStoredKnockouts(string name, params string[] args)
    {
        var outDir = Path.Combine(_tmp.Path, name);
        var (code, _, stderr) = ModalFlow.Tests.Cli.CliTests.Run(["run", .. args, "--out", outDir]);
        Assert.True(code == 0, stderr);
        using var store = RunStore.Open(Path.Combine(outDir, RunStore.FileName));
        return store.KnockoutRows().Count;
    }

    [SharedTheory]
    [InlineData("1")]
    [InlineData("4")]
    public void Plan_Knockouts_Equal_What_Run_Stores_And_Per_Shard_Is_The_Total_Over_Shards_Rounded_Up(string experiment)
    {
        const int limit = 3, shards = 2;
        var args = Args(experiment, limit, "none");
        var plan = Plan([.. args, "--shards", $"{shards}"]);
        log.WriteLine(plan.ToString());

        int samples = plan.GetProperty("samples_after_filter").GetInt32();
        long total = plan.GetProperty("knockouts_total").GetInt64();
        int perSample = plan.GetProperty("knockouts_per_sample").GetInt32();
        Assert.Equal(limit, plan.GetProperty("to_run").GetInt32());
        Assert.Equal(limit, samples);                                      // no filter, nothing excluded: every sample counts
        Assert.False(plan.GetProperty("samples_estimated").GetBoolean());
        // At least two samples, more while those after the first took under CostPlanSettings.MinSteadySeconds.
        Assert.InRange(plan.GetProperty("measured").GetArrayLength(), 2, limit);

        // The whole run and shard 1 of 2 (the largest: rows 0, 2) store exactly the knockouts plan counts.
        int stored = RunStoredKnockouts("all", args);
        Assert.True(total == stored, $"plan counts {total} knockouts, run stored {stored}");
        Assert.Equal((long)samples * perSample, total);
        // The self-check (--verify 0.01 by default): 1 % of the knockouts, at least one when there are any, on the naive engine.
        long verify = total == 0 ? 0 : Math.Max(1, (long)Math.Round(0.01 * total));
        Assert.Equal(verify, plan.GetProperty("verify_cells").GetInt64());
        Assert.Equal(verify > 0, plan.GetProperty("verify_seconds").GetDouble() > 0);
        int perShard = plan.GetProperty("samples_per_shard").GetInt32();
        Assert.Equal((int)Math.Ceiling(samples / (double)shards), perShard);
        Assert.Equal((long)perShard * perSample, plan.GetProperty("knockouts_per_shard").GetInt64());
        int storedShard = RunStoredKnockouts("shard1", [.. args, "--shard", $"1/{shards}"]);
        Assert.Equal(storedShard, plan.GetProperty("knockouts_per_shard").GetInt64());
        if (experiment == "4") Assert.Equal(0, total);
        else Assert.True(total > 0);

        // Projections: one per engine, the largest shard never costs more than the whole, memory is measured.
        foreach (var engine in new[] { "fast", "naive" })
        {
            var e = plan.GetProperty(engine);
            Assert.Equal(engine, e.GetProperty("engine").GetString());
            double whole = e.GetProperty("total_seconds").GetDouble(), shard = e.GetProperty("per_shard_seconds").GetDouble();
            Assert.True(whole > 0 && shard > 0 && shard <= whole, $"{engine}: whole {whole} s, per shard {shard} s");
        }
        Assert.Equal("fast", plan.GetProperty("chosen").GetProperty("engine").GetString());
        Assert.True(plan.GetProperty("memory").GetProperty("peak_rss_mb").GetDouble() > 0);
    }

    [SharedFact]
    public void Plan_With_The_Correctness_Filter_Estimates_Samples_From_The_Measured_Pass_Rate_And_Says_So()
    {
        int limit = new CostPlanSettings().MaxSamples + 5;   // more rows than the planner ever measures: the count is an estimate
        var plan = Plan(Args("2", limit, "correct"));
        var measured = plan.GetProperty("measured").EnumerateArray().ToList();
        Assert.InRange(measured.Count, 2, new CostPlanSettings().MaxSamples);
        double rate = measured.Count(m => m.GetProperty("used").GetBoolean()) / (double)measured.Count;
        Assert.True(plan.GetProperty("samples_estimated").GetBoolean());
        Assert.Equal(rate, plan.GetProperty("pass_rate").GetDouble(), 12);
        Assert.Equal((int)Math.Round(limit * rate, MidpointRounding.AwayFromZero), plan.GetProperty("samples_after_filter").GetInt32());

        var (code, stdout, stderr) = ModalFlow.Tests.Cli.CliTests.Run(["plan", .. Args("2", limit, "correct")]);
        Assert.True(code == 0, stderr);
        Assert.Contains("an estimate", stdout);
        Assert.Contains("fast engine", stdout);
        Assert.Contains("naive engine", stdout);
        Assert.Contains("peak RSS", stdout);
    }

    [SharedFact]
    public void Per_Shard_Is_The_Larger_Share_Of_Samples_As_Run_Slices_Them()
    {
        var rows = Enumerable.Range(0, 23).Select(i => new ModalFlow.Data.GqaTaskRow("T", ModalFlow.Data.GqaSchema.B, "t.csv", i + 2, $"{i}", $"{i}", "q", "a",
            null, null, null, null, null, null, null, null, 10, 10)).ToList();
        foreach (var shards in new[] { 1, 2, 3, 5, 23, 30 })
        {
            int largest = Enumerable.Range(1, shards).Max(i => ExperimentRunner.Slice(rows, null, i, shards).Count);
            Assert.Equal(largest, CostPlan.PerShard(rows.Count, shards));
        }
    }

    [SharedTheory]
    [InlineData("--shards", "0")]
    [InlineData("--shards", "2", "--shard", "1/2")]
    [InlineData("--window", "x")]
    public void Bad_Plan_Input_Is_One_Line_On_Stderr_And_Exit_2(params string[] extra)
    {
        var (code, stdout, stderr) = ModalFlow.Tests.Cli.CliTests.Run(["plan", .. Args("1", 2, "none"), .. extra]);
        Assert.True(code == 2, $"exit {code}: {stderr}");
        Assert.Equal("", stdout);
        // One error line (a parse error adds the CLI's "See 'modalflow plan --help'." pointer after it).
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines, l => l.StartsWith("error: ", StringComparison.Ordinal));
        Assert.StartsWith("error: ", lines[0]);
    }
}

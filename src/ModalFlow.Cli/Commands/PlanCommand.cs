using System.CommandLine;
using System.Globalization;
using ModalFlow.Experiments;

namespace ModalFlow.Cli.Commands;

/// <summary>
/// `modalflow plan`: what a `run` with the same arguments would cost — samples, knockouts, wall time on the fast and the
/// naive engine (whole and per shard), peak memory — from one or two real samples run as `run` runs them.
/// </summary>
public static class PlanCommand
{
    public static Command Create(CliContext ctx)
    {
        var args = new RunArguments("A run folder the run would resume: samples it already finished are not counted (plan writes nothing there)", outRequired: false);
        var shards = CommonOptions.Int("--shards", "Project per shard for N shards (--shard i/N runs; the largest shard is shown)", 1);
        var json = CommonOptions.Json();
        var cmd = new Command("plan", "Project a run's cost (samples, knockouts, wall time fast vs naive, per shard, peak memory) from 1-2 measured samples");
        cmd.Add(args.All);
        cmd.Options.Add(shards);
        cmd.Options.Add(json);
        cmd.SetAction(parse => ctx.Guard(parse, () =>
        {
            int n = parse.GetValue(shards);
            if (n > 1 && parse.GetResult(args.Shard) is { Implicit: false })
                throw new InputException(null, "--shards", $"{n} with --shard {parse.GetValue(args.Shard)}; give one: --shard i/n plans that slice, --shards N splits the whole");
            var (o, folder) = args.Read(parse, ctx.Err);
            ctx.Err.WriteLine($"plan: {folder.Variant}, experiment {o.Experiment.Name} ({o.Experiment.Title}), task {o.Task}, window {o.Window}, " +
                $"filter {o.Filter}, {o.DType} on {o.Device}, engine {o.Engine.ToString().ToLowerInvariant()}, {n} shard{(n == 1 ? "" : "s")}");
            var plan = CostPlanner.Plan(o, new CostPlanSettings { Shards = n, Results = args.ResultsOptions(parse) }, msg => ctx.Err.WriteLine(msg));
            if (parse.GetValue(json)) ctx.WriteJson(plan);
            else foreach (var line in Lines(plan)) ctx.Out.WriteLine(line);
            return CliContext.ExitOk;
        }));
        return cmd;
    }

    /// <summary>The plan in words.</summary>
    public static IReadOnlyList<string> Lines(CostPlan p)
    {
        var c = CultureInfo.InvariantCulture;
        string filtered = p.SamplesEstimated
            ? string.Create(c, $"an estimate: {p.PassRate:P0} of the {p.Measured.Count} measured samples were kept{(p.Filter == "correct" ? " by the correctness filter" : "")}")
            : p.Filter == "none" ? "exact: no correctness filter" : "exact: every sample was measured";
        var lines = new List<string>
        {
            $"model        {p.Variant}  {p.Model}",
            $"experiment   {p.Experiment}, task {p.Task}, window {p.Window}, engine {p.Engine}",
            $"rows         {p.RowsInFile} in the file, {p.InSlice} in the slice, {p.AlreadyDone} already done, {p.ToRun} to run",
            $"samples      {p.SamplesAfterFilter} after the filter ({filtered})",
            $"knockouts    {p.KnockoutsTotal} in total ({p.KnockoutsPerSample} per sample)",
        };
        if (p.Shards > 1)
            lines.Add($"per shard    {p.Shards} shards: at most {p.SamplesPerShard} samples and {p.KnockoutsPerShard} knockouts each");
        lines.Add($"fixed        start-up {p.StartupSeconds:F1} s, model load {p.LoadSeconds:F1} s, first-sample warm-up {p.FirstSampleExtraSeconds:F1} s, report {p.ReportSeconds:F1} s");
        if (p.VerifyCells > 0)
            lines.Add($"self-check   {p.VerifyCells} knockout cells recomputed on the naive engine (--verify), {p.VerifySeconds:F1} s (in the totals)");
        foreach (var e in new[] { p.Fast, p.Naive })
        {
            string mark = e.Engine == p.Engine ? "  <- this run" : "";
            lines.Add($"{e.Engine + " engine",-12} {Duration(e.TotalSeconds)} in total, {e.SecondsPerUsedSample:F2} s per used sample" +
                (p.Shards > 1 ? $"; {Duration(e.PerShardSeconds)} per shard" : "") + mark);
        }
        lines.Add($"memory       peak RSS {p.Memory.PeakRssMb:F0} MB (process high-water mark: managed heap {p.Memory.ManagedHeapMb:F0} MB, native tensors + mapped weights + runtime {p.Memory.NativeAndMappedMb:F0} MB)");
        lines.Add("measured     " + string.Join("; ", p.Measured.Select(m => $"{m.QuestionId} {m.TotalSeconds:F2} s" + (m.Used ? "" : $" (excluded: {m.ExcludedReason})"))));
        return lines;
    }

    /// <summary>Seconds as h:mm:ss (d.hh:mm:ss beyond a day).</summary>
    public static string Duration(double seconds)
    {
        var t = TimeSpan.FromSeconds(Math.Round(seconds));
        return (t.TotalDays >= 1 ? t.ToString(@"d\.hh\:mm\:ss", CultureInfo.InvariantCulture) : t.ToString(@"h\:mm\:ss", CultureInfo.InvariantCulture)) + string.Create(CultureInfo.InvariantCulture, $" ({seconds:F1} s)");
    }
}

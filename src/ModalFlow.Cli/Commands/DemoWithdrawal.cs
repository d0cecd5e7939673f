using System.Diagnostics;
using System.Globalization;
using ModalFlow.Experiments;
using ModalFlow.Inference;
using ModalFlow.Results;
using ModalFlow.Toy;

namespace ModalFlow.Cli.Commands;

/// <summary>
/// `modalflow demo --withdrawal`: image-token withdrawal (every K) and FastV pruning vs random (every K = 1 … L−1, four
/// keep fractions) on the six toy tasks, pooled into one results folder (tables, figures, report section).
/// </summary>
public static class DemoWithdrawal
{
    /// <summary>The keep fractions of the demo's prune grid: FastV's defaults and a harsher 10%.</summary>
    public static IReadOnlyList<double> Keep { get; } = [0.75, 0.5, 0.25, 0.1];

    /// <summary>Runs both experiments per task into <c>dir/runs/{withdrawal,prune}/Task</c> and the pooled results into <c>dir/withdrawal</c>.</summary>
    public static ResultsOutput Run(TextWriter log, string dir, string modelDir, string dataDir, int perTask, string modelName, Stopwatch sw)
    {
        int layers = ModelFolder.Read(modelDir).Decoder.Layers;
        var grid = new PruneGrid(Keep, [.. Enumerable.Range(1, Math.Max(1, layers - 1))]);
        var parts = new List<RunResults>();
        foreach (var exp in new[] { ExperimentDefinition.Withdrawal, ExperimentDefinition.Prune })
        {
            foreach (var (task, _) in ToyWorld.Tasks)
            {
                var runDir = Path.Combine(dir, "runs", exp.Name, task);
                var summary = ExperimentRunner.Run(new RunOptions
                {
                    Model = modelDir, Task = Path.Combine(dataDir, $"toy_{task}.csv"), Images = Path.Combine(dataDir, "images"), Experiment = exp,
                    Out = runDir, Limit = perTask, Prune = grid,
                });
                using var store = RunStore.Open(Path.Combine(runDir, RunStore.FileName));
                parts.Add(store.Results());
                log.WriteLine($"    {exp.Name,-10} {task,-12} {summary.Used,3} used, {summary.Excluded,2} excluded  [{sw.Elapsed:mm\\:ss}]");
            }
        }
        var all = new RunResults([.. parts.SelectMany(r => r.Knockout)], [], [.. parts.SelectMany(r => r.Excluded)], [.. parts.SelectMany(r => r.Malformed)]);
        var output = ResultsPipeline.Run(Path.Combine(dir, "withdrawal"), all, new ResultsOptions
        {
            Figures = FigureOptions.Default with { ModelName = modelName },
        });
        foreach (var line in Summary(output.Withdrawal.Droppable, grid)) log.WriteLine("    " + line);
        return output;
    }

    /// <summary>Per task: the earliest K from which every image token can go, and what FastV / random can drop at each K (≤ 1 point).</summary>
    public static IReadOnlyList<string> Summary(IReadOnlyList<WithdrawalDroppable> droppable, PruneGrid grid)
    {
        var first = droppable.Where(d => d.Subword == ResultNames.FirstSubword).ToList();
        var lines = new List<string>
        {
            $"{"task",-12} {"all gone from K",15}  " + string.Join("  ", grid.At.Select(k => $"K={k} FastV/random")),
        };
        foreach (var task in first.Select(d => d.Task).Distinct())
        {
            var all = first.FirstOrDefault(d => d.Task == task && d.Rule == WithdrawalRule.All);
            string Cell(WithdrawalRule rule, int k) => first.FirstOrDefault(d => d.Task == task && d.Rule == rule && d.Layer == k) is { } d
                ? (100 * d.Dropped).ToString("F0", CultureInfo.InvariantCulture) + "%" : "—";
            lines.Add($"{task,-12} {(all is null ? "—" : all.Layer.ToString(CultureInfo.InvariantCulture)),15}  " +
                string.Join("  ", grid.At.Select(k => $"{Cell(WithdrawalRule.FastV, k) + " / " + Cell(WithdrawalRule.Random, k),16}")));
        }
        return lines;
    }
}

using System.Diagnostics;
using ModalFlow.Data;
using ModalFlow.Inference;
using ModalFlow.Platform;
using ModalFlow.Results;
using ModalFlow.Tracing;
using static TorchSharp.torch;

namespace ModalFlow.Experiments;

/// <summary>How the planner measures.</summary>
public sealed record CostPlanSettings
{
    /// <summary>Shards the work is split into (`--shards`): the per-shard figures are for the largest shard.</summary>
    public int Shards { get; init; } = 1;

    /// <summary>Real samples of the task run as `run` runs them (the first of the slice not yet done): at least this many.</summary>
    public int Samples { get; init; } = 2;

    /// <summary>
    /// More samples (up to <see cref="MaxSamples"/>) while the ones after the first have taken less than this: a sample of
    /// a small model takes tens of milliseconds, and one such sample is too noisy to project hundreds from.
    /// </summary>
    public double MinSteadySeconds { get; init; } = 10;

    /// <summary>The most samples measured (<see cref="MinSteadySeconds"/>).</summary>
    public int MaxSamples { get; init; } = 10;

    /// <summary>Naive-engine knockouts timed per plan (each one full forward; the fast engine runs every spec of a sample).</summary>
    public int NaiveKnockouts { get; init; } = 3;

    /// <summary>The report settings `run` would use (null: the defaults; bootstrap intervals with --preset paper).</summary>
    public ResultsOptions? Results { get; init; }
}

/// <summary>One measured sample: where its time went (seconds per <see cref="SamplePhase"/>) and what it asked of the engines.</summary>
public sealed record MeasuredSample(string QuestionId, bool Used, string? ExcludedReason, IReadOnlyDictionary<string, double> PhaseSeconds,
    double TotalSeconds, int Knockouts, int BlockingKnockouts, double FastKnockoutSeconds, int NaiveKnockoutsTimed, double NaiveKnockoutSeconds)
{
    /// <summary>Up to the correctness filter: prepare + clean + answer (what every sample of the slice costs).</summary>
    public double BeforeFilterSeconds => PhaseSeconds.Where(kv => kv.Key is nameof(SamplePhase.Prepare) or nameof(SamplePhase.Clean) or nameof(SamplePhase.Answer)).Sum(kv => kv.Value);

    /// <summary>After the filter with the fast engine: the measurement (engine and row building) and the commit.</summary>
    public double AfterFilterFastSeconds => TotalSeconds - BeforeFilterSeconds - NaiveKnockoutSeconds;

    /// <summary>
    /// After the filter with the naive engine: the fast engine's time replaced by the naive engine's time per knockout
    /// (one full forward each) × the knockouts that block something (the others are p2 = p1 without a forward).
    /// </summary>
    public double AfterFilterNaiveSeconds =>
        AfterFilterFastSeconds - FastKnockoutSeconds + (NaiveKnockoutsTimed > 0 ? NaiveKnockoutSeconds / NaiveKnockoutsTimed * BlockingKnockouts : 0);
}

/// <summary>Projected wall time of one engine: the whole slice in one process, and the largest of <see cref="CostPlan.Shards"/> shards.</summary>
/// <param name="SecondsPerUsedSample">Steady-state seconds per sample that passes the filter (everything `run` does for it).</param>
public sealed record EngineProjection(string Engine, double SecondsPerUsedSample, double TotalSeconds, double PerShardSeconds);

/// <summary>Memory the planner's process reached while it did what `run` does (model loaded, samples, both engines, report).</summary>
/// <param name="PeakRssMb">Process peak resident set (VmHWM): managed heap + libtorch's native tensors + the mapped weights.</param>
/// <param name="ManagedHeapMb">The .NET GC heap at the end.</param>
/// <param name="NativeAndMappedMb">Peak RSS minus the managed heap: libtorch tensors, weights, runtime.</param>
public sealed record MemoryEstimate(double PeakRssMb, double ManagedHeapMb, double NativeAndMappedMb);

/// <summary>What `modalflow plan` prints: counts derived from the run's own code and a wall-time projection from measured samples.</summary>
public sealed record CostPlan(
    string Model, string Variant, string Task, string Experiment, int Window, string Engine, string Filter,
    int RowsInFile, int InSlice, int AlreadyDone, int ToRun,
    int SamplesAfterFilter, bool SamplesEstimated, double PassRate,
    int KnockoutsPerSample, long KnockoutsTotal,
    int Shards, int SamplesPerShard, long KnockoutsPerShard,
    double StartupSeconds, double LoadSeconds, double FirstSampleExtraSeconds, double ReportSeconds,
    EngineProjection Fast, EngineProjection Naive, MemoryEstimate Memory,
    IReadOnlyList<MeasuredSample> Measured)
{
    /// <summary>`--verify`'s naive recomputes in the whole run: its share of the knockouts (at least one), each one naive forward.</summary>
    public long VerifyCells { get; init; }

    /// <summary>Their projected seconds (included in the totals).</summary>
    public double VerifySeconds { get; init; }

    /// <summary>The projection for the engine the options chose.</summary>
    public EngineProjection Chosen => Engine == "naive" ? Naive : Fast;

    /// <summary>⌈n / shards⌉: the largest shard's share (shard 1 of <see cref="ExperimentRunner.Slice"/> takes rows 0, n, 2n, …).</summary>
    public static int PerShard(int n, int shards) => (n + shards - 1) / shards;
}

/// <summary>
/// `modalflow plan`: loads the model, runs the first one or two samples of the slice through the runner's own per-sample
/// code (into a throw-away store) with the phases timed and the knockouts counted, times the fast engine on every knockout
/// of a sample and the naive engine on a handful, times the report step on rows like the run's, and projects.
/// </summary>
public static class CostPlanner
{
    public static CostPlan Plan(RunOptions o, CostPlanSettings settings, Action<string>? progress = null)
    {
        if (settings.Shards < 1) throw new InputException(null, "--shards", $"{settings.Shards}; expected at least 1");
        double startup = ModalFlow.Platform.ProcessClock.SecondsSinceStart();   // runtime + libtorch start, as `run` pays it
        o.Validate();
        var load = o.LoadOptions();
        var folder = ModelFolder.Read(o.Model, load);
        var data = GqaTaskReader.Read(o.Task, o.DataFolder ?? ".");
        var slice = ExperimentRunner.Slice(data.Rows, o.Limit, o.ShardIndex, o.ShardCount);
        var finished = AlreadyFinished(o.Out);
        var todo = slice.Where(r => !finished.Contains((r.Task, r.QuestionId))).ToList();

        var sw = Stopwatch.StartNew();
        using var model = folder.Load(load);
        double loadSeconds = sw.Elapsed.TotalSeconds;
        progress?.Invoke($"plan: model loaded in {loadSeconds:F1} s; {todo.Count} of {slice.Count} samples in the slice to run");

        var scratch = Directory.CreateTempSubdirectory("modalflow-plan-");
        try
        {
            var measured = new List<MeasuredSample>();
            var engine = new CostProbeEngine(settings.NaiveKnockouts);
            // The measured samples run without the self-check: which cells it picks varies by sample, so its cost is projected
            // from the knockout count and the naive engine's time per knockout instead.
            var check = new ExperimentRunner.SelfCheckState(0, anyChecked: true);
            var patches = o.Experiment.Blocks.Any(b => b.Contains("Patches", StringComparison.Ordinal) || b.Contains("Central Object", StringComparison.Ordinal))
                ? folder.PatchMapper(o.ImageMode)
                : null;
            var resolver = new TaskPositionResolver(patches, randomSeed: o.RandomSeed);
            var blocks = o.Experiment.Blocks.Select(BlockDescriptor.Parse).ToList();
            var storePath = Path.Combine(scratch.FullName, "measure", RunStore.FileName);
            var trimmer = new NativeHeapTrimmer();                          // as the run does between its samples
            RunResults rows;
            MeasuredSample? probe;
            using (var store = RunStore.Open(storePath))
            {
                store.BeginOrResume(ExperimentRunner.Manifest(o, data, folder));
                MeasuredSample Measure(GqaTaskRow row, RunOptions options)
                {
                    engine.Reset();
                    var clock = new SamplePhaseClock();
                    using (var scope = NewDisposeScope())
                        ExperimentRunner.ProcessSample(options, model, store, row, resolver, blocks, engine, check, new StageTimings(), clock);
                    trimmer.AfterSample();
                    double total = clock.Total;
                    var excluded = store.Excluded().FirstOrDefault(e => e.QuestionId == row.QuestionId && e.Task == row.Task);
                    var phases = Enum.GetValues<SamplePhase>().Where(clock.Reached).ToDictionary(p => p.ToString(), p => clock[p]);
                    var m = new MeasuredSample(row.QuestionId, excluded is null, excluded?.Reason, phases, total, engine.Knockouts, engine.Blocking,
                        engine.FastSeconds, engine.NaiveTimed, engine.NaiveSeconds);
                    progress?.Invoke($"plan: sample {row.QuestionId}: {total:F2} s ({string.Join(", ", phases.Select(kv => $"{kv.Key.ToLowerInvariant()} {kv.Value:F2}"))})" +
                        (excluded is null ? $", {m.Knockouts} knockouts" : $", excluded: {excluded.Reason}"));
                    return m;
                }
                foreach (var row in todo)
                {
                    if (measured.Count >= settings.Samples
                        && (measured.Count >= Math.Max(settings.Samples, settings.MaxSamples) || measured.Skip(1).Sum(m => m.TotalSeconds) >= settings.MinSteadySeconds))
                        break;
                    measured.Add(Measure(row, o));
                }

                // No measured sample passed the filter: time the measurement on one anyway (its cost does not depend on the
                // answer); it is a probe, not a sample of the plan.
                probe = measured.Any(m => m.Used) || todo.Count == 0 || o.Filter != "correct"
                    ? null
                    : Measure(todo[0] with { QuestionId = todo[0].QuestionId + "~probe" }, o with { Filter = "none" });
                rows = store.Results();
            }

            int used = measured.Count(m => m.Used);
            double passRate = measured.Count == 0 ? 1 : (double)used / measured.Count;
            int samplesAfter = measured.Count == todo.Count ? used : (int)Math.Round(todo.Count * passRate, MidpointRounding.AwayFromZero);
            // Exact only when every sample was measured or nothing can drop one (no filter, and none of the measured ones was excluded).
            bool estimated = measured.Count < todo.Count && (o.Filter == "correct" || measured.Any(m => !m.Used));
            var cost = measured.LastOrDefault(m => m.Used) ?? (probe is { Used: true } ? probe : null);

            // Steady state: the mean of the samples after the first (the first alone when it is the only one); what the
            // first one cost beyond that is paid once per process.
            var steady = measured.Count > 1 ? measured.Skip(1).ToList() : measured;
            var steadyUsed = steady.Where(m => m.Used).DefaultIfEmpty(cost).OfType<MeasuredSample>().ToList();
            double before = steady.Count > 0 ? steady.Average(m => m.BeforeFilterSeconds) : 0;
            double afterFast = steadyUsed.Count > 0 ? steadyUsed.Average(m => m.AfterFilterFastSeconds) : 0;
            double afterNaive = steadyUsed.Count > 0 ? steadyUsed.Average(m => m.AfterFilterNaiveSeconds) : 0;
            double firstExtra = measured.Count < 2 ? 0
                : Math.Max(0, measured[0].BeforeFilterSeconds - before + (measured[0].Used && steadyUsed.Count > 0 ? measured[0].AfterFilterFastSeconds - afterFast : 0));
            double excludedAfter = measured.Where(m => !m.Used).Select(m => m.TotalSeconds - m.BeforeFilterSeconds).DefaultIfEmpty(0).Average();

            progress?.Invoke("plan: timing the report step on rows like the run's");
            var costIds = cost is null ? [] : new HashSet<string> { cost.QuestionId };
            var report = ReportStep.Measure(scratch.FullName, rows, costIds, samplesAfter, settings.Results ?? DefaultResults(o), Path.GetFileName(Path.TrimEndingDirectorySeparator(o.Model)));
            var html = HtmlReportCost.Measure(Path.GetDirectoryName(storePath)!, scratch.FullName, measured.Count + (probe is null ? 0 : 1));

            int shardSamples = CostPlan.PerShard(todo.Count, settings.Shards);
            int shardUsed = CostPlan.PerShard(samplesAfter, settings.Shards);
            int naiveTimed = measured.Sum(m => m.NaiveKnockoutsTimed) + (probe?.NaiveKnockoutsTimed ?? 0);
            double naivePerKnockout = naiveTimed == 0 ? 0 : (measured.Sum(m => m.NaiveKnockoutSeconds) + (probe?.NaiveKnockoutSeconds ?? 0)) / naiveTimed;
            int perSample = cost?.Knockouts ?? 0;
            long VerifyCells(int nUsed) => o.Verify <= 0 || nUsed * (long)perSample == 0 ? 0 : Math.Max(1, (long)Math.Round(o.Verify * nUsed * perSample));
            EngineProjection Project(string name, double afterFilter)
            {
                double Total(int n, int nUsed) => startup + loadSeconds + (n > 0 ? firstExtra : 0) + n * before + nUsed * afterFilter
                    + (n - nUsed) * excludedAfter + report.For(nUsed) + html.For(n) + VerifyCells(nUsed) * naivePerKnockout;
                return new EngineProjection(name, before + afterFilter, Total(todo.Count, samplesAfter), Total(shardSamples, shardUsed));
            }
            long verifyCells = VerifyCells(samplesAfter);
            var fast = Project("fast", afterFast);
            var naive = Project("naive", afterNaive);

            GC.Collect();
            double managed = GC.GetTotalMemory(false) / 1048576.0, peak = ProcessMemory.PeakRssMb();
            return new CostPlan(Path.GetFullPath(o.Model), folder.Variant, data.Task, o.Experiment.Name, o.Window, o.Engine.ToString().ToLowerInvariant(), o.Filter,
                data.Rows.Length + data.Errors.Length, slice.Count, slice.Count - todo.Count, todo.Count,
                samplesAfter, estimated, passRate, perSample, (long)samplesAfter * perSample,
                settings.Shards, CostPlan.PerShard(samplesAfter, settings.Shards), (long)CostPlan.PerShard(samplesAfter, settings.Shards) * perSample,
                startup, loadSeconds, firstExtra, report.For(samplesAfter) + html.For(todo.Count), fast, naive, new MemoryEstimate(peak, managed, peak - managed), measured)
            {
                VerifyCells = verifyCells,
                VerifySeconds = verifyCells * naivePerKnockout,
            };
        }
        finally
        {
            try { scratch.Delete(true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>What `run` reports with when no --format/--ci/--shared-y is given (ReportCommand.Generate's choice).</summary>
    private static ResultsOptions DefaultResults(RunOptions o) =>
        ResultsOptions.Default with { Ci = o.Preset == PaperPreset.Name ? CiOptions.Bootstrap : ResultsOptions.Default.Ci };

    /// <summary>Samples of the slice already finished in an existing run folder (`run` skips them).</summary>
    private static HashSet<(string Task, string QuestionId)> AlreadyFinished(string outDir)
    {
        var path = outDir.Length == 0 ? "" : Path.Combine(outDir, RunStore.FileName);
        if (path.Length == 0 || !File.Exists(path)) return [];
        using var store = RunStore.Open(path);
        return store.FinishedSamples();
    }
}

using System.Diagnostics;
using ModalFlow.Checkpoints;
using ModalFlow.Data;
using ModalFlow.Inference;
using ModalFlow.Models;
using ModalFlow.Platform;
using ModalFlow.Results;
using ModalFlow.Text;
using ModalFlow.Tracing;
using ModalFlow.Vision;
using TorchSharp;
using static TorchSharp.torch;

namespace ModalFlow.Experiments;

/// <summary>Everything `modalflow run` needs; <see cref="Manifest"/> is the part that identifies the run.</summary>
public sealed record RunOptions
{
    public required string Model { get; init; }
    /// <summary>A task name (ChooseAttr …, found in <see cref="DataFolder"/>) or a CSV file.</summary>
    public required string Task { get; init; }
    public string? DataFolder { get; init; }
    public required string Images { get; init; }
    public required ExperimentDefinition Experiment { get; init; }
    public required string Out { get; init; }
    public int Window { get; init; } = 9;
    /// <summary>"first" (the paper's main results) or "final" sub-word of the answer (appendix).</summary>
    public string Subword { get; init; } = "first";
    /// <summary>"correct" (the paper: clean answer must equal the gold answer) or "none".</summary>
    public string Filter { get; init; } = "correct";
    public int? Limit { get; init; }
    public int ShardIndex { get; init; } = 1;
    public int ShardCount { get; init; } = 1;
    /// <summary>Compute dtype by name (<see cref="ComputeDTypes"/>): f32, bf16, f16.</summary>
    public string DType { get; init; } = "f32";
    /// <summary>cpu, cuda or cuda:N (<see cref="ComputeDevices"/>).</summary>
    public string Device { get; init; } = "cpu";
    /// <summary>LLaVA-1.5 image mode; null: the folder's own (<see cref="ModelFolder.Preprocessing"/>).</summary>
    public ImageMode? ImageMode { get; init; }
    public KnockoutEngineKind Engine { get; init; } = KnockoutEngineKind.Fast;
    public int MaxNewTokens { get; init; } = 32;
    public int RandomSeed { get; init; }
    /// <summary>An explicit tokenizer file (Llama-3 folders without one).</summary>
    public string? TokenizerFile { get; init; }
    /// <summary>LLaVA-NeXT anyres arithmetic; null = the folder's ecosystem default.</summary>
    public AnyresArithmetic? Anyres { get; init; }
    /// <summary>Original LLaVA checkpoints: the CLIP folder (null = a sibling named like mm_vision_tower's last component).</summary>
    public string? VisionTowerPath { get; init; }
    /// <summary>Take over the run folder even when its lock record names a process that cannot be checked (another host).</summary>
    public bool ForceUnlock { get; init; }
    /// <summary>Qwen2-VL smart_resize bounds (null = preprocessor_config.json's).</summary>
    public int? MinPixels { get; init; }
    public int? MaxPixels { get; init; }

    /// <summary>Load weights stored in the compute dtype from a mapping of their files (<see cref="Inference.LoadOptions.MapWeights"/>).</summary>
    public bool MapWeights { get; init; }

    /// <summary>
    /// "keep" (the paper): a knockout whose position set is empty (e.g. Experiment 3 related patches of a box covering the
    /// whole image) blocks nothing and adds p2 = p1 to its curve; "exclude": such a sample is skipped for the whole run.
    /// </summary>
    public string EmptySets { get; init; } = "keep";

    /// <summary>"paper" when <see cref="PaperPreset"/> chose the settings (recorded in the manifest), else "".</summary>
    public string Preset { get; init; } = "";

    /// <summary>
    /// Share of each sample's knockout cells recomputed with the naive engine (<see cref="SelfCheck"/>; at least one cell
    /// per run folder); 0 = off. Recorded in the manifest, but not part of a run's identity: it changes no result.
    /// </summary>
    public double Verify { get; init; } = SelfCheck.DefaultFraction;

    /// <summary>
    /// Test seam: wraps the engine the measurements use (e.g. a deliberately wrong one, to prove the self-check catches
    /// it). Null in every real run; never recorded.
    /// </summary>
    public Func<IKnockoutEngine, IKnockoutEngine>? EngineWrapper { get; init; }

    /// <summary>The (K, R) grid of <c>--experiment prune</c> (<c>--at</c>, <c>--keep</c>).</summary>
    public PruneGrid Prune { get; init; } = PruneGrid.Default;

    /// <summary>How the model is loaded (dtype, device, tokenizer, family settings).</summary>
    public LoadOptions LoadOptions() => new()
    {
        DType = ComputeDTypes.Parse(DType),
        Device = ComputeDevices.Parse(Device),
        TokenizerFile = TokenizerFile,
        Anyres = Anyres,
        VisionTowerPath = VisionTowerPath,
        MinPixels = MinPixels,
        MaxPixels = MaxPixels,
        MapWeights = MapWeights,
    };

    public void Validate()
    {
        if (Window < 1) throw new InputException(null, "--window", $"{Window}; expected a positive number of layers");
        if (Subword is not ("first" or "final")) throw new InputException(null, "--subword", $"'{Subword}'; expected first or final");
        if (Filter is not ("correct" or "none")) throw new InputException(null, "--filter", $"'{Filter}'; expected correct or none");
        if (EmptySets is not ("keep" or "exclude")) throw new InputException(null, "--empty-sets", $"'{EmptySets}'; expected keep or exclude");
        if (MaxNewTokens < 1) throw new InputException(null, "--max-new-tokens", $"{MaxNewTokens}; expected at least 1");
        if (!(Verify >= 0 && Verify <= 1)) throw new InputException(null, "--verify", $"{Verify}; expected a fraction of cells from 0 (off) to 1 (all)");
        ComputeDTypes.Parse(DType);
        if (Limit is < 1) throw new InputException(null, "--limit", $"{Limit}; expected a positive number of rows");
        if (ShardCount < 1 || ShardIndex < 1 || ShardIndex > ShardCount)
            throw new InputException(null, "--shard", $"{ShardIndex}/{ShardCount}; expected i/n with 1 <= i <= n");
        if (!Directory.Exists(Images)) throw new InputException(Images, "--images", "folder not found; expected the GQA images folder (<img_id>.jpg)");
        if (Experiment.Kind == ExperimentKind.Prune) Prune.Validate();
    }
}

public sealed record RunProgress(int Finished, int Total, int Used, int Excluded, string Current);

public sealed record RunSummary(string Out, string Task, string Experiment, int RowsInFile, int MalformedRows, int InSlice,
    int AlreadyDone, int Used, int Excluded, IReadOnlyDictionary<string, int> ExcludedByReason, TimeSpan Elapsed)
{
    /// <summary>Where this session's time went (samples done in this session only; a resumed run's earlier ones are not in it).</summary>
    public StageTimings Timings { get; init; } = new();
    /// <summary>The run folder's self-check over every sample so far (null when none was recorded).</summary>
    public VerificationSummary? Verification { get; init; }
}

/// <summary>
/// Runs one experiment over one task: reads the CSV, takes the shard's deterministic slice, and for every sample not
/// yet in the run store: preprocesses once, predicts greedily, filters, runs the clean pass, the knockout sweeps (fast
/// engine) and/or the logit lens, and commits the sample's rows in one transaction.
/// </summary>
public static class ExperimentRunner
{
    public static RunSummary Run(RunOptions o, Action<RunProgress>? progress = null, CancellationToken ct = default)
    {
        o.Validate();
        var load = o.LoadOptions();
        var timings = new StageTimings();
        var folder = ModelFolder.Read(o.Model, load);          // small files only: config, tokenizer, preprocessing
        if (o.Experiment.Kind == ExperimentKind.Prune) o.Prune.Validate(folder.Decoder.Layers);   // --at against the depth, before any sample
        var sw = Stopwatch.StartNew();
        var data = GqaTaskReader.Read(o.Task, o.DataFolder ?? ".");
        var slice = Slice(data.Rows, o.Limit, o.ShardIndex, o.ShardCount);
        Directory.CreateDirectory(o.Out);
        using var store = RunStore.OpenWriter(Path.Combine(o.Out, RunStore.FileName), o.ForceUnlock);   // one writer per run folder
        store.BeginOrResume(Manifest(o, data, folder));
        store.RecordRowErrors(data.Errors.Select(e => (e.File, e.Line, e.Field, e.Message)));
        var finished = store.FinishedSamples();
        int alreadyDone = slice.Count(r => finished.Contains((r.Task, r.QuestionId)));
        var todo = slice.Where(r => !finished.Contains((r.Task, r.QuestionId))).ToList();

        using var model = timings.Load(() => folder.Load(load));
        var patches = o.Experiment.Blocks.Any(b => b.Contains("Patches", StringComparison.Ordinal) || b.Contains("Central Object", StringComparison.Ordinal))
            ? folder.PatchMapper(o.ImageMode)
            : null;
        var resolver = new TaskPositionResolver(patches, randomSeed: o.RandomSeed);
        var blocks = o.Experiment.Blocks.Select(BlockDescriptor.Parse).ToList();
        var engine = KnockoutEngine.Create(o.Engine);
        if (o.EngineWrapper is not null) engine = o.EngineWrapper(engine);
        var check = new SelfCheckState(o.Verify, store.Verification() is { Cells: > 0 });

        int done = 0;
        var trimmer = new NativeHeapTrimmer();
        // Samples wait after their clean pass until a group is full, then their answers are decoded in lockstep (one weight
        // read per token for the group) and each is finished and committed in row order. Each answer is the one it gets alone.
        int groupRows = Generation.LockstepRows(model.Decoder);
        var group = new List<PreparedSample>();
        void FinishGroup()
        {
            try
            {
                if (group.Count == 0) return;
                IReadOnlyList<Prediction> predictions;
                using (var scope = NewDisposeScope())
                    predictions = timings.Generation(() => Predictor.PredictMany(model, group.Select(g => (g.Input, g.Clean)).ToList(), o.MaxNewTokens));
                for (int i = 0; i < group.Count; i++)
                {
                    using (var scope = NewDisposeScope())
                        FinishSample(o, model, store, group[i], predictions[i], resolver, blocks, engine, check, timings);
                    group[i].Dispose();                                                  // its memory back before the next sample's
                    trimmer.AfterSample();
                    done++;
                }
            }
            finally
            {
                foreach (var g in group) g.Dispose();
                group.Clear();
            }
        }
        try
        {
            foreach (var row in todo)
            {
                if (ct.IsCancellationRequested) FinishGroup();                   // what is prepared is committed before stopping
                ct.ThrowIfCancellationRequested();
                progress?.Invoke(new RunProgress(alreadyDone + done, slice.Count, 0, 0, row.QuestionId));
                PreparedSample? prepared;
                using (var scope = NewDisposeScope())
                    prepared = PrepareSample(o, model, store, row, timings);
                if (prepared is null)
                {
                    done++;
                    continue;
                }
                group.Add(prepared);
                if (group.Count >= groupRows || group.Sum(g => g.Clean.Bytes) >= LockstepGroupBytes) FinishGroup();
            }
            FinishGroup();
        }
        finally
        {
            foreach (var g in group) g.Dispose();
        }
        store.Timings = timings.ToJson();
        var (used, excluded) = store.Counts();
        var reasons = store.Excluded().GroupBy(e => e.Reason).ToDictionary(g => g.Key, g => g.Count());
        progress?.Invoke(new RunProgress(slice.Count, slice.Count, used, excluded, ""));
        return new RunSummary(o.Out, data.Task, o.Experiment.Name, data.Rows.Length + data.Errors.Length, data.Errors.Length, slice.Count,
            alreadyDone, used, excluded, reasons, sw.Elapsed)
        {
            Timings = timings,
            Verification = store.Verification(),
        };
    }

    /// <summary>The shard's rows: the first <paramref name="limit"/> valid rows in file order, then every n-th from i.</summary>
    public static IReadOnlyList<GqaTaskRow> Slice(IReadOnlyList<GqaTaskRow> rows, int? limit, int shardIndex, int shardCount) =>
        rows.Take(limit ?? int.MaxValue).Where((_, k) => k % shardCount == shardIndex - 1).ToList();

    public static RunManifest Manifest(RunOptions o, TaskReadResult data, ModelFolder folder) => new()
    {
        Model = Path.GetFullPath(o.Model),
        Family = folder.Family.Name,
        CheckpointFingerprint = folder.Fingerprint(),
        DType = o.DType,
        Device = o.Device,
        Task = data.Task,
        DataFile = Path.GetFullPath(data.File),
        DataFingerprint = Fingerprint.OfFile(data.File),
        Images = Path.GetFullPath(o.Images),
        Experiment = o.Experiment.Name + (o.Experiment.Name == "custom" || o.Experiment.Blocks.Count > 0 ? ":" + string.Join("|", o.Experiment.Blocks) : ""),
        Window = o.Window,
        Subword = o.Subword,
        Filter = o.Filter,
        EmptySets = o.EmptySets,
        Preset = o.Preset,
        Prune = o.Experiment.Kind == ExperimentKind.Prune ? o.Prune.Describe() : "",
        MaxNewTokens = o.MaxNewTokens,
        Preprocessing = folder.Preprocessing(o.ImageMode),
        Engine = o.Engine.ToString().ToLowerInvariant(),
        Tokenizer = o.TokenizerFile is null ? "" : Fingerprint.OfFile(o.TokenizerFile),
        Limit = o.Limit,
        ShardIndex = o.ShardIndex,
        ShardCount = o.ShardCount,
        CodeVersion = CodeVersion.Current,
        Verify = o.Verify,
    };

    /// <summary>The self-check's settings and whether this run folder has checked a cell yet (at least one per folder).</summary>
    internal sealed class SelfCheckState(double fraction, bool anyChecked)
    {
        public double Fraction { get; } = fraction;
        public bool AnyChecked { get; set; } = anyChecked;
        public NaiveKnockoutEngine Reference { get; } = new();
    }

    /// <summary>
    /// A group of samples waiting for their answers closes once their clean runs hold this much: a LLaVA-1.5-7B sample in
    /// float32 holds about 1 GB (3 to a group), a 1024-wide benchmark sample 128 MB (a full group of 4: 0.5 GB).
    /// </summary>
    private const long LockstepGroupBytes = 2L << 30;

    /// <summary>A sample after its clean pass, before its answer: owns its input and clean run (disposed once, at the first call).</summary>
    internal sealed class PreparedSample(GqaTaskRow row, PreparedInput input, CleanRun clean) : IDisposable
    {
        private bool _disposed;
        public GqaTaskRow Row { get; } = row;
        public PreparedInput Input { get; } = input;
        public CleanRun Clean { get; } = clean;

        public void Dispose()
        {
            if (_disposed) return;
            _disposed = true;
            Clean.Dispose();
            Input.Dispose();
        }
    }

    /// <summary>
    /// One sample, as `run` does it, committed to <paramref name="store"/>; <paramref name="clock"/> (the cost planner's)
    /// is told when each phase ends.
    /// </summary>
    internal static void ProcessSample(RunOptions o, LoadedModel m, RunStore store, GqaTaskRow row, TaskPositionResolver resolver,
        IReadOnlyList<BlockDescriptor> blocks, IKnockoutEngine engine, SelfCheckState check, StageTimings timings, SamplePhaseClock? clock = null)
    {
        using var sample = PrepareSample(o, m, store, row, timings, clock);
        if (sample is null) return;
        // The cost planner times the answer as `run` decodes it, in a group (of copies of this sample), and counts its share.
        int group = clock is null ? 1 : Generation.LockstepRows(m.Decoder);
        var prediction = timings.Generation(() => Predictor.PredictMany(m, Enumerable.Repeat((sample.Input, sample.Clean), group).ToList(), o.MaxNewTokens)[0]);
        clock?.End(SamplePhase.Answer, sharedBy: group);
        FinishSample(o, m, store, sample, prediction, resolver, blocks, engine, check, timings, clock);
    }

    /// <summary>The image and prompt made ready and the clean pass run; null when the sample is excluded (committed as such).</summary>
    private static PreparedSample? PrepareSample(RunOptions o, LoadedModel m, RunStore store, GqaTaskRow row, StageTimings timings, SamplePhaseClock? clock = null)
    {
        void Exclude(string reason, string detail) => store.CommitExcluded(new ExcludedSample(row.Task, row.QuestionId, reason, detail));

        var imagePath = Path.Combine(o.Images, row.ImageFileName);
        if (!File.Exists(imagePath) && File.Exists(Path.Combine(o.Images, row.ImgId + ".png"))) imagePath = Path.Combine(o.Images, row.ImgId + ".png");
        if (!File.Exists(imagePath)) { Exclude("missing image", imagePath); return null; }
        PreparedInput input;
        try { input = timings.Vision(() => PreparedInput.Create(m, imagePath, row.Question, o.ImageMode)); }
        catch (InputException e) { Exclude("bad input", e.Message); return null; }
        clock?.End(SamplePhase.Prepare);
        try
        {
            // One clean forward per sample: it gives the first token's distribution, the greedy answer continues from a
            // fork of its KV cache, and (first sub-word) it is the clean run every knockout reads.
            // FastV's ranking reads the clean run's attention from the last position: kept only when pruning.
            bool attention = o.Experiment.Kind == ExperimentKind.Prune;
            var clean = timings.Clean(() => CleanRun.Create(m.Decoder, input.Embeds, input.Positions, keepLastRowAttention: attention));
            clock?.End(SamplePhase.Clean);
            return new PreparedSample(row, input, clean);
        }
        catch
        {
            input.Dispose();
            throw;
        }
    }

    /// <summary>The filter, the measurements and the self-check of a prepared sample given its answer; commits it.</summary>
    private static void FinishSample(RunOptions o, LoadedModel m, RunStore store, PreparedSample prepared, Prediction prediction,
        TaskPositionResolver resolver, IReadOnlyList<BlockDescriptor> blocks, IKnockoutEngine engine, SelfCheckState check, StageTimings timings,
        SamplePhaseClock? clock = null)
    {
        var (row, input, clean) = (prepared.Row, prepared.Input, prepared.Clean);
        void Exclude(string reason, string detail) => store.CommitExcluded(new ExcludedSample(row.Task, row.QuestionId, reason, detail));

        bool attention = o.Experiment.Kind == ExperimentKind.Prune;
        var predicted = prediction.Answer.Trim().ToLowerInvariant();
        if (o.Filter == "correct" && predicted != row.Answer.Trim().ToLowerInvariant())
        {
            Exclude("incorrect", $"predicted '{predicted}', gold '{row.Answer}'");
            return;
        }
        var answerTokens = prediction.AnswerTokenIds;
        if (answerTokens.Count == 0) { Exclude("empty answer", "the model produced end-of-sequence first"); return; }

        // Final sub-word: the answer teacher-forced up to its last token, whose probability is then tracked at the
        // new last position (a second clean pass over the longer sequence).
        using var final = o.Subword == "final" && answerTokens.Count > 1 ? timings.Clean(() => FinalSubwordRun(m, input, answerTokens, attention)) : null;
        clock?.End(SamplePhase.Clean);
        var run = final ?? clean;
        int last = (int)run.SeqLen - 1;
        long target = run.TargetTokenId;

        var sets = new Dictionary<string, PositionSet>(StringComparer.Ordinal);
        PositionSet Resolve(string name, SequenceLayout layout)
        {
            if (sets.TryGetValue(name, out var known)) return known;
            return sets[name] = name == NamedPositions.Last ? PositionSet.Of(NamedPositions.Last, [last]) : resolver.Resolve(name, row, layout);
        }
        try
        {
            foreach (var b in blocks) { Resolve(b.Source, input.Layout); Resolve(b.Target, input.Layout); }
        }
        catch (InputException e) { Exclude("position set", e.Message); return; }
        var empty = sets.Where(kv => kv.Value.Count == 0).Select(kv => kv.Key).Order(StringComparer.Ordinal).ToList();
        if (empty.Count > 0 && o.EmptySets == "exclude")
        {
            Exclude(ExcludedSample.EmptyPositionSetReason, $"{string.Join(", ", empty)} empty (with --empty-sets keep, the paper's choice, it would block nothing)");
            return;
        }

        var recorder = new RecordingEngine(engine);
        var sample = new SampleContext(o, m, row, input, clean, run, predicted, target, recorder, blocks, Resolve);
        var measured = timings.Knockouts(() => Measurements.For(o.Experiment.Kind)(sample));
        // The self-check: a share of this sample's cells recomputed by the naive engine on the same clean run, stored
        // with the sample's rows in one transaction; a disagreement stops the run after the sample is stored.
        clock?.End(SamplePhase.Measure);
        var verification = SelfCheck.Verify(row.Task, row.QuestionId, recorder, check.Fraction, atLeastOne: !check.AnyChecked,
            VerificationSummary.ToleranceFor(o.DType), check.Reference);
        store.CommitSample(row.Task, row.QuestionId, measured.Knockout, measured.Lens, empty.Count > 0 ? SampleNote.NothingBlocked(empty) : null, verification);
        check.AnyChecked |= verification.Cells > 0;
        clock?.End(SamplePhase.Commit);
        if (!verification.Passed) throw new SelfCheckFailedException(verification, Path.GetFullPath(o.Out));
    }

    /// <summary>The clean run of the prompt followed by the answer's tokens but its last, tracking the last token.</summary>
    private static CleanRun FinalSubwordRun(LoadedModel m, PreparedInput input, IReadOnlyList<long> answerTokens, bool keepLastRowAttention)
    {
        using var scope = NewDisposeScope();
        var decoder = m.Decoder;
        int extra = answerTokens.Count - 1;
        var prefix = tensor(answerTokens.Take(extra).ToArray(), dtype: ScalarType.Int64, device: decoder.Device).unsqueeze(0);
        var embeds = cat([input.Embeds, decoder.Embed(prefix)], 1);
        return CleanRun.Create(decoder, embeds, input.Positions.Append(extra), answerTokens[^1], keepLastRowAttention);
    }

}

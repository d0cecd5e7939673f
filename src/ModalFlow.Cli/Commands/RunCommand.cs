using System.CommandLine;
using System.Diagnostics;
using ModalFlow.Data;
using ModalFlow.Experiments;
using ModalFlow.Inference;
using ModalFlow.Results;
using Spectre.Console;

namespace ModalFlow.Cli.Commands;

/// <summary>`modalflow run`: one experiment over one task into a resumable run store, then exports and figures.</summary>
public static class RunCommand
{
    public static Command Create(CliContext ctx)
    {
        var model = CommonOptions.Model();
        var task = new Option<string?>("--task") { Description = "Task name: ChooseAttr, ChooseCat, ChooseRel, CompareAttr, LogicalObj, QueryAttr (found in --data-dir)", HelpName = "NAME" };
        var data = new Option<string?>("--data") { Description = "A task CSV file (instead of --task)", HelpName = "CSV" };
        var dataDir = new Option<string>("--data-dir") { Description = "Folder with the paper's task CSVs (<prefix>_<Task>.csv)", DefaultValueFactory = _ => "datasets", HelpName = "DIR" };
        var images = new Option<string>("--images") { Description = "Folder of the images (<img_id>.jpg or <img_id>.png)", Required = true, HelpName = "DIR" };
        var experiment = CommonOptions.Choice<string>("--experiment",
            "1 (Image/Question/Last->Last), 2 (Image->Question), 3 (object patches->Question), 4 (logit lens), custom (only the --block ones), " +
            "heads (per-head maps of the --block ones: each query head knocked out alone and all heads but one; in grouped-query models the unit is a query head), withdrawal (every image token withdrawn from layer K on, every K), prune (FastV-ranked vs random image tokens withdrawn, --keep x --at)", null!,
            "1", "2", "3", "4", "custom", ExperimentDefinition.HeadsName, "withdrawal", "prune");
        experiment.Required = true;
        var positionNames = TaskPositionResolver.Names.Concat([TaskPositionResolver.PaperRelatedName, TaskPositionResolver.PaperOtherName]).ToList();
        var blocks = CommonOptions.Blocks("Extra (or, with --experiment custom, the) blocks, repeatable, e.g. 'True Option->Last'", positionNames);
        var window = CommonOptions.Int("--window", "Window size k (layers around each centre layer); --experiment heads: 1 unless given", 9);
        var verify = Fraction("--verify",
            $"Self-check: share of each sample's knockout cells recomputed with the naive engine (deterministic; at least one per run folder); 0 = off. A difference in p(answer) above {VerificationSummary.Float32Tolerance:0e0} (f32; f16 {VerificationSummary.Float16Tolerance:0e0}, bf16 {VerificationSummary.BFloat16Tolerance:0e0}) stops the run with exit 3",
            SelfCheck.DefaultFraction);
        var limit = CommonOptions.OptionalInt("--limit", "Use only the first N valid rows of the task");
        var shard = new Option<string>("--shard") { Description = "i/n: this process's deterministic slice (every n-th row from i)", DefaultValueFactory = _ => "1/1", HelpName = "i/n" };
        shard.Validators.Add(r =>
        {
            foreach (var t in r.Tokens)
                if (TryParseShard(t.Value) is null) r.AddError($"--shard: '{t.Value}'; expected i/n with 1 <= i <= n, e.g. 3/8");
        });
        var subword = CommonOptions.Choice("--subword", "first (paper main text) or final sub-word of the answer", "first", "first", "final");
        var filter = CommonOptions.Choice("--filter", "correct: keep samples whose clean answer equals the gold one (the paper); none: keep all", "correct", "correct", "none");
        var outDir = CommonOptions.Out("Run folder (run.sqlite, exports, figures); the same command resumes it; one writer at a time");
        var forceUnlock = new Option<bool>("--force-unlock")
        {
            Description = "Take over the run folder even though its lock (run.lock) names a process on another host that cannot be checked from here; only when that process is gone",
        };
        var mode = CommonOptions.ImageMode();
        var engine = CommonOptions.Engine();
        var maxNew = CommonOptions.Int("--max-new-tokens", "Greedy answer length limit for the correctness filter (the paper: 128)", 32);
        var emptySets = CommonOptions.Choice("--empty-sets",
            "keep: a knockout whose position set is empty (e.g. Exp 3 with a box covering the whole image) blocks nothing, p2 = p1 (the paper); exclude: skip such samples",
            "keep", "keep", "exclude");
        var preset = CommonOptions.Choice<string?>("--preset",
            "paper: the paper's settings for a recognised model (by config geometry): window 7 (13b: 9), 128 new tokens, f16, pad / LLaVA-NeXT anyres, bootstrap CIs; explicit options win",
            null, PaperPreset.Name);
        var keep = CommonOptions.Fractions("--keep",
            "--experiment prune: fractions of the image tokens kept (0.5 or 50%), comma-separated", [.. PruneGrid.Default.Keep]);
        var at = CommonOptions.IntList("--at",
            "--experiment prune: layers K from which the other image tokens are withdrawn (1 … L-1; FastV ranks them by layer K-1's attention), comma-separated",
            [.. PruneGrid.Default.At], min: 1);
        var format = ReportCommand.Format();
        var ci = ReportCommand.Ci();
        var sharedY = ReportCommand.SharedY();
        var cmd = new Command("run", "Run an experiment of the paper over a task; resumable, shardable")
        {
            model, task, data, dataDir, images, experiment, blocks, window, limit, shard, subword, filter, outDir, mode, engine, maxNew, emptySets,
            preset, verify, keep, at, forceUnlock, format, ci, sharedY, CommonOptions.Compute, CommonOptions.ModelFolder,
        };
        cmd.SetAction((parse, ct) => Task.FromResult(ctx.Guard(parse, () =>
        {
            var (i, n) = ParseShard(parse.GetValue(shard)!);
            var t = parse.GetValue(task);
            var d = parse.GetValue(data);
            if ((t is null) == (d is null)) throw new InputException(null, "--task/--data", "give exactly one: a task name or a CSV file");
            if (t is not null) RunChecks.Task(t, parse.GetValue(dataDir)!);
            var load = CommonOptions.Load(parse);
            var experimentDef = ExperimentDefinition.Parse(parse.GetValue(experiment)!, parse.GetValue(blocks));
            foreach (var grid in new Option[] { keep, at })
                if (parse.GetResult(grid) is { Implicit: false } && experimentDef.Kind != ExperimentKind.Prune)
                    throw new InputException(null, grid.Name, $"applies to --experiment prune only (this run: --experiment {experimentDef.Name})");
            var o = new RunOptions
            {
                Model = parse.GetValue(model)!, Task = d ?? t!, DataFolder = parse.GetValue(dataDir), Images = parse.GetValue(images)!,
                Experiment = experimentDef, Out = parse.GetValue(outDir)!, Prune = new PruneGrid(parse.GetValue(keep)!, parse.GetValue(at)!),
                Window = parse.GetValue(window), Limit = parse.GetValue(limit), ShardIndex = i, ShardCount = n, Subword = parse.GetValue(subword)!,
                Filter = parse.GetValue(filter)!, DType = parse.GetValue(CommonOptions.DType)!, ImageMode = CommonOptions.ParseImageMode(parse.GetValue(mode)!),
                Engine = CommonOptions.ParseEngine(parse.GetValue(engine)!), TokenizerFile = load.TokenizerFile, Anyres = load.Anyres,
                VisionTowerPath = load.VisionTowerPath, ForceUnlock = parse.GetValue(forceUnlock), Device = parse.GetValue(CommonOptions.Device)!,
                MinPixels = load.MinPixels, MaxPixels = load.MaxPixels, MaxNewTokens = parse.GetValue(maxNew), EmptySets = parse.GetValue(emptySets)!,
                Verify = parse.GetValue(verify), EngineWrapper = ctx.EngineWrapper,
            };
            o.Validate();
            var folder = ModelFolder.Read(o.Model, o.LoadOptions());
            if (parse.GetValue(preset) == PaperPreset.Name)
            {
                var s = PaperPreset.For(folder);
                bool Given(Option option) => parse.GetResult(option) is { Implicit: false };
                o = PaperPreset.Apply(o, s) with
                {
                    Window = Given(window) ? o.Window : s.Window,
                    MaxNewTokens = Given(maxNew) ? o.MaxNewTokens : s.MaxNewTokens,
                    DType = Given(CommonOptions.DType) ? o.DType : s.DType,
                    ImageMode = Given(mode) ? o.ImageMode : s.ImageMode,
                    Anyres = Given(CommonOptions.AnyresMode) ? o.Anyres : s.Anyres,
                };
                ctx.Err.WriteLine($"preset paper: {s}" + (o.Window != s.Window || o.DType != s.DType || o.MaxNewTokens != s.MaxNewTokens ? "; explicit options kept where given" : ""));
                folder = ModelFolder.Read(o.Model, o.LoadOptions());
            }
            // Per-head maps look at one layer at a time unless a window is asked for.
            if (o.Experiment.Kind == ExperimentKind.Heads && parse.GetResult(window) is not { Implicit: false }) o = o with { Window = 1 };
            if (o.Experiment.Blocks.Count > 0 && RunChecks.WindowNote(o.Window, folder) is { } note) ctx.Err.WriteLine(note);
            if (o.Experiment.Kind == ExperimentKind.Prune) o.Prune.Validate(folder.Decoder.Layers);
            ctx.Err.WriteLine($"run: {folder.Variant}, experiment {o.Experiment.Name} ({o.Experiment.Title}{(o.Experiment.Kind == ExperimentKind.Prune ? ", " + o.Prune.Describe() : "")}), task {o.Task}, window {o.Window}, {o.Subword} sub-word, " +
                $"filter {o.Filter}, shard {i}/{n}, {o.DType} on {o.Device}, images {folder.Preprocessing(o.ImageMode)}, engine {o.Engine.ToString().ToLowerInvariant()} → {Path.GetFullPath(o.Out)}");
            if (RunFolderLock.ReadRecord(Path.Combine(o.Out, RunFolderLock.RecordName)) is { } previous && RunFolderLock.StateOf(previous) == HolderState.Dead)
                ctx.Err.WriteLine($"note: the run folder's last writer, {previous.Who}, is no longer running; taking over and resuming");
            var progress = new ProgressPrinter(ctx.Err);
            using var stop = StopSignal.Install(ctx.Err, ct);
            RunSummary summary;
            try { summary = ExperimentRunner.Run(o, progress.Report, stop.Token); }
            catch (SelfCheckFailedException e)
            {
                progress.Finish();
                ctx.Err.WriteLine(e.Message);
                ReportCommand.Generate(ctx, o.Out, ReportCommand.Options(parse, format, ci, sharedY));
                return CliContext.ExitSelfCheckFailed;
            }
            catch (OperationCanceledException) when (stop.Token.IsCancellationRequested)
            {
                progress.Finish();
                ctx.Err.WriteLine(Interrupted(o.Out, progress.Total, progress.FinishedAtStart));
                ctx.Err.WriteLine("Run the same command again to resume:");
                ctx.Err.WriteLine("  " + ctx.CommandLine);
                return stop.ExitCode;
            }
            progress.Finish();
            WriteSummary(ctx, summary);
            // A failed check stored by an earlier session of this run folder still fails the run.
            return ReportCommand.Generate(ctx, o.Out, ReportCommand.Options(parse, format, ci, sharedY), html: true) is { Passed: false }
                ? CliContext.ExitSelfCheckFailed : CliContext.ExitOk;
        })));
        return cmd;
    }

    /// <summary>A fraction option in [0, 1], checked at parse time.</summary>
    private static Option<double> Fraction(string name, string description, double defaultValue) => new(name)
    {
        Description = description, DefaultValueFactory = _ => defaultValue, HelpName = "FRACTION",
        CustomParser = r =>
        {
            var text = r.Tokens.Count > 0 ? r.Tokens[^1].Value : "";
            if (!double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double v) || !(v >= 0 && v <= 1))
            {
                r.AddError($"{name}: '{text}'; expected a fraction from 0 (off) to 1 (every cell), e.g. 0.01");
                return 0;
            }
            return v;
        },
    };

    /// <summary>How far an interrupted run got, from its store (what is committed is what counts).</summary>
    private static string Interrupted(string outDir, int? total, int? atStart)
    {
        var path = Path.Combine(outDir, RunStore.FileName);
        if (!File.Exists(path)) return "interrupted before the run store was created; nothing was written";
        using var store = RunStore.Open(path);
        var (done, excluded) = store.Counts();
        int finished = done + excluded;
        string of = total is { } t ? $" of {t}" : "";
        string now = atStart is { } s ? $", {finished - s} of them in this session" : "";
        return $"interrupted: {finished}{of} samples finished ({done} used, {excluded} excluded{now}), stored in {Path.GetFullPath(path)}";
    }

    public static (int Index, int Count) ParseShard(string s) =>
        TryParseShard(s) ?? throw new InputException(null, "--shard", $"'{s}'; expected i/n with 1 <= i <= n, e.g. 3/8");

    private static (int Index, int Count)? TryParseShard(string s)
    {
        var parts = s.Split('/');
        if (parts.Length == 2 && int.TryParse(parts[0], out int i) && int.TryParse(parts[1], out int n) && n >= 1 && i >= 1 && i <= n) return (i, n);
        return null;
    }

    private static void WriteSummary(CliContext ctx, RunSummary s)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(ctx.Out), Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors });
        var table = new Table().HideHeaders().AddColumn("").AddColumn("");
        table.AddRow("task", s.Task);
        table.AddRow("experiment", s.Experiment);
        table.AddRow("rows in file (malformed, skipped)", $"{s.RowsInFile} ({s.MalformedRows})");
        table.AddRow("rows in this slice", s.InSlice.ToString());
        table.AddRow("already done before this run", s.AlreadyDone.ToString());
        table.AddRow("samples used", s.Used.ToString());
        table.AddRow("samples excluded", s.Excluded + (s.ExcludedByReason.Count > 0 ? " (" + string.Join(", ", s.ExcludedByReason.Select(kv => $"{kv.Key}: {kv.Value}")) + ")" : ""));
        table.AddRow("elapsed", s.Elapsed.ToString(@"hh\:mm\:ss"));
        var t = s.Timings;
        table.AddRow("timings (s)", FormattableString.Invariant(
            $"load_s {t.LoadS:F2}, vision_s {t.VisionS:F2}, clean_s {t.CleanS:F2}, knockouts_s {t.KnockoutsS:F2}, generation_s {t.GenerationS:F2}, total_s {t.TotalS:F2}"));
        if (s.Verification is { } v)
        {
            table.AddRow("self-check", v.MaxFraction == 0 ? "off (--verify 0)"
                : v.NothingChecked ? "no knockout cells to recompute"
                : $"{v.Cells} of {v.TotalCells} cells, max |Δp2| {VerificationSummary.Scientific(v.MaxAbsDeltaP2)}: {(v.Passed ? "passed" : "FAILED")}");
            table.AddRow("self-check cost", v.Cost());
        }
        console.Write(table);
    }

    /// <summary>Progress with ETA on stderr: a redrawn line on a terminal, a line every 10% otherwise.</summary>
    private sealed class ProgressPrinter(TextWriter err)
    {
        private readonly Stopwatch _sw = Stopwatch.StartNew();
        private readonly bool _interactive = ReferenceEquals(err, Console.Error) && !Console.IsErrorRedirected;
        private int _firstFinished = -1, _lastDecile = -1;

        /// <summary>The slice's sample count, once the run has reported it.</summary>
        public int? Total { get; private set; }
        /// <summary>Samples already finished when this session started.</summary>
        public int? FinishedAtStart => _firstFinished < 0 ? null : _firstFinished;

        public void Report(RunProgress p)
        {
            Total = p.Total;
            if (_firstFinished < 0) { _firstFinished = p.Finished; _sw.Restart(); }
            int doneNow = p.Finished - _firstFinished;
            int left = p.Total - p.Finished;
            var eta = doneNow > 0 ? TimeSpan.FromSeconds(_sw.Elapsed.TotalSeconds / doneNow * left) : (TimeSpan?)null;
            double pct = p.Total == 0 ? 100 : 100.0 * p.Finished / p.Total;
            string bar = new string('#', (int)(pct / 5)).PadRight(20, '.');
            string line = $"[{bar}] {p.Finished}/{p.Total} {pct,5:F1}%  ETA {(eta is { } e ? e.ToString(@"hh\:mm\:ss") : "--:--:--")}  {p.Current}";
            if (_interactive) err.Write("\r" + line.PadRight(100));
            else if ((int)(pct / 10) != _lastDecile) { _lastDecile = (int)(pct / 10); err.WriteLine(line); }
        }

        public void Finish()
        {
            if (_interactive) err.WriteLine();
        }
    }
}

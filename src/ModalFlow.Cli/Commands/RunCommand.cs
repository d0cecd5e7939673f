using System.CommandLine;
using System.Diagnostics;
using ModalFlow.Experiments;
using ModalFlow.Results;
using Spectre.Console;

namespace ModalFlow.Cli.Commands;

/// <summary>`modalflow run`: one experiment over one task into a resumable run store, then exports and figures.</summary>
public static class RunCommand
{
    public static Command Create(CliContext ctx)
    {
        var args = new RunArguments("Run folder (run.sqlite, exports, figures); the same command resumes it; one writer at a time");
        var cmd = new Command("run", "Run an experiment of the paper over a task; resumable, shardable");
        cmd.Add(args.All);
        cmd.SetAction((parse, ct) => Task.FromResult(ctx.Guard(parse, () =>
        {
            var (o, folder) = args.Read(parse, ctx.Err, ctx.EngineWrapper);
            int i = o.ShardIndex, n = o.ShardCount;
            if (o.Experiment.Blocks.Count > 0 && RunChecks.WindowNote(o.Window, folder) is { } note) ctx.Err.WriteLine(note);
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
                ReportCommand.Generate(ctx, o.Out, args.ResultsOptions(parse));
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
            return ReportCommand.Generate(ctx, o.Out, args.ResultsOptions(parse), html: true) is { Passed: false }
                ? CliContext.ExitSelfCheckFailed : CliContext.ExitOk;
        })));
        return cmd;
    }

    /// <summary>A fraction option in [0, 1], checked at parse time.</summary>
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

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
        var model = CommonOptions.Model();
        var task = new Option<string?>("--task") { Description = "Task name: ChooseAttr, ChooseCat, ChooseRel, CompareAttr, LogicalObj, QueryAttr (found in --data-dir)" };
        var data = new Option<string?>("--data") { Description = "A task CSV file (instead of --task)" };
        var dataDir = new Option<string>("--data-dir") { Description = "Folder with the paper's six task CSVs", DefaultValueFactory = _ => "datasets" };
        var images = new Option<string>("--images") { Description = "Folder of GQA images (<img_id>.jpg)", Required = true };
        var experiment = new Option<string>("--experiment") { Description = "1 (Image/Question/Last->Last), 2 (Image->Question), 3 (object patches->Question), 4 (logit lens), custom", Required = true };
        var blocks = new Option<string[]>("--block") { Description = "Extra (or, with --experiment custom, the) blocks 'Source->Target', e.g. 'True Option->Last'" };
        var window = new Option<int>("--window") { Description = "Window size k", DefaultValueFactory = _ => 9 };
        var limit = new Option<int?>("--limit") { Description = "Use only the first N valid rows of the task" };
        var shard = new Option<string>("--shard") { Description = "i/n: this process's deterministic slice (every n-th row from i)", DefaultValueFactory = _ => "1/1" };
        var subword = new Option<string>("--subword") { Description = "first (paper main text) or final sub-word of the answer", DefaultValueFactory = _ => "first" }.AcceptOnlyFromAmong("first", "final");
        var filter = new Option<string>("--filter") { Description = "correct: keep samples whose clean answer equals the gold one (the paper); none: keep all", DefaultValueFactory = _ => "correct" }.AcceptOnlyFromAmong("correct", "none");
        var outDir = new Option<string>("--out") { Description = "Run folder (run.sqlite, exports, figures); the same command resumes it", Required = true };
        var dtype = CommonOptions.DType();
        var mode = CommonOptions.ImageMode();
        var engine = CommonOptions.Engine();
        var format = ReportCommand.Format();
        var ci = ReportCommand.Ci();
        var sharedY = ReportCommand.SharedY();
        var cmd = new Command("run", "Run an experiment of the paper over a task; resumable, shardable")
        {
            model, task, data, dataDir, images, experiment, blocks, window, limit, shard, subword, filter, outDir, dtype, mode, engine, format, ci, sharedY,
        };
        cmd.SetAction((parse, ct) => Task.FromResult(ctx.Guard(parse, () =>
        {
            var (i, n) = ParseShard(parse.GetValue(shard)!);
            var t = parse.GetValue(task);
            var d = parse.GetValue(data);
            if ((t is null) == (d is null)) throw new InputException(null, "--task/--data", "give exactly one: a task name or a CSV file");
            var o = new RunOptions
            {
                Model = parse.GetValue(model)!, Task = d ?? t!, DataFolder = parse.GetValue(dataDir), Images = parse.GetValue(images)!,
                Experiment = ExperimentDefinition.Parse(parse.GetValue(experiment)!, parse.GetValue(blocks)), Out = parse.GetValue(outDir)!,
                Window = parse.GetValue(window), Limit = parse.GetValue(limit), ShardIndex = i, ShardCount = n, Subword = parse.GetValue(subword)!,
                Filter = parse.GetValue(filter)!, DType = parse.GetValue(dtype)!, ImageMode = CommonOptions.ParseImageMode(parse.GetValue(mode)!),
                Engine = CommonOptions.ParseEngine(parse.GetValue(engine)!),
                TokenizerFile = CommonOptions.Load("f32", parse).TokenizerFile, Anyres = CommonOptions.Load("f32", parse).Anyres,
                VisionTowerPath = CommonOptions.Load("f32", parse).VisionTowerPath,
            };
            ctx.Err.WriteLine($"run: experiment {o.Experiment.Name} ({o.Experiment.Title}), task {o.Task}, window {o.Window}, {o.Subword} sub-word, filter {o.Filter}, shard {i}/{n}, {o.DType}, engine {o.Engine.ToString().ToLowerInvariant()} → {Path.GetFullPath(o.Out)}");
            var progress = new ProgressPrinter(ctx.Err);
            var summary = ExperimentRunner.Run(o, progress.Report, ct);
            progress.Finish();
            WriteSummary(ctx, summary);
            ReportCommand.Generate(ctx, o.Out, ReportCommand.Options(parse, format, ci, sharedY));
            return CliContext.ExitOk;
        })));
        return cmd;
    }

    public static (int Index, int Count) ParseShard(string s)
    {
        var parts = s.Split('/');
        if (parts.Length == 2 && int.TryParse(parts[0], out int i) && int.TryParse(parts[1], out int n) && n >= 1 && i >= 1 && i <= n) return (i, n);
        throw new InputException(null, "--shard", $"'{s}'; expected i/n with 1 <= i <= n, e.g. 3/8");
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
        console.Write(table);
    }

    /// <summary>Progress with ETA on stderr: a redrawn line on a terminal, a line every 10% otherwise.</summary>
    private sealed class ProgressPrinter(TextWriter err)
    {
        private readonly Stopwatch _sw = Stopwatch.StartNew();
        private readonly bool _interactive = ReferenceEquals(err, Console.Error) && !Console.IsErrorRedirected;
        private int _firstFinished = -1, _lastDecile = -1;

        public void Report(RunProgress p)
        {
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

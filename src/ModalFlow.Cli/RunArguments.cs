using System.CommandLine;
using ModalFlow.Data;
using ModalFlow.Experiments;
using ModalFlow.Inference;
using ModalFlow.Results;

namespace ModalFlow.Cli;

/// <summary>
/// The options of `run`, made once per verb and read into <see cref="RunOptions"/> by one method: `run` and `plan` both
/// take this group, so what `plan` projects is what `run` would do with the same command line (the two cannot drift).
/// </summary>
public sealed class RunArguments
{
    public Option<string> Model { get; } = CommonOptions.Model();
    public Option<string?> Task { get; } = new("--task") { Description = "Task name: ChooseAttr, ChooseCat, ChooseRel, CompareAttr, LogicalObj, QueryAttr (found in --data-dir)", HelpName = "NAME" };
    public Option<string?> Data { get; } = new("--data") { Description = "A task CSV file (instead of --task)", HelpName = "CSV" };
    public Option<string> DataDir { get; } = new("--data-dir") { Description = "Folder with the paper's task CSVs (<prefix>_<Task>.csv)", DefaultValueFactory = _ => "datasets", HelpName = "DIR" };
    public Option<string> Images { get; } = new("--images") { Description = "Folder of the images (<img_id>.jpg or <img_id>.png)", Required = true, HelpName = "DIR" };
    public Option<string> Experiment { get; } = ExperimentOption();
    public Option<double> Verify { get; } = Fraction("--verify",
        $"Self-check: share of each sample's knockout cells recomputed with the naive engine (deterministic; at least one per run folder); 0 = off. A difference in p(answer) above {VerificationSummary.Float32Tolerance:0e0} (f32; f16 {VerificationSummary.Float16Tolerance:0e0}, bf16 {VerificationSummary.BFloat16Tolerance:0e0}) stops the run with exit 3",
        SelfCheck.DefaultFraction);
    public Option<string[]> Blocks { get; } = CommonOptions.Blocks("Extra (or, with --experiment custom, the) blocks, repeatable, e.g. 'True Option->Last'",
        [.. TaskPositionResolver.Names, TaskPositionResolver.PaperRelatedName, TaskPositionResolver.PaperOtherName]);
    public Option<int> Window { get; } = CommonOptions.Int("--window", "Window size k (layers around each centre layer); --experiment heads: 1 unless given", 9);
    public Option<int?> Limit { get; } = CommonOptions.OptionalInt("--limit", "Use only the first N valid rows of the task");
    public Option<string> Shard { get; } = ShardOption();
    public Option<string> Subword { get; } = CommonOptions.Choice("--subword", "first (paper main text) or final sub-word of the answer", "first", "first", "final");
    public Option<string> Filter { get; } = CommonOptions.Choice("--filter", "correct: keep samples whose clean answer equals the gold one (the paper); none: keep all", "correct", "correct", "none");
    public Option<string> Out { get; }
    public Option<bool> ForceUnlock { get; } = new("--force-unlock")
    {
        Description = "Take over the run folder even though its lock (run.lock) names a process on another host that cannot be checked from here; only when that process is gone",
    };
    public Option<string> ImageMode { get; } = CommonOptions.ImageMode();
    public Option<string> Engine { get; } = CommonOptions.Engine();
    public Option<int> MaxNewTokens { get; } = CommonOptions.Int("--max-new-tokens", "Greedy answer length limit for the correctness filter (the paper: 128)", 32);
    public Option<string> EmptySets { get; } = CommonOptions.Choice("--empty-sets",
        "keep: a knockout whose position set is empty (e.g. Exp 3 with a box covering the whole image) blocks nothing, p2 = p1 (the paper); exclude: skip such samples",
        "keep", "keep", "exclude");
    public Option<string?> Preset { get; } = CommonOptions.Choice<string?>("--preset",
        "paper: the paper's settings for a recognised model (by config geometry): window 7 (13b: 9), 128 new tokens, f16, pad / LLaVA-NeXT anyres, bootstrap CIs; explicit options win",
        null, PaperPreset.Name);
    public Option<double[]> Keep { get; } = CommonOptions.Fractions("--keep",
        "--experiment prune: fractions of the image tokens kept (0.5 or 50%), comma-separated", [.. PruneGrid.Default.Keep]);
    public Option<int[]> At { get; } = CommonOptions.IntList("--at",
        "--experiment prune: layers K from which the other image tokens are withdrawn (1 … L-1; FastV ranks them by layer K-1's attention), comma-separated",
        [.. PruneGrid.Default.At], min: 1);
    public Option<string> Format { get; } = Commands.ReportCommand.Format();
    public Option<string?> Ci { get; } = Commands.ReportCommand.Ci();
    public Option<bool> SharedY { get; } = Commands.ReportCommand.SharedY();

    /// <param name="outDescription">What --out is to the verb.</param>
    /// <param name="outRequired">`run` needs a folder to write; `plan` only reads one (samples already done) when given.</param>
    public RunArguments(string outDescription, bool outRequired = true)
    {
        Out = new Option<string>("--out") { Description = outDescription, HelpName = "DIR", Required = outRequired };
    }

    /// <summary>Every option of the group, in the order help lists them (the shared compute and model-folder groups last).</summary>
    public IEnumerable<Option> All =>
    [
        Model, Task, Data, DataDir, Images, Experiment, Blocks, Window, Limit, Shard, Subword, Filter, Out, ImageMode, Engine, MaxNewTokens, EmptySets,
        Preset, Verify, Keep, At, ForceUnlock, Format, Ci, SharedY, .. CommonOptions.Compute, .. CommonOptions.ModelFolder,
    ];

    /// <summary>
    /// The run a command line asks for, validated, with <c>--preset paper</c> applied (explicit options win; what it chose
    /// goes to <paramref name="err"/>), and the model folder read with the final settings.
    /// </summary>
    /// <param name="engineWrapper">Tests only: wraps the run's knockout engine (CliContext.EngineWrapper).</param>
    public (RunOptions Options, ModelFolder Folder) Read(ParseResult parse, TextWriter err, Func<ModalFlow.Tracing.IKnockoutEngine, ModalFlow.Tracing.IKnockoutEngine>? engineWrapper = null)
    {
        var (i, n) = ParseShard(parse.GetValue(Shard)!);
        var t = parse.GetValue(Task);
        var d = parse.GetValue(Data);
        if ((t is null) == (d is null)) throw new InputException(null, "--task/--data", "give exactly one: a task name or a CSV file");
        if (t is not null) RunChecks.Task(t, parse.GetValue(DataDir)!);
        var load = CommonOptions.Load(parse);
        var experiment = ExperimentDefinition.Parse(parse.GetValue(Experiment)!, parse.GetValue(Blocks));
        foreach (var grid in new Option[] { Keep, At })
            if (parse.GetResult(grid) is { Implicit: false } && experiment.Kind != ExperimentKind.Prune)
                throw new InputException(null, grid.Name, $"applies to --experiment prune only (this run: --experiment {experiment.Name})");
        var o = new RunOptions
        {
            Model = parse.GetValue(Model)!, Task = d ?? t!, DataFolder = parse.GetValue(DataDir), Images = parse.GetValue(Images)!,
            Experiment = experiment, Out = parse.GetValue(Out) ?? "", Prune = new PruneGrid(parse.GetValue(Keep)!, parse.GetValue(At)!),
            Window = parse.GetValue(Window), Limit = parse.GetValue(Limit), ShardIndex = i, ShardCount = n, Subword = parse.GetValue(Subword)!,
            Filter = parse.GetValue(Filter)!, DType = parse.GetValue(CommonOptions.DType)!, ImageMode = CommonOptions.ParseImageMode(parse.GetValue(ImageMode)!),
            Engine = CommonOptions.ParseEngine(parse.GetValue(Engine)!), TokenizerFile = load.TokenizerFile, Anyres = load.Anyres,
            VisionTowerPath = load.VisionTowerPath, ForceUnlock = parse.GetValue(ForceUnlock), Device = parse.GetValue(CommonOptions.Device)!,
            MinPixels = load.MinPixels, MaxPixels = load.MaxPixels, MapWeights = load.MapWeights, MaxNewTokens = parse.GetValue(MaxNewTokens), EmptySets = parse.GetValue(EmptySets)!,
            Verify = parse.GetValue(Verify), EngineWrapper = engineWrapper,
        };
        o.Validate();
        var folder = ModelFolder.Read(o.Model, o.LoadOptions());
        if (parse.GetValue(Preset) == PaperPreset.Name)
        {
            var s = PaperPreset.For(folder);
            bool Given(Option option) => parse.GetResult(option) is { Implicit: false };
            o = PaperPreset.Apply(o, s) with
            {
                Window = Given(Window) ? o.Window : s.Window,
                MaxNewTokens = Given(MaxNewTokens) ? o.MaxNewTokens : s.MaxNewTokens,
                DType = Given(CommonOptions.DType) ? o.DType : s.DType,
                ImageMode = Given(ImageMode) ? o.ImageMode : s.ImageMode,
                Anyres = Given(CommonOptions.AnyresMode) ? o.Anyres : s.Anyres,
            };
            err.WriteLine($"preset paper: {s}" + (o.Window != s.Window || o.DType != s.DType || o.MaxNewTokens != s.MaxNewTokens ? "; explicit options kept where given" : ""));
            folder = ModelFolder.Read(o.Model, o.LoadOptions());
        }
        // Per-head maps look at one layer at a time unless a window is asked for.
        if (o.Experiment.Kind == ExperimentKind.Heads && parse.GetResult(Window) is not { Implicit: false }) o = o with { Window = 1 };
        if (o.Experiment.Kind == ExperimentKind.Prune) o.Prune.Validate(folder.Decoder.Layers);   // --at against the depth, before any model loads
        return (o, folder);
    }

    /// <summary>The results settings the command line asks for (null: the run's own defaults).</summary>
    public Results.ResultsOptions? ResultsOptions(ParseResult parse) => Commands.ReportCommand.Options(parse, Format, Ci, SharedY);

    public static (int Index, int Count) ParseShard(string s) =>
        TryParseShard(s) ?? throw new InputException(null, "--shard", $"'{s}'; expected i/n with 1 <= i <= n, e.g. 3/8");

    private static (int Index, int Count)? TryParseShard(string s)
    {
        var parts = s.Split('/');
        if (parts.Length == 2 && int.TryParse(parts[0], out int i) && int.TryParse(parts[1], out int n) && n >= 1 && i >= 1 && i <= n) return (i, n);
        return null;
    }

    private static Option<string> ExperimentOption()
    {
        var o = CommonOptions.Choice<string>("--experiment",
            "1 (Image/Question/Last->Last), 2 (Image->Question), 3 (object patches->Question), 4 (logit lens), custom (only the --block ones), " +
            "heads (per-head maps of the --block ones: each query head knocked out alone and all heads but one; in grouped-query models the unit is a query head), " +
            "withdrawal (every image token withdrawn from layer K on, every K), prune (FastV-ranked vs random image tokens withdrawn, --keep x --at)", null!,
            "1", "2", "3", "4", "custom", ExperimentDefinition.HeadsName, "withdrawal", "prune");
        o.Required = true;
        return o;
    }

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

    private static Option<string> ShardOption()
    {
        var o = new Option<string>("--shard") { Description = "i/n: this process's deterministic slice (every n-th row from i)", DefaultValueFactory = _ => "1/1", HelpName = "i/n" };
        o.Validators.Add(r =>
        {
            foreach (var t in r.Tokens)
                if (TryParseShard(t.Value) is null) r.AddError($"--shard: '{t.Value}'; expected i/n with 1 <= i <= n, e.g. 3/8");
        });
        return o;
    }
}

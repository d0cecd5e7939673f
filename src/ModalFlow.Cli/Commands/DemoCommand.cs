using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using ModalFlow.Data;
using ModalFlow.Experiments;
using ModalFlow.Inference;
using ModalFlow.Results;
using ModalFlow.Toy;

namespace ModalFlow.Cli.Commands;

/// <summary>
/// `modalflow demo`: the main job on embedded material, no network and no external data. The model is the trained
/// toy LLaVA that ships with ModalFlow (assets/toy): it answers the six toy tasks from the image, so the method's
/// facts can be checked on it before the paper's four experiments run on its held-out questions.
/// </summary>
public static class DemoCommand
{
    public static Command Create(CliContext ctx)
    {
        var outDir = CommonOptions.Out("Folder for results, figures and the report", Path.Combine("out", "demo"));
        var model = new Option<string?>("--model") { Description = "Model folder (default: the embedded toy LLaVA)", HelpName = "DIR" };
        var data = new Option<string?>("--data") { Description = "Toy data folder with toy_<Task>.csv and images/ (default: the embedded held-out set)", HelpName = "DIR" };
        var perTask = CommonOptions.Int("--per-task", "Questions per task for the four experiments", 16);
        var window = CommonOptions.Int("--window", "Knockout window (layers)", 1);
        var withdrawal = new Option<bool>("--withdrawal")
        {
            Description = "Instead of the checks and the four experiments: withdraw image tokens from every layer K on and prune them (FastV vs random, K = 1 … L-1, keep 75/50/25/10%) on the six tasks",
        };
        var cmd = new Command("demo", "Run the method on the embedded toy LLaVA: checks, the four experiments, figures, report") { outDir, model, data, perTask, window, withdrawal };
        cmd.SetAction(parse => ctx.Guard(parse, () =>
        {
            var sw = Stopwatch.StartNew();
            var dir = Path.GetFullPath(parse.GetValue(outDir)!);
            string? modelOption = parse.GetValue(model), dataOption = parse.GetValue(data);
            if (modelOption is null || dataOption is null) EmbeddedToy.EnsurePresent();
            var modelDir = Path.GetFullPath(modelOption ?? EmbeddedToy.ModelDir);
            var dataDir = Path.GetFullPath(dataOption ?? EmbeddedToy.EvalDir);
            int n = parse.GetValue(perTask), w = parse.GetValue(window);
            var windowNote = RunChecks.WindowNote(w, ModelFolder.Read(modelDir));
            if (!Directory.Exists(dataDir)) throw new InputException(dataDir, "--data", "folder not found; expected toy_<Task>.csv files and images/ (modalflow toy data --out DIR)");
            Directory.CreateDirectory(dir);
            ctx.Out.WriteLine($"ModalFlow demo → {dir}");
            if (windowNote is not null) ctx.Err.WriteLine(windowNote);

            IReadOnlyList<ToyTaskProbe> probes;
            using (var m = LoadedModel.Load(modelDir))
            {
                var d = m.Folder.Decoder;
                ctx.Out.WriteLine($"1/5 model {modelDir}");
                var plan = m.Folder.PlanImage(224, 224);
                ctx.Out.WriteLine($"    {m.Folder.Variant}: {d.Layers} decoder layers, hidden {d.Hidden}; images {plan.Preprocessing}, " +
                    $"{plan.Geometry} ({plan.ImageTokens} image tokens); template {m.Template.Name}");

                ctx.Out.WriteLine("2/5 predict, one held-out question per task:");
                foreach (var (task, _) in ToyWorld.Tasks)
                {
                    var row = GqaTaskReader.ReadFile(Path.Combine(dataDir, $"toy_{task}.csv")).Rows[0];
                    using var input = PreparedInput.Create(m, Path.Combine(dataDir, "images", row.ImgId + ".png"), row.Question);
                    var p = Predictor.Predict(m, input, 4);
                    ctx.Out.WriteLine($"    {task,-12} {row.ImgId}.png  \"{row.Question}\" → {p.Answer.Trim()} (p = {p.FirstTokenProb:F3}; truth: {row.Answer})");
                }

                if (parse.GetValue(withdrawal)) probes = [];
                else
                {
                    ctx.Out.WriteLine("3/5 what the method must show on a model that uses the image (all held-out questions):");
                    probes = ToyProbe.Run(m, dataDir);
                    foreach (var line in ProbeTable(probes)) ctx.Out.WriteLine("    " + line);
                }
            }

            if (parse.GetValue(withdrawal))
            {
                ctx.Out.WriteLine($"3/5 (--withdrawal: instead of 3-5) image-token withdrawal and pruning, {n} questions per task (correct answers only):");
                var withdrawn = DemoWithdrawal.Run(ctx.Out, dir, modelDir, dataDir, n, ModelName(modelOption, modelDir), sw);
                var withdrawalReport = Path.Combine(dir, "report.md");
                File.WriteAllText(withdrawalReport, Report(modelDir, dataDir, probes, [], dir, n, w, withdrawn));
                ctx.Out.WriteLine($"done in {sw.Elapsed:mm\\:ss}: {withdrawalReport} ({withdrawn.Withdrawal.Figures.Count} figure files, {Path.GetRelativePath(dir, withdrawn.Report)})");
                return CliContext.ExitOk;
            }

            ctx.Out.WriteLine($"4/5 the paper's four experiments, {n} questions per task (correct answers only), window {w}:");
            var runs = new Dictionary<string, List<RunResults>>();
            foreach (var exp in ExperimentDefinition.All)
            {
                runs[exp.Name] = [];
                foreach (var (task, _) in ToyWorld.Tasks)
                {
                    var runDir = Path.Combine(dir, "runs", $"exp{exp.Name}", task);
                    var summary = ExperimentRunner.Run(new RunOptions
                    {
                        Model = modelDir, Task = Path.Combine(dataDir, $"toy_{task}.csv"), Images = Path.Combine(dataDir, "images"), Experiment = exp,
                        Out = runDir, Window = w, Limit = n,
                    });
                    using var store = RunStore.Open(Path.Combine(runDir, RunStore.FileName));
                    runs[exp.Name].Add(store.Results());
                    ctx.Out.WriteLine($"    exp {exp.Name} {task,-12} {summary.Used,3} used, {summary.Excluded,2} excluded  [{sw.Elapsed:mm\\:ss}]");
                }
            }

            ctx.Out.WriteLine("5/5 figures and reports (six tasks per experiment):");
            var reports = new List<(ExperimentDefinition Exp, ResultsOutput Output)>();
            foreach (var exp in ExperimentDefinition.All)
            {
                var parts = runs[exp.Name];
                var all = new RunResults([.. parts.SelectMany(r => r.Knockout)], [.. parts.SelectMany(r => r.Lens)], [.. parts.SelectMany(r => r.Excluded)],
                    [.. parts.SelectMany(r => r.Malformed)]);
                var output = ResultsPipeline.Run(Path.Combine(dir, $"exp{exp.Name}"), all, new ResultsOptions
                {
                    Figures = FigureOptions.Default with { ModelName = ModelName(modelOption, modelDir) },
                });
                reports.Add((exp, output));
                ctx.Out.WriteLine($"    {(exp.Lens ? $"Experiment {exp.Name}: logit lens" : ResultNames.ExperimentTitle(exp.Name, exp.Blocks))}: {output.Figures.Count} figure files → {Path.GetRelativePath(dir, output.Report)}");
            }
            var report = Path.Combine(dir, "report.md");
            File.WriteAllText(report, Report(modelDir, dataDir, probes, reports, dir, n, w, null));
            var html = DemoHtml.Write(dir, probes, reports.Select(r => r.Output), "ModalFlow demo: the toy LLaVA");
            ctx.Out.WriteLine($"    {Path.GetRelativePath(dir, html.Path)}: {html.Bytes / 1024.0:F0} KB, {html.Samples} samples, {html.DetailedSamples} with the picture the model saw");
            ctx.Out.WriteLine($"done in {sw.Elapsed:mm\\:ss}: {report}");
            return CliContext.ExitOk;
        }));
        return cmd;
    }

    private static string ModelName(string? modelOption, string modelDir) =>
        modelOption is null ? "toy LLaVA (embedded)" : Path.GetFileName(Path.TrimEndingDirectorySeparator(modelDir));

    /// <summary>The probe table: accuracy against the image-blind baseline, with the image blocked, patch and lens checks.</summary>
    public static IReadOnlyList<string> ProbeTable(IReadOnlyList<ToyTaskProbe> probes)
    {
        var lines = new List<string> { $"{"task",-12} {"n",4} {"accuracy",9} {"blind",7} {"image blocked",14} {"related Δp",11} {"random Δp",10}  answer p by lens row" };
        foreach (var p in probes)
        {
            lines.Add(string.Create(CultureInfo.InvariantCulture,
                $"{p.Task,-12} {p.Samples,4} {p.Accuracy,9:P1} {p.BlindBaseline,7:P1} {p.AccuracyImageBlocked,14:P1} {p.RelatedChange,10:F1}% {p.RandomChange,9:F1}%  ")
                + string.Join(' ', p.LensAnswerProb.Select(v => v.ToString("F2", CultureInfo.InvariantCulture))));
        }
        return lines;
    }

    private static string Report(string modelDir, string dataDir, IReadOnlyList<ToyTaskProbe> probes, IReadOnlyList<(ExperimentDefinition Exp, ResultsOutput Output)> reports,
        string dir, int perTask, int window, ResultsOutput? withdrawn)
    {
        var sb = new StringBuilder();
        sb.AppendLine("# ModalFlow demo: the toy LLaVA").AppendLine();
        sb.AppendLine($"Model `{modelDir}`, held-out questions `{dataDir}`.").AppendLine();
        if (reports.Count > 0) sb.AppendLine("Explore every sample (the picture the model saw, its token grid and patch sets, the prompt's tokens, its curves): [report.html](report.html)").AppendLine();
        if (probes.Count > 0) ChecksSection(sb, probes);
        if (reports.Count > 0) sb.AppendLine($"## The paper's experiments ({perTask} questions per task, correct answers only, window {window})").AppendLine();
        foreach (var (exp, output) in reports)
        {
            sb.AppendLine($"### {(exp.Lens ? $"Experiment {exp.Name}: logit lens at the last position" : ResultNames.ExperimentTitle(exp.Name, exp.Blocks))}").AppendLine();
            sb.AppendLine($"Report: [{Path.GetRelativePath(dir, output.Report)}]({Path.GetRelativePath(dir, output.Report)})").AppendLine();
            foreach (var f in output.Figures.Where(f => f.Path.EndsWith(".png", StringComparison.Ordinal)))
                sb.AppendLine($"![{Path.GetFileNameWithoutExtension(f.Path)}]({Path.GetRelativePath(dir, f.Path)})");
            sb.AppendLine();
        }
        if (withdrawn is not null)
        {
            sb.AppendLine($"## Image-token withdrawal and pruning ({perTask} questions per task, correct answers only)").AppendLine();
            sb.AppendLine($"Report: [{Path.GetRelativePath(dir, withdrawn.Report)}]({Path.GetRelativePath(dir, withdrawn.Report)})").AppendLine();
            foreach (var f in withdrawn.Withdrawal.Figures.Where(f => f.Kind.EndsWith("panel", StringComparison.Ordinal) && f.Path.EndsWith(".png", StringComparison.Ordinal)))
                sb.AppendLine($"![{Path.GetFileNameWithoutExtension(f.Path)}]({Path.GetRelativePath(dir, f.Path)})");
            sb.AppendLine();
        }
        return sb.ToString();
    }

    private static void ChecksSection(StringBuilder sb, IReadOnlyList<ToyTaskProbe> probes)
    {
        sb.AppendLine("## Checks of the method (all held-out questions)").AppendLine();
        sb.AppendLine("Accuracy counts the first answer token. *Blind* is the best constant answer (for questions naming two options, " +
            "always the first or always the second option counts as constant). *Image blocked*: every edge from the image positions to the " +
            "later positions is blocked in all layers. *Related / random Δp*: mean relative change of the answer probability when the patches " +
            "of the question's objects, or as many random other patches, are blocked from every later position in all layers. " +
            "The lens row r is the standard logit lens after r layers (row 0: embeddings).").AppendLine();
        sb.AppendLine("```");
        foreach (var line in ProbeTable(probes)) sb.AppendLine(line);
        sb.AppendLine("```").AppendLine();
    }
}

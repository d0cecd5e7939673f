using System.CommandLine;
using ModalFlow.Experiments;
using ModalFlow.Inference;
using ModalFlow.Results;
using ModalFlow.Toy;
using ModalFlow.Tracing;

namespace ModalFlow.Cli.Commands;

/// <summary>
/// `modalflow demo`: the main job on embedded material, no network and no external data. Today the model is a
/// tiny random-weight LLaVA that the command creates (a trained embedded model replaces it later); the demo
/// shows the whole path: checkpoint folder → paper prompt → predict → knockout sweeps → logit lens.
/// </summary>
public static class DemoCommand
{
    public const string Question = "Is the square red or blue?";

    private static RunResults ReadResults(string runDir)
    {
        using var store = RunStore.Open(Path.Combine(runDir, RunStore.FileName));
        return store.Results();
    }

    public static Command Create(CliContext ctx)
    {
        var outDir = new Option<string>("--out") { Description = "Folder for the demo model, image and results", DefaultValueFactory = _ => Path.Combine("out", "demo") };
        var cmd = new Command("demo", "Run the demo on the embedded model (no network, no external data)") { outDir };
        cmd.SetAction(parse => ctx.Guard(parse, () =>
        {
            var dir = Path.GetFullPath(parse.GetValue(outDir)!);
            var modelDir = Path.Combine(dir, "model");
            var imagePath = Path.Combine(dir, "scene.png");
            ctx.Out.WriteLine($"ModalFlow demo → {dir}");
            ctx.Out.WriteLine("1/5 creating a tiny LLaVA checkpoint (random weights, LLaVA-1.5 geometry: 576 image tokens) ...");
            DemoModelBuilder.Create(modelDir);
            DemoScene.WritePng(imagePath);
            using var m = LoadedModel.Load(modelDir);
            ctx.Out.WriteLine($"    {m.Config.Text.NumHiddenLayers} layers, hidden {m.Config.Text.HiddenSize}, vocab {m.Config.Text.VocabSize}, template {m.Template.Name}");
            ctx.Out.WriteLine($"2/5 predict: \"{Question}\" on {Path.GetFileName(imagePath)}");
            using var input = PreparedInput.Create(m, imagePath, Question);
            var p = Predictor.Predict(m, input, 8);
            ctx.Out.WriteLine($"    answer: {p.Answer}   (random weights: the words mean nothing yet)");
            ctx.Out.WriteLine($"    first token {p.FirstTokenId} \"{Predictor.TokenString(m.Tokenizer, p.FirstTokenId)}\" p = {p.FirstTokenProb:F4}; {p.NumPositions} positions, question span {input.Layout.Question}");
            ctx.Out.WriteLine("3/5 attention knockout, window 3, every layer (fast exact engine):");
            using var clean = CleanRun.Create(m.Model.LanguageModel, input.Embeds);
            var blocks = BlockDescriptor.PaperBlocks.Select(BlockDescriptor.Parse).ToList();
            var sweeps = Tracer.Sweep(clean, input.Layout, blocks, 3, KnockoutEngine.Create(KnockoutEngineKind.Fast));
            ctx.Out.WriteLine("    layer " + string.Join("", sweeps.Select(s => $"{s.Block,16}")));
            for (int l = 0; l < clean.NumLayers; l++)
                ctx.Out.WriteLine($"    {l,5} " + string.Join("", sweeps.Select(s => $"{s.Layers[l].RelativeChange,15:F2}%")));
            ctx.Out.WriteLine("4/5 logit lens of the first answer token at the last position (raw = the paper's, norm = standard):");
            var lens = LogitLens.Compute(clean, input.Layout.Last, [clean.TargetTokenId]);
            for (int r = 0; r < lens.Rows; r++) ctx.Out.WriteLine($"    {r,5}  raw {lens.ProbRaw[r, 0],8:F4}  norm {lens.ProbNorm[r, 0],8:F4}");
            ctx.Out.WriteLine("5/5 the paper's four experiments over a small generated task (window 3, every layer):");
            var csv = DemoDataset.Write(Path.Combine(dir, "data"));
            foreach (var exp in ExperimentDefinition.All)
            {
                var runDir = Path.Combine(dir, "runs", "exp" + exp.Name);
                var summary = ExperimentRunner.Run(new RunOptions
                {
                    Model = modelDir, Task = csv, Images = Path.Combine(dir, "data", "images"), Experiment = exp, Out = runDir,
                    Window = 3, Filter = "none",
                });
                var output = ResultsPipeline.Run(runDir, ReadResults(runDir));
                ctx.Out.WriteLine($"    exp {exp.Name} ({exp.Title}): {summary.Used} samples, {output.Figures.Count} figure files → {Path.Combine(runDir, "report.md")}");
            }
            ctx.Out.WriteLine("done. Try: modalflow predict --model " + modelDir + " --image " + imagePath + " --question \"" + Question + "\"");
            return CliContext.ExitOk;
        }));
        return cmd;
    }
}

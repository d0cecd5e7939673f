using System.CommandLine;
using ModalFlow.Toy;

namespace ModalFlow.Cli.Commands;

/// <summary>`modalflow toy train`: re-creates the toy-world LLaVA (seeded) and reports held-out accuracy per task.</summary>
public static class ToyCommand
{
    public static Command Create(CliContext ctx)
    {
        var outDir = CommonOptions.Out("Folder for data and the trained model", Path.Combine("out", "toy"));
        var steps = CommonOptions.Int("--steps", "Optimizer steps", new ToyTrainingOptions().Steps);
        var perTask = CommonOptions.Int("--train-per-task", "Training questions per task", new ToyTrainingOptions().TrainPerTask);
        var seed = CommonOptions.Int("--seed", "Seed of data, initialisation and batches", 1, min: 0);
        var train = new Command("train", "Generate the toy world and train the toy LLaVA on it (CPU, minutes)") { outDir, steps, perTask, seed };
        train.SetAction(parse => ctx.Guard(parse, () =>
        {
            var o = new ToyTrainingOptions { Steps = parse.GetValue(steps), TrainPerTask = parse.GetValue(perTask), Seed = parse.GetValue(seed) };
            var report = ToyTrainer.Train(parse.GetValue(outDir)!, o, msg => ctx.Err.WriteLine(msg));
            foreach (var (task, acc) in report.AccuracyPerTask) ctx.Out.WriteLine($"{task,-12} {acc:P1}");
            ctx.Out.WriteLine($"model: {report.ModelDir} (final loss {report.FinalLoss:F4}, {report.Elapsed:mm\\:ss})");
            return CliContext.ExitOk;
        }));
        var dataOut = CommonOptions.Out("Folder for toy_<Task>.csv and images/");
        var dataPerTask = CommonOptions.Int("--per-task", "Questions per task", 100);
        var dataSeed = CommonOptions.Int("--seed", "Seed (training uses 10·seed+1, the held-out set 10·seed+2)", 12, min: 0);
        var data = new Command("data", "Write toy questions and images in the paper's CSV schemas (e.g. more held-out questions for demo --data)") { dataOut, dataPerTask, dataSeed };
        data.SetAction(parse => ctx.Guard(parse, () =>
        {
            int n = parse.GetValue(dataPerTask);
            var files = ToyWorld.Write(parse.GetValue(dataOut)!, n, parse.GetValue(dataSeed));
            foreach (var (task, file) in files) ctx.Out.WriteLine($"{task,-12} {file}");
            return CliContext.ExitOk;
        }));
        return new Command("toy", "The toy VQA world") { train, data };
    }
}

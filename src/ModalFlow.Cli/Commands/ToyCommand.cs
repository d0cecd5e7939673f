using System.CommandLine;
using ModalFlow.Toy;

namespace ModalFlow.Cli.Commands;

/// <summary>`modalflow toy train`: re-creates the toy-world LLaVA (seeded) and reports held-out accuracy per task.</summary>
public static class ToyCommand
{
    public static Command Create(CliContext ctx)
    {
        var outDir = new Option<string>("--out") { Description = "Folder for data and the trained model", DefaultValueFactory = _ => Path.Combine("out", "toy") };
        var steps = new Option<int>("--steps") { Description = "Optimizer steps", DefaultValueFactory = _ => new ToyTrainingOptions().Steps };
        var perTask = new Option<int>("--train-per-task") { Description = "Training questions per task", DefaultValueFactory = _ => new ToyTrainingOptions().TrainPerTask };
        var seed = new Option<int>("--seed") { Description = "Seed of data, initialisation and batches", DefaultValueFactory = _ => 1 };
        var train = new Command("train", "Generate the toy world and train the toy LLaVA on it (CPU, minutes)") { outDir, steps, perTask, seed };
        train.SetAction(parse => ctx.Guard(parse, () =>
        {
            var o = new ToyTrainingOptions { Steps = parse.GetValue(steps), TrainPerTask = parse.GetValue(perTask), Seed = parse.GetValue(seed) };
            var report = ToyTrainer.Train(parse.GetValue(outDir)!, o, msg => ctx.Err.WriteLine(msg));
            foreach (var (task, acc) in report.AccuracyPerTask) ctx.Out.WriteLine($"{task,-12} {acc:P1}");
            ctx.Out.WriteLine($"model: {report.ModelDir} (final loss {report.FinalLoss:F4}, {report.Elapsed:mm\\:ss})");
            return CliContext.ExitOk;
        }));
        var dataOut = new Option<string>("--out") { Description = "Folder for toy_<Task>.csv and images/", Required = true };
        var dataPerTask = new Option<int>("--per-task") { Description = "Questions per task", DefaultValueFactory = _ => 100 };
        var dataSeed = new Option<int>("--seed") { Description = "Seed (training uses 10·seed+1, the held-out set 10·seed+2)", DefaultValueFactory = _ => 12 };
        var data = new Command("data", "Write toy questions and images in the paper's CSV schemas (e.g. more held-out questions for demo --data)") { dataOut, dataPerTask, dataSeed };
        data.SetAction(parse => ctx.Guard(parse, () =>
        {
            int n = parse.GetValue(dataPerTask);
            if (n < 1) throw new InputException(null, "--per-task", $"{n}; expected at least 1");
            var files = ToyWorld.Write(parse.GetValue(dataOut)!, n, parse.GetValue(dataSeed));
            foreach (var (task, file) in files) ctx.Out.WriteLine($"{task,-12} {file}");
            return CliContext.ExitOk;
        }));
        return new Command("toy", "The toy VQA world") { train, data };
    }
}

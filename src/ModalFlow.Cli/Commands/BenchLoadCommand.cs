using System.CommandLine;
using ModalFlow.Benchmarks;

namespace ModalFlow.Cli.Commands;

/// <summary>`modalflow bench load`: warm model loads vs the floor of copying the same bytes.</summary>
public static class BenchLoadCommand
{
    public static Command Create(CliContext ctx)
    {
        var json = CommonOptions.Json();
        var model = CommonOptions.Model();
        var repeats = CommonOptions.Int("--repeats", "Warm loads timed (after a first load that fills the page cache)", 3);
        var cmd = new Command("load", "Time loading a model folder with its files in the page cache, next to copying the same bytes into fresh memory")
        {
            model, repeats, json,
        };
        cmd.Add(CommonOptions.ModelFolder);
        cmd.Add(CommonOptions.Compute);
        cmd.SetAction(parse => ctx.Guard(parse, () =>
        {
            var r = LoadBenchmark.Run(parse.GetValue(model)!, CommonOptions.Load(parse), parse.GetValue(repeats), msg => ctx.Err.WriteLine(msg));
            if (parse.GetValue(json))
            {
                ctx.WriteJson(new
                {
                    r.Model, r.DType, r.WeightBytes, r.FirstLoadS, r.WarmLoadS, r.WarmReadyS, r.FloorS, r.BestWarmLoadS, r.BestWarmReadyS, r.BestFloorS,
                    r.WarmSPerGb, r.ReadySPerGb, r.FloorSPerGb, r.Ratio,
                });
                return CliContext.ExitOk;
            }
            ctx.Out.WriteLine($"{r.Model}: {r.WeightBytes / 1e9:F2} GB of weight files, compute {r.DType}");
            ctx.Out.WriteLine($"warm load {r.BestWarmLoadS:F2} s ({r.WarmSPerGb:F2} s/GB); then every decoder weight read once: ready in {r.BestWarmReadyS:F2} s ({r.ReadySPerGb:F2} s/GB)");
            ctx.Out.WriteLine($"copying the same bytes into fresh memory {r.BestFloorS:F2} s ({r.FloorSPerGb:F2} s/GB); warm load / copy floor {r.Ratio:F2}");
            return CliContext.ExitOk;
        }));
        return cmd;
    }
}

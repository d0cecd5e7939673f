using System.CommandLine;
using ModalFlow.Benchmarks;

namespace ModalFlow.Cli.Commands;

/// <summary>`modalflow bench withdrawal`: the withdrawal and prune grids per sample, naive vs fast engine.</summary>
public static class BenchWithdrawalCommand
{
    public static Command Create(CliContext ctx)
    {
        var json = CommonOptions.Json();
        var samples = CommonOptions.Int("--samples", "Samples timed per grid and engine", 2);
        var layers = CommonOptions.Int("--layers", "Decoder layers of the benchmark model", 16);
        var hidden = CommonOptions.Int("--hidden", "Hidden size of the benchmark model (a multiple of 64: heads of 64)", 512, min: 64);
        hidden.Validators.Add(r => { if (r.Tokens.Count > 0 && int.TryParse(r.Tokens[^1].Value, out int h) && h % 64 != 0) r.AddError($"--hidden: {h}; expected a multiple of 64"); });
        var cmd = new Command("withdrawal",
            "Time the withdrawal grid (every image token withdrawn from layer K on, every K) and the default prune grid per sample, naive vs fast")
        {
            samples, layers, hidden, json,
        };
        cmd.SetAction(parse => ctx.Guard(parse, () =>
        {
            int h = parse.GetValue(hidden);
            var g = new BenchGeometry { Hidden = h, Heads = h / 64, KvHeads = h / 64, Intermediate = (int)Math.Round(h * 2.6875), Layers = parse.GetValue(layers) };
            var r = WithdrawalBenchmark.Run(g, parse.GetValue(samples), msg => ctx.Err.WriteLine(msg));
            if (parse.GetValue(json))
            {
                ctx.WriteJson(new
                {
                    Model = new { g.Hidden, g.Layers, g.Heads, g.KvHeads, g.Intermediate, g.Vocab, g.ImageTokens, SeqLen = g.SeqLen },
                    r.Samples, r.CleanSPerSample, r.CleanWithAttentionSPerSample, r.WithdrawalGrid, r.WithdrawalKnockouts, r.PruneGrid, r.PruneKnockouts,
                    r.PruneSettings, r.MklShim, r.Threads,
                });
                return CliContext.ExitOk;
            }
            ctx.Out.WriteLine($"model: hidden {g.Hidden}, {g.Layers} layers, {g.Heads} heads, seq {g.SeqLen} ({g.ImageTokens} image tokens), {r.Samples} samples, MKL shim {(r.MklShim ? "on" : "off")}, {r.Threads} threads");
            ctx.Out.WriteLine($"clean pass (once per sample): {r.CleanSPerSample:F3} s; keeping the last row's attention (prune): {r.CleanWithAttentionSPerSample:F3} s");
            ctx.Out.WriteLine($"withdrawal grid ({r.WithdrawalKnockouts} knockouts, K = 0 … {g.Layers - 1}): naive {r.WithdrawalGrid.NaiveSPerSample:F3} s/sample, " +
                $"fast {r.WithdrawalGrid.FastSPerSample:F3} s/sample, ratio {r.WithdrawalGrid.Ratio:F1}x (max rel |Δp2| {r.WithdrawalGrid.MaxRelDiffP2:E1})");
            ctx.Out.WriteLine($"prune grid ({r.PruneKnockouts} knockouts, {r.PruneSettings}, FastV + random): naive {r.PruneGrid.NaiveSPerSample:F3} s/sample, " +
                $"fast {r.PruneGrid.FastSPerSample:F3} s/sample, ratio {r.PruneGrid.Ratio:F1}x (max rel |Δp2| {r.PruneGrid.MaxRelDiffP2:E1})");
            return CliContext.ExitOk;
        }));
        return cmd;
    }
}

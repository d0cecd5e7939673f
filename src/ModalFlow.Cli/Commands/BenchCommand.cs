using System.CommandLine;
using ModalFlow.Benchmarks;

namespace ModalFlow.Cli.Commands;

/// <summary>`modalflow bench knockout`: fast vs naive knockout engines on a LLaVA-1.5-geometry model.</summary>
public static class BenchCommand
{
    public static Command Create(CliContext ctx)
    {
        var json = CommonOptions.Json();
        var samples = CommonOptions.Int("--samples", "Samples timed per condition and engine", 2);
        var layers = CommonOptions.Int("--layers", "Decoder layers of the benchmark model", 16);
        var hidden = CommonOptions.Int("--hidden", "Hidden size of the benchmark model (a multiple of 64: heads of 64)", 512, min: 64);
        hidden.Validators.Add(r => { if (r.Tokens.Count > 0 && int.TryParse(r.Tokens[^1].Value, out int h) && h % 64 != 0) r.AddError($"--hidden: {h}; expected a multiple of 64"); });
        var window = CommonOptions.Int("--window", "Window size k", 9);
        var knockouts = CommonOptions.Int("--memory-knockouts", "Consecutive knockouts for the flat-memory check", 1000, min: 0);
        var naiveSubset = CommonOptions.Int("--naive-subset", "Naive knockouts measured per sample for the per-head map and the Experiments 1+2+3 grid (the rest extrapolated linearly; 0 = all)", 16, min: 0);
        var knockout = new Command("knockout", "Time a full window sweep per sample, naive vs fast, for Image->Question and Question->Last")
        {
            samples, layers, hidden, window, knockouts, naiveSubset, json,
        };
        knockout.SetAction(parse => ctx.Guard(parse, () =>
        {
            int h = parse.GetValue(hidden);
            var g = new BenchGeometry { Hidden = h, Heads = h / 64, KvHeads = h / 64, Intermediate = (int)Math.Round(h * 2.6875), Layers = parse.GetValue(layers) };
            var r = KnockoutBenchmark.Run(g, parse.GetValue(samples), parse.GetValue(window), parse.GetValue(knockouts), msg => ctx.Err.WriteLine(msg), parse.GetValue(naiveSubset));
            if (parse.GetValue(json))
            {
                ctx.WriteJson(new
                {
                    Model = new { g.Hidden, g.Layers, g.Heads, g.KvHeads, g.Intermediate, g.Vocab, g.ImageTokens, SeqLen = g.SeqLen, g.QuestionTokens },
                    r.Window, r.Samples, r.CleanSPerSample,
                    ImageToQuestion = r.ImageToQuestion,
                    QuestionToLast = r.QuestionToLast,
                    r.QuestionToLastReadFloor,
                    PerHeadMap = r.PerHeadMap,
                    PaperGridPerSample = r.PaperGridPerSample,
                    r.PaperSweepRatioWithClean,
                    r.MemoryKnockouts, r.RssMbStart, r.RssMbEnd, r.LiveTensorsStart, r.LiveTensorsEnd, r.MklShim, r.Threads,
                });
                return CliContext.ExitOk;
            }
            ctx.Out.WriteLine($"model: hidden {g.Hidden}, {g.Layers} layers, {g.Heads} heads, seq {g.SeqLen} ({g.ImageTokens} image tokens), window {r.Window}, {r.Samples} samples, MKL shim {(r.MklShim ? "on" : "off")}, {r.Threads} threads");
            ctx.Out.WriteLine($"clean pass (both engines, once per sample): {r.CleanSPerSample:F3} s");
            ctx.Out.WriteLine($"Image->Question: naive {r.ImageToQuestion.NaiveSPerSample:F3} s/sample, fast {r.ImageToQuestion.FastSPerSample:F3} s/sample, ratio {r.ImageToQuestion.Ratio:F1}x (max rel |Δp2| {r.ImageToQuestion.MaxRelDiffP2:E1})");
            ctx.Out.WriteLine($"Question->Last:  naive {r.QuestionToLast.NaiveSPerSample:F3} s/sample, fast {r.QuestionToLast.FastSPerSample:F3} s/sample, ratio {r.QuestionToLast.Ratio:F1}x (max rel |Δp2| {r.QuestionToLast.MaxRelDiffP2:E1})");
            ctx.Out.WriteLine($"Question->Last read floor: {r.QuestionToLastReadFloor.Megabytes:F0} MB of weights read once in {r.QuestionToLastReadFloor.Seconds * 1e3:F1} ms here; the fast sweep takes {r.QuestionToLastReadFloor.FastOverFloor:F1}x that");
            ctx.Out.WriteLine($"per-head map Image->Question ({r.PerHeadMap.Knockouts} knockouts, window 1): naive {r.PerHeadMap.NaiveSPerSample:F3} s/sample{(r.PerHeadMap.NaiveExtrapolatedFrom is int k ? $" (extrapolated from {k} measured)" : "")}, fast {r.PerHeadMap.FastSPerSample:F3} s/sample, ratio {r.PerHeadMap.Ratio:F1}x (max rel |Δp2| {r.PerHeadMap.MaxRelDiffP2:E1})");
            ctx.Out.WriteLine($"Experiments 1+2+3 per sample ({r.PaperGridPerSample.Knockouts} knockouts, clean pass included): naive {r.PaperGridPerSample.NaiveSPerSample:F3} s, fast {r.PaperGridPerSample.FastSPerSample:F3} s, ratio {r.PaperGridPerSample.Ratio:F1}x (max rel |Δp2| {r.PaperGridPerSample.MaxRelDiffP2:E1})");
            ctx.Out.WriteLine($"all four paper blocks per sample, clean pass included: {r.PaperSweepRatioWithClean:F1}x");
            ctx.Out.WriteLine($"memory over {r.MemoryKnockouts} knockouts: RSS {r.RssMbStart:F0} -> {r.RssMbEnd:F0} MB, live tensors {r.LiveTensorsStart} -> {r.LiveTensorsEnd}");
            return CliContext.ExitOk;
        }));
        var bench = new Command("bench", "Benchmarks (ratios measured in one run)") { knockout, BenchWithdrawalCommand.Create(ctx), BenchLoadCommand.Create(ctx) };
        return bench;
    }
}

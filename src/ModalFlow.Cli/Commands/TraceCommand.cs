using System.CommandLine;
using ModalFlow.Inference;
using ModalFlow.Tracing;

namespace ModalFlow.Cli.Commands;

/// <summary>`modalflow trace`: attention-knockout window sweeps (and the logit lens) for one image and question.</summary>
public static class TraceCommand
{
    public static Command Create(CliContext ctx)
    {
        var model = CommonOptions.Model();
        var image = CommonOptions.Image();
        var question = CommonOptions.Question();
        var mode = CommonOptions.ImageMode();
        var engine = CommonOptions.Engine();
        var json = CommonOptions.Json();
        var blocks = CommonOptions.Blocks("Block (repeatable): Image->Question, Question->Last, Image->Last, Last->Last", NamedPositions.Basic, required: true);
        var window = CommonOptions.Int("--window", "Window size k (layers around each centre layer); with --per-head: 1 unless given", 9);
        var perHead = new Option<bool>("--per-head")
        {
            Description = "Per-head maps: also knock out each query head alone and every head but one, per window-centre layer (a layer x head table; " +
                "in grouped-query models the unit is a query head)",
        };
        var lens = new Option<bool>("--lens") { Description = "Add the logit lens of the clean top-1 token at the last position" };
        var maxNew = CommonOptions.Int("--max-new-tokens", "Greedy answer length limit", 16);
        var cmd = new Command("trace", "Knock out attention edges window by window and report the change of the answer probability")
        {
            model, image, question, blocks, window, perHead, engine, mode, lens, maxNew, json, CommonOptions.Compute, CommonOptions.ModelFolder,
        };
        cmd.SetAction(parse => ctx.Guard(parse, () =>
        {
            var blockList = parse.GetValue(blocks)!.Select(BlockDescriptor.Parse).ToList();
            bool heads = parse.GetValue(perHead);
            int k = heads && parse.GetResult(window) is not { Implicit: false } ? 1 : parse.GetValue(window);
            var load = CommonOptions.Load(parse);
            RunChecks.ModelAndImage(parse.GetValue(model)!, parse.GetValue(image)!);
            var folder = ModelFolder.Read(parse.GetValue(model)!, load);
            if (RunChecks.WindowNote(k, folder) is { } note) ctx.Err.WriteLine(note);
            using var m = folder.Load(load);
            using var input = PreparedInput.Create(m, parse.GetValue(image)!, parse.GetValue(question)!, CommonOptions.ParseImageMode(parse.GetValue(mode)!));
            using var clean = CleanRun.Create(m.Decoder, input.Embeds, input.Positions);
            var prediction = Predictor.Predict(m, input, clean, parse.GetValue(maxNew));
            var knockoutEngine = KnockoutEngine.Create(CommonOptions.ParseEngine(parse.GetValue(engine)!));
            var headMaps = heads ? HeadSweep.Run(clean, input.Layout, blockList, k, knockoutEngine) : null;
            var conditions = headMaps?.Select(h => new ConditionResult(h.Block, h.Window, h.Layers)).ToList()
                ?? Tracer.Sweep(clean, input.Layout, blockList, k, knockoutEngine);
            var lensResult = parse.GetValue(lens) ? LogitLens.Compute(clean, input.Layout.Last, [clean.TargetTokenId]) : null;
            if (parse.GetValue(json))
            {
                ctx.WriteJson(new
                {
                    prediction.Answer,
                    FirstTokenId = clean.TargetTokenId,
                    clean.P1,
                    Conditions = headMaps is null
                        ? conditions.Select(c => (object)new
                        {
                            c.Block, c.Window,
                            Layers = c.Layers.Select(l => new { l.Layer, l.P2, Logprob2 = l.LogProb2, l.RelativeChange }),
                        })
                        : headMaps.Select(c => (object)new
                        {
                            c.Block, c.Window,
                            Layers = c.Layers.Select(l => new { l.Layer, l.P2, Logprob2 = l.LogProb2, l.RelativeChange }),
                            c.NumHeads,
                            Heads = c.Alone.Select(h => new { h.Layer, h.Head, h.P2, h.RelativeChange }),
                            AllHeadsBut = c.AllBut.Select(h => new { h.Layer, h.Head, h.P2, h.RelativeChange }),
                        }),
                    Lens = lensResult is null ? null : Enumerable.Range(0, lensResult.Rows)
                        .Select(r => new { Layer = r, ProbNorm = lensResult.ProbNorm[r, 0], ProbRaw = lensResult.ProbRaw[r, 0] }),
                });
                return CliContext.ExitOk;
            }
            ctx.Out.WriteLine($"answer: {prediction.Answer}   first token {clean.TargetTokenId} ({Predictor.TokenString(m.Tokenizer, clean.TargetTokenId)}), p1 = {clean.P1:F4}");
            var sl = input.Layout;
            ctx.Out.WriteLine($"layout: {sl.SeqLen} positions: system {sl.System}, image {sl.Image} ({sl.ImageTokenCount} tokens), question {sl.Question}, " +
                $"instruction {sl.Instruction}, last {sl.Last}");
            if (headMaps is not null)
                foreach (var c in headMaps) HeadTable.Write(ctx.Out, c);
            else
                foreach (var c in conditions)
                {
                    ctx.Out.WriteLine($"{c.Block}, window {c.Window}:  layer  p2  change %");
                    foreach (var l in c.Layers) ctx.Out.WriteLine($"  {l.Layer,3}  {l.P2,10:F6}  {l.RelativeChange,9:F2}");
                }
            if (lensResult is not null)
            {
                ctx.Out.WriteLine("logit lens of the first answer token at the last position: layer  prob(norm)  prob(raw, paper)");
                for (int r = 0; r < lensResult.Rows; r++) ctx.Out.WriteLine($"  {r,3}  {lensResult.ProbNorm[r, 0],10:F6}  {lensResult.ProbRaw[r, 0],10:F6}");
            }
            return CliContext.ExitOk;
        }));
        return cmd;
    }
}

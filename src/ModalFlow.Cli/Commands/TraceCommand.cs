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
        var dtype = CommonOptions.DType();
        var engine = CommonOptions.Engine();
        var json = CommonOptions.Json();
        var blocks = new Option<string[]>("--block")
        {
            Description = "Block 'Source->Target' (repeatable): Image->Question, Question->Last, Image->Last, Last->Last",
            Required = true, AllowMultipleArgumentsPerToken = false,
        };
        var window = new Option<int>("--window") { Description = "Window size k (layers around each centre layer)", DefaultValueFactory = _ => 9 };
        var lens = new Option<bool>("--lens") { Description = "Add the logit lens of the clean top-1 token at the last position" };
        var maxNew = new Option<int>("--max-new-tokens") { Description = "Greedy answer length limit", DefaultValueFactory = _ => 16 };
        var cmd = new Command("trace", "Knock out attention edges window by window and report the change of the answer probability")
        {
            model, image, question, blocks, window, engine, mode, lens, maxNew, dtype, json,
        };
        cmd.SetAction(parse => ctx.Guard(parse, () =>
        {
            var blockList = parse.GetValue(blocks)!.Select(BlockDescriptor.Parse).ToList();
            int k = parse.GetValue(window);
            if (k < 1) throw new InputException(null, "--window", $"{k}; expected a positive number of layers");
            using var m = LoadedModel.Load(parse.GetValue(model)!, CommonOptions.Load(parse.GetValue(dtype)!, parse));
            using var input = PreparedInput.Create(m, parse.GetValue(image)!, parse.GetValue(question)!, CommonOptions.ParseImageMode(parse.GetValue(mode)!));
            var prediction = Predictor.Predict(m, input, parse.GetValue(maxNew));
            using var clean = CleanRun.Create(m.Model.LanguageModel, input.Embeds);
            var conditions = Tracer.Sweep(clean, input.Layout, blockList, k, KnockoutEngine.Create(CommonOptions.ParseEngine(parse.GetValue(engine)!)));
            var lensResult = parse.GetValue(lens) ? LogitLens.Compute(clean, input.Layout.Last, [clean.TargetTokenId]) : null;
            if (parse.GetValue(json))
            {
                ctx.WriteJson(new
                {
                    prediction.Answer,
                    FirstTokenId = clean.TargetTokenId,
                    clean.P1,
                    Conditions = conditions.Select(c => new
                    {
                        c.Block, c.Window,
                        Layers = c.Layers.Select(l => new { l.Layer, l.P2, Logprob2 = l.LogProb2, l.RelativeChange }),
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

using System.CommandLine;
using ModalFlow.Inference;

namespace ModalFlow.Cli.Commands;

/// <summary>`modalflow predict`: the greedy answer with the paper's prompt, first-token probability and top-5.</summary>
public static class PredictCommand
{
    public static Command Create(CliContext ctx)
    {
        var model = CommonOptions.Model();
        var image = CommonOptions.Image();
        var question = CommonOptions.Question();
        var mode = CommonOptions.ImageMode();
        var json = CommonOptions.Json();
        var maxNew = CommonOptions.Int("--max-new-tokens", "Greedy decoding length limit", 128);
        var cmd = new Command("predict", "Answer a question about an image with the paper's prompt (greedy)")
        {
            model, image, question, mode, maxNew, json, CommonOptions.Compute, CommonOptions.ModelFolder,
        };
        cmd.SetAction(parse => ctx.Guard(parse, () =>
        {
            RunChecks.ModelAndImage(parse.GetValue(model)!, parse.GetValue(image)!);
            using var m = LoadedModel.Load(parse.GetValue(model)!, CommonOptions.Load(parse));
            using var input = PreparedInput.Create(m, parse.GetValue(image)!, parse.GetValue(question)!, CommonOptions.ParseImageMode(parse.GetValue(mode)!));
            var p = Predictor.Predict(m, input, parse.GetValue(maxNew));
            if (parse.GetValue(json))
            {
                ctx.WriteJson(new
                {
                    p.Answer, p.FirstTokenId, p.FirstTokenProb,
                    Top = p.Top.Select(t => new { t.Id, t.Token, t.Prob }),
                    p.NumImageTokens, p.NumPositions,
                });
            }
            else
            {
                ctx.Out.WriteLine($"answer: {p.Answer}");
                ctx.Out.WriteLine($"first token: {p.FirstTokenId} {Predictor.TokenString(m.Tokenizer, p.FirstTokenId)} p={p.FirstTokenProb:F4}");
                ctx.Out.WriteLine("top-5:");
                foreach (var t in p.Top) ctx.Out.WriteLine($"  {t.Id,7} {t.Token,-16} {t.Prob:F4}");
                ctx.Out.WriteLine($"positions: {p.NumPositions} ({p.NumImageTokens} image tokens); question span {input.Layout.Question}");
            }
            return CliContext.ExitOk;
        }));
        return cmd;
    }
}

using System.CommandLine;
using ModalFlow.Data;
using ModalFlow.Inference;
using ModalFlow.Tracing;

namespace ModalFlow.Cli.Commands;

/// <summary>`modalflow positions`: one row's sequence layout and every named position set — what to check before trusting a run.</summary>
public static class PositionsCommand
{
    public static Command Create(CliContext ctx)
    {
        var model = CommonOptions.Model();
        var data = new Option<string>("--data") { Description = "A task CSV file", Required = true, HelpName = "CSV" };
        var qid = new Option<string>("--question-id") { Description = "The row's question_id (as in the CSV, leading zeros kept)", Required = true, HelpName = "ID" };
        var mode = CommonOptions.ImageMode();
        var json = CommonOptions.Json();
        var cmd = new Command("positions", "Print a row's sequence layout and every named position set") { model, data, qid, mode, json, CommonOptions.ModelFolder };
        cmd.SetAction(parse => ctx.Guard(parse, () =>
        {
            var folder = ModelFolder.Read(parse.GetValue(model)!, CommonOptions.Load(parse));
            var file = parse.GetValue(data)!;
            var rows = GqaTaskReader.ReadFile(file);
            var id = parse.GetValue(qid)!;
            var row = rows.Find(id) ?? throw new InputException(file, "question_id", $"'{id}' is not in the file (ids are strings: leading zeros matter)");
            var imageMode = CommonOptions.ParseImageMode(parse.GetValue(mode)!);
            var (_, layout) = folder.BuildLayout(row.Question, row.ImageWidth, row.ImageHeight, imageMode, file);
            var mapper = folder.PatchMapper(imageMode);
            var resolver = new TaskPositionResolver(mapper);
            var sets = new SortedDictionary<string, int[]>(StringComparer.Ordinal);
            var problems = new SortedDictionary<string, string>(StringComparer.Ordinal);
            foreach (var name in TaskPositionResolver.Names)
            {
                try { sets[name] = resolver.Resolve(name, row, layout).Positions.ToArray(); }
                catch (InputException e) { problems[name] = e.Message; }
            }
            var patches = mapper.Map(row);
            var relative = new SortedDictionary<string, int[]>(StringComparer.Ordinal)
            {
                [ObjectPatchSets.RelatedName] = patches.Related.ToArray(),
                [ObjectPatchSets.OtherName] = patches.Other.ToArray(),
            };
            if (patches.Newlines.Length > 0) relative["Newlines"] = patches.Newlines.ToArray();
            if (parse.GetValue(json))
            {
                ctx.WriteJson(new
                {
                    SeqLen = layout.SeqLen, ImageStart = layout.Image.Start, NImageTokens = layout.ImageTokenCount,
                    Sets = sets, ImagePatchesRelative = relative, Unavailable = problems,
                });
                return CliContext.ExitOk;
            }
            ctx.Out.WriteLine($"{row}");
            ctx.Out.WriteLine($"layout: {layout}");
            int after = layout.TextAfterImage.Start;
            ctx.Out.WriteLine("text after the image: " + string.Join(" ", layout.TextAfterImageTokens.Select((t, k) => $"{after + k}:{t}")));
            foreach (var (name, pos) in sets) ctx.Out.WriteLine($"  {name,-28} {PositionSet.Of(name, pos)}");
            foreach (var (name, pos) in relative) ctx.Out.WriteLine($"  {name + " (image-relative)",-28} {pos.Length} patches: [{string.Join(",", pos.Take(40))}{(pos.Length > 40 ? ",…" : "")}]");
            foreach (var (name, why) in problems) ctx.Out.WriteLine($"  {name,-28} n/a: {why}");
            return CliContext.ExitOk;
        }));
        return cmd;
    }
}

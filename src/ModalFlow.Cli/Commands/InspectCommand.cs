using System.CommandLine;
using ModalFlow.Checkpoints;
using ModalFlow.Inference;

namespace ModalFlow.Cli.Commands;

/// <summary>`modalflow inspect`: what a checkpoint folder is, before anything heavy runs (no weights are loaded).</summary>
public static class InspectCommand
{
    public static Command Create(CliContext ctx)
    {
        var model = CommonOptions.Model();
        var size = new Option<string?>("--image-size") { Description = "WxH of an image, to report its image-token count (e.g. 500x375)", HelpName = "WxH" };
        var json = CommonOptions.Json();
        var cmd = new Command("inspect", "Describe a checkpoint folder: family, format, sizes, tokenizer, position ids, image tokens") { model, size, json, CommonOptions.ModelFolder };
        cmd.SetAction(parse => ctx.Guard(parse, () =>
        {
            var dir = parse.GetValue(model)!;
            var folder = ModelFolder.Read(dir, CommonOptions.Load(parse));
            var (w, h) = parse.GetValue(size) is { } s ? ParseSize(s) : (0, 0);
            var plan = w > 0 ? folder.PlanImage(w, h) : null;
            using var checkpoint = TensorCheckpoint.Open(dir);
            var dtypes = checkpoint.Names.GroupBy(n => checkpoint.Info(n).DType.ToString()).ToDictionary(g => g.Key, g => g.Count());
            long parameters = checkpoint.Names.Sum(n => checkpoint.Info(n).ElementCount);
            var d = folder.Decoder;
            var info = new
            {
                Folder = Path.GetFullPath(dir),
                Family = folder.Family.Name,
                folder.Variant,
                folder.Architecture,
                Format = folder.WeightFormat,
                WeightFiles = checkpoint.FormatName,
                VisionTower = folder.SeparateVisionTower,
                Text = new
                {
                    d.Layers, d.Hidden, d.Heads, KvHeads = d.KeyValueHeads, d.HeadDim, d.Intermediate, d.Vocab, d.RopeTheta,
                    PositionIds = d.PositionScheme,
                },
                Tokenizer = new { Kind = folder.Tokenizer.Kind.ToString(), Size = folder.Tokenizer.VocabularySize, folder.Tokenizer.SourcePath },
                Template = folder.Template.Name,
                Preprocessing = folder.Preprocessing(null),
                ImageSize = plan is null ? null : $"{w}x{h}",
                ImageTokens = plan?.ImageTokens ?? folder.FixedImageTokenCount,
                ImageGeometry = plan?.Geometry,
                Details = folder.Describe().ToDictionary(kv => kv.Key, kv => kv.Value),
                WeightDtypes = dtypes,
                Tensors = checkpoint.Names.Count,
                Parameters = parameters,
            };
            if (parse.GetValue(json)) { ctx.WriteJson(info); return CliContext.ExitOk; }
            ctx.Out.WriteLine($"{info.Folder}");
            ctx.Out.WriteLine($"  family        {info.Family}: {info.Variant} ({info.Architecture}), {info.Format} tensor names, {info.WeightFiles} files");
            ctx.Out.WriteLine($"  text          {d.Layers} layers, hidden {d.Hidden}, {d.Heads} heads / {d.KeyValueHeads} kv (head dim {d.HeadDim}), MLP {d.Intermediate}, vocab {d.Vocab}, rope θ {d.RopeTheta}");
            ctx.Out.WriteLine($"  position ids  {d.PositionScheme}");
            ctx.Out.WriteLine($"  tokenizer     {info.Tokenizer.Kind}, {info.Tokenizer.Size} tokens ({info.Tokenizer.SourcePath}); template {info.Template}");
            ctx.Out.WriteLine($"  images        {info.Preprocessing} (the default of --image-mode auto); " + (plan is null
                ? folder.FixedImageTokenCount is { } k ? $"{k} image tokens per image (any size)" : "use --image-size WxH for an image's token count"
                : $"{plan.ImageTokens} image tokens for {info.ImageSize}: {plan.Geometry}"));
            foreach (var (key, value) in folder.Describe()) ctx.Out.WriteLine($"  {key,-13} {value}");
            ctx.Out.WriteLine($"  weights       {info.Tensors} tensors, {info.Parameters:N0} parameters, dtypes {string.Join(", ", dtypes.Select(kv => $"{kv.Key}×{kv.Value}"))}");
            return CliContext.ExitOk;
        }));
        return cmd;
    }

    private static (int W, int H) ParseSize(string s)
    {
        var parts = s.ToLowerInvariant().Split('x');
        if (parts.Length != 2 || !int.TryParse(parts[0], out int w) || !int.TryParse(parts[1], out int h) || w < 1 || h < 1)
            throw new InputException(null, "--image-size", $"'{s}'; expected WIDTHxHEIGHT, e.g. 500x375");
        return (w, h);
    }
}

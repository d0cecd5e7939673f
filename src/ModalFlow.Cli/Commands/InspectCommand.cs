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
        var cmd = new Command("inspect", "Describe a checkpoint folder: format, architecture, sizes, tokenizer, image tokens") { model, size, json, CommonOptions.ModelFolder };
        cmd.SetAction(parse => ctx.Guard(parse, () =>
        {
            var dir = parse.GetValue(model)!;
            var folder = ModelFolder.Read(dir, CommonOptions.Load(parse));
            var cfg = folder.Config;
            using var checkpoint = TensorCheckpoint.Open(dir);
            var map = KeyMap.Detect(checkpoint.Contains, checkpoint.Path, cfg);
            bool towerInCheckpoint = checkpoint.Contains(map.ToFile(KeyMap.VisionTowerProbe));
            string? tower = !cfg.IsOriginal ? null
                : towerInCheckpoint ? "in the checkpoint"
                : folder.VisionTowerDirectory ?? $"NOT FOUND (mm_vision_tower '{cfg.MmVisionTower}'; pass --vision-tower DIR)";
            var dtypes = checkpoint.Names.GroupBy(n => checkpoint.Info(n).DType.ToString()).ToDictionary(g => g.Key, g => g.Count());
            long parameters = checkpoint.Names.Sum(n => checkpoint.Info(n).ElementCount);
            int? w = null, h = null;
            if (parse.GetValue(size) is { } s)
            {
                var parts = s.ToLowerInvariant().Split('x');
                if (parts.Length != 2 || !int.TryParse(parts[0], out int ww) || !int.TryParse(parts[1], out int hh) || ww < 1 || hh < 1)
                    throw new InputException(null, "--image-size", $"'{s}'; expected WIDTHxHEIGHT, e.g. 500x375");
                (w, h) = (ww, hh);
            }
            var info = new
            {
                Folder = Path.GetFullPath(dir),
                Format = map.Name,
                WeightFiles = checkpoint.FormatName,
                VisionTower = tower,
                Architecture = cfg.Architectures?.FirstOrDefault() ?? cfg.ModelType,
                Text = new
                {
                    Layers = cfg.Text.NumHiddenLayers, Hidden = cfg.Text.HiddenSize, Heads = cfg.Text.NumAttentionHeads,
                    KvHeads = cfg.Text.NumKeyValueHeads, HeadDim = cfg.Text.HeadDim, Intermediate = cfg.Text.IntermediateSize,
                    Vocab = cfg.Text.VocabSize, RopeTheta = cfg.Text.RopeTheta, RopeScaling = cfg.Text.RopeScaling?.Type ?? "none",
                },
                Vision = new
                {
                    Layers = cfg.Vision.NumHiddenLayers, Hidden = cfg.Vision.HiddenSize, cfg.Vision.ImageSize, cfg.Vision.PatchSize,
                    FeatureLayer = cfg.VisionFeatureLayer, Strategy = cfg.VisionFeatureSelectStrategy, Settings = cfg.VisionConfigSource,
                },
                Tokenizer = new { Kind = folder.Tokenizer.Kind.ToString(), Size = folder.Tokenizer.VocabularySize, folder.Tokenizer.SourcePath },
                Template = folder.Template.Name,
                ImageProcessing = folder.ImageOptionsFromFile ? "preprocessor_config.json" : "CLIP defaults (no preprocessor_config.json)",
                Anyres = cfg.IsNext ? folder.AnyresArithmetic.ToString() : null,
                ImageMode = cfg.IsNext ? "anyres" : cfg.DefaultImageMode.ToString().ToLowerInvariant(),
                ImageTokens = w is { } iw && h is { } ih ? folder.ImageTokensFor(iw, ih) : cfg.IsNext ? (int?)null : cfg.ImageTokensPerImage,
                ImageSize = w is null ? null : $"{w}x{h}",
                WeightDtypes = dtypes,
                Tensors = checkpoint.Names.Count,
                Parameters = parameters,
            };
            if (parse.GetValue(json)) { ctx.WriteJson(info); return CliContext.ExitOk; }
            ctx.Out.WriteLine($"{info.Folder}");
            ctx.Out.WriteLine($"  format        {info.Format} ({info.Architecture}), {info.WeightFiles} files");
            if (tower is not null) ctx.Out.WriteLine($"  CLIP tower    {tower} (settings: {cfg.VisionConfigSource})");
            ctx.Out.WriteLine($"  text          {info.Text.Layers} layers, hidden {info.Text.Hidden}, {info.Text.Heads} heads / {info.Text.KvHeads} kv (head dim {info.Text.HeadDim}), MLP {info.Text.Intermediate}, vocab {info.Text.Vocab}, rope θ {info.Text.RopeTheta} ({info.Text.RopeScaling})");
            ctx.Out.WriteLine($"  vision        CLIP {info.Vision.Layers} layers, hidden {info.Vision.Hidden}, {info.Vision.ImageSize}px / {info.Vision.PatchSize}px patches, features from hidden state {info.Vision.FeatureLayer} ({info.Vision.Strategy})");
            ctx.Out.WriteLine($"  tokenizer     {info.Tokenizer.Kind}, {info.Tokenizer.Size} tokens ({info.Tokenizer.SourcePath}); template {info.Template}");
            ctx.Out.WriteLine(cfg.IsNext
                ? $"  images        {info.ImageProcessing}; LLaVA-NeXT anyres ({info.Anyres} arithmetic): " + (info.ImageSize is null ? "tokens depend on the image size (use --image-size WxH)" : $"{info.ImageTokens} image tokens for {info.ImageSize}")
                : $"  images        {info.ImageProcessing}; image mode {info.ImageMode} (default of --image-mode auto); {info.ImageTokens} image tokens per image (any size)");
            ctx.Out.WriteLine($"  weights       {info.Tensors} tensors, {info.Parameters:N0} parameters, dtypes {string.Join(", ", dtypes.Select(kv => $"{kv.Key}×{kv.Value}"))}");
            return CliContext.ExitOk;
        }));
        return cmd;
    }
}

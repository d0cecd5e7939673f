using System.Diagnostics;
using System.Text.Json;
using ModalFlow.Checkpoints;
using ModalFlow.Data;
using ModalFlow.Inference;
using ModalFlow.Models;
using ModalFlow.Platform;
using ModalFlow.Text;
using ModalFlow.Vision;
using TorchSharp;
using static TorchSharp.torch;

namespace ModalFlow.Toy;

/// <summary>Sizes and schedule of the toy LLaVA (seeded; the same options re-create the same checkpoint on one machine).</summary>
public sealed record ToyTrainingOptions
{
    public int Seed { get; init; } = 1;
    public int TrainPerTask { get; init; } = 400;
    public int EvalPerTask { get; init; } = 50;
    public int Steps { get; init; } = 1500;
    public int Batch { get; init; } = 24;
    public double LearningRate { get; init; } = 2e-3;
    public int ImageSize { get; init; } = 112;
    public int VisionHidden { get; init; } = 64;
    public int VisionLayers { get; init; } = 3;
    public int TextHidden { get; init; } = 96;
    public int TextLayers { get; init; } = 4;
}

public sealed record ToyTrainingReport(IReadOnlyDictionary<string, double> AccuracyPerTask, double FinalLoss, TimeSpan Elapsed, string ModelDir);

/// <summary>
/// Trains a small LLaVA-architecture model (CLIP-style tower, 2-layer projector, Llama decoder, a generated
/// SentencePiece tokenizer) end to end on the toy world, with the paper's prompt: the loss is the cross-entropy of
/// the answer token at the last prompt position and of end-of-sequence after it.
/// </summary>
public static class ToyTrainer
{
    public static ToyTrainingReport Train(string outDir, ToyTrainingOptions o, Action<string>? log = null)
    {
        TorchRuntime.Initialize();
        manual_seed(o.Seed);
        var sw = Stopwatch.StartNew();
        var modelDir = Path.Combine(outDir, "model");
        var trainFiles = ToyWorld.Write(Path.Combine(outDir, "data", "train"), o.TrainPerTask, o.Seed * 10 + 1, 224);
        var evalFiles = ToyWorld.Write(Path.Combine(outDir, "data", "eval"), o.EvalPerTask, o.Seed * 10 + 2, 224);
        WriteFolder(modelDir, o);
        var folder = ModelFolder.Read(modelDir);
        var pre = folder.ImagePreprocessor(ImageMode.Pad);

        // Pre-tokenise and pre-process the training set once.
        var samples = new List<(long[] Ids, int Placeholder, long Answer, float[] Pixels)>();
        foreach (var (_, file) in trainFiles)
        {
            foreach (var row in GqaTaskReader.ReadFile(file).Rows)
            {
                var (_, layout) = PreparedInput.BuildLayout(folder, row.Question);
                var answer = folder.Tokenizer.EncodeToIds(row.Answer);
                var img = pre.Preprocess(Path.Combine(Path.GetDirectoryName(file)!, "images", row.ImgId + ".png"));
                samples.Add((layout.PromptIds.Select(i => (long)i).ToArray(), layout.PlaceholderIndex, answer[0], img.PixelValues));
            }
        }
        var cfg = folder.Config;
        using var model = LlavaModel.Build(cfg, new RandomWeightSource(o.Seed, ScalarType.Float32, CPU, std: 0.05, headStd: 0.05) { Trainable = true });
        var parameters = model.parameters().ToList();
        using var optimizer = optim.AdamW(parameters, lr: o.LearningRate, weight_decay: 0.01);
        var rng = new Random(o.Seed);
        long eos = folder.Tokenizer.EosId;
        int side = o.ImageSize;
        double loss = double.NaN;
        for (int step = 0; step < o.Steps; step++)
        {
            using var scope = NewDisposeScope();
            double lr = o.LearningRate * Math.Min(1.0, (step + 1) / 100.0) * (0.5 * (1 + Math.Cos(Math.PI * step / o.Steps)));
            foreach (var g in optimizer.ParamGroups) g.LearningRate = lr;
            var batch = Enumerable.Range(0, o.Batch).Select(_ => samples[rng.Next(samples.Count)]).ToList();
            var pixels = tensor(batch.SelectMany(b => b.Pixels).ToArray(), [batch.Count, 3, side, side]);
            var features = model.EncodeImages(pixels);                                            // [B, K, D]
            int maxLen = batch.Max(b => b.Ids.Length - 1 + (int)features.shape[1]) + 1;
            var seqs = new List<Tensor>();
            var answerPos = new long[batch.Count];
            for (int i = 0; i < batch.Count; i++)
            {
                var (ids, ph, ans, _) = batch[i];
                var withAnswer = ids.Append(ans).ToArray();                                         // teacher-forced answer, then EOS is predicted
                var e = model.EmbedSequence(withAnswer, ph, features[i])[0];                       // [N+1, D]
                answerPos[i] = e.shape[0] - 2;
                seqs.Add(nn.functional.pad(e, [0, 0, 0, maxLen - e.shape[0]]));
            }
            var hidden = model.LanguageModel.ForwardAll(stack(seqs));                              // [B, T, D]
            var rows = arange(batch.Count, dtype: ScalarType.Int64);
            var pos = tensor(answerPos);
            var atAnswer = hidden[rows, pos];                                                      // [B, D]
            var atEos = hidden[rows, pos + 1];
            var logits = model.LanguageModel.Unembed(cat([atAnswer, atEos], 0));
            var targets = tensor(batch.Select(b => b.Answer).Concat(Enumerable.Repeat(eos, batch.Count)).ToArray());
            var l = nn.functional.cross_entropy(logits, targets);
            optimizer.zero_grad();
            l.backward();
            nn.utils.clip_grad_norm_(parameters, 1.0);
            optimizer.step();
            loss = l.item<float>();
            if (step % 100 == 0 || step == o.Steps - 1) log?.Invoke($"step {step,5}  loss {loss:F4}  lr {lr:E2}  {sw.Elapsed:mm\\:ss}");
        }
        SafetensorsWriter.Write(Path.Combine(modelDir, SafetensorsCheckpoint.SingleFileName),
            model.named_parameters().Select(p => (p.name, (Tensor)p.parameter.detach())), new Dictionary<string, string> { ["format"] = "pt" });
        var accuracy = Evaluate(modelDir, evalFiles);
        foreach (var (task, acc) in accuracy) log?.Invoke($"held-out accuracy {task,-12} {acc:P1}");
        return new ToyTrainingReport(accuracy, loss, sw.Elapsed, modelDir);
    }

    /// <summary>Greedy answers through the real predict path, per task.</summary>
    public static IReadOnlyDictionary<string, double> Evaluate(string modelDir, IReadOnlyDictionary<string, string> files)
    {
        using var m = LoadedModel.Load(modelDir);
        var result = new SortedDictionary<string, double>(StringComparer.Ordinal);
        foreach (var (task, file) in files)
        {
            var rows = GqaTaskReader.ReadFile(file).Rows;
            int correct = 0;
            foreach (var row in rows)
            {
                using var scope = NewDisposeScope();
                using var input = PreparedInput.Create(m, Path.Combine(Path.GetDirectoryName(file)!, "images", row.ImgId + ".png"), row.Question);
                if (Predictor.Predict(m, input, 4).Answer.Trim().ToLowerInvariant() == row.Answer) correct++;
            }
            result[task] = (double)correct / rows.Length;
        }
        return result;
    }

    private static void WriteFolder(string dir, ToyTrainingOptions o)
    {
        Directory.CreateDirectory(dir);
        var vocab = SentencePieceVocabulary.ForWords(ToyWorld.Vocabulary);
        SentencePieceModelWriter.Write(Path.Combine(dir, "tokenizer.model"), vocab);
        int baseVocab = vocab.Count, imageToken = baseVocab, padToken = baseVocab + 1;
        File.WriteAllText(Path.Combine(dir, "added_tokens.json"), JsonSerializer.Serialize(new Dictionary<string, int> { ["<image>"] = imageToken, ["<pad>"] = padToken }));
        var json = new JsonSerializerOptions { WriteIndented = true };
        File.WriteAllText(Path.Combine(dir, "config.json"), JsonSerializer.Serialize(new Dictionary<string, object?>
        {
            ["architectures"] = new[] { "LlavaForConditionalGeneration" }, ["model_type"] = "llava", ["image_token_index"] = imageToken,
            ["pad_token_id"] = padToken, ["projector_hidden_act"] = "gelu", ["vision_feature_layer"] = -2, ["vision_feature_select_strategy"] = "default",
            ["text_config"] = new Dictionary<string, object?>
            {
                ["model_type"] = "llama", ["vocab_size"] = (baseVocab + 2 + 63) / 64 * 64, ["hidden_size"] = o.TextHidden,
                ["intermediate_size"] = o.TextHidden * 8 / 3 / 2 * 2, ["num_hidden_layers"] = o.TextLayers, ["num_attention_heads"] = o.TextHidden / 24,
                ["num_key_value_heads"] = o.TextHidden / 24, ["rms_norm_eps"] = 1e-5, ["max_position_embeddings"] = 1024, ["bos_token_id"] = 1,
                ["eos_token_id"] = 2, ["pad_token_id"] = padToken,
            },
            ["vision_config"] = new Dictionary<string, object?>
            {
                ["model_type"] = "clip_vision_model", ["hidden_size"] = o.VisionHidden, ["intermediate_size"] = o.VisionHidden * 4,
                ["num_hidden_layers"] = o.VisionLayers, ["num_attention_heads"] = o.VisionHidden / 32, ["image_size"] = o.ImageSize, ["patch_size"] = 14,
            },
        }, json));
        File.WriteAllText(Path.Combine(dir, PreprocessorConfig.FileName), JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["image_processor_type"] = "CLIPImageProcessor", ["size"] = new { shortest_edge = o.ImageSize },
            ["crop_size"] = new { height = o.ImageSize, width = o.ImageSize }, ["resample"] = 3,
        }, json));
    }
}

using System.Diagnostics;
using System.Text.Json;
using ModalFlow.Checkpoints;
using ModalFlow.Data;
using ModalFlow.Families.Llava;
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
    public int TrainPerTask { get; init; } = 1000;
    public int EvalPerTask { get; init; } = 100;
    public int Steps { get; init; } = 6000;
    public int Batch { get; init; } = 32;
    public double LearningRate { get; init; } = 2e-3;
    public int ImageSize { get; init; } = 112;
    public int VisionHidden { get; init; } = 64;
    public int VisionLayers { get; init; } = 4;
    public int TextHidden { get; init; } = 96;
    public int TextLayers { get; init; } = 4;
    public double AuxiliaryWeight { get; init; } = 0.5;
    /// <summary>Share of training questions seen with every image→text edge blocked (the model keeps a language prior) ...</summary>
    public double ImageDropout { get; init; } = 0.15;
    /// <summary>... from this fraction of the steps on (first the tasks are learned from the image, as without it).</summary>
    public double ImageDropoutFrom { get; init; } = 0.3;
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
        var evalFiles = ToyWorld.Write(Path.Combine(outDir, "data", "eval"), o.EvalPerTask, o.Seed * 10 + 2, 224);
        WriteFolder(modelDir, o);
        var folder = LlavaModelFolder.Read(modelDir);
        var pre = folder.ImagePreprocessor(ImageMode.Pad);
        int grid = o.ImageSize / 14;

        // The training pool, made in memory once: token ids, pixels, and per-patch truth for the auxiliary loss.
        var samples = new List<TrainingSample>();
        var objectWords = ToyWorld.Shapes.Concat(ToyWorld.Shapes.Select(w => w + "s")).Concat(ToyWorld.Colors.Select(c => c.Name))
            .ToDictionary(w => (long)folder.Tokenizer.EncodeToIds(w).Single(), w => w);
        foreach (var (task, _) in ToyWorld.Tasks)
        {
            var rng0 = new Random(ToyWorld.StableSeed(o.Seed * 10 + 1, task));
            for (int i = 0; i < o.TrainPerTask; i++)
            {
                var sample = ToyWorld.Sample(task, rng0, 224);
                var (_, layout) = folder.BuildLayout(sample.Question, folder.Config.ImageTokensPerImage);
                var answer = folder.Tokenizer.EncodeToIds(sample.Answer);
                var img = pre.Preprocess(ImageDecoder.Decode(ToyWorld.RenderPng(sample), $"toy {task} {i}"));
                var owners = ToyWorld.PatchObjects(sample, grid);
                var patchLabels = owners.SelectMany((k, p) => k < 0 ? new long[] { 0, 0, 0, p % grid }
                    : [sample.Objects[k].Color + 1, Array.IndexOf(ToyWorld.Shapes, sample.Objects[k].Shape) + 1, sample.Objects[k].Large ? 2 : 1, p % grid]).ToArray();
                var ids = layout.PromptIds.Select(i => (long)i).ToArray();
                samples.Add(new(task, ids, layout.PlaceholderIndex, answer[0], img.PixelValues, patchLabels,
                    Mentions(sample, ids, layout.PlaceholderIndex, grid * grid, objectWords)));
            }
        }
        log?.Invoke($"{samples.Count} training samples ready, {samples[0].Ids.Length - 1 + grid * grid} positions each  {sw.Elapsed:mm\\:ss}");
        var cfg = folder.Config;
        using var model = LlavaModel.Build(cfg, new RandomWeightSource(o.Seed, ScalarType.Float32, CPU, std: 0.05, headStd: 0.05) { Trainable = true });
        // Auxiliary head (not saved): each projected patch feature names the colour, shape and size class of the object
        // on it and its column — the role CLIP pre-training plays for a real LLaVA, here learned jointly so training takes minutes.
        using var aux = nn.Linear(cfg.Text.HiddenSize, 5 + 5 + 3 + grid);
        // Second auxiliary head (not saved): at each question word that names a shape or colour, the final hidden state
        // names the scene object it refers to (colour, shape, cell column, size; all 0 when there is none) — the
        // question tokens learn to read their object from the image, the region-specific stage the paper reports.
        using var mentionHead = nn.Linear(cfg.Text.HiddenSize, 5 + 5 + (ToyWorld.Cells + 1) + 3);
        var parameters = model.parameters().Concat(aux.parameters()).Concat(mentionHead.parameters()).ToList();
        using var optimizer = optim.AdamW(parameters, lr: o.LearningRate, weight_decay: 0.01);
        var rng = new Random(o.Seed);
        long eos = folder.Tokenizer.EosId;
        int side = o.ImageSize;
        double loss = double.NaN;
        long correctSum = 0, seen = 0;
        double auxSum = 0;
        int logSteps = 0;
        var perTask = new Dictionary<string, (int Correct, int Seen)>();
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
                var (ids, ph, ans) = (batch[i].Ids, batch[i].Placeholder, batch[i].Answer);
                var withAnswer = ids.Append(ans).ToArray();                                         // teacher-forced answer, then EOS is predicted
                var e = model.EmbedSequence(withAnswer, ph, features[i])[0];                       // [N+1, D]
                answerPos[i] = e.shape[0] - 2;
                seqs.Add(nn.functional.pad(e, [0, 0, 0, maxLen - e.shape[0]]));
            }
            // Image dropout: some questions are seen with the text blind to the image (every image→text edge blocked in
            // all layers), the answer still the target, so the model learns the best image-blind answer — as a real
            // LLaVA's language model has a prior — instead of undefined behaviour when the image is knocked out.
            bool dropping = step >= o.ImageDropoutFrom * o.Steps;
            var blind = batch.Select(_ => dropping && rng.NextDouble() < o.ImageDropout).ToArray();
            Tensor? mask = null;
            if (blind.Any(b => b))
            {
                int k = (int)features.shape[1];
                var blocked = new bool[batch.Count * maxLen * maxLen];
                for (int i = 0; i < batch.Count; i++)
                {
                    if (!blind[i]) continue;
                    int ph = batch[i].Placeholder;
                    for (int r = ph + k; r < maxLen; r++)
                        for (int c = ph; c < ph + k; c++) blocked[(i * maxLen + r) * maxLen + c] = true;
                }
                mask = Masks.Causal(maxLen, 0, ScalarType.Float32, CPU).expand(batch.Count, 1, maxLen, maxLen)
                    .masked_fill(tensor(blocked).reshape(batch.Count, 1, maxLen, maxLen), Scalars.Of(Masks.MinValue(ScalarType.Float32)));
            }
            var hidden = model.LanguageModel.ForwardAll(stack(seqs), mask);                        // [B, T, D]
            var rows = TensorFactories.Arange(batch.Count, ScalarType.Int64);
            var pos = tensor(answerPos);
            var atAnswer = hidden[rows, pos];                                                      // [B, D]
            var atEos = hidden[rows, pos.add(Scalars.OfInteger(1), Scalars.One)];
            var logits = model.LanguageModel.Unembed(cat([atAnswer, atEos], 0));
            var targets = tensor(batch.Select(b => b.Answer).Concat(Enumerable.Repeat(eos, batch.Count)).ToArray());
            var auxLogits = aux.forward(features.reshape(-1, features.shape[2]));
            var auxTargets = tensor(batch.SelectMany(b => b.PatchLabels).ToArray()).reshape(-1, 4);
            var auxLoss = Sum(nn.functional.cross_entropy(auxLogits[.., ..5], auxTargets[.., 0]), nn.functional.cross_entropy(auxLogits[.., 5..10], auxTargets[.., 1]),
                nn.functional.cross_entropy(auxLogits[.., 10..13], auxTargets[.., 2]), nn.functional.cross_entropy(auxLogits[.., 13..], auxTargets[.., 3]));
            var seeing = Enumerable.Range(0, batch.Count).Where(i => !blind[i]).ToList();
            var mentionRows = seeing.SelectMany(i => batch[i].Mentions.Select(_ => (long)i)).ToArray();
            if (mentionRows.Length > 0)
            {
                var atMentions = hidden[tensor(mentionRows), tensor(seeing.SelectMany(i => batch[i].Mentions.Select(m => m.Position)).ToArray())];
                var ml = mentionHead.forward(atMentions);
                var mt = tensor(seeing.SelectMany(i => batch[i].Mentions.SelectMany(m => m.Labels)).ToArray()).reshape(-1, 4);
                auxLoss = Sum(auxLoss, nn.functional.cross_entropy(ml[.., ..5], mt[.., 0]), nn.functional.cross_entropy(ml[.., 5..10], mt[.., 1]),
                    nn.functional.cross_entropy(ml[.., 10..(10 + ToyWorld.Cells + 1)], mt[.., 2]), nn.functional.cross_entropy(ml[.., (10 + ToyWorld.Cells + 1)..], mt[.., 3]));
            }
            var answerLoss = nn.functional.cross_entropy(logits, targets);
            var l = answerLoss.add(auxLoss, Scalars.Of(o.AuxiliaryWeight));
            optimizer.zero_grad();
            l.backward();
            nn.utils.clip_grad_norm_(parameters, 1.0);
            optimizer.step();
            loss = answerLoss.item<float>();
            auxSum += auxLoss.item<float>();
            logSteps++;
            var hits = logits[..batch.Count].argmax(1).eq(targets[..batch.Count]).data<bool>().ToArray();
            foreach (int i in seeing)
            {
                var (c, n) = perTask.GetValueOrDefault(batch[i].Task);
                perTask[batch[i].Task] = (c + (hits[i] ? 1 : 0), n + 1);
            }
            correctSum += seeing.Count(i => hits[i]);
            seen += seeing.Count;
            if (step % 50 == 0 || step == o.Steps - 1)
            {
                log?.Invoke($"step {step,5}  answer loss {loss:F4}  auxiliary loss {auxSum / logSteps:F3}  batch accuracy {(double)correctSum / seen:P1}  lr {lr:E2}  {sw.Elapsed:mm\\:ss}");
                log?.Invoke("      " + string.Join("  ", perTask.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key} {(double)kv.Value.Correct / kv.Value.Seen:P0}")));
                correctSum = 0; seen = 0; auxSum = 0; logSteps = 0; perTask.Clear();
            }
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
        return Evaluate(m, files);
    }

    /// <summary>Greedy answers of a loaded model, per task (the full decoded answer must equal the CSV's).</summary>
    public static IReadOnlyDictionary<string, double> Evaluate(LoadedModel m, IReadOnlyDictionary<string, string> files)
    {
        ArgumentNullException.ThrowIfNull(m);
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

    /// <summary>Sum of losses with explicit alphas (TorchSharp's <c>+</c> makes an unrooted temporary Scalar, see <see cref="Scalars"/>).</summary>
    private static Tensor Sum(params Tensor[] terms) => terms.Skip(1).Aggregate(terms[0], (a, b) => a.add(b, Scalars.One));

    private sealed record TrainingSample(string Task, long[] Ids, int Placeholder, long Answer, float[] Pixels, long[] PatchLabels,
        IReadOnlyList<(long Position, long[] Labels)> Mentions);

    /// <summary>
    /// Question words naming a shape (or its plural) or a colour, at their position in the expanded sequence, with the
    /// object they refer to: colour+1, shape+1, cell column+1, size class (large 2, small 1); zeros when the scene has
    /// none. A colour shared by two objects names no single object and is skipped.
    /// </summary>
    private static List<(long Position, long[] Labels)> Mentions(ToySample sample, long[] ids, int placeholder, int imageTokens,
        Dictionary<long, string> objectWords)
    {
        var result = new List<(long, long[])>();
        int cell = sample.ImageSize / ToyWorld.Cells;
        for (int j = placeholder + 1; j < ids.Length; j++)
        {
            if (!objectWords.TryGetValue(ids[j], out var word)) continue;
            var shape = word.TrimEnd('s');
            var matches = ToyWorld.Shapes.Contains(shape)
                ? sample.Objects.Where(o => o.Shape == shape).ToList()
                : sample.Objects.Where(o => o.ColorName == word).ToList();
            if (matches.Count > 1) continue;
            long[] labels = matches.Count == 0 ? [0, 0, 0, 0]
                : [matches[0].Color + 1, Array.IndexOf(ToyWorld.Shapes, matches[0].Shape) + 1, matches[0].X / cell + 1, matches[0].Large ? 2 : 1];
            result.Add((j + imageTokens - 1, labels));
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

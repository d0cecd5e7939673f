using ModalFlow.Data;
using ModalFlow.Inference;
using ModalFlow.Tracing;
using ModalFlow.Vision;
using static TorchSharp.torch;

namespace ModalFlow.Toy;

/// <summary>
/// What the method must show on a model that answers from the image, measured on one task's questions.
/// Accuracies count the first answer token (the token every knockout and the lens score).
/// </summary>
/// <param name="Accuracy">Clean first-token accuracy.</param>
/// <param name="BlindBaseline">
/// Best constant answer: the most frequent answer, or — for questions that name two options — always the first
/// or always the second option named, whichever is best on these rows.
/// </param>
/// <param name="AccuracyImageBlocked">Accuracy with every image→text edge blocked (image positions → all later positions, all layers).</param>
/// <param name="RelatedChange">Mean relative change (%) of the answer probability when the related patches are blocked from every later position in all layers (correct samples).</param>
/// <param name="RandomChange">The same for an equal number of random other patches (the paper's control).</param>
/// <param name="PatchSamples">Correct samples with a related and a random set (the two means are over these).</param>
/// <param name="LensAnswerProb">Mean probability of the answer token at the last position per lens row (0 = embeddings, L = output; standard lens) over correct samples.</param>
public sealed record ToyTaskProbe(string Task, int Samples, double Accuracy, double BlindBaseline, double AccuracyImageBlocked,
    double RelatedChange, double RandomChange, int PatchSamples, double[] LensAnswerProb);

/// <summary>Measures <see cref="ToyTaskProbe"/> per task over a toy data folder (toy_&lt;Task&gt;.csv + images/).</summary>
public static class ToyProbe
{
    public static IReadOnlyList<ToyTaskProbe> Run(LoadedModel m, string dataDir, int maxPerTask = int.MaxValue)
    {
        ArgumentNullException.ThrowIfNull(m);
        var engine = KnockoutEngine.Create(KnockoutEngineKind.Fast);
        var patches = m.Folder.PatchMapper(ImageMode.Pad);
        var result = new List<ToyTaskProbe>();
        foreach (var (task, _) in ToyWorld.Tasks)
        {
            var file = Path.Combine(dataDir, $"toy_{task}.csv");
            var rows = GqaTaskReader.ReadFile(file).Rows.Take(maxPerTask).ToList();
            int correct = 0, blockedCorrect = 0, patchSamples = 0;
            double related = 0, random = 0;
            double[]? lens = null;
            foreach (var row in rows)
            {
                using var scope = NewDisposeScope();
                using var input = PreparedInput.Create(m, Path.Combine(dataDir, "images", row.ImgId + ".png"), row.Question);
                long answer = m.Tokenizer.EncodeToIds(row.Answer)[0];
                using var clean = CleanRun.Create(m.Decoder, input.Embeds, input.Positions, answer);
                var layout = input.Layout;
                var allLayers = Enumerable.Range(0, clean.NumLayers).ToArray();
                var later = PositionSet.Range("After image", layout.Image.End, layout.SeqLen);
                var imageBlocked = new KnockoutSpec(NamedPositions.Resolve(NamedPositions.Image, layout), later, allLayers, "Image->Text");
                // One engine call per sample: the image knockout and, for a correct answer, the related / random patch pair
                // (the fast engine shares the clean prefix between them).
                bool isCorrect = clean.Top1Id == answer;
                var specs = new List<KnockoutSpec> { imageBlocked };
                if (isCorrect)
                {
                    var sets = patches.Map(row);
                    var relatedSet = sets.RelatedPositions(layout);
                    var randomSet = sets.RandomPositions(layout.Image.Start, row.QuestionId);
                    if (relatedSet.Count > 0 && randomSet.Count > 0)
                        specs.AddRange([new KnockoutSpec(relatedSet, later, allLayers), new KnockoutSpec(randomSet, later, allLayers)]);
                }
                var outcomes = engine.Run(clean, specs);
                if (outcomes[0].Top1New == answer) blockedCorrect++;
                if (!isCorrect) continue;
                correct++;
                if (outcomes.Count == 3)
                {
                    related += 100 * (outcomes[1].P2 - clean.P1) / clean.P1;
                    random += 100 * (outcomes[2].P2 - clean.P1) / clean.P1;
                    patchSamples++;
                }
                var l = LogitLens.Compute(clean, layout.Last, [answer]);
                lens ??= new double[l.Rows];
                for (int r = 0; r < l.Rows; r++) lens[r] += l.ProbNorm[r, 0];
            }
            result.Add(new ToyTaskProbe(task, rows.Count, Ratio(correct, rows.Count), BlindBaseline(rows), Ratio(blockedCorrect, rows.Count),
                patchSamples == 0 ? double.NaN : related / patchSamples, patchSamples == 0 ? double.NaN : random / patchSamples, patchSamples,
                lens is null ? [] : [.. lens.Select(v => v / correct)]));
        }
        return result;
    }

    /// <summary>The best constant answer's accuracy (see <see cref="ToyTaskProbe.BlindBaseline"/>).</summary>
    public static double BlindBaseline(IReadOnlyList<GqaTaskRow> rows)
    {
        if (rows.Count == 0) return double.NaN;
        int best = rows.GroupBy(r => r.Answer, StringComparer.Ordinal).Max(g => g.Count());
        var withOptions = rows.Where(r => r.TrueOption is not null && r.FalseOption is not null).ToList();
        if (withOptions.Count == rows.Count)
        {
            // "first option named": the answer is the true option and it appears before the false one in the question.
            int first = withOptions.Count(r => IndexOfWord(r.Question, r.TrueOption!) < IndexOfWord(r.Question, r.FalseOption!));
            best = Math.Max(best, Math.Max(first, rows.Count - first));
        }
        return (double)best / rows.Count;
    }

    private static int IndexOfWord(string question, string word)
    {
        int i = question.IndexOf(word, StringComparison.OrdinalIgnoreCase);
        return i < 0 ? int.MaxValue : i;
    }

    private static double Ratio(int a, int b) => b == 0 ? double.NaN : (double)a / b;
}

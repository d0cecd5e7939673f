using ModalFlow.Data;
using ModalFlow.Families.Llava;
using ModalFlow.Inference;
using ModalFlow.Tests.Support;
using ModalFlow.Toy;
using Xunit;
using Xunit.Abstractions;

namespace ModalFlow.Tests.Toy;

/// <summary>Loads the embedded toy LLaVA once and measures every method-level fact over all its held-out questions.</summary>
public sealed class EmbeddedToyFixture : IDisposable
{
    public EmbeddedToyFixture()
    {
        EmbeddedToy.EnsurePresent();
        Model = LlavaLoadedModel.Load(EmbeddedToy.ModelDir);
        Probes = ToyProbe.Run(Model, EmbeddedToy.EvalDir);
    }

    public LlavaLoadedModel Model { get; }
    public IReadOnlyList<ToyTaskProbe> Probes { get; }

    public void Dispose() => Model.Dispose();
}

/// <summary>
/// The scientific test of the method on a model whose information flow is known: the toy LLaVA answers from the
/// image, so blocking the image must leave it no better than a constant answer, the question's objects must matter
/// more than other patches, and the answer must build up with depth.
/// </summary>
public class EmbeddedToyModelTests(EmbeddedToyFixture toy, ITestOutputHelper output) : IClassFixture<EmbeddedToyFixture>
{
    [SharedFact]
    public void Greedy_Answers_Are_At_Least_95_Percent_Correct_On_Every_Held_Out_Task()
    {
        var files = ToyWorld.Tasks.ToDictionary(t => t.Task, t => Path.Combine(EmbeddedToy.EvalDir, $"toy_{t.Task}.csv"));
        var accuracy = ToyTrainer.Evaluate(toy.Model, files);
        Assert.Equal(6, accuracy.Count);
        foreach (var (task, acc) in accuracy)
        {
            output.WriteLine($"{task,-12} {acc:P1}");
            Assert.True(acc >= 0.95, $"{task}: held-out accuracy {acc:P1} < 95%");
        }
        foreach (var file in files.Values) Assert.True(GqaTaskReader.ReadFile(file).Rows.Length >= 50, $"{file}: fewer than 50 held-out questions");
    }

    [SharedFact]
    public void Blocking_Every_Image_To_Text_Edge_Leaves_The_Image_Blind_Baseline()
    {
        foreach (var p in toy.Probes)
        {
            output.WriteLine($"{p.Task,-12} clean {p.Accuracy:P1}  image blocked {p.AccuracyImageBlocked:P1}  blind baseline {p.BlindBaseline:P1}");
            Assert.True(Math.Abs(p.AccuracyImageBlocked - p.BlindBaseline) <= 0.10,
                $"{p.Task}: accuracy with the image blocked {p.AccuracyImageBlocked:P1} is not within 10 points of the blind baseline {p.BlindBaseline:P1}");
            Assert.True(p.Accuracy - p.BlindBaseline >= 0.3, $"{p.Task}: clean accuracy {p.Accuracy:P1} hardly beats the blind baseline {p.BlindBaseline:P1}");
        }
    }

    [SharedFact]
    public void Blocking_The_Related_Patches_Hurts_More_Than_As_Many_Random_Other_Patches()
    {
        foreach (var p in toy.Probes)
        {
            output.WriteLine($"{p.Task,-12} related {p.RelatedChange:F1}%  random {p.RandomChange:F1}%  over {p.PatchSamples} samples");
            Assert.True(p.PatchSamples >= 20, $"{p.Task}: only {p.PatchSamples} samples with patch sets");
            Assert.True(p.RelatedChange < p.RandomChange, $"{p.Task}: related {p.RelatedChange:F1}% is not below random {p.RandomChange:F1}%");
        }
        // Over all tasks the difference is large, not a coin flip.
        Assert.True(toy.Probes.Average(p => p.RelatedChange) < toy.Probes.Average(p => p.RandomChange) - 20);
    }

    [SharedFact]
    public void Logit_Lens_Shows_The_Answer_Probability_Rising_With_Depth()
    {
        foreach (var p in toy.Probes)
        {
            var lens = p.LensAnswerProb;
            output.WriteLine($"{p.Task,-12} " + string.Join(' ', lens.Select(v => v.ToString("F3"))));
            Assert.Equal(toy.Model.Config.Text.NumHiddenLayers + 1, lens.Length);
            int half = lens.Length / 2;
            Assert.True(lens[^1] > 0.5, $"{p.Task}: output probability {lens[^1]:F3}");
            Assert.True(lens[^1] > lens[..half].Max() + 0.2, $"{p.Task}: the output ({lens[^1]:F3}) is not well above the lower layers ({lens[..half].Max():F3})");
            Assert.True(lens[half..].Average() > lens[..half].Average(), $"{p.Task}: upper half not above lower half");
        }
    }
}

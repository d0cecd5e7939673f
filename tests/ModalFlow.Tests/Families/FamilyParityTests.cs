using System.Text.Json;
using ModalFlow.Inference;
using ModalFlow.Models;
using ModalFlow.Tests.Models;
using ModalFlow.Tests.Support;
using ModalFlow.Tracing;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace ModalFlow.Tests.Families;

/// <summary>
/// Qwen2-VL and LLaVA-OneVision end to end through the family seam, as a user runs them: a folder as downloaded →
/// ModelFolder (family, prompt, layout) → LoadedModel.Prepare from the image file (preprocessing, vision, merge, position
/// ids) → clean run and knockouts on both engines, against transformers v4.45.1's goldens.
/// </summary>
public sealed class FamilyParityTests(ITestOutputHelper log)
{
    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var model in new[] { FamilyFolders.Qwen2Vl, FamilyFolders.Onevision })
            foreach (var id in FixtureCase.CaseIds(model)) data.Add(model, id);
        return data;
    }

    private static (int W, int H) ImageSize(FixtureCase c)
    {
        var wh = c.Json.GetProperty("image_size_wh");
        return (wh[0].GetInt32(), wh[1].GetInt32());
    }

    [SharedTheory]
    [MemberData(nameof(Cases))]
    public void Folder_Gives_The_Processors_Prompt_Ids_And_Spans(string model, string id)
    {
        var c = FixtureCase.Load(model, id);
        var folder = ModelFolder.Read(FamilyFolders.AsDownloaded(model));
        Assert.Equal(model == FamilyFolders.Qwen2Vl ? "qwen2-vl" : "llava-onevision", folder.Family.Name);
        var (w, h) = ImageSize(c);
        Assert.Equal(c.NumImageTokens, folder.PlanImage(w, h).ImageTokens);
        var (prompt, layout) = folder.BuildLayout(c.Question, w, h);
        Assert.Equal(c.Prompt, prompt);
        Assert.Equal(c.Range("image"), (layout.Image.Start, layout.Image.End));
        Assert.Equal(c.Range("question"), (layout.Question.Start, layout.Question.End));
        var expected = c.Array("input_ids").AsLongs();
        Assert.Equal(expected, layout.ExpandedInputIds(expected[layout.Image.Start]));
    }

    [SharedTheory]
    [MemberData(nameof(Cases))]
    public void Prepared_Input_Clean_Run_And_Knockouts_Match_Transformers_From_The_Image_File(string model, string id)
    {
        var c = FixtureCase.Load(model, id);
        using var m = LoadedModel.Load(FamilyFolders.AsDownloaded(model));
        using var input = PreparedInput.Create(m, c.ImagePath, c.Question);
        Assert.Equal(c.SeqLen, input.Layout.SeqLen);
        var de = Compare.AllClose(c.Array("inputs_embeds").AsFloats(), input.Embeds[0].data<float>().ToArray(), 1e-4, "inputs_embeds");
        var goldenPositions = Qwen2DecoderParityTests.Positions(c);
        for (int a = 0; a < goldenPositions.Axes; a++)
            Assert.Equal(goldenPositions.Axis(a).ToArray(), input.Positions.Axis(a).ToArray());

        using var clean = CleanRun.Create(m.Decoder, input.Embeds, input.Positions);
        var dl = Compare.AllClose(c.Array("logits_last").AsFloats(), clean.LastLogits.data<float>().ToArray(), 1e-3, "logits_last");
        Assert.Equal(c.Top1Id, clean.Top1Id);

        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(c.Dir, "knockout.json")));
        var windows = doc.RootElement.GetProperty("configs").EnumerateArray().Where(g => g.GetProperty("kind").GetString() == "window").ToList();
        var specs = windows.Select((g, i) =>
        {
            int[] Ints(string key) => g.GetProperty(key).EnumerateArray().Select(e => e.GetInt32()).ToArray();
            return new KnockoutSpec(PositionSet.Of("S", Ints("sources")), PositionSet.Of("T", Ints("targets")), Ints("layers"), $"#{i}");
        }).ToList();
        double worst = 0;
        foreach (var engine in new[] { KnockoutEngineKind.Fast, KnockoutEngineKind.Naive })
        {
            var outcomes = KnockoutEngine.Create(engine).Run(clean, specs);
            for (int i = 0; i < specs.Count; i++)
            {
                double expected = windows[i].GetProperty("logprob_new").GetDouble();
                worst = Math.Max(worst, Math.Abs(expected - outcomes[i].LogP2));
                Assert.True(Math.Abs(expected - outcomes[i].LogP2) <= 1e-2, $"{engine} {specs[i].Label}: logprob {outcomes[i].LogP2}, expected {expected}");
                Assert.Equal(windows[i].GetProperty("top1_new").GetInt64(), outcomes[i].Top1New);
            }
        }
        log.WriteLine($"{c}: max |Δ| inputs_embeds {de:E2}, logits {dl:E2}, knockout logprob (both engines) {worst:E2}");
    }

    [SharedTheory]
    [MemberData(nameof(Cases))]
    public void Greedy_Answer_From_The_Clean_Run_Equals_Plain_Greedy_Decoding(string model, string id)
    {
        var c = FixtureCase.Load(model, id);
        using var m = LoadedModel.Load(FamilyFolders.AsDownloaded(model));
        using var input = PreparedInput.Create(m, c.ImagePath, c.Question);
        using var clean = CleanRun.Create(m.Decoder, input.Embeds, input.Positions);
        var shared = Predictor.Predict(m, input, clean, 4);
        var plain = Predictor.Predict(m, input, 4);
        Assert.Equal(plain.AnswerTokenIds, shared.AnswerTokenIds);
        Assert.Equal(plain.FirstTokenProb, shared.FirstTokenProb, 1e-6);
        Assert.Equal(c.Top1Id, shared.FirstTokenId);
    }
}

using System.Text.Json;
using ModalFlow.Tests.Support;
using ModalFlow.Text;

namespace ModalFlow.Tests.Text;

/// <summary>The three fixture models, their tokenizers (loaded once) and their cases.</summary>
public static class TextFixtures
{
    public static readonly string[] Models = ["tiny-llava-1.5", "tiny-llava-next", "tiny-llama3-llava-next"];
    public static readonly string[] Cases = ["dog_jar", "ironing_rel", "tree_attr"];

    public static string Llama3RanksFile => SharedData.Fixture("tokenizers", "llama3", "tokenizer.model");
    public static string RealLlava15Dir => SharedData.DataFile("model-configs", "liuhaotian__llava-v1.5-7b");

    private static readonly Lazy<ITextTokenizer> Llama2Lazy = new(() => TokenizerLoader.Load(SharedData.Fixture("tiny-llava-1.5")));
    private static readonly Lazy<ITextTokenizer> Llama3Lazy =
        new(() => TokenizerLoader.Load(SharedData.Fixture("tiny-llama3-llava-next"), Llama3RanksFile));
    private static readonly Lazy<ITextTokenizer> RealLlava15Lazy = new(() => TokenizerLoader.Load(RealLlava15Dir));

    /// <summary>Llama-2 SentencePiece with the fixture's added &lt;image&gt;, &lt;pad&gt;.</summary>
    public static ITextTokenizer Llama2 => Llama2Lazy.Value;

    /// <summary>Llama-3 ranks with the fixture's added &lt;image&gt;, &lt;pad&gt;.</summary>
    public static ITextTokenizer Llama3 => Llama3Lazy.Value;

    /// <summary>liuhaotian/llava-v1.5-7b's own tokenizer.model and config (no added tokens).</summary>
    public static ITextTokenizer RealLlava15 => RealLlava15Lazy.Value;

    public static ITextTokenizer TokenizerFor(string model) => model == "tiny-llama3-llava-next" ? Llama3 : Llama2;

    public static IEnumerable<object[]> AllCases() =>
        from m in Models from c in Cases select new object[] { m, c };

    public static string CaseDir(string model, string caseId) => SharedData.Fixture(model, "cases", caseId);

    public static FixtureCase Load(string model, string caseId)
    {
        var path = Path.Combine(CaseDir(model, caseId), "case.json");
        var root = JsonDocument.Parse(File.ReadAllBytes(path)).RootElement;
        var ranges = root.GetProperty("ranges");
        TokenSpan Range(string name) => new(ranges.GetProperty(name)[0].GetInt32(), ranges.GetProperty(name)[1].GetInt32());
        return new FixtureCase(
            Model: model,
            CaseId: caseId,
            Path: path,
            Question: root.GetProperty("question").GetString()!,
            ConvMode: root.GetProperty("conv_mode").GetString()!,
            Prompt: root.GetProperty("prompt").GetString()!,
            PlaceholderIndex: root.GetProperty("image_placeholder_index").GetInt32(),
            ImageTokenCount: root.GetProperty("n_image_tokens").GetInt32(),
            SeqLen: root.GetProperty("seq_len").GetInt32(),
            SystemPrefix: Range("system_prefix"),
            Image: Range("image"),
            TextAfterImage: Range("text_after_image"),
            QuestionRange: Range("question"),
            Last: ranges.GetProperty("last").GetInt32(),
            QuestionPositions: root.GetProperty("question_positions").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
            QuestionTokens: root.GetProperty("question_tokens").EnumerateArray().Select(e => e.GetString()!).ToArray(),
            QuestionTokenIds: root.GetProperty("question_token_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray());
    }
}

public sealed record FixtureCase(
    string Model, string CaseId, string Path, string Question, string ConvMode, string Prompt,
    int PlaceholderIndex, int ImageTokenCount, int SeqLen,
    TokenSpan SystemPrefix, TokenSpan Image, TokenSpan TextAfterImage, TokenSpan QuestionRange, int Last,
    int[] QuestionPositions, string[] QuestionTokens, int[] QuestionTokenIds)
{
    public long[] LlavaIds() => Support.NpyArray.Load(System.IO.Path.Combine(TextFixtures.CaseDir(Model, CaseId), "input_ids_llava.npy")).AsLongs();
    public long[] HfIds() => Support.NpyArray.Load(System.IO.Path.Combine(TextFixtures.CaseDir(Model, CaseId), "input_ids.npy")).AsLongs();
}

public static class IdAssert
{
    /// <summary>Exact equality of id lists; on failure names the first mismatches with index and both values.</summary>
    public static void Equal(IReadOnlyList<long> expected, IReadOnlyList<long> actual, string what)
    {
        var diffs = Enumerable.Range(0, Math.Min(expected.Count, actual.Count))
            .Where(i => expected[i] != actual[i]).Take(5)
            .Select(i => $"[{i}] expected {expected[i]}, got {actual[i]}").ToList();
        if (expected.Count != actual.Count) diffs.Add($"length: expected {expected.Count}, got {actual.Count}");
        if (diffs.Count > 0)
            Xunit.Assert.Fail($"{what}: ids differ: {string.Join("; ", diffs)}\nexpected {string.Join(",", expected)}\nactual   {string.Join(",", actual)}");
    }
}

using ModalFlow.Tests.Support;
using ModalFlow.Text;
using Xunit;

namespace ModalFlow.Tests.Text;

public class LlavaPromptTokenizerTests
{
    [SharedTheory]
    [MemberData(nameof(TextFixtures.AllCases), MemberType = typeof(TextFixtures))]
    public void TokenizerImageToken_Equals_InputIdsLlava(string model, string caseId)
    {
        var c = TextFixtures.Load(model, caseId);
        var prompt = LlavaPromptTokenizer.Tokenize(TextFixtures.TokenizerFor(model), c.Prompt);
        IdAssert.Equal(c.LlavaIds(), prompt.ToLongs(), $"{model}/{caseId} input_ids_llava.npy");
        Assert.Equal([c.PlaceholderIndex], prompt.PlaceholderIndices.ToArray());
    }

    [SharedTheory]
    [MemberData(nameof(TextFixtures.AllCases), MemberType = typeof(TextFixtures))]
    public void HfPlaceholder_Equals_InputIds(string model, string caseId)
    {
        var c = TextFixtures.Load(model, caseId);
        var tok = TextFixtures.TokenizerFor(model);
        var imageId = tok.TokenToId(PaperPrompt.ImageTag)!.Value; // 32000 / 128256, an added token
        var prompt = LlavaPromptTokenizer.Tokenize(tok, c.Prompt, imageId);
        IdAssert.Equal(c.HfIds(), prompt.ToLongs(), $"{model}/{caseId} input_ids.npy");
    }

    [SharedFact]
    public void Llama3_Ids_Start_With_Double_Bos()
    {
        var c = TextFixtures.Load("tiny-llama3-llava-next", "dog_jar");
        var ids = LlavaPromptTokenizer.Tokenize(TextFixtures.Llama3, c.Prompt).Ids;
        Assert.Equal([128000, 128000, 128006], ids[..3].ToArray());
    }

    // TEMPLATES.md §2: REAL ids (python3-sentencepiece 0.1.97, liuhaotian/llava-v1.5-7b tokenizer.model).
    private static readonly int[] Piece0 =
    [
        1, 319, 13563, 1546, 263, 12758, 1404, 322, 385, 23116, 21082, 20255, 29889, 450, 20255, 4076, 8444,
        29892, 13173, 29892, 322, 1248, 568, 6089, 304, 278, 1404, 29915, 29879, 5155, 29889, 3148, 1001, 29901, 29871,
    ];

    private static readonly int[] Suffix =
        [29871, 13, 22550, 278, 1139, 773, 263, 2323, 1734, 470, 16549, 29889, 319, 1799, 9047, 13566, 29901];

    public static IEnumerable<object[]> RealGqaQuestions() =>
    [
        ["Is the jar full or empty?", new[] { 29871, 13, 3624, 278, 14631, 2989, 470, 4069, 29973 }, 62],
        ["Is the cabinet to the right or to the left of the picture?",
            new[] { 29871, 13, 3624, 278, 28966, 304, 278, 1492, 470, 304, 278, 2175, 310, 278, 7623, 29973 }, 69],
        ["Which side of the picture is the canister on?",
            new[] { 29871, 13, 8809, 436, 2625, 310, 278, 7623, 338, 278, 508, 1531, 373, 29973 }, 67],
    ];

    [SharedTheory]
    [MemberData(nameof(RealGqaQuestions))]
    public void Real_Llava15_Tokenizer_Gives_Templates_md_Ids(string question, int[] questionPiece, int total)
    {
        var prompt = PaperPrompt.Build(PaperPrompt.TemplateForModel("liuhaotian/llava-v1.5-7b"), question);
        var ids = LlavaPromptTokenizer.Tokenize(TextFixtures.RealLlava15, prompt);
        long[] expected = [.. Piece0, LlavaPromptTokenizer.ImageTokenIndex, .. questionPiece, .. Suffix];
        Assert.Equal(total, expected.Length);
        IdAssert.Equal(expected, ids.ToLongs(), question);
        Assert.Equal([35], ids.PlaceholderIndices.ToArray());
    }

    [SharedFact]
    public void Follows_Llava_For_Zero_And_Two_Images()
    {
        var tok = TextFixtures.Llama2;
        var none = LlavaPromptTokenizer.Tokenize(tok, "Hello");
        Assert.Equal([1, .. tok.EncodeToIds("Hello")], none.Ids.ToArray());
        Assert.Empty(none.PlaceholderIndices);

        var two = LlavaPromptTokenizer.Tokenize(tok, "A <image> and <image>");
        Assert.Equal([1, .. tok.EncodeToIds("A "), -200, .. tok.EncodeToIds(" and "), -200], two.Ids.ToArray());
        Assert.Equal([1 + tok.EncodeToIds("A ").Length, two.Ids.Length - 1], two.PlaceholderIndices.ToArray());
    }
}

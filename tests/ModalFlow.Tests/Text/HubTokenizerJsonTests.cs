using ModalFlow.Tests.Support;
using ModalFlow.Text;
using Xunit;

namespace ModalFlow.Tests.Text;

/// <summary>The hub folders of <see cref="HubJsonFolders"/>, written once for the test class.</summary>
public sealed class HubJsonFolderFixture : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("modalflow-hubjson-").FullName;

    public HubJsonFolderFixture()
    {
        Llama3Dir = Directory.CreateDirectory(Path.Combine(_root, "llama3")).FullName;
        HubJsonFolders.WriteLlama3(Llama3Dir);
        Qwen2VLDir = Directory.CreateDirectory(Path.Combine(_root, "qwen2vl")).FullName;
        HubJsonFolders.WriteQwen2(Qwen2VLDir, ChatFixtures.Qwen2VL);
        OneVisionDir = Directory.CreateDirectory(Path.Combine(_root, "onevision")).FullName;
        HubJsonFolders.WriteQwen2(OneVisionDir, ChatFixtures.OneVision);
        Llama3 = TokenizerLoader.Load(Llama3Dir);
    }

    public string Llama3Dir { get; }
    public string Qwen2VLDir { get; }
    public string OneVisionDir { get; }
    public ITextTokenizer Llama3 { get; }

    public void Dispose() => Directory.Delete(_root, recursive: true);
}

public class HubTokenizerJsonTests(HubJsonFolderFixture folders) : IClassFixture<HubJsonFolderFixture>
{
    [SharedFact]
    public void Llama3_Folder_With_Only_TokenizerJson_Loads_With_No_Extra_Flag()
    {
        var tok = Assert.IsType<ByteLevelBpeTokenizer>(folders.Llama3);
        Assert.Equal(Path.Combine(folders.Llama3Dir, "tokenizer.json"), tok.SourcePath);
        Assert.True(tok.Model.IgnoreMerges);
        Assert.True(tok.AddsBos);
        Assert.Equal((128000, 128009), (tok.BosId, tok.EosId));
        Assert.Equal((128000, 128258), (tok.BaseVocabularySize, tok.VocabularySize)); // HF vocab_size, len(tokenizer)
        Assert.Equal("<image>", tok.IdToToken(128256));
        Assert.Equal(ConversationTemplate.LlavaLlama3, ConversationTemplate.DefaultFor(tok));
        // meta-llama/llama3 llama/test_tokenizer.py (tokenizers/PROVENANCE.md).
        Assert.Equal([128000, 2028, 374, 264, 1296, 11914, 13], tok.EncodeWithBos("This is a test sentence."));
    }

    [SharedTheory]
    [InlineData("dog_jar")]
    [InlineData("ironing_rel")]
    [InlineData("tree_attr")]
    public void Llama3_TokenizerJson_Gives_The_Fixture_Ids(string caseId)
    {
        var c = TextFixtures.Load("tiny-llama3-llava-next", caseId);
        var tok = folders.Llama3;
        IdAssert.Equal(c.LlavaIds(), LlavaPromptTokenizer.Tokenize(tok, c.Prompt).ToLongs(), $"{caseId} input_ids_llava.npy");
        IdAssert.Equal(c.HfIds(), LlavaPromptTokenizer.Tokenize(tok, c.Prompt, 128256).ToLongs(), $"{caseId} input_ids.npy");
        var layout = SequenceLayout.FromPrompt(tok, c.Prompt, c.ImageTokenCount, c.Question);
        Assert.Equal(c.QuestionRange, layout.Question);
        Assert.Equal(c.QuestionTokens, layout.TextAfterImageTokens[(layout.Question.Start - layout.TextAfterImage.Start)..(layout.Question.End - layout.TextAfterImage.Start)]);
    }

    [SharedFact]
    public void Llama3_TokenizerJson_Equals_HF_Tokenizers_And_Tiktoken_On_Tricky_Strings()
    {
        var texts = BpeReference.Texts;
        var hf = BpeReference.For("llama3");
        var bad = BpeReference.Mismatches(texts, hf, folders.Llama3.EncodeToIds);
        Assert.True(bad.Count == 0, $"vs HF tokenizers: {string.Join("\n", bad)}");
        // A second plain path: Microsoft.ML.Tokenizers' tiktoken on Meta's ranks file. Left out: strings with the
        // folder's added <image>, which tiktoken (like LLaVA) does not match in text but llava-hf's fast tokenizer does,
        // and strings with characters beyond the BMP, where tiktoken's .NET regex sees two surrogates (category Cs)
        // instead of one letter ("𝐀's" splits as "𝐀'" + "s" there, as "𝐀" + "'s" in HF and in ByteLevelBpeTokenizer).
        var plain = Enumerable.Range(0, texts.Length)
            .Where(i => !texts[i].Contains("<image>", StringComparison.Ordinal) && !texts[i].Any(char.IsSurrogate)).ToArray();
        Assert.True(plain.Length >= texts.Length - 10);
        var viaTiktoken = BpeReference.Mismatches([.. plain.Select(i => texts[i])], [.. plain.Select(i => hf[i])], TextFixtures.Llama3.EncodeToIds);
        Assert.True(viaTiktoken.Count == 0, $"tiktoken vs HF tokenizers: {string.Join("\n", viaTiktoken)}");
        for (var i = 0; i < texts.Length; i++) Assert.Equal(hf[i].Tokens, folders.Llama3.IdsToTokens(hf[i].Ids));
    }

    [SharedTheory]
    [InlineData(ChatFixtures.Qwen2VL)]
    [InlineData(ChatFixtures.OneVision)]
    public void Qwen2_Folder_As_Downloaded_Reads_TokenizerJson(string model)
    {
        var dir = model == ChatFixtures.Qwen2VL ? folders.Qwen2VLDir : folders.OneVisionDir;
        var tok = Assert.IsType<ByteLevelBpeTokenizer>(TokenizerLoader.Load(dir));
        Assert.Equal(Path.Combine(dir, "tokenizer.json"), tok.SourcePath); // preferred to vocab.json + merges.txt
        Assert.True(tok.Options.NormalizeNfc);
        Assert.False(tok.AddsBos);
        Assert.Equal(151645, tok.EosId);
        Assert.Equal(ChatFixtures.TemplateFor(model), ConversationTemplate.DefaultFor(tok));
        var bad = BpeReference.Mismatches(BpeReference.Texts, BpeReference.For(model), tok.EncodeToIds);
        Assert.True(bad.Count == 0, string.Join("\n", bad));
        foreach (var caseId in ChatFixtures.Cases)
        {
            var c = ChatFixtures.Load(model, caseId);
            var imageId = ChatFixtures.ImageTokenIdFor(model);
            var layout = SequenceLayout.FromPrompt(tok, c.Prompt, c.ImageTokenCount, c.Question, imageTag: ChatFixtures.TemplateFor(model).ImageTag);
            IdAssert.Equal(c.InputIds, layout.ExpandedInputIds(imageId), $"{model}/{caseId}");
            Assert.Equal(c.QuestionRange, layout.Question);
        }
    }

    [SharedFact]
    public void Folder_With_TokenizerModel_Keeps_Reading_It()
    {
        // llava-hf/llava-1.5-7b-hf ships tokenizer.model and tokenizer.json: the SentencePiece model stays the one read.
        var dir = SharedData.DataFile("model-configs", "llava-hf__llava-1.5-7b-hf");
        Assert.IsType<SentencePieceTextTokenizer>(TokenizerLoader.Load(dir));
        // Its tokenizer.json is a SentencePiece-style BPE (byte fallback): refused with what to do instead.
        var path = Path.Combine(dir, "tokenizer.json");
        var e = Assert.Throws<InputException>(() => TokenizerLoader.LoadFile(path, dir));
        Assert.Equal((path, "model.byte_fallback"), (e.File, e.Field));
        Assert.Contains("tokenizer.model", e.Message);
    }

    [SharedFact]
    public void DefaultFor_Keeps_The_Llava_Templates()
    {
        Assert.Equal(ConversationTemplate.VicunaV1, ConversationTemplate.DefaultFor(TextFixtures.Llama2));
        Assert.Equal(ConversationTemplate.LlavaLlama3, ConversationTemplate.DefaultFor(TextFixtures.Llama3));
    }
}

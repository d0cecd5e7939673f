using System.Text.Json;
using ModalFlow.Tests.Support;
using ModalFlow.Text;

namespace ModalFlow.Tests.Text;

/// <summary>The Qwen2-VL and LLaVA-OneVision fixture models (ChatML prompts, Qwen2 byte-level BPE) and their cases.</summary>
public static class ChatFixtures
{
    public const string Qwen2VL = "tiny-qwen2-vl";
    public const string OneVision = "tiny-llava-onevision";
    public static readonly string[] Models = [Qwen2VL, OneVision];
    public static readonly string[] Cases = ["dog_jar", "ironing_rel", "tree_attr"];

    /// <summary>The real Qwen2 vocab.json (merges.txt beside it) both fixture folders use.</summary>
    public static string Qwen2VocabFile => SharedData.Fixture("tokenizers", "qwen2", BpeVocabFiles.VocabFileName);

    private static readonly Dictionary<string, Lazy<ITextTokenizer>> Tokenizers = Models.ToDictionary(m => m,
        m => new Lazy<ITextTokenizer>(() => TokenizerLoader.Load(SharedData.Fixture(m), Qwen2VocabFile)));

    /// <summary>The fixture folder's tokenizer: Qwen2 vocab.json + merges.txt with the folder's added tokens.</summary>
    public static ITextTokenizer TokenizerFor(string model) => Tokenizers[model].Value;

    public static ConversationTemplate TemplateFor(string model) =>
        model == Qwen2VL ? ConversationTemplate.Qwen2VL : ConversationTemplate.LlavaOneVision;

    /// <summary>The id the processor repeats for every image token (&lt;|image_pad|&gt; 151655, &lt;image&gt; 151646).</summary>
    public static int ImageTokenIdFor(string model) => model == Qwen2VL ? 151655 : 151646;

    public static IEnumerable<object[]> AllCases() => from m in Models from c in Cases select new object[] { m, c };

    public static ChatCase Load(string model, string caseId)
    {
        var dir = SharedData.Fixture(model, "cases", caseId);
        var root = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(dir, "case.json"))).RootElement;
        var ranges = root.GetProperty("ranges");
        TokenSpan Range(string name) => new(ranges.GetProperty(name)[0].GetInt32(), ranges.GetProperty(name)[1].GetInt32());
        return new ChatCase(
            Model: model,
            CaseId: caseId,
            Question: root.GetProperty("question").GetString()!,
            Prompt: root.GetProperty("prompt").GetString()!,
            ImageTokenCount: root.GetProperty("n_image_tokens").GetInt32(),
            SeqLen: root.GetProperty("seq_len").GetInt32(),
            Prefix: Range("prefix"),
            Image: Range("image"),
            TextAfterImage: Range("text_after_image"),
            QuestionRange: Range("question"),
            Last: ranges.GetProperty("last").GetInt32(),
            QuestionTokens: root.GetProperty("question_tokens").EnumerateArray().Select(e => e.GetString()!).ToArray(),
            QuestionTokenIds: root.GetProperty("question_token_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
            Top1Id: root.GetProperty("top1_id").GetInt32(),
            Top1Token: root.GetProperty("top1_token").GetString()!,
            InputIds: NpyArray.Load(Path.Combine(dir, "input_ids.npy")).AsLongs());
    }
}

/// <summary>One case.json of a ChatML fixture model, with the processor's expanded input_ids.npy.</summary>
public sealed record ChatCase(
    string Model, string CaseId, string Question, string Prompt, int ImageTokenCount, int SeqLen,
    TokenSpan Prefix, TokenSpan Image, TokenSpan TextAfterImage, TokenSpan QuestionRange, int Last,
    string[] QuestionTokens, int[] QuestionTokenIds, int Top1Id, string Top1Token, long[] InputIds);

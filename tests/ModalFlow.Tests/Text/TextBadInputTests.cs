using ModalFlow.Families.Llava;
using ModalFlow.Tests.Support;
using ModalFlow.Text;
using Xunit;

namespace ModalFlow.Tests.Text;

/// <summary>Every bad input gives an <see cref="InputException"/> naming the file / field and what was expected.</summary>
public sealed class TextBadInputTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("modalflow-text-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, byte[] content)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllBytes(path, content);
        return path;
    }

    [SharedFact]
    public void Missing_TokenizerModel_In_ModelFolder()
    {
        var e = Assert.Throws<InputException>(() => TokenizerLoader.Load(_dir));
        Assert.Equal((_dir, "tokenizer.model"), (e.File, e.Field));
        Assert.Contains("expected tokenizer.model (a SentencePiece model or tiktoken ranks), tokenizer.json", e.Message);
        Assert.Contains("pass the tokenizer file explicitly", e.Message);
    }

    [SharedFact]
    public void Without_TokenizerModel_A_TokenizerJson_Is_Read_And_Its_Problems_Named()
    {
        var path = Write("tokenizer.json", "{}"u8.ToArray());
        var e = Assert.Throws<InputException>(() => TokenizerLoader.Load(_dir));
        Assert.Equal((path, "model"), (e.File, e.Field));
        Assert.Contains("expected an object (the tokenizer model)", e.Message);
    }

    [SharedFact]
    public void Missing_Explicit_Tokenizer_File_And_Missing_Folder()
    {
        var missing = Path.Combine(_dir, "nope.model");
        var e = Assert.Throws<InputException>(() => TokenizerLoader.Load(_dir, missing));
        Assert.Equal(missing, e.File);
        Assert.Contains("tokenizer file not found; expected a SentencePiece model or a tiktoken ranks file", e.Message);

        var noDir = Path.Combine(_dir, "no-such-model");
        var d = Assert.Throws<InputException>(() => TokenizerLoader.Load(noDir));
        Assert.Equal(noDir, d.File);
        Assert.Contains("expected a model folder", d.Message);
    }

    [SharedFact]
    public void Truncated_SentencePiece_Model_Is_Corrupt()
    {
        var real = File.ReadAllBytes(SharedData.Fixture("tokenizers", "llama2", "tokenizer.model"));
        var path = Write("tokenizer.model", real[..5000]);
        var e = Assert.Throws<InputException>(() => TokenizerLoader.Load(_dir));
        Assert.Equal(path, e.File);
        Assert.Contains("expected a SentencePiece model", e.Message);
    }

    [SharedTheory]
    [InlineData("empty", "", "the file is empty")]
    [InlineData("text", "hello tokenizer\n", "unrecognised content")]
    public void Unrecognised_Tokenizer_File(string name, string content, string problem)
    {
        var path = Write(name, System.Text.Encoding.UTF8.GetBytes(content));
        var e = Assert.Throws<InputException>(() => TokenizerLoader.LoadFile(path));
        Assert.Equal(path, e.File);
        Assert.Contains(problem, e.Message);
        Assert.Contains("expected a SentencePiece model (protobuf) or a tiktoken ranks file", e.Message);
    }

    [SharedFact]
    public void Corrupt_Tiktoken_Ranks_Name_The_Line()
    {
        var bad = Write("bad.model", "IQ== 0\nIg== 1\n!!!notbase64 2\n"u8.ToArray());
        var e = Assert.Throws<InputException>(() => TokenizerLoader.LoadFile(bad));
        Assert.Equal((bad, "line 3"), (e.File, e.Field));
        Assert.Contains("expected base64 token bytes", e.Message);

        var gap = Write("gap.model", "IQ== 0\nIg== 2\n"u8.ToArray());
        var g = Assert.Throws<InputException>(() => TokenizerLoader.LoadFile(gap));
        Assert.Contains("rank 1 is missing", g.Message);
    }

    [SharedFact]
    public void Truncated_Llama3_Ranks_Disagree_With_Llama3_Settings()
    {
        var lines = File.ReadLines(TextFixtures.Llama3RanksFile).Take(1000);
        var path = Write("tokenizer.model", System.Text.Encoding.ASCII.GetBytes(string.Join("\n", lines) + "\n"));
        var e = Assert.Throws<InputException>(() => TokenizerLoader.LoadFile(path));
        Assert.Equal(path, e.File);
        Assert.Contains("expected 128000 ranks", e.Message);
        Assert.Contains("found 1000", e.Message);
    }

    [SharedFact]
    public void Added_Token_Contradicting_The_Model_Names_Both()
    {
        File.Copy(SharedData.Fixture("tokenizers", "llama2", "tokenizer.model"), Path.Combine(_dir, "tokenizer.model"));
        Write("added_tokens.json", "{\"<image>\": \"32000\"}"u8.ToArray());
        var e = Assert.Throws<InputException>(() => TokenizerLoader.Load(_dir));
        Assert.Equal((Path.Combine(_dir, "added_tokens.json"), "<image>"), (e.File, e.Field));
        Assert.Contains("expected an integer token id", e.Message);

        Write("added_tokens.json", "{\"<image>\": 13}"u8.ToArray());
        var clash = Assert.Throws<InputException>(() => TokenizerLoader.Load(_dir));
        Assert.Contains("which is the piece \"<0x0A>\"", clash.Message);
    }

    [SharedFact]
    public void Prompt_Without_Image()
    {
        var e = Assert.Throws<InputException>(() =>
            SequenceLayout.FromPrompt(TextFixtures.Llama2, "USER: Is it red? ASSISTANT:", 576, "Is it red?", source: "questions.csv"));
        Assert.Equal(("questions.csv", "prompt"), (e.File, e.Field));
        Assert.Contains("expected exactly one <image> in the prompt, found 0", e.Message);
    }

    [SharedFact]
    public void Prompt_With_Two_Images_Where_One_Is_Expected()
    {
        var prompt = PaperPrompt.Build(ConversationTemplate.VicunaV1, "Is it red?").Replace("<image>", "<image><image>");
        var e = Assert.Throws<InputException>(() => SequenceLayout.FromPrompt(TextFixtures.Llama2, prompt, 576, "Is it red?"));
        Assert.Equal("prompt", e.Field);
        Assert.Contains("expected exactly one <image> in the prompt, found 2", e.Message);
    }

    [SharedFact]
    public void Unknown_Template_Name()
    {
        var e = Assert.Throws<InputException>(() => ConversationTemplate.Get("llava_v1"));
        Assert.Equal("conv_mode", e.Field);
        Assert.Contains("unknown conversation template \"llava_v1\"; expected one of vicuna_v1, llava_llama_3", e.Message);

        var m = Assert.Throws<InputException>(() => PaperPrompt.TemplateForModel("llava-hf/llava-1.5-7b-hf"));
        Assert.Equal("model", m.Field);
        Assert.Contains("expected one of llava-v1.5-7b", m.Message);
    }

    [SharedTheory]
    [InlineData("")]
    [InlineData("  \n")]
    public void Empty_Question(string question)
    {
        var e = Assert.Throws<InputException>(() => PaperPrompt.UserMessage(question));
        Assert.Equal("question", e.Field);
        Assert.Contains("expected a non-empty question text", e.Message);

        var prompt = PaperPrompt.Build(ConversationTemplate.VicunaV1, "Is it red?");
        var l = Assert.Throws<InputException>(() => SequenceLayout.FromPrompt(TextFixtures.Llama2, prompt, 576, question, source: "q.csv"));
        Assert.Equal(("q.csv", "question"), (l.File, l.Field));
        Assert.Contains("expected a non-empty question text", l.Message);
    }

    [SharedFact]
    public void Question_Containing_Image_Tag()
    {
        var e = Assert.Throws<InputException>(() => PaperPrompt.UserMessage("What is <image>?"));
        Assert.Equal("question", e.Field);
        Assert.Contains("without \"<image>\"", e.Message);
    }

    [SharedFact]
    public void Image_Token_Count_Below_One()
    {
        var prompt = PaperPrompt.Build(ConversationTemplate.VicunaV1, "Is it red?");
        var e = Assert.Throws<InputException>(() => SequenceLayout.FromPrompt(TextFixtures.Llama2, prompt, 0, "Is it red?"));
        Assert.Equal("image tokens", e.Field);
        Assert.Contains("expected at least one image token, got 0", e.Message);
    }
}

using System.Text.Json;
using ModalFlow.Tests.Support;
using ModalFlow.Text;
using Xunit;

namespace ModalFlow.Tests.Text;

/// <summary>Malformed byte-level BPE files give an <see cref="InputException"/> naming the file, the field and what was expected.</summary>
public sealed class BpeBadInputTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("modalflow-bpe-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, string content)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, content);
        return path;
    }

    /// <summary>A tiny byte-level vocabulary: the 256 byte tokens (ids 0..255), "ab" = 256, "abc" = 257.</summary>
    private static Dictionary<string, int> TinyVocab()
    {
        var v = Enumerable.Range(0, 256).ToDictionary(b => ByteLevel.Encode([(byte)b]), b => b);
        v["ab"] = 256;
        v["abc"] = 257;
        return v;
    }

    private void WriteQwen2Folder(string merges = "#version: 0.2\na b\nab c\n", string tokenizerClass = "Qwen2Tokenizer")
    {
        Write("vocab.json", JsonSerializer.Serialize(TinyVocab()));
        Write("merges.txt", merges);
        Write("tokenizer_config.json", $$"""
            {"tokenizer_class": "{{tokenizerClass}}", "bos_token": null, "eos_token": "<|im_end|>",
             "added_tokens_decoder": {"258": {"content": "<|endoftext|>", "special": true}, "259": {"content": "<|im_end|>", "special": true} } }
            """);
    }

    private string WriteTokenizerJson(string model, string addedTokens = "[]") => Write("tokenizer.json", $$"""
        {"added_tokens": {{addedTokens}}, "normalizer": null,
         "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
         "post_processor": null, "model": {{model}}}
        """);

    private static string BpeModel(string merges = """["a b", "ab c"]""") =>
        $$"""{"type": "BPE", "vocab": {{JsonSerializer.Serialize(TinyVocab())}}, "merges": {{merges}}}""";

    [SharedFact]
    public void Tiny_Folders_Load_And_Merge()
    {
        WriteQwen2Folder();
        var tok = TokenizerLoader.Load(_dir);
        Assert.IsType<ByteLevelBpeTokenizer>(tok);
        Assert.Equal([257, 259, 256], tok.EncodeToIds("abc<|im_end|>ab"));
        File.Delete(Path.Combine(_dir, "vocab.json"));
        WriteTokenizerJson(BpeModel(), """[{"id": 259, "content": "<|im_end|>", "special": true}]""");
        var json = TokenizerLoader.Load(_dir);
        Assert.Equal(Path.Combine(_dir, "tokenizer.json"), json.SourcePath);
        Assert.Equal([257, 259, 256], json.EncodeToIds("abc<|im_end|>ab"));
        Assert.Equal(SplitPattern.Gpt2, ((ByteLevelBpeTokenizer)json).Options.Pattern); // ByteLevel(use_regex) alone
    }

    [SharedFact]
    public void Empty_Folder_Names_Every_Expected_File()
    {
        var e = Assert.Throws<InputException>(() => TokenizerLoader.Load(_dir));
        Assert.Equal(_dir, e.File);
        Assert.Contains("tokenizer.model", e.Message);
        Assert.Contains("tokenizer.json", e.Message);
        Assert.Contains("vocab.json + merges.txt", e.Message);
    }

    [SharedFact]
    public void Truncated_TokenizerJson()
    {
        var full = WriteTokenizerJson(BpeModel());
        var text = File.ReadAllText(full);
        File.WriteAllText(full, text[..(text.Length / 2)]);
        var e = Assert.Throws<InputException>(() => TokenizerLoader.Load(_dir));
        Assert.Equal(full, e.File);
        Assert.Contains("expected a complete, readable JSON file", e.Message);
    }

    [SharedFact]
    public void Merges_Line_That_Is_Not_Two_Tokens()
    {
        WriteQwen2Folder(merges: "#version: 0.2\na b\nab c d\n");
        var e = Assert.Throws<InputException>(() => TokenizerLoader.Load(_dir));
        Assert.Equal((Path.Combine(_dir, "merges.txt"), "line 3"), (e.File, e.Field));
        Assert.Contains("expected two tokens separated by one space, got \"ab c d\"", e.Message);

        File.Delete(Path.Combine(_dir, "vocab.json"));
        var json = WriteTokenizerJson(BpeModel("""["a b", "abc"]"""));
        var j = Assert.Throws<InputException>(() => TokenizerLoader.Load(_dir));
        Assert.Equal((json, "model.merges[1]"), (j.File, j.Field));
    }

    [SharedFact]
    public void Merge_Whose_Result_Is_No_Token()
    {
        WriteQwen2Folder(merges: "#version: 0.2\na b\nb c\n");
        var e = Assert.Throws<InputException>(() => TokenizerLoader.Load(_dir));
        Assert.Equal(Path.Combine(_dir, "merges.txt"), e.File);
        Assert.Contains("merge 2 (\"b c\")", e.Field);
        Assert.Contains("expected the merged token \"bc\" in the vocabulary", e.Message);
    }

    [SharedFact]
    public void Added_Token_Id_Clash()
    {
        Write("tokenizer_config.json", """{"eos_token": "<x>"}""");
        var json = WriteTokenizerJson(BpeModel(), """[{"id": 256, "content": "<x>", "special": true}]""");
        var e = Assert.Throws<InputException>(() => TokenizerLoader.Load(_dir));
        Assert.Equal((json, "added token \"<x>\""), (e.File, e.Field));
        Assert.Contains("claims id 256, which the vocabulary", e.Message);
        Assert.Contains("\"ab\"", e.Message);

        // tokenizer.json and the folder's tokenizer_config.json disagree on an id.
        WriteTokenizerJson(BpeModel(), """[{"id": 258, "content": "<x>", "special": true}]""");
        Write("tokenizer_config.json", """{"eos_token": "<x>", "added_tokens_decoder": {"258": {"content": "<y>"}}}""");
        var f = Assert.Throws<InputException>(() => TokenizerLoader.Load(_dir));
        Assert.Equal((json, "added_tokens"), (f.File, f.Field));
        Assert.Contains("id 258 is \"<x>\" here but \"<y>\"", f.Message);
    }

    [SharedFact]
    public void VocabJson_Without_Merges_Or_Without_Qwen2_Config()
    {
        WriteQwen2Folder();
        File.Delete(Path.Combine(_dir, "merges.txt"));
        var e = Assert.Throws<InputException>(() => TokenizerLoader.Load(_dir));
        Assert.Equal(Path.Combine(_dir, "merges.txt"), e.File);
        Assert.Contains("file not found; expected a merges.txt", e.Message);

        WriteQwen2Folder(tokenizerClass: "LlamaTokenizer");
        var c = Assert.Throws<InputException>(() => TokenizerLoader.Load(_dir));
        Assert.Equal((Path.Combine(_dir, "tokenizer_config.json"), "tokenizer_class"), (c.File, c.Field));
        Assert.Contains("expected Qwen2Tokenizer", c.Message);
    }

    [SharedTheory]
    [InlineData("""{"type": "Unigram", "vocab": []}""", "model.type", "expected \"BPE\"")]
    [InlineData("""{"type": "BPE", "byte_fallback": true, "vocab": {}, "merges": []}""", "model.byte_fallback", "tokenizer.model")]
    [InlineData("""{"type": "BPE", "vocab": {"a": 0}, "merges": []}""", null, "expected a byte-level vocabulary with all 256 byte tokens")]
    [InlineData("""{"type": "BPE", "vocab": {"a": "x"}, "merges": []}""", "model.vocab.a", "expected a non-negative integer token id")]
    public void TokenizerJson_That_Is_No_ByteLevel_Bpe(string model, string? field, string expected)
    {
        var json = WriteTokenizerJson(model);
        var e = Assert.Throws<InputException>(() => TokenizerLoader.LoadFile(json));
        Assert.Equal((json, field), (e.File, e.Field));
        Assert.Contains(expected, e.Message);
    }

    [SharedFact]
    public void TokenizerJson_With_Unsupported_Normalizer_Or_PreTokenizer()
    {
        var json = Write("tokenizer.json", $$"""
            {"normalizer": {"type": "Prepend", "prepend": "▁"}, "pre_tokenizer": {"type": "ByteLevel"}, "model": {{BpeModel()}}}
            """);
        var e = Assert.Throws<InputException>(() => TokenizerLoader.LoadFile(json));
        Assert.Equal((json, "normalizer"), (e.File, e.Field));
        Assert.Contains("expected no normalizer or NFC", e.Message);

        Write("tokenizer.json", $$"""{"pre_tokenizer": {"type": "Metaspace"}, "model": {{BpeModel()}}}""");
        var p = Assert.Throws<InputException>(() => TokenizerLoader.LoadFile(json));
        Assert.Equal((json, "pre_tokenizer"), (p.File, p.Field));
        Assert.Contains("expected a byte-level pre-tokenizer", p.Message);
    }
}

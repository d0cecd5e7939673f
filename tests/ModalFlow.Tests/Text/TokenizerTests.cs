using ModalFlow.Families.Llava;
using ModalFlow.Tests.Support;
using ModalFlow.Text;
using Xunit;

namespace ModalFlow.Tests.Text;

public class TokenizerTests
{
    [SharedFact]
    public void Llama2_Loads_From_ModelFolder_With_AddedTokens()
    {
        var tok = TextFixtures.Llama2;
        Assert.IsType<SentencePieceTextTokenizer>(tok);
        Assert.Equal(TokenizerKind.SentencePiece, tok.Kind);
        Assert.Equal((1, 2), (tok.BosId, tok.EosId));
        Assert.Equal(32000, tok.BaseVocabularySize);
        Assert.Equal(32002, tok.VocabularySize);
        Assert.Equal("<image>", tok.IdToToken(32000));
        Assert.Equal("<pad>", tok.IdToToken(32001));
        Assert.Equal(32000, tok.TokenToId("<image>"));
        Assert.True(tok.IsSpecial(32000) && tok.IsSpecial(1) && tok.IsSpecial(2) && !tok.IsSpecial(13));
        Assert.Throws<ArgumentOutOfRangeException>(() => tok.IdToToken(32002));
    }

    [SharedFact]
    public void Llama2_Encodes_Provenance_Check_Sentence()
    {
        // tokenizers/PROVENANCE.md: sentencepiece 0.1.97 → ▁Is ▁the ▁jar ▁full ▁or ▁empty ?
        var ids = TextFixtures.Llama2.EncodeToIds("Is the jar full or empty?");
        Assert.Equal([1317, 278, 14631, 2989, 470, 4069, 29973], ids);
        Assert.Equal(["▁Is", "▁the", "▁jar", "▁full", "▁or", "▁empty", "?"], TextFixtures.Llama2.IdsToTokens(ids));
        Assert.Equal([1, 1317], TextFixtures.Llama2.EncodeWithBos("Is"));
    }

    [SharedFact]
    public void Llama2_TokenStrings_Are_Pieces()
    {
        var tok = TextFixtures.Llama2;
        Assert.Equal(["<unk>", "<s>", "</s>", "<0x0A>", "▁", "Is"], tok.IdsToTokens([0, 1, 2, 13, 29871, 3624]));
        Assert.Equal("\n"u8.ToArray(), tok.TokenTextBytes(13));
        Assert.Equal(" the"u8.ToArray(), tok.TokenTextBytes(278));
    }

    [SharedFact]
    public void Llama2_Decode_Skips_Specials_And_Joins_ByteFallback()
    {
        var tok = TextFixtures.Llama2;
        var ids = tok.EncodeToIds("Yes, café ☃ 漢\nok");
        Assert.Equal("Yes, café ☃ 漢\nok", tok.Decode([tok.BosId, .. ids, tok.EosId, 32001]));
        // Byte-fallback pieces for a character outside the vocabulary: U+1F600 = F0 9F 98 80.
        var smile = new[] { 0xF0, 0x9F, 0x98, 0x80 }.Select(b => 3 + b).ToArray();
        Assert.Equal(["<0xF0>", "<0x9F>", "<0x98>", "<0x80>"], tok.IdsToTokens(smile));
        Assert.Equal("a 😀", tok.Decode([.. tok.EncodeToIds("a "), .. smile]));
        // The dummy-prefix space of a generated first word is dropped, as sentencepiece does.
        Assert.Equal("Yes", tok.Decode([tok.TokenToId("▁Yes")!.Value]));
    }

    [SharedFact]
    public void Llama3_Loads_With_Explicit_Ranks_And_Meta()
    {
        var tok = TextFixtures.Llama3;
        var tt = Assert.IsType<TiktokenTextTokenizer>(tok);
        Assert.Equal(TokenizerKind.Tiktoken, tok.Kind);
        Assert.Equal((128000, 128009), (tok.BosId, tok.EosId));
        Assert.Equal(128256, tok.BaseVocabularySize);
        Assert.Equal(128258, tok.VocabularySize);
        Assert.Equal("<image>", tok.IdToToken(128256));
        Assert.Equal("<pad>", tok.IdToToken(128257));
        Assert.True(tt.IsAdded(128256) && !tt.IsAdded(128000));
        Assert.Equal("<|start_header_id|>", tok.IdToToken(128006));
        Assert.Equal(128007, tok.TokenToId("<|end_header_id|>"));
    }

    [SharedFact]
    public void Llama3_Encodes_Meta_UnitTest_Sentence()
    {
        // meta-llama/llama3 llama/test_tokenizer.py: [128000, 2028, 374, 264, 1296, 11914, 13, 128001] with bos+eos.
        Assert.Equal([2028, 374, 264, 1296, 11914, 13], TextFixtures.Llama3.EncodeToIds("This is a test sentence."));
    }

    [SharedFact]
    public void Llama3_TokenStrings_Are_ByteLevel_And_Decode_Skips_Specials()
    {
        var tok = TextFixtures.Llama3;
        var ids = tok.EncodeToIds("\nIs the jar? \nAnswer café");
        Assert.Equal(["Ċ", "Is", "Ġthe", "Ġjar", "?", "ĠĊ", "Answer", "ĠcafÃ©"], tok.IdsToTokens(ids));
        Assert.Equal(" café"u8.ToArray(), tok.TokenTextBytes(ids[^1]));
        Assert.Equal("\nIs the jar? \nAnswer café", tok.Decode([128000, .. ids, 128009, 128256]));
        Assert.Equal([128000, 128006], tok.EncodeToIds("<|begin_of_text|><|start_header_id|>"));
    }

    [SharedFact]
    public void Llama3_BuiltIn_Settings_Equal_The_Meta_File()
    {
        var meta = TiktokenSettings.Read(SharedData.Fixture("tokenizers", "llama3", TiktokenSettings.MetaFileName));
        var builtIn = TiktokenSettings.Llama3;
        Assert.Equal(meta.Pattern, builtIn.Pattern);
        Assert.Equal(meta.SpecialTokens.OrderBy(kv => kv.Value), builtIn.SpecialTokens.OrderBy(kv => kv.Value));
        Assert.Equal((meta.BosToken, meta.EosToken, meta.NumBaseTokens), (builtIn.BosToken, builtIn.EosToken, builtIn.NumBaseTokens));
    }

    [SharedFact]
    public void ByteLevel_Table_Matches_Gpt2()
    {
        Assert.Equal("Ġ", ByteLevel.Encode(" "u8));
        Assert.Equal("Ċ", ByteLevel.Encode("\n"u8));
        Assert.Equal("ĉ", ByteLevel.Encode("\t"u8));
        Assert.Equal("A~¡", ByteLevel.Encode(new byte[] { 0x41, 0x7E, 0xA1 }));
        Assert.Equal("Ń", ByteLevel.Encode(new byte[] { 0xAD })); // last of the 68 remapped bytes → U+0143
        for (var b = 0; b < 256; b++) Assert.Equal(new[] { (byte)b }, ByteLevel.Decode(ByteLevel.Encode(new[] { (byte)b })));
    }

    [SharedFact]
    public void DetectFormat_Tells_SentencePiece_From_Ranks()
    {
        var sp = File.ReadAllBytes(SharedData.Fixture("tokenizers", "llama2", "tokenizer.model"));
        var ranks = File.ReadAllBytes(TextFixtures.Llama3RanksFile);
        Assert.Equal(TokenizerFileFormat.SentencePiece, TokenizerLoader.DetectFormat("a", sp));
        Assert.Equal(TokenizerFileFormat.TiktokenRanks, TokenizerLoader.DetectFormat("b", ranks));
    }
}

using System.Text;
using System.Text.Json;
using ModalFlow.Tests.Support;
using ModalFlow.Text;
using Xunit;

namespace ModalFlow.Tests.Text;

public class ByteLevelBpeTokenizerTests
{
    [SharedTheory]
    [InlineData(ChatFixtures.Qwen2VL, 151645, 151655, "<|image_pad|>")]
    [InlineData(ChatFixtures.OneVision, 151645, 151646, "<image>")]
    public void Qwen2_Loads_VocabMerges_With_The_Folders_Added_Tokens(string model, int eos, int imageId, string imageToken)
    {
        var tok = Assert.IsType<ByteLevelBpeTokenizer>(ChatFixtures.TokenizerFor(model));
        Assert.Equal((TokenizerKind.ByteLevelBpe, TokenStringStyle.ByteLevel), (tok.Kind, tok.StringStyle));
        Assert.False(tok.AddsBos);
        Assert.Throws<InvalidOperationException>(() => tok.BosId);
        Assert.Equal(eos, tok.EosId);
        Assert.Equal("<|im_end|>", tok.IdToToken(eos));
        Assert.Equal(151643, tok.BaseVocabularySize); // fixtures README: vocab.json has ids 0..151642
        Assert.Equal(model == ChatFixtures.Qwen2VL ? 151657 : 151648, tok.VocabularySize);
        Assert.Equal(imageToken, tok.IdToToken(imageId));
        Assert.Equal(imageId, tok.TokenToId(imageToken));
        Assert.True(tok.IsSpecial(imageId) && tok.IsSpecial(151644) && !tok.IsSpecial(9707));
        Assert.Throws<ArgumentOutOfRangeException>(() => tok.IdToToken(tok.VocabularySize));
        Assert.Equal(tok.EncodeToIds("Is it?"), tok.EncodeWithBos("Is it?")); // no BOS
    }

    [SharedTheory]
    [MemberData(nameof(ChatFixtures.AllCases), MemberType = typeof(ChatFixtures))]
    public void Template_Prompt_Ids_Equal_Processor_Ids_After_Expansion(string model, string caseId)
    {
        var c = ChatFixtures.Load(model, caseId);
        var tok = ChatFixtures.TokenizerFor(model);
        var template = ChatFixtures.TemplateFor(model);
        Assert.Equal(c.Prompt, PaperPrompt.Build(template, c.Question));

        var imageId = ChatFixtures.ImageTokenIdFor(model);
        var prompt = LlavaPromptTokenizer.Tokenize(tok, c.Prompt, imageId, template.ImageTag);
        var layout = SequenceLayout.Create(tok, prompt, c.ImageTokenCount, c.Question, source: $"{model}/{caseId}");
        IdAssert.Equal(c.InputIds, layout.ExpandedInputIds(imageId), $"{model}/{caseId} expanded ids");
        // Encoding the whole prompt at once (the image tag is an added token) gives the same single-placeholder ids.
        IdAssert.Equal(prompt.ToLongs(), tok.EncodeToIds(c.Prompt).Select(i => (long)i).ToArray(), $"{model}/{caseId} whole prompt");

        Assert.Equal((c.SeqLen, c.Last), (layout.SeqLen, layout.Last));
        Assert.Equal((c.Prefix, c.Image, c.TextAfterImage), (layout.System, layout.Image, layout.TextAfterImage));
        Assert.Equal(c.QuestionRange, layout.Question);
        var questionIds = layout.ExpandedInputIds(imageId)[layout.Question.Start..layout.Question.End].Select(i => (int)i).ToArray();
        Assert.Equal(c.QuestionTokenIds, questionIds);
        Assert.Equal(c.QuestionTokens, tok.IdsToTokens(questionIds));
        Assert.Equal(" \nAnswer the question using a single word or phrase.",
            tok.Decode(layout.ExpandedInputIds(imageId)[layout.Instruction.Start..layout.Instruction.End].Select(i => (int)i)));

        // The same through SequenceLayout.FromPrompt with the template's image tag.
        var viaFromPrompt = SequenceLayout.FromPrompt(tok, c.Prompt, c.ImageTokenCount, c.Question, imageTag: template.ImageTag);
        IdAssert.Equal(c.InputIds, viaFromPrompt.ExpandedInputIds(imageId), $"{model}/{caseId} FromPrompt");
    }

    [SharedTheory]
    [MemberData(nameof(ChatFixtures.AllCases), MemberType = typeof(ChatFixtures))]
    public void Top1_Token_String_Equals_The_Fixtures(string model, string caseId)
    {
        // case.json top1_token is the reference tokenizer's convert_ids_to_tokens(top1_id) (a byte-level string).
        var c = ChatFixtures.Load(model, caseId);
        var tok = ChatFixtures.TokenizerFor(model);
        Assert.Equal(c.Top1Token, tok.IdToToken(c.Top1Id));
        Assert.Equal(c.Top1Id, tok.TokenToId(c.Top1Token));
    }

    [SharedTheory]
    [InlineData(ChatFixtures.Qwen2VL)]
    [InlineData(ChatFixtures.OneVision)]
    public void Tricky_Strings_Equal_HF_Tokenizers(string model)
    {
        var tok = ChatFixtures.TokenizerFor(model);
        var expected = BpeReference.For(model);
        var bad = BpeReference.Mismatches(BpeReference.Texts, expected, tok.EncodeToIds);
        Assert.True(bad.Count == 0, $"{bad.Count} of {expected.Length} strings differ:\n{string.Join("\n", bad)}");
        for (var i = 0; i < expected.Length; i++) Assert.Equal(expected[i].Tokens, tok.IdsToTokens(expected[i].Ids));
    }

    [SharedFact]
    public void Qwen2Tokenizer_Docstring_Example()
    {
        // transformers' Qwen2Tokenizer docstring: "Hello world" → [9707, 1879], " Hello world" → [21927, 1879].
        var tok = ChatFixtures.TokenizerFor(ChatFixtures.Qwen2VL);
        Assert.Equal([9707, 1879], tok.EncodeToIds("Hello world"));
        Assert.Equal([21927, 1879], tok.EncodeToIds(" Hello world"));
    }

    [SharedFact]
    public void Single_Tokens_Are_Their_VocabJson_Entries()
    {
        // Read vocab.json directly: a word that is one entry encodes to that entry.
        var vocab = JsonDocument.Parse(File.ReadAllBytes(ChatFixtures.Qwen2VocabFile)).RootElement;
        var tok = ChatFixtures.TokenizerFor(ChatFixtures.Qwen2VL);
        foreach (var (text, entry) in new[] { ("Hello", "Hello"), (" world", "Ġworld"), ("\n", "Ċ"), ("\n\n", "ĊĊ"), (" the", "Ġthe"),
                     ("'s", "'s"), ("7", "7"), ("?", "?"), (" café", "ĠcafÃ©"), ("  ", "ĠĠ") })
            Assert.Equal([vocab.GetProperty(entry).GetInt32()], tok.EncodeToIds(text));
    }

    [SharedFact]
    public void RoundTrips_Through_Token_Strings_And_Decode()
    {
        var tok = ChatFixtures.TokenizerFor(ChatFixtures.OneVision);
        foreach (var text in BpeReference.Texts)
        {
            var ids = tok.EncodeToIds(text);
            var nfc = UnicodeNfc.Normalize(text);
            // Token bytes concatenate to the (normalised) text, special tokens included ...
            Assert.Equal(Encoding.UTF8.GetBytes(nfc), ids.SelectMany(tok.TokenTextBytes).ToArray());
            // ... and every token string maps back to its id.
            Assert.Equal(ids, tok.IdsToTokens(ids).Select(t => tok.TokenToId(t)!.Value).ToArray());
            // Decode drops the added tokens.
            var plain = ids.Where(i => !tok.IsSpecial(i)).ToArray();
            Assert.Equal(Encoding.UTF8.GetString(plain.SelectMany(tok.TokenTextBytes).ToArray()), tok.Decode(ids));
        }
        Assert.Equal("user\nhi\n", tok.Decode(tok.EncodeToIds("<|im_start|>user\nhi<|im_end|>\n")));
    }

    [SharedFact]
    public void Nfc_Equals_Pythons_Unicodedata()
    {
        var bad = BpeReference.Nfc.Where(p => UnicodeNfc.Normalize(p.Text) != p.Nfc)
            .Select(p => $"\"{BpeReference.Show(p.Text)}\": expected \"{BpeReference.Show(p.Nfc)}\", got \"{BpeReference.Show(UnicodeNfc.Normalize(p.Text))}\"")
            .ToList();
        Assert.True(bad.Count == 0, string.Join("\n", bad));
        Assert.True(BpeReference.Nfc.Length >= 15, "the reference lists the NFC cases");
        Assert.Equal("14.0.0", UnicodeNfc.TableVersion);
        const string ascii = "plain ASCII text";
        Assert.Same(ascii, UnicodeNfc.Normalize(ascii));
    }

    [SharedFact]
    public void SplitPattern_Matches_Over_Code_Points()
    {
        // Qwen2's regex splits single digits, also outside the BMP (U+1D7CF MATHEMATICAL BOLD DIGIT ONE, U+1D7D0 …).
        var split = new SplitPattern(SplitPattern.Qwen2);
        Assert.Equal(["\U0001D7CF", "\U0001D7D0", " ", "1", "2"], split.Split("\U0001D7CF\U0001D7D0 12"));
        Assert.Equal(["\U0001D400\U0001D401", " bold"], split.Split("\U0001D400\U0001D401 bold")); // astral letters are \p{L}
        Assert.Equal(["Is", " the", " jar", "?", " \n", "Answer"], split.Split("Is the jar? \nAnswer"));
        Assert.Equal(string.Concat(BpeReference.Texts), string.Concat(BpeReference.Texts.SelectMany(split.Split)));
    }

    [SharedFact]
    public void Added_Tokens_Match_Longest_First_And_Honour_Strip_Flags()
    {
        var matcher = new AddedTokenMatcher([new AddedTokenSpec(1, "<a>"), new AddedTokenSpec(2, "<a><b>"),
            new AddedTokenSpec(3, "<s>", LStrip: true, RStrip: true)]);
        var segments = matcher.Split("x<a><b>y<a>z  <s>  w");
        Assert.Equal(["x", "#2", "y", "#1", "z", "#3", "w"], segments.Select(s => s.Text ?? $"#{s.Id}").ToArray());
    }
}

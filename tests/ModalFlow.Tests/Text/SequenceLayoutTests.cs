using System.Text;
using ModalFlow.Tests.Support;
using ModalFlow.Text;
using Xunit;

namespace ModalFlow.Tests.Text;

public class SequenceLayoutTests
{
    private static (FixtureCase Case, SequenceLayout Layout, ITextTokenizer Tok) Build(string model, string caseId)
    {
        var c = TextFixtures.Load(model, caseId);
        var tok = TextFixtures.TokenizerFor(model);
        var layout = SequenceLayout.FromPrompt(tok, c.Prompt, c.ImageTokenCount, c.Question, source: c.Path);
        return (c, layout, tok);
    }

    [SharedTheory]
    [MemberData(nameof(TextFixtures.AllCases), MemberType = typeof(TextFixtures))]
    public void Layout_Equals_CaseJson_Ranges_And_QuestionPositions(string model, string caseId)
    {
        var (c, l, _) = Build(model, caseId);
        Assert.Equal(c.SystemPrefix, l.System);
        Assert.Equal(c.Image, l.Image);
        Assert.Equal(c.TextAfterImage, l.TextAfterImage);
        Assert.Equal(c.QuestionRange, l.Question);
        Assert.Equal(c.Last, l.Last);
        Assert.Equal(c.SeqLen, l.SeqLen);
        Assert.Equal(c.PlaceholderIndex, l.PlaceholderIndex);
        Assert.Equal(c.QuestionPositions, l.Question.Positions());
        Assert.Equal(c.QuestionPositions, l[SpanName.Question].Positions());
        Assert.Equal(new TokenSpan(c.Last, c.Last + 1), l[SpanName.Last]);

        var start = l.Question.Start - l.TextAfterImage.Start;
        Assert.Equal(c.QuestionTokens, l.TextAfterImageTokens.Skip(start).Take(l.Question.Length));
        var expanded = l.ExpandedInputIds(-1);
        Assert.Equal(c.QuestionTokenIds.Select(i => (long)i), l.Question.Positions().Select(p => expanded[p]));
    }

    [SharedTheory]
    [MemberData(nameof(TextFixtures.AllCases), MemberType = typeof(TextFixtures))]
    public void Instruction_Span_Is_Exactly_The_Suffix_Tokens(string model, string caseId)
    {
        var (_, l, tok) = Build(model, caseId);
        var ids = l.ExpandedInputIds(-1);
        var instruction = l.Instruction.Positions().Select(p => (int)ids[p]).ToArray();
        Assert.Equal(l.Question.End, l.Instruction.Start);
        Assert.Equal(PaperPrompt.Instruction, Encoding.UTF8.GetString(instruction.SelectMany(tok.TokenTextBytes).ToArray()));
        if (tok.Kind == TokenizerKind.SentencePiece)
        {
            // "▁" "<0x0A>" Answer ▁the ▁question ▁using ▁a ▁single ▁word ▁or ▁phrase . — then ▁A SS IST ANT : (5 ids)
            Assert.Equal([29871, 13, 22550, 278, 1139, 773, 263, 2323, 1734, 470, 16549, 29889], instruction);
            Assert.Equal(l.SeqLen - 5, l.Instruction.End);
        }
        else
        {
            // "ĠĊ" Answer Ġthe Ġquestion Ġusing Ġa Ġsingle Ġword Ġor Ġphrase . — then <|eot_id|> header×3, ĊĊ, ĠĊ (6 ids)
            Assert.Equal(["ĠĊ", "Answer", "Ġthe", "Ġquestion", "Ġusing", "Ġa", "Ġsingle", "Ġword", "Ġor", "Ġphrase", "."],
                tok.IdsToTokens(instruction));
            Assert.Equal(l.SeqLen - 6, l.Instruction.End);
            Assert.Equal(["<|eot_id|>", "<|start_header_id|>", "assistant", "<|end_header_id|>", "ĊĊ", "ĠĊ"],
                l.TextAfterImageTokens.TakeLast(6));
        }
    }

    [SharedTheory]
    [MemberData(nameof(TextFixtures.AllCases), MemberType = typeof(TextFixtures))]
    public void InputIds_Match_Both_Fixture_Conventions_And_Expansion(string model, string caseId)
    {
        var (c, l, tok) = Build(model, caseId);
        var imageId = tok.TokenToId(PaperPrompt.ImageTag)!.Value;
        IdAssert.Equal(c.LlavaIds(), l.InputIds(), "LLaVA form (-200)");
        IdAssert.Equal(c.HfIds(), l.InputIds(imageId), "HF form (one image token)");

        var expanded = l.ExpandedInputIds(imageId);
        Assert.Equal(c.SeqLen, expanded.Length);
        Assert.All(l.Image.Positions(), p => Assert.Equal(imageId, expanded[p]));
        var llava = c.LlavaIds();
        Assert.Equal(llava[..c.PlaceholderIndex], expanded[..l.Image.Start]);
        Assert.Equal(llava[(c.PlaceholderIndex + 1)..], expanded[l.Image.End..]);
    }

    [SharedFact]
    public void FindTokenSpan_Locates_Option_Words_First_Occurrence()
    {
        var (_, l, _) = Build("tiny-llava-1.5", "ironing_rel");
        // Is ▁the ▁man ▁to ▁the ▁right ▁or ▁to ▁the ▁left ▁of ▁the ▁car ?
        var q = l.Question.Start;
        Assert.Equal(new TokenSpan(q + 5, q + 6), l.FindTokenSpan("right", "true option"));
        Assert.Equal(new TokenSpan(q + 9, q + 10), l.FindTokenSpan("left", "false option"));
        Assert.Equal(new TokenSpan(q + 1, q + 2), l.FindTokenSpan("the"));
        Assert.Equal(new TokenSpan(q + 12, q + 13), l.FindTokenSpan("car", "central object name"));

        var (_, l3, _) = Build("tiny-llama3-llava-next", "tree_attr");
        // Is Ġthe Ġpalm Ġtree Ġunhealthy Ġor Ġhealthy ? — "healthy" first occurs inside "unhealthy"
        Assert.Equal(new TokenSpan(l3.Question.Start + 4, l3.Question.Start + 5), l3.FindTokenSpan("healthy"));
        Assert.Equal(new TokenSpan(l3.Question.Start + 6, l3.Question.Start + 7), l3.FindTokenSpan(" healthy"));
    }

    [SharedFact]
    public void FindTokenRange_Follows_Papers_Walk_For_Partial_Tokens()
    {
        string[] tokens = ["Is", "▁the", "▁jar"];
        // "Is the jar": "he j" starts inside ▁the and ends inside ▁jar → tokens 1..2
        Assert.Equal(new TokenSpan(1, 3), TokenSpanFinder.FindTokenRange(tokens, TokenStringStyle.SentencePiece, "he j"));
        Assert.Equal(new TokenSpan(0, 1), TokenSpanFinder.FindTokenRange(tokens, TokenStringStyle.SentencePiece, "Is"));
        Assert.Null(TokenSpanFinder.FindTokenRange(tokens, TokenStringStyle.SentencePiece, "jug"));
        // The paper's Llama-2 join keeps <0x0A> as six characters: a newline is never found there.
        Assert.Null(TokenSpanFinder.FindTokenRange(["▁", "<0x0A>", "Is"], TokenStringStyle.SentencePiece, "\nIs"));
        Assert.Equal(new TokenSpan(0, 2), TokenSpanFinder.FindTokenRange(["Ċ", "Is"], TokenStringStyle.ByteLevel, "\nIs"));
    }

    [SharedFact]
    public void Question_Not_In_Prompt_Names_Field_And_Search()
    {
        var c = TextFixtures.Load("tiny-llava-1.5", "dog_jar");
        var e = Assert.Throws<InputException>(() =>
            SequenceLayout.FromPrompt(TextFixtures.Llama2, c.Prompt, c.ImageTokenCount, "Is the cat asleep?", source: c.Path));
        Assert.Equal(c.Path, e.File);
        Assert.Equal("question", e.Field);
        Assert.Contains("\"Is the cat asleep?\" does not occur", e.Message);
        Assert.Contains("Is the jar full or empty?", e.Message); // what was searched
        Assert.StartsWith(c.Path + ": question: ", e.Message);
    }

    [SharedFact]
    public void Unknown_Option_Word_Names_The_Field()
    {
        var (c, l, _) = Build("tiny-llama3-llava-next", "dog_jar");
        var e = Assert.Throws<InputException>(() => l.FindTokenSpan("half", "false option"));
        Assert.Equal((c.Path, "false option"), (e.File, e.Field));
        Assert.Contains("\"half\" does not occur", e.Message);
    }
}

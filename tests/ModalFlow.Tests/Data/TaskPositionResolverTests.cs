using ModalFlow.Data;
using ModalFlow.Tests.Support;
using ModalFlow.Tests.Text;
using ModalFlow.Text;
using ModalFlow.Tracing;
using Xunit;
using Xunit.Abstractions;

namespace ModalFlow.Tests.Data;

public class TaskPositionResolverTests(ITestOutputHelper output)
{
    private static readonly TaskPositionResolver Paper = new(ObjectPatchMapper.Llava15Pad());
    private static readonly TaskPositionResolver WordStart = new(ObjectPatchMapper.Llava15Pad(), WordSearch.WordStart);

    private static GqaTaskRow Row(string task, string id) => GqaTaskReaderTests.All[task].Get(id);

    /// <summary>The paper's prompt for the row on LLaVA-1.5 (vicuna_v1, Llama-2 tokens) with 576 image tokens.</summary>
    private static SequenceLayout Layout(GqaTaskRow row, ITextTokenizer? tok = null, int imageTokens = 576)
    {
        tok ??= TextFixtures.Llama2;
        var template = tok.Kind == TokenizerKind.Tiktoken ? ConversationTemplate.LlavaLlama3 : ConversationTemplate.VicunaV1;
        return SequenceLayout.FromPrompt(tok, PaperPrompt.Build(template, row.Question), imageTokens, row.Question, source: row.File);
    }

    private static string Text(SequenceLayout l, TokenSpan s) =>
        TokenSpanFinder.SearchableText(l.TextAfterImageTokens.Skip(s.Start - l.TextAfterImage.Start).Take(s.Length).ToArray(), l.StringStyle);

    [SharedTheory]
    [InlineData("ChooseCat")]
    [InlineData("ChooseAttr")]
    [InlineData("ChooseRel")]
    public void Option_Spans_Lie_In_The_Question_For_Every_Row_On_Both_Tokenizer_Families(string task)
    {
        int differ = 0;
        foreach (var tok in new[] { TextFixtures.Llama2, TextFixtures.Llama3 })
        {
            foreach (var row in GqaTaskReaderTests.All[task].Rows)
            {
                var l = Layout(row, tok);
                foreach (var (name, word) in new[] { (TaskPositionResolver.TrueOption, row.TrueOption!), (TaskPositionResolver.FalseOption, row.FalseOption!) })
                {
                    var p = Paper.Resolve(name, row, l);
                    var w = WordStart.Resolve(name, row, l);
                    Assert.All(p.Positions.Concat(w.Positions), x => Assert.True(l.Question.Contains(x), $"{row}: {name} {x} outside {l.Question}"));
                    Assert.Contains(word, Text(l, new TokenSpan(p.First, p.Positions[^1] + 1)), StringComparison.Ordinal);
                    Assert.Contains(word, Text(l, new TokenSpan(w.First, w.Positions[^1] + 1)), StringComparison.Ordinal);
                    if (!p.Positions.SequenceEqual(w.Positions)) differ++;
                }
                var without = Paper.Resolve(TaskPositionResolver.QuestionWithoutOptions, row, l);
                var options = Paper.Resolve(TaskPositionResolver.TrueOption, row, l).Positions
                    .Union(Paper.Resolve(TaskPositionResolver.FalseOption, row, l).Positions);
                Assert.Equal(l.Question.Positions().Except(options), without.Positions);
            }
        }
        output.WriteLine($"{task}: option spans where the paper's substring search and WordStart differ (both tokenizers): {differ}");
    }

    [SharedFact]
    public void Paper_Search_Finds_Hat_Inside_What_And_WordStart_Finds_The_Word()
    {
        var row = Row("ChooseCat", "15334630"); // What clothing item is not black, the shirt or the hat? -> hat
        Assert.Equal("hat", row.TrueOption);
        var l = Layout(row);
        var paper = Paper.TrueOptionSpan(row, l);
        Assert.Equal(new TokenSpan(l.Question.Start, l.Question.Start + 1), paper); // "What", the question's first token
        Assert.Equal("What", Text(l, paper));
        var word = WordStart.TrueOptionSpan(row, l);
        Assert.Equal(" hat", Text(l, word));
        Assert.Equal(l.Question.End - 2, word.Start); // ... ▁hat ?
        // The paper's Question without Options then keeps the real "hat" and drops "What".
        var without = Paper.Resolve(TaskPositionResolver.QuestionWithoutOptions, row, l);
        Assert.DoesNotContain(l.Question.Start, without.Positions);
        Assert.Contains(word.Start, without.Positions);
    }

    [SharedFact]
    public void Central_Object_Is_The_Name_In_Single_Object_Tasks_Including_This()
    {
        var row = Row("ChooseCat", "00556075"); // What is this, a cabinet or a bed? (central object "this")
        var l = Layout(row);
        var s = Paper.Resolve(TaskPositionResolver.CentralObject, row, l);
        Assert.Equal(" this", Text(l, new TokenSpan(s.First, s.Positions[^1] + 1)));
        Assert.Equal(TaskPositionResolver.CentralObject, s.Name);

        var q = Row("QueryAttr", "02452198");
        var lq = Layout(q);
        var c = Paper.CentralObjectSpan(q, lq);
        Assert.Contains(q.CentralObjectName!, Text(lq, c), StringComparison.Ordinal);
        Assert.True(lq.Question.Contains(c.Start));
    }

    [SharedTheory]
    [InlineData("ChooseRel")]
    [InlineData("CompareAttr")]
    [InlineData("LogicalObj")]
    public void Central_Object_In_A_Two_Object_Task_Is_An_Error_And_Object1_Object2_Resolve(string task)
    {
        var row = GqaTaskReaderTests.All[task].Rows[0];
        var l = Layout(row);
        var e = Assert.Throws<InputException>(() => Paper.Resolve(TaskPositionResolver.CentralObject, row, l));
        Assert.Equal((row.File, "central object name"), (e.File, e.Field));
        Assert.Contains("has no central object", e.Message);
        Assert.Contains(row.Object1Name!, Text(l, Paper.ObjectSpan(row, l, first: true)), StringComparison.Ordinal);
        Assert.Contains(row.Object2Name!, Text(l, Paper.ObjectSpan(row, l, first: false)), StringComparison.Ordinal);
        Assert.NotEmpty(Paper.Resolve(TaskPositionResolver.Object2, row, l).Positions);
    }

    [SharedFact]
    public void Options_In_A_Task_Without_Options_Are_An_Error()
    {
        var row = Row("QueryAttr", "02452198");
        var l = Layout(row);
        foreach (var name in new[] { TaskPositionResolver.TrueOption, TaskPositionResolver.FalseOption, TaskPositionResolver.QuestionWithoutOptions })
        {
            var e = Assert.Throws<InputException>(() => Paper.Resolve(name, row, l));
            Assert.Equal(row.File, e.File);
            Assert.Contains("has no options", e.Message);
        }
        Assert.Equal("object1 name", Assert.Throws<InputException>(() => Paper.Resolve(TaskPositionResolver.Object1, row, l)).Field);
    }

    [SharedFact]
    public void A_Word_Not_In_The_Question_Names_Field_Word_And_Question()
    {
        var row = Row("ChooseCat", "10931541") with { FalseOption = "zebra" };
        var l = Layout(row);
        foreach (var r in new[] { Paper, WordStart })
        {
            var e = Assert.Throws<InputException>(() => r.Resolve(TaskPositionResolver.FalseOption, row, l));
            Assert.Equal((row.File, "false option"), (e.File, e.Field));
            Assert.Contains("\"zebra\" does not occur", e.Message);
            Assert.Contains("question_id 10931541", e.Message);
            Assert.Contains("\"Which animal is this, a puppy or a cat?\"", e.Message);
        }
        // "Answer" occurs after the question (in the instruction): the paper's search finds it there, WordStart does not.
        var answer = row with { FalseOption = "Answer" };
        Assert.True(Paper.FalseOptionSpan(answer, l).Start >= l.Instruction.Start);
        Assert.Throws<InputException>(() => WordStart.FalseOptionSpan(answer, l));
    }

    [SharedFact]
    public void Layout_For_Another_Question_And_Unknown_Names_Are_Errors()
    {
        var row = Row("ChooseCat", "10931541");
        var other = Layout(Row("ChooseCat", "00556075"));
        Assert.Equal("question", Assert.Throws<InputException>(() => Paper.Resolve(NamedPositions.Question, row, other)).Field);
        var e = Assert.Throws<InputException>(() => Paper.Resolve("Options", row, Layout(row)));
        Assert.Equal("block", e.Field);
        Assert.Contains(TaskPositionResolver.QuestionWithoutOptions, e.Message);
    }

    [SharedFact]
    public void Basic_Sets_Come_From_The_Layout()
    {
        var row = Row("ChooseAttr", "11194022");
        var l = Layout(row);
        Assert.Equal(NamedPositions.Resolve(NamedPositions.Image, l).Positions.ToArray(), Paper.Resolve(NamedPositions.Image, row, l).Positions.ToArray());
        Assert.Equal(l.Question.Positions(), Paper.Resolve(NamedPositions.Question, row, l).Positions);
        Assert.Equal([l.Last], Paper.Resolve(NamedPositions.Last, row, l).Positions.ToArray());
    }

    [SharedFact]
    public void Patch_Sets_Are_The_Mapped_Indices_Plus_The_Image_Start()
    {
        var row = Row("ChooseAttr", "11194022"); // a golden row: 432 related, 144 other
        var l = Layout(row);
        var sets = ObjectPatchMapper.Llava15Pad().Map(row);
        var related = Paper.Resolve(ObjectPatchSets.RelatedName, row, l);
        Assert.Equal(432, related.Count);
        Assert.Equal(sets.Related.Select(i => i + l.Image.Start), related.Positions.ToArray());
        Assert.Equal(related.Positions.ToArray(), Paper.Resolve(TaskPositionResolver.PaperRelatedName, row, l).Positions.ToArray());
        var other = Paper.Resolve(TaskPositionResolver.PaperOtherName, row, l);
        Assert.Equal(144, other.Count);
        Assert.Equal(l.Image.Positions(), related.Positions.Concat(other.Positions).Order().ToArray());
        var random = Paper.Resolve(ObjectPatchSets.RandomName, row, l);
        Assert.Equal(144, random.Count); // min(432, 144): all of Other
        Assert.Equal(other.Positions.ToArray(), random.Positions.ToArray());

        var next = Layout(row, imageTokens: 2340);
        Assert.Equal("image tokens", Assert.Throws<InputException>(() => Paper.Resolve(ObjectPatchSets.OtherName, row, next)).Field);
        Assert.Contains("need the model family's patch mapper",
            Assert.Throws<InputException>(() => new TaskPositionResolver().Resolve(ObjectPatchSets.RelatedName, row, l)).Message);
    }
}

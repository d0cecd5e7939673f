using ModalFlow.Text;
using ModalFlow.Tracing;

namespace ModalFlow.Data;

/// <summary>How an option or object word is located in the prompt.</summary>
public enum WordSearch
{
    /// <summary>
    /// The paper's <c>find_token_range</c>: the FIRST occurrence of the word as a substring anywhere in the text after
    /// the image. Faithful, with the paper's quirk: "hat" is found inside "What", "he" inside "the", "phone" inside
    /// "telephone".
    /// </summary>
    Paper,

    /// <summary>
    /// A deliberate deviation: the first occurrence inside the question that starts a word (so "hat" skips "What" but
    /// "animal" still finds "animals"); when there is none, the first occurrence inside the question.
    /// </summary>
    WordStart,
}

/// <summary>
/// Resolves the paper's named position sets for one task row and its <see cref="SequenceLayout"/>: the basic sets
/// (<see cref="NamedPositions"/>), the question-word sets of the appendix and Experiment 3's image-patch sets.
/// Word sets follow the paper's <c>blockdesc2range</c>: <see cref="TrueOption"/> / <see cref="FalseOption"/> are the
/// tokens of the row's option word, <see cref="CentralObject"/> of its central object name,
/// <see cref="QuestionWithoutOptions"/> the question minus both option spans. Patch sets follow
/// <c>blockdesc2range_patches</c>; the paper's names "Image Central Object" / "Image Without Central Object" are
/// accepted for <see cref="ObjectPatchSets.RelatedName"/> / <see cref="ObjectPatchSets.OtherName"/>.
/// </summary>
public sealed class TaskPositionResolver
{
    public const string TrueOption = "True Option";
    public const string FalseOption = "False Option";
    public const string CentralObject = "Central Object";
    public const string QuestionWithoutOptions = "Question without Options";

    /// <summary>Extension (not in the paper): object1's name in a two-object question (ChooseRel: the reference object).</summary>
    public const string Object1 = "Object1";

    /// <summary>Extension (not in the paper): object2's name in a two-object question (ChooseRel: the subject).</summary>
    public const string Object2 = "Object2";

    public const string PaperRelatedName = "Image Central Object";
    public const string PaperOtherName = "Image Without Central Object";

    /// <summary>Every name <see cref="Resolve"/> knows (paper aliases not repeated).</summary>
    public static IReadOnlyList<string> Names { get; } =
    [
        .. NamedPositions.Basic, TrueOption, FalseOption, CentralObject, QuestionWithoutOptions, Object1, Object2,
        ObjectPatchSets.RelatedName, ObjectPatchSets.OtherName, ObjectPatchSets.RandomName,
    ];

    /// <param name="patches">Needed for the image-patch sets; null when they are not used.</param>
    /// <param name="randomSeed">The seed of <see cref="ObjectPatchSets.RandomName"/> (with the question id).</param>
    public TaskPositionResolver(IObjectPatchMapper? patches = null, WordSearch wordSearch = WordSearch.Paper, int randomSeed = 0)
    {
        if (!Enum.IsDefined(wordSearch)) throw new ArgumentOutOfRangeException(nameof(wordSearch), wordSearch, "unknown word search");
        Patches = patches;
        WordSearch = wordSearch;
        RandomSeed = randomSeed;
    }

    public IObjectPatchMapper? Patches { get; }
    public WordSearch WordSearch { get; }
    public int RandomSeed { get; }

    /// <summary>The set called <paramref name="name"/> for <paramref name="row"/> laid out as <paramref name="layout"/>.</summary>
    /// <exception cref="InputException">An unknown name, a set the row's task does not have (options, a central
    /// object), a word that does not occur, a layout built for another question, or patch sets without a mapper.</exception>
    public PositionSet Resolve(string name, GqaTaskRow row, SequenceLayout layout)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(row);
        ArgumentNullException.ThrowIfNull(layout);
        if (!string.Equals(layout.QuestionText, row.Question, StringComparison.Ordinal))
            throw new InputException(row.File, "question",
                $"the sequence layout was built for \"{layout.QuestionText}\", not for question_id {row.QuestionId}'s \"{row.Question}\"");
        switch (name)
        {
            case NamedPositions.Image or NamedPositions.Question or NamedPositions.Last:
                return NamedPositions.Resolve(name, layout);
            case TrueOption:
                return Span(TrueOption, TrueOptionSpan(row, layout));
            case FalseOption:
                return Span(FalseOption, FalseOptionSpan(row, layout));
            case CentralObject:
                return Span(CentralObject, CentralObjectSpan(row, layout));
            case Object1:
                return Span(Object1, ObjectSpan(row, layout, first: true));
            case Object2:
                return Span(Object2, ObjectSpan(row, layout, first: false));
            case QuestionWithoutOptions:
                {
                    var t = TrueOptionSpan(row, layout);
                    var f = FalseOptionSpan(row, layout);
                    return PositionSet.Of(QuestionWithoutOptions, layout.Question.Positions().Where(p => !t.Contains(p) && !f.Contains(p)));
                }
            case ObjectPatchSets.RelatedName or PaperRelatedName:
                return RequirePatches(row).Map(row).RelatedPositions(layout);
            case ObjectPatchSets.OtherName or PaperOtherName:
                return RequirePatches(row).Map(row).OtherPositions(layout);
            case ObjectPatchSets.RandomName:
                {
                    var sets = RequirePatches(row).Map(row);
                    sets.RelatedPositions(layout); // checks the image block size
                    return sets.RandomPositions(layout.Image.Start, row.QuestionId, RandomSeed);
                }
            default:
                throw new InputException(null, "block",
                    $"unknown position set '{name}'; expected one of {string.Join(", ", Names)} (or the paper's {PaperRelatedName}, {PaperOtherName})");
        }
    }

    /// <summary>The true option's tokens (absolute positions).</summary>
    public TokenSpan TrueOptionSpan(GqaTaskRow row, SequenceLayout layout) =>
        WordSpan(GqaTaskReader.TrueOptionColumn, RequireOption(row, row.TrueOption, GqaTaskReader.TrueOptionColumn), row, layout);

    /// <summary>The false option's tokens (absolute positions).</summary>
    public TokenSpan FalseOptionSpan(GqaTaskRow row, SequenceLayout layout) =>
        WordSpan(GqaTaskReader.FalseOptionColumn, RequireOption(row, row.FalseOption, GqaTaskReader.FalseOptionColumn), row, layout);

    /// <summary>
    /// The central object name's tokens. The paper reads the column "central object name", which only single-object
    /// tasks have (A, B; in ChooseCat it is often the word "this"); for two-object tasks its code would fail with a
    /// KeyError, so this throws and points to <see cref="Object1"/> / <see cref="Object2"/>.
    /// </summary>
    public TokenSpan CentralObjectSpan(GqaTaskRow row, SequenceLayout layout)
    {
        ArgumentNullException.ThrowIfNull(row);
        if (row.CentralObjectName is not { } name)
            throw new InputException(row.File, "central object name",
                $"task {row.Task} (schema {row.Schema}, two objects) has no central object; the paper's Central Object set "
                + $"exists only for single-object tasks. Use {Object1} or {Object2} (question_id {row.QuestionId}, line {row.Line})");
        return WordSpan("central object name", name, row, layout);
    }

    /// <summary>The tokens of object1's (or object2's) name in a two-object question.</summary>
    public TokenSpan ObjectSpan(GqaTaskRow row, SequenceLayout layout, bool first)
    {
        ArgumentNullException.ThrowIfNull(row);
        var field = first ? "object1 name" : "object2 name";
        var name = first ? row.Object1Name : row.Object2Name;
        if (name == null)
            throw new InputException(row.File, field,
                $"task {row.Task} (schema {row.Schema}) has one central object, no {field}; use {CentralObject} "
                + $"(question_id {row.QuestionId}, line {row.Line})");
        return WordSpan(field, name, row, layout);
    }

    /// <summary>
    /// Absolute tokens of <paramref name="word"/> (from column <paramref name="field"/>) by <see cref="WordSearch"/>.
    /// </summary>
    /// <exception cref="InputException">The word does not occur (names the field, the word and the question).</exception>
    public TokenSpan WordSpan(string field, string word, GqaTaskRow row, SequenceLayout layout)
    {
        ArgumentNullException.ThrowIfNull(row);
        ArgumentNullException.ThrowIfNull(layout);
        if (string.IsNullOrEmpty(word))
            throw new InputException(row.File, field, $"expected a word to locate, got an empty one (question_id {row.QuestionId}, line {row.Line})");
        var tokens = layout.TextAfterImageTokens;
        TokenSpan? span = WordSearch == WordSearch.Paper
            ? TokenSpanFinder.FindTokenRange(tokens, layout.StringStyle, word)
            : FindWordStart(tokens, layout.StringStyle, word, layout.Question.Shift(-layout.TextAfterImage.Start));
        if (span is not { } s)
        {
            var where = WordSearch == WordSearch.Paper ? "the prompt text after the image" : "the question's tokens";
            throw new InputException(row.File, field,
                $"\"{word}\" does not occur in {where} for question_id {row.QuestionId} (line {row.Line}), question "
                + $"\"{row.Question}\"; searched the joined token strings \"{Escape(TokenSpanFinder.SearchableText(tokens, layout.StringStyle))}\"");
        }
        return s.Shift(layout.TextAfterImage.Start);
    }

    /// <summary>
    /// <see cref="WordSearch.WordStart"/> within <paramref name="question"/> (token indices of <paramref name="tokens"/>):
    /// the first match preceded by a non-alphanumeric character (or the question start), else the first match in the
    /// question; tokens by the paper's cumulative-length walk. Null when the word is not in the question.
    /// </summary>
    internal static TokenSpan? FindWordStart(IReadOnlyList<string> tokens, TokenStringStyle style, string word, TokenSpan question)
    {
        var text = TokenSpanFinder.SearchableText(tokens, style);
        int from = 0;
        for (int i = 0; i < question.Start; i++) from += tokens[i].Length;
        int to = from;
        for (int i = question.Start; i < question.End; i++) to += tokens[i].Length;

        int first = -1, wordStart = -1;
        for (int at = text.IndexOf(word, from, to - from, StringComparison.Ordinal);
             at >= 0 && at + word.Length <= to;
             at = at + 1 < to ? text.IndexOf(word, at + 1, to - at - 1, StringComparison.Ordinal) : -1)
        {
            if (first < 0) first = at;
            if (at == from || !char.IsLetterOrDigit(text[at - 1]))
            {
                wordStart = at;
                break;
            }
        }
        int loc = wordStart >= 0 ? wordStart : first;
        if (loc < 0) return null;

        int cumulative = 0;
        int? start = null;
        for (int i = 0; i < tokens.Count; i++)
        {
            cumulative += tokens[i].Length;
            if (start == null && cumulative > loc) start = i;
            if (cumulative >= loc + word.Length) return new TokenSpan(start!.Value, i + 1);
        }
        throw new InvalidOperationException("unreachable: a found word ends inside the joined tokens");
    }

    private static string RequireOption(GqaTaskRow row, string? option, string field)
    {
        ArgumentNullException.ThrowIfNull(row);
        return option ?? throw new InputException(row.File, field,
            $"task {row.Task} (schema {row.Schema}) has no options, so no {field} set (question_id {row.QuestionId}, line {row.Line})");
    }

    private IObjectPatchMapper RequirePatches(GqaTaskRow row) => Patches
        ?? throw new InputException(row.File, "block",
            "image-patch position sets need the model family's patch mapper; none was given");

    private static PositionSet Span(string name, TokenSpan span) => PositionSet.Range(name, span.Start, span.End);

    private static string Escape(string s) => s.Replace("\n", "\\n", StringComparison.Ordinal);
}

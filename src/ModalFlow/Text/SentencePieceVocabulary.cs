using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using Google.Protobuf;

namespace ModalFlow.Text;

/// <summary>The type of a SentencePiece piece (<c>ModelProto.SentencePiece.Type</c>, same numbers).</summary>
public enum SentencePieceType
{
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    Byte = 6,
}

/// <summary>One piece of a SentencePiece model: its string, score (BPE: merge priority, higher merges first) and type.</summary>
public readonly record struct SentencePiece(string Piece, float Score, SentencePieceType Type);

/// <summary>
/// The pieces of a Llama-2-style SentencePiece BPE model, in id order, in the standard Llama layout: id 0
/// "&lt;unk&gt;" (UNKNOWN), 1 "&lt;s&gt;" (CONTROL), 2 "&lt;/s&gt;" (CONTROL), 3..258 the byte pieces
/// "&lt;0x00&gt;".."&lt;0xFF&gt;" (BYTE), then NORMAL pieces. <see cref="SentencePieceModelWriter"/> writes it as a
/// <c>tokenizer.model</c>; <see cref="ForWords"/> builds a small one that a demo can generate at run time.
/// </summary>
public sealed record SentencePieceVocabulary
{
    public const int UnknownId = 0;
    public const int BosId = 1;
    public const int EosId = 2;
    public const int FirstByteId = 3;
    public const int FirstNormalId = FirstByteId + 256;
    public const string UnknownPiece = "<unk>";
    public const string BosPiece = "<s>";
    public const string EosPiece = "</s>";

    /// <summary>U+2581, SentencePiece's escaped space ("▁").</summary>
    public const string SpaceSymbol = "\u2581";

    /// <summary>
    /// Longest word <see cref="ForWords"/> accepts, in Unicode characters: "▁" + word then stays within the
    /// <c>max_sentencepiece_length</c> (16) that the written trainer spec declares, as in Llama-2's.
    /// </summary>
    public const int MaxWordLength = 15;

    /// <summary>Characters every <see cref="ForWords"/> vocabulary has as pieces: printable ASCII (U+0021..U+007E).</summary>
    public static readonly string BaseCharacters =
        string.Concat(Enumerable.Range(0x21, 0x7E - 0x21 + 1).Select(c => (char)c));

    /// <summary>
    /// The words of the fixed vicuna_v1 prompt text around the question (system message, roles, the paper's
    /// instruction), which <see cref="ForWords"/> adds by default so that prompts tokenize compactly.
    /// </summary>
    public static IReadOnlyList<string> PromptWords { get; } = WordsOf(string.Join(' ',
        ConversationTemplate.VicunaV1.SystemMessage,
        ConversationTemplate.VicunaV1.UserRole,
        ConversationTemplate.VicunaV1.AssistantRole,
        PaperPrompt.Instruction));

    /// <summary>Checks the layout (see the type's summary) and unique, non-empty pieces with finite scores.</summary>
    /// <exception cref="ArgumentException">The pieces do not follow the standard Llama layout.</exception>
    public SentencePieceVocabulary(IEnumerable<SentencePiece> pieces)
    {
        ArgumentNullException.ThrowIfNull(pieces);
        Pieces = [.. pieces];
        Validate(Pieces);
    }

    /// <summary>The pieces; the index is the token id.</summary>
    public ImmutableArray<SentencePiece> Pieces { get; }

    public int Count => Pieces.Length;

    /// <summary>Equal when the pieces are equal, in order (strings, scores, types).</summary>
    public bool Equals(SentencePieceVocabulary? other) =>
        other is not null && Pieces.AsSpan().SequenceEqual(other.Pieces.AsSpan());

    public override int GetHashCode()
    {
        var h = new HashCode();
        h.Add(Pieces.Length);
        foreach (var p in Pieces) h.Add(p);
        return h.ToHashCode();
    }

    public override string ToString() => $"SentencePieceVocabulary({Count} pieces)";

    /// <summary>The 259 pieces every Llama-layout model starts with: &lt;unk&gt;, &lt;s&gt;, &lt;/s&gt;, &lt;0x00&gt;..&lt;0xFF&gt;.</summary>
    public static IReadOnlyList<SentencePiece> SpecialAndBytePieces() =>
    [
        new(UnknownPiece, 0f, SentencePieceType.Unknown),
        new(BosPiece, 0f, SentencePieceType.Control),
        new(EosPiece, 0f, SentencePieceType.Control),
        .. Enumerable.Range(0, 256).Select(b => new SentencePiece(BytePiece((byte)b), 0f, SentencePieceType.Byte)),
    ];

    /// <summary>The byte-fallback piece of a byte, "&lt;0x0A&gt;" (upper-case hex, as SentencePiece spells it).</summary>
    public static string BytePiece(byte value) => $"<0x{value:X2}>";

    /// <summary>
    /// A small BPE vocabulary in which every word of <paramref name="words"/> (and of <see cref="PromptWords"/>
    /// unless <paramref name="includePromptWords"/> is false) is ONE token "▁word" when it follows a space or
    /// starts the text, and stands between spaces, punctuation or the ends of the text.
    /// <para>
    /// Pieces: "▁", printable ASCII (<see cref="BaseCharacters"/>), every character of the words, and for each word
    /// every prefix "▁w", "▁wo", …, "▁word": the left-to-right merge path, each step of which is a vocabulary piece.
    /// A word that starts with an upper-case letter also gets its bare prefixes "Wo", …, "Word", because such a
    /// word follows a line break (LLaVA's "&lt;image&gt;\n" + question, the instruction's "\nAnswer") without a
    /// space. Characters outside the vocabulary (other letters, "\n", "é" unless a word has it) fall back to byte
    /// pieces. Digits stay single pieces, as in Llama-2 (its <c>split_digits</c>).
    /// </para>
    /// <para>
    /// Why every word comes out whole whatever the scores: SentencePiece BPE starts from one symbol per character
    /// and repeatedly merges the adjacent pair whose concatenation is a piece of highest score. No piece
    /// contains "▁" after its first character or mixes letters with other characters, so no merge crosses a
    /// space, a punctuation mark or a byte-fallback character. Inside "▁word", the symbols are always consecutive
    /// substrings; the first one starts with "▁", so the first two joined are a prefix "▁wo…" — a piece — and a
    /// merge is available until one symbol is left. Scores still follow BPE's convention (merge rank, shorter
    /// pieces first, then the characters): score = −(id − 258).
    /// </para>
    /// The result depends only on the set of words: same words, any order or repetition → the same vocabulary.
    /// </summary>
    /// <exception cref="ArgumentException">A word is empty, longer than <see cref="MaxWordLength"/> characters, or
    /// has a character that is not a letter (split text with <see cref="WordsOf"/>).</exception>
    public static SentencePieceVocabulary ForWords(IEnumerable<string> words, bool includePromptWords = true)
    {
        ArgumentNullException.ThrowIfNull(words);
        var all = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var w in words)
        {
            ValidateWord(w);
            all.Add(w);
        }
        if (includePromptWords) all.UnionWith(PromptWords);

        var chars = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var c in BaseCharacters) chars.Add(c.ToString());
        var merged = new HashSet<string>(StringComparer.Ordinal);
        foreach (var w in all)
        {
            var runes = w.EnumerateRunes().Select(r => r.ToString()).ToArray();
            chars.UnionWith(runes);
            var prefix = new StringBuilder(SpaceSymbol);
            foreach (var r in runes) merged.Add(prefix.Append(r).ToString());   // ▁w, ▁wo, …, ▁word
            if (Rune.IsUpper(w.EnumerateRunes().First()))
            {
                prefix.Clear().Append(runes[0]);
                foreach (var r in runes.Skip(1)) merged.Add(prefix.Append(r).ToString()); // Wo, …, Word
            }
        }

        // BPE order: merges by length (in characters), then ordinal; then the characters, "▁" first.
        var normal = merged
            .OrderBy(p => p.EnumerateRunes().Count())
            .ThenBy(p => p, StringComparer.Ordinal)
            .Concat([SpaceSymbol, .. chars]);
        var pieces = SpecialAndBytePieces().ToList();
        foreach (var p in normal)
        {
            pieces.Add(new SentencePiece(p, -(pieces.Count - FirstNormalId + 1), SentencePieceType.Normal));
        }
        return new SentencePieceVocabulary(pieces);
    }

    /// <summary><see cref="ForWords"/> of the words (<see cref="WordsOf"/>) of <paramref name="questions"/> and the prompt.</summary>
    public static SentencePieceVocabulary ForQuestions(IEnumerable<string> questions)
    {
        ArgumentNullException.ThrowIfNull(questions);
        return ForWords(questions.SelectMany(WordsOf));
    }

    /// <summary>
    /// The words of a text as <see cref="ForWords"/> takes them: maximal runs of letters, distinct, in order of
    /// first appearance ("What's in the jar?" → What, s, in, the, jar).
    /// </summary>
    public static IReadOnlyList<string> WordsOf(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var result = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var current = new StringBuilder();
        void Flush()
        {
            if (current.Length > 0 && seen.Add(current.ToString())) result.Add(current.ToString());
            current.Clear();
        }
        foreach (var r in text.EnumerateRunes())
        {
            if (Rune.IsLetter(r)) current.Append(r.ToString());
            else Flush();
        }
        Flush();
        return result;
    }

    /// <summary>Reads the pieces of a SentencePiece <c>tokenizer.model</c> (protobuf <c>ModelProto</c>, field 1).</summary>
    /// <exception cref="InputException">Missing, unreadable, not a ModelProto, or not in the standard Llama layout.</exception>
    public static SentencePieceVocabulary Read(string modelFile) =>
        Parse(TokenizerLoader.ReadTokenizerFile(modelFile), modelFile);

    /// <summary>Parses the pieces of a serialized <c>ModelProto</c>; <paramref name="source"/> is named in errors.</summary>
    /// <exception cref="InputException">Not a ModelProto, or not in the standard Llama layout.</exception>
    public static SentencePieceVocabulary Parse(byte[] model, string? source = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        var pieces = new List<SentencePiece>();
        try
        {
            var input = new CodedInputStream(model);
            uint tag;
            while ((tag = input.ReadTag()) != 0)
            {
                if (tag == SentencePieceModelWriter.Tag(SentencePieceModelWriter.ModelPiecesField, WireFormat.WireType.LengthDelimited))
                    pieces.Add(ParsePiece(input.ReadBytes(), pieces.Count, source));
                else
                    input.SkipLastField();
            }
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new InputException(source, "pieces",
                $"expected a SentencePiece model (protobuf ModelProto); parsing failed after {pieces.Count} pieces: {e.Message}", e);
        }
        try
        {
            return new SentencePieceVocabulary(pieces);
        }
        catch (ArgumentException e)
        {
            throw new InputException(source, "pieces", e.Message, e);
        }
    }

    private static SentencePiece ParsePiece(ByteString bytes, int id, string? source)
    {
        string? piece = null;
        var score = 0f;
        var type = SentencePieceType.Normal;
        var input = bytes.CreateCodedInput();
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            switch (WireFormat.GetTagFieldNumber(tag), WireFormat.GetTagWireType(tag))
            {
                case (SentencePieceModelWriter.PiecePieceField, WireFormat.WireType.LengthDelimited):
                    piece = input.ReadString();
                    break;
                case (SentencePieceModelWriter.PieceScoreField, WireFormat.WireType.Fixed32):
                    score = input.ReadFloat();
                    break;
                case (SentencePieceModelWriter.PieceTypeField, WireFormat.WireType.Varint):
                    type = (SentencePieceType)input.ReadEnum();
                    break;
                default:
                    input.SkipLastField();
                    break;
            }
        }
        return new SentencePiece(piece ?? throw new InputException(source, $"pieces[{id}]", "expected a piece string, found none"), score, type);
    }

    private static void ValidateWord(string? word)
    {
        if (string.IsNullOrEmpty(word))
            throw new ArgumentException("expected non-empty words, got an empty one", nameof(word));
        var n = 0;
        foreach (var r in word.EnumerateRunes())
        {
            n++;
            if (!Rune.IsLetter(r))
                throw new ArgumentException(
                    $"expected words of letters only, but \"{word}\" has U+{r.Value:X4} ('{r}'); split text into words with "
                    + $"{nameof(SentencePieceVocabulary)}.{nameof(WordsOf)}", nameof(word));
        }
        if (n > MaxWordLength)
            throw new ArgumentException(
                $"expected words of at most {MaxWordLength} characters (\"▁\" + word within max_sentencepiece_length 16), "
                + $"but \"{word}\" has {n}", nameof(word));
    }

    private static void Validate(ImmutableArray<SentencePiece> pieces)
    {
        if (pieces.Length < FirstNormalId)
            throw new ArgumentException(
                $"expected at least {FirstNormalId} pieces (<unk>, <s>, </s>, 256 byte pieces), got {pieces.Length}", nameof(pieces));
        var layout = SpecialAndBytePieces();
        for (var i = 0; i < FirstNormalId; i++)
        {
            if (pieces[i].Piece != layout[i].Piece || pieces[i].Type != layout[i].Type)
                throw new ArgumentException(
                    $"expected the Llama layout: id {i} is \"{layout[i].Piece}\" ({layout[i].Type}), got \"{pieces[i].Piece}\" ({pieces[i].Type})",
                    nameof(pieces));
        }
        var seen = new Dictionary<string, int>(pieces.Length, StringComparer.Ordinal);
        for (var i = 0; i < pieces.Length; i++)
        {
            var p = pieces[i];
            if (string.IsNullOrEmpty(p.Piece))
                throw new ArgumentException($"piece {i} is empty; expected a non-empty string", nameof(pieces));
            if (!float.IsFinite(p.Score))
                throw new ArgumentException(
                    $"piece {i} \"{p.Piece}\" has score {p.Score.ToString(CultureInfo.InvariantCulture)}; expected a finite score", nameof(pieces));
            if (i >= FirstNormalId && p.Type != SentencePieceType.Normal)
                throw new ArgumentException(
                    $"piece {i} \"{p.Piece}\" is {p.Type}; expected NORMAL pieces after the byte pieces", nameof(pieces));
            if (!seen.TryAdd(p.Piece, i))
                throw new ArgumentException($"piece \"{p.Piece}\" occurs twice, ids {seen[p.Piece]} and {i}; expected unique pieces", nameof(pieces));
        }
    }
}

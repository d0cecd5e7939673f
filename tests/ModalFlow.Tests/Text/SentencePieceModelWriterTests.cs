using System.Text;
using Google.Protobuf;
using ModalFlow.Tests.Support;
using ModalFlow.Text;
using Xunit;
using Xunit.Abstractions;

namespace ModalFlow.Tests.Text;

/// <summary>
/// The generated SentencePiece model: it loads like Llama-2's, its words are single tokens, paper prompts lay out,
/// it is deterministic, and the writer re-serialises Meta's Llama-2 model into one that tokenizes identically.
/// Tests 1–4 need nothing outside the repository; the cross-check needs ../shared.
/// </summary>
public class SentencePieceModelWriterTests(ITestOutputHelper output)
{
    private static readonly string[] Questions =
    [
        "Is the jar full or empty?",
        "What color is the dog?",
        "Which side of the table is the cup on?",
        "Are there any apples or oranges on the plate?",
    ];

    private static readonly Lazy<SentencePieceVocabulary> DemoVocab = new(() => SentencePieceVocabulary.ForQuestions(Questions));
    private static readonly Lazy<SentencePieceTextTokenizer> DemoTokenizer = new(() => LoadFromTemp(DemoVocab.Value));

    private static SentencePieceTextTokenizer LoadFromTemp(SentencePieceVocabulary vocab)
    {
        var dir = Directory.CreateTempSubdirectory("modalflow-spm-");
        try
        {
            var path = Path.Combine(dir.FullName, TokenizerLoader.DefaultFileName);
            SentencePieceModelWriter.Write(path, vocab);
            return SentencePieceTextTokenizer.Load(path); // the file is read whole; the folder may go
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    // 1 ---------------------------------------------------------------------------------------------------------

    [SharedFact]
    public void GeneratedModel_Loads_With_SentencePieceTextTokenizer_And_TokenizerLoader()
    {
        var vocab = DemoVocab.Value;
        var dir = Directory.CreateTempSubdirectory("modalflow-spm-");
        try
        {
            var path = Path.Combine(dir.FullName, TokenizerLoader.DefaultFileName);
            SentencePieceModelWriter.Write(path, vocab);
            Assert.Equal(TokenizerFileFormat.SentencePiece, TokenizerLoader.DetectFormat(path, File.ReadAllBytes(path)));

            var direct = SentencePieceTextTokenizer.Load(path);
            var loaded = Assert.IsType<SentencePieceTextTokenizer>(TokenizerLoader.Load(dir.FullName));
            foreach (var tok in new[] { direct, loaded })
            {
                Assert.Equal(TokenizerKind.SentencePiece, tok.Kind);
                Assert.Equal((1, 2), (tok.BosId, tok.EosId));
                Assert.Equal(vocab.Count, tok.BaseVocabularySize);
                Assert.Equal(vocab.Count, tok.VocabularySize);
                Assert.Equal(["<unk>", "<s>", "</s>", "<0x00>", "<0x0A>", "<0xFF>"], tok.IdsToTokens([0, 1, 2, 3, 13, 258]));
                Assert.True(tok.IsSpecial(0) && tok.IsSpecial(1) && tok.IsSpecial(2) && !tok.IsSpecial(13));
                for (var id = 0; id < vocab.Count; id++) Assert.Equal(vocab.Pieces[id].Piece, tok.IdToToken(id));
                Assert.Equal([1, tok.TokenToId("▁jar")!.Value], tok.EncodeWithBos("jar"));
            }

            // Read back with our own parser: the same pieces, scores and types.
            Assert.Equal(vocab, SentencePieceVocabulary.Read(path));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    // 2 ---------------------------------------------------------------------------------------------------------

    [SharedFact]
    public void EveryVocabularyWord_Is_OneToken_And_Decodes_Back()
    {
        var tok = DemoTokenizer.Value;
        var words = Questions.SelectMany(SentencePieceVocabulary.WordsOf).Concat(SentencePieceVocabulary.PromptWords).Distinct().ToArray();
        Assert.Contains("intelligence", words);
        Assert.Contains("ASSISTANT", words);
        var failures = new List<string>();
        foreach (var w in words)
        {
            var id = tok.TokenToId("▁" + w) ?? throw new Xunit.Sdk.XunitException($"no piece ▁{w}");
            Check(w, [id]);                                   // dummy prefix: "▁word"
            Check("a " + w, [tok.TokenToId("▁a")!.Value, id]); // after a space
            // After a space, before punctuation or a space; "(w" and ":w" have no space, so no "▁w" there.
            var inContext = tok.EncodeToIds($"x {w}? {w}, ({w}). {w}'s {w}:{w}");
            if (inContext.Count(i => i == id) != 4)
                failures.Add($"\"{w}\" in context: {string.Join(" ", tok.IdsToTokens(inContext))}");
            Assert.Equal(w, tok.Decode([id]));
            if (char.IsUpper(w[0]))
            {
                // Capitalised words also follow a line break without a space ("<image>\nIs", "\nAnswer").
                var bare = tok.TokenToId(w) ?? throw new Xunit.Sdk.XunitException($"no bare piece {w}");
                Check("\n" + w, [tok.TokenToId("▁")!.Value, 13, bare]);
            }
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
        output.WriteLine($"{words.Length} words, each one token");

        void Check(string text, int[] expected)
        {
            var ids = tok.EncodeToIds(text);
            if (!ids.SequenceEqual(expected))
                failures.Add($"\"{text}\": expected {string.Join(" ", tok.IdsToTokens(expected))}, got {string.Join(" ", tok.IdsToTokens(ids))}");
        }
    }

    [SharedTheory]
    [InlineData("é")]
    [InlineData("café au lait, s'il vous plaît")]
    [InlineData("The year 2024 had 366 days; 3.14159 ≈ π.")]
    [InlineData("line one\nline two\r\n\ttabbed\n")]
    [InlineData("  leading,  double  and trailing spaces  ")]
    [InlineData("漢字 ☃ 😀 𝔘𝔫𝔦𝔠𝔬𝔡𝔢")]
    [InlineData("<s> literal </s> <unk> <0x0A>")] // not "▁": SentencePiece decodes it as a space
    [InlineData("Is the jar full or empty? \nAnswer the question using a single word or phrase.")]
    public void ArbitraryText_RoundTrips_Through_ByteFallback(string text)
    {
        var tok = DemoTokenizer.Value;
        var ids = tok.EncodeToIds(text);
        Assert.Equal(text, tok.Decode(ids));
        Assert.DoesNotContain(SentencePieceVocabulary.UnknownId, ids);
        // Token bytes join back to the text with the dummy-prefix space in front.
        Assert.Equal(Encoding.UTF8.GetBytes(" " + text), ids.SelectMany(tok.TokenTextBytes).ToArray());
    }

    [SharedFact]
    public void UnknownCharacters_Use_BytePieces_And_Digits_Stay_Single()
    {
        var tok = DemoTokenizer.Value;
        Assert.Equal(["▁", "<0xC3>", "<0xA9>"], tok.IdsToTokens(tok.EncodeToIds("é")));
        Assert.Equal(["▁", "<0x0A>"], tok.IdsToTokens(tok.EncodeToIds("\n")));
        Assert.Equal(["▁", "2", "0", "2", "4"], tok.IdsToTokens(tok.EncodeToIds("2024")));
        Assert.Equal(["▁", "x", "y", "z", "z", "y"], tok.IdsToTokens(tok.EncodeToIds("xyzzy")));
        // A word with é makes é a piece.
        var cafe = LoadFromTemp(SentencePieceVocabulary.ForWords(["café"], includePromptWords: false));
        Assert.Equal(["▁café", "▁", "é"], cafe.IdsToTokens(cafe.EncodeToIds("café é")));
    }

    // 3 ---------------------------------------------------------------------------------------------------------

    [SharedFact]
    public void PaperPrompt_Tokenizes_And_Lays_Out_Question_And_Instruction()
    {
        var tok = DemoTokenizer.Value;
        const int k = 4;
        foreach (var q in Questions)
        {
            var prompt = PaperPrompt.Build(ConversationTemplate.VicunaV1, q);
            var tokenized = LlavaPromptTokenizer.Tokenize(tok, prompt);
            var layout = SequenceLayout.FromPrompt(tok, prompt, k, q);

            Assert.Equal(1, tokenized.Ids[0]);
            Assert.Single(tokenized.PlaceholderIndices);
            var tokens = tok.IdsToTokens(layout.ExpandedInputIds(-1).Select(i => (int)i).Select(i => i < 0 ? 0 : i));
            string Join(TokenSpan s) => string.Concat(tokens[s.Start..s.End]).Replace('▁', ' ');

            // Question: every word one token, the "?" one more; the span spells the question exactly.
            Assert.Equal(q, Join(layout.Question));
            Assert.True(q.Split(' ').Length + 1 == layout.Question.Length,
                $"expected one token per word of \"{q}\", got {string.Join(" ", tokens[layout.Question.Start..layout.Question.End])}");
            Assert.Equal(q.Split(' ')[0], tokens[layout.Question.Start]);
            // Instruction: " \nAnswer the question using a single word or phrase." = ▁ <0x0A> Answer ▁the … ▁phrase .
            Assert.Equal(["▁", "<0x0A>", "Answer", "▁the", "▁question", "▁using", "▁a", "▁single", "▁word", "▁or", "▁phrase", "."],
                tokens[layout.Instruction.Start..layout.Instruction.End]);
            Assert.Equal(layout.Question.End, layout.Instruction.Start);
            // After the instruction: ▁ASSISTANT : — the last position.
            Assert.Equal(["▁ASSISTANT", ":"], tokens[layout.Instruction.End..]);
            // Before the image: <s> then the system text and "USER:" in whole words.
            Assert.Equal("<s>", tokens[0]);
            Assert.Equal(" " + ConversationTemplate.VicunaV1.SystemMessage + " USER: ", string.Concat(tokens[1..layout.PlaceholderIndex]).Replace('▁', ' '));
            Assert.Equal(Enumerable.Repeat("<unk>", k), tokens[layout.Image.Start..layout.Image.End]);
            output.WriteLine($"{q}: {tokenized.Ids.Length} prompt ids, {layout}");
        }
    }

    // 4 ---------------------------------------------------------------------------------------------------------

    [SharedFact]
    public void Build_Is_Deterministic_And_Independent_Of_Word_Order()
    {
        var texts = new[] { "Which side of the table is the cup on?", "\nWhich", "x jar:jar (jar)", "café é", "  two  spaces ", "Answer the question using a single word or phrase.", "The assistant's user's", "ASSISTANTS USERS Ares", "漢字 😀 2024\n\ttab", "theirs thee t h e" };
        var words = Questions.SelectMany(SentencePieceVocabulary.WordsOf).ToArray();
        var a = SentencePieceModelWriter.Build(SentencePieceVocabulary.ForWords(words));
        var b = SentencePieceModelWriter.Build(SentencePieceVocabulary.ForWords(words));
        var c = SentencePieceModelWriter.Build(SentencePieceVocabulary.ForWords([.. words.Reverse(), .. words]));
        Assert.Equal(a, b);
        Assert.Equal(a, c);
        Assert.Equal(SentencePieceVocabulary.ForWords(words), SentencePieceVocabulary.Parse(a));
        output.WriteLine($"{DemoVocab.Value.Count} pieces, {a.Length} bytes, SHA-256 {Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(a))}");
    }

    [SharedFact]
    public void Vocabulary_Layout_And_Merge_Paths()
    {
        var vocab = DemoVocab.Value;
        var pieces = vocab.Pieces;
        Assert.Equal(SentencePieceVocabulary.SpecialAndBytePieces(), pieces[..SentencePieceVocabulary.FirstNormalId]);
        var normal = pieces[SentencePieceVocabulary.FirstNormalId..];
        Assert.All(normal, p => Assert.Equal(SentencePieceType.Normal, p.Type));
        // Scores strictly decrease with the id (BPE merge rank), starting at -1.
        Assert.Equal(-1f, normal[0].Score);
        Assert.True(normal.Zip(normal.Skip(1)).All(t => t.First.Score > t.Second.Score));
        // Every "▁word" piece has its whole left-to-right merge path; pieces never hold "▁" after the first char.
        var set = pieces.Select(p => p.Piece).ToHashSet(StringComparer.Ordinal);
        foreach (var p in normal.Select(p => p.Piece).Where(p => p.Length > 1))
        {
            Assert.True(p.TrimStart('▁').EnumerateRunes().All(Rune.IsLetter), $"\"{p}\" mixes letters with other characters");
            for (var n = 1; n < p.Length; n++) Assert.Contains(p[..n], set);
        }
        Assert.InRange(vocab.Count, 300, 1000);
    }

    [SharedFact]
    public void BadWords_And_BadLayouts_Are_Rejected()
    {
        Assert.Throws<ArgumentException>(() => SentencePieceVocabulary.ForWords(["don't"]));
        Assert.Throws<ArgumentException>(() => SentencePieceVocabulary.ForWords(["3D"]));
        Assert.Throws<ArgumentException>(() => SentencePieceVocabulary.ForWords([""]));
        Assert.Throws<ArgumentException>(() => SentencePieceVocabulary.ForWords([new string('a', SentencePieceVocabulary.MaxWordLength + 1)]));
        SentencePieceVocabulary.ForWords([new string('a', SentencePieceVocabulary.MaxWordLength)]);

        var good = SentencePieceVocabulary.SpecialAndBytePieces().ToList();
        Assert.Throws<ArgumentException>(() => new SentencePieceVocabulary(good.Take(258)));
        Assert.Throws<ArgumentException>(() => new SentencePieceVocabulary([.. good, new("a", 0, SentencePieceType.Normal), new("a", -1, SentencePieceType.Normal)]));
        Assert.Throws<ArgumentException>(() => new SentencePieceVocabulary([.. good, new("a", float.NaN, SentencePieceType.Normal)]));
        Assert.Throws<ArgumentException>(() => new SentencePieceVocabulary([.. good, new("<pad>", 0, SentencePieceType.Control)]));
        var swapped = good.ToList();
        (swapped[1], swapped[2]) = (swapped[2], swapped[1]);
        Assert.Throws<ArgumentException>(() => new SentencePieceVocabulary(swapped));

        Assert.Throws<InputException>(() => SentencePieceVocabulary.Parse([0x0A, 0x05, 0x0A], "truncated.model"));
        Assert.Throws<InputException>(() => SentencePieceVocabulary.Parse([], "empty.model"));
    }

    // 5 ---------------------------------------------------------------------------------------------------------

    private static string RealModelPath => SharedData.Fixture("tiny-llava-1.5", "tokenizer.model");

    [SharedFact]
    public void Writer_Reserialises_Llama2_Model_With_Identical_Pieces_And_Specs()
    {
        var original = File.ReadAllBytes(RealModelPath);
        var vocab = SentencePieceVocabulary.Read(RealModelPath);
        Assert.Equal(32000, vocab.Count);
        var rebuilt = SentencePieceModelWriter.Build(vocab);

        var o = ProtoFields.Parse(original);
        var r = ProtoFields.Parse(rebuilt);
        Assert.Equal([1, 2, 3], o.Select(f => f.Number).Distinct());
        Assert.Equal(o.Select(f => f.Number), r.Select(f => f.Number));
        // Pieces: byte-identical to Meta's (string, score, type only when not NORMAL).
        Assert.True(o.Where(f => f.Number == 1).Select(f => f.Raw).SequenceEqual(r.Where(f => f.Number == 1).Select(f => f.Raw), ByteArrayComparer.Instance),
            "the pieces differ from the original's bytes");
        // Normalizer spec: byte-identical.
        Assert.Equal(o.Single(f => f.Number == 3).Raw, r.Single(f => f.Number == 3).Raw);
        // Trainer spec: the same fields and values in the same order, except input (1, left out) and model_prefix (2).
        var ot = ProtoFields.Parse(o.Single(f => f.Number == 2).Payload).Where(f => f.Number is not (1 or 2)).ToList();
        var rt = ProtoFields.Parse(r.Single(f => f.Number == 2).Payload).ToList();
        Assert.DoesNotContain(rt, f => f.Number == 1);
        Assert.Equal(SentencePieceModelWriter.ModelPrefix, Encoding.UTF8.GetString(rt.Single(f => f.Number == 2).Payload));
        rt.RemoveAll(f => f.Number == 2);
        Assert.Equal(ot.Select(f => f.Number), rt.Select(f => f.Number));
        foreach (var (a, b) in ot.Zip(rt)) Assert.True(a.Raw.SequenceEqual(b.Raw), $"trainer_spec field {a.Number} differs");
        output.WriteLine($"original {original.Length} bytes, rebuilt {rebuilt.Length} bytes; trainer_spec fields {string.Join(",", rt.Select(f => f.Number))}");
    }

    [SharedFact]
    public void Reserialised_Llama2_Model_Encodes_Like_The_Original()
    {
        var original = TextFixtures.Llama2; // tiny-llava-1.5's tokenizer.model with its added tokens
        var rebuilt = LoadFromTemp(SentencePieceVocabulary.Read(RealModelPath));
        string[] samples =
        [
            "Is the jar full or empty?",
            "Hello world",
            "A chat between a curious user and an artificial intelligence assistant.",
            "  leading,  double  and trailing spaces  ",
            "Yes, café ☃ 漢\nok",
            "The year 2024 had 366 days; 3.14159 ≈ π.",
            "line one\nline two\r\n\ttabbed\n",
            "emoji 😀 and 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
            "user's questions: what's up?",
            "<s> literal </s> <unk> <0x0A> ▁ ▁▁",
            "\n",
            " ",
            "ASSISTANT:",
        ];
        var checkedCount = 0;
        foreach (var s in samples)
        {
            IdAssert.Equal(original.EncodeToIds(s).Select(i => (long)i).ToArray(), rebuilt.EncodeToIds(s).Select(i => (long)i).ToArray(), $"\"{s}\"");
            checkedCount++;
        }
        foreach (var caseId in TextFixtures.Cases)
        {
            var c = TextFixtures.Load("tiny-llava-1.5", caseId);
            IdAssert.Equal(c.LlavaIds(), LlavaPromptTokenizer.Tokenize(rebuilt, c.Prompt).ToLongs(), $"{caseId} prompt");
            checkedCount++;
        }
        output.WriteLine($"{checkedCount} texts encode identically");
    }

    [SharedFact]
    public void DemoTokenizer_PromptLength_Against_Llama2()
    {
        var tok = DemoTokenizer.Value;
        foreach (var q in Questions)
        {
            var prompt = PaperPrompt.Build(ConversationTemplate.VicunaV1, q);
            var demo = LlavaPromptTokenizer.Tokenize(tok, prompt).Ids.Length;
            var llama = LlavaPromptTokenizer.Tokenize(TextFixtures.Llama2, prompt).Ids.Length;
            output.WriteLine($"{q}: demo {demo} ids, Llama-2 {llama} ids");
            Assert.InRange(demo, 1, llama); // whole words: never longer than Llama-2's pieces
        }
    }

    private sealed class ByteArrayComparer : IEqualityComparer<byte[]>
    {
        public static readonly ByteArrayComparer Instance = new();
        public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);
        public int GetHashCode(byte[] obj) => obj.Length;
    }
}

/// <summary>A protobuf field dumper: every top-level field of a message with its raw bytes (tag included).</summary>
internal sealed record ProtoField(int Number, WireFormat.WireType WireType, byte[] Raw, byte[] Payload)
{
    public override string ToString() => $"{Number}:{WireType} {Convert.ToHexString(Raw)}";
}

internal static class ProtoFields
{
    public static List<ProtoField> Parse(byte[] message)
    {
        var fields = new List<ProtoField>();
        var input = new CodedInputStream(message);
        while (true)
        {
            var start = (int)input.Position;
            var tag = input.ReadTag();
            if (tag == 0) break;
            var type = WireFormat.GetTagWireType(tag);
            byte[] payload = [];
            if (type == WireFormat.WireType.LengthDelimited) payload = input.ReadBytes().ToByteArray();
            else input.SkipLastField();
            fields.Add(new ProtoField(WireFormat.GetTagFieldNumber(tag), type, message[start..(int)input.Position], payload));
        }
        return fields;
    }
}

using System.Globalization;
using System.Text;
using Microsoft.ML.Tokenizers;

namespace ModalFlow.Text;

/// <summary>
/// Llama-2 / Vicuna SentencePiece tokenizer over Microsoft.ML.Tokenizers' <see cref="LlamaTokenizer"/>, which
/// reproduces Hugging Face's slow <c>LlamaTokenizer</c> ids (legacy=False) on LLaVA prompts
/// (shared/platform/TOKENIZERS.md). Token strings are the model's pieces ("▁the", "&lt;0x0A&gt;"), plus any
/// added tokens of the checkpoint folder.
/// </summary>
public sealed class SentencePieceTextTokenizer : ITextTokenizer
{
    private readonly LlamaTokenizer _sp;
    private readonly string[] _pieces;                       // id → piece, base vocabulary
    private readonly Dictionary<string, int> _pieceIds;      // piece → id
    private readonly IReadOnlyDictionary<int, string> _added; // id → string, added tokens
    private readonly Dictionary<string, int> _addedIds;
    private readonly HashSet<int> _special;

    private SentencePieceTextTokenizer(LlamaTokenizer sp, string[] pieces, IReadOnlyDictionary<int, string> added, string source)
    {
        _sp = sp;
        _pieces = pieces;
        _pieceIds = new Dictionary<string, int>(pieces.Length, StringComparer.Ordinal);
        for (var i = 0; i < pieces.Length; i++) _pieceIds[pieces[i]] = i;
        _added = added;
        _addedIds = added.ToDictionary(kv => kv.Value, kv => kv.Key, StringComparer.Ordinal);
        _special = [sp.BeginningOfSentenceId, sp.EndOfSentenceId, sp.UnknownId, .. added.Keys];
        SourcePath = source;
        VocabularySize = Math.Max(pieces.Length, added.Count == 0 ? 0 : added.Keys.Max() + 1);
    }

    /// <summary>
    /// Loads a SentencePiece <c>tokenizer.model</c>. <paramref name="addedTokens"/> (id → string) may name ids
    /// beyond the model's pieces, or repeat a piece under its own id.
    /// </summary>
    /// <exception cref="InputException">The file is missing, unreadable or not a usable SentencePiece model, or an
    /// added token contradicts a piece.</exception>
    public static SentencePieceTextTokenizer Load(string modelFile, IReadOnlyDictionary<int, string>? addedTokens = null)
    {
        var bytes = TokenizerLoader.ReadTokenizerFile(modelFile);
        LlamaTokenizer sp;
        try
        {
            sp = LlamaTokenizer.Create(new MemoryStream(bytes, writable: false), addBeginOfSentence: true, addEndOfSentence: false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new InputException(modelFile, null,
                $"expected a SentencePiece model (protobuf ModelProto), but it could not be parsed: {e.GetType().Name}: {e.Message}", e);
        }

        var vocab = sp.Vocabulary;
        if (vocab.Count == 0)
            throw new InputException(modelFile, "pieces", "expected a SentencePiece model with pieces, found none");
        var pieces = new string?[vocab.Count];
        foreach (var (piece, id) in vocab)
        {
            if (id < 0 || id >= pieces.Length || pieces[id] != null)
                throw new InputException(modelFile, "pieces",
                    $"expected piece ids 0..{pieces.Length - 1}, each once; piece \"{piece}\" has id {id}");
            pieces[id] = piece;
        }
        foreach (var (name, id) in new[] { ("bos", sp.BeginningOfSentenceId), ("eos", sp.EndOfSentenceId), ("unk", sp.UnknownId) })
        {
            if (id < 0 || id >= pieces.Length)
                throw new InputException(modelFile, name + "_id", $"expected an id in 0..{pieces.Length - 1}, got {id}");
        }

        var added = addedTokens ?? new Dictionary<int, string>();
        foreach (var (id, content) in added)
        {
            if (id < pieces.Length && pieces[id] != content)
                throw new InputException(modelFile, "added tokens",
                    $"added token \"{content}\" claims id {id}, which is the piece \"{pieces[id]}\" in the model; expected the same string or an id ≥ {pieces.Length}");
        }
        return new SentencePieceTextTokenizer(sp, pieces!, added, modelFile);
    }

    public TokenizerKind Kind => TokenizerKind.SentencePiece;
    public TokenStringStyle StringStyle => TokenStringStyle.SentencePiece;
    public string SourcePath { get; }
    public int BosId => _sp.BeginningOfSentenceId;
    public int EosId => _sp.EndOfSentenceId;
    public int BaseVocabularySize => _pieces.Length;
    public int VocabularySize { get; }

    public int[] EncodeToIds(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return [.. _sp.EncodeToIds(text, addBeginningOfSentence: false, addEndOfSentence: false)];
    }

    public bool IsKnownId(int id) => (id >= 0 && id < _pieces.Length) || _added.ContainsKey(id);

    public string IdToToken(int id)
    {
        if (_added.TryGetValue(id, out var s)) return s;
        if (id >= 0 && id < _pieces.Length) return _pieces[id];
        throw new ArgumentOutOfRangeException(nameof(id), id,
            $"token id {id} is not in the tokenizer {SourcePath} ({_pieces.Length} pieces, {_added.Count} added tokens)");
    }

    public int? TokenToId(string token) =>
        _addedIds.TryGetValue(token, out var a) ? a : _pieceIds.TryGetValue(token, out var p) ? p : null;

    public bool IsSpecial(int id) => _special.Contains(id);

    public byte[] TokenTextBytes(int id)
    {
        var token = IdToToken(id);
        if (_added.ContainsKey(id) || IsSpecial(id)) return Encoding.UTF8.GetBytes(token);
        if (TryParseByteToken(token, out var b)) return [b];
        return Encoding.UTF8.GetBytes(token.Replace('▁', ' '));
    }

    public string Decode(IEnumerable<int> ids)
    {
        var bytes = new List<byte>();
        var first = true;
        var dropLeadingSpace = false;
        foreach (var id in ids)
        {
            var token = IdToToken(id);
            if (IsSpecial(id)) continue;
            if (first)
            {
                dropLeadingSpace = token.StartsWith('▁');
                first = false;
            }
            bytes.AddRange(TokenTextBytes(id));
        }
        var text = Encoding.UTF8.GetString(bytes.ToArray());
        return dropLeadingSpace && text.StartsWith(' ') ? text[1..] : text;
    }

    /// <summary>SentencePiece byte-fallback piece "&lt;0xNN&gt;".</summary>
    internal static bool TryParseByteToken(string token, out byte value)
    {
        value = 0;
        return token.Length == 6 && token.StartsWith("<0x", StringComparison.Ordinal) && token[5] == '>'
            && byte.TryParse(token.AsSpan(3, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value);
    }
}

using System.Text;

namespace ModalFlow.Text;

/// <summary>What a byte-level BPE needs beyond its vocabulary and merges.</summary>
/// <param name="Pattern">The pre-tokenizer split regex (<see cref="SplitPattern.Qwen2"/>, Llama-3's, GPT-2's).</param>
/// <param name="NormalizeNfc">NFC-normalise the text first (Qwen2).</param>
/// <param name="AddedTokens">Tokens matched in the text before BPE (special and added tokens).</param>
/// <param name="BosToken">The token put in front by the tokenizer's default call, or null when it adds none (Qwen2).</param>
/// <param name="EosToken">The end token that stops generation.</param>
/// <param name="AddedTokensSource">The file the added tokens, BOS and EOS came from, named in errors.</param>
public sealed record ByteLevelBpeOptions(
    string Pattern,
    bool NormalizeNfc,
    IReadOnlyList<AddedTokenSpec> AddedTokens,
    string? BosToken,
    string EosToken,
    string? AddedTokensSource = null);

/// <summary>
/// A byte-level BPE tokenizer as Hugging Face runs one (Qwen2's <c>Qwen2Tokenizer</c>; tokenizer.json folders such as
/// Qwen2-VL, LLaVA-OneVision and llava-hf Llama-3): optional NFC, added tokens cut out of the text first (so
/// "&lt;|im_start|&gt;" in a chat prompt is one id), the split regex, then <see cref="ByteLevelBpeModel"/> on each
/// piece. Token strings are the byte-level spellings ("Ġthe", "Ċ").
/// </summary>
public sealed class ByteLevelBpeTokenizer : ITextTokenizer
{
    private readonly SplitPattern _split;
    private readonly AddedTokenMatcher _matcher;
    private readonly Dictionary<int, AddedTokenSpec> _addedById = [];
    private readonly Dictionary<string, int> _addedByContent = new(StringComparer.Ordinal);
    private readonly int? _bosId;

    /// <param name="source">The tokenizer file (tokenizer.json or vocab.json), named in errors and <see cref="SourcePath"/>.</param>
    /// <exception cref="InputException">An invalid pattern, an added token that clashes with the vocabulary or another
    /// added token, or a BOS / EOS that is no token.</exception>
    public ByteLevelBpeTokenizer(ByteLevelBpeModel model, ByteLevelBpeOptions options, string source)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        Model = model;
        Options = options;
        SourcePath = source;
        var addedSource = options.AddedTokensSource ?? source;
        try
        {
            _split = new SplitPattern(options.Pattern);
        }
        catch (ArgumentException e)
        {
            throw new InputException(source, "pre_tokenizer pattern", $"expected a valid regular expression: {e.Message}", e);
        }
        foreach (var t in options.AddedTokens)
        {
            var field = $"added token \"{t.Content}\"";
            if (t.Id < 0) throw new InputException(addedSource, field, $"expected a non-negative id, got {t.Id}");
            if (t.Content.Length == 0) throw new InputException(addedSource, $"added token {t.Id}", "expected a non-empty content string");
            if (model.TokenOf(t.Id) is { } vocabToken && vocabToken != t.Content)
                throw new InputException(addedSource, field,
                    $"claims id {t.Id}, which the vocabulary ({source}) already gives to \"{vocabToken}\"; expected a free id");
            if (_addedById.TryGetValue(t.Id, out var other) && other.Content != t.Content)
                throw new InputException(addedSource, field, $"claims id {t.Id}, which is also \"{other.Content}\"; expected one string per id");
            if (_addedByContent.TryGetValue(t.Content, out var otherId) && otherId != t.Id)
                throw new InputException(addedSource, field, $"has ids {otherId} and {t.Id}; expected one id per string");
            _addedById[t.Id] = t;
            _addedByContent[t.Content] = t.Id;
        }
        _matcher = new AddedTokenMatcher(_addedById.Values);
        _bosId = options.BosToken is { } bos
            ? TokenToId(bos) ?? throw new InputException(addedSource, "bos_token", $"\"{bos}\" is not a token of {source}; expected one of its tokens")
            : null;
        EosId = TokenToId(options.EosToken)
            ?? throw new InputException(addedSource, "eos_token", $"\"{options.EosToken}\" is not a token of {source}; expected one of its tokens");
        BaseVocabularySize = model.Size;
        VocabularySize = Math.Max(model.Size, _addedById.Count == 0 ? 0 : _addedById.Keys.Max() + 1);
    }

    public ByteLevelBpeModel Model { get; }

    public ByteLevelBpeOptions Options { get; }

    public TokenizerKind Kind => TokenizerKind.ByteLevelBpe;
    public TokenStringStyle StringStyle => TokenStringStyle.ByteLevel;
    public string SourcePath { get; }

    public bool AddsBos => _bosId.HasValue;

    /// <exception cref="InvalidOperationException">This tokenizer has no BOS (<see cref="AddsBos"/> is false: Qwen2).</exception>
    public int BosId => _bosId
        ?? throw new InvalidOperationException($"the tokenizer {SourcePath} has no begin-of-sequence token (AddsBos is false)");

    public int EosId { get; }

    /// <summary>The BPE vocabulary's ids (Hugging Face's <c>vocab_size</c>: 151643 for Qwen2, 128000 for Llama-3); added tokens come on top.</summary>
    public int BaseVocabularySize { get; }
    public int VocabularySize { get; }

    /// <summary>The added tokens (special tokens included), by id.</summary>
    public IReadOnlyDictionary<int, AddedTokenSpec> AddedTokens => _addedById;

    public int[] EncodeToIds(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (Options.NormalizeNfc) text = UnicodeNfc.Normalize(text);
        var ids = new List<int>();
        foreach (var segment in _matcher.Split(text))
        {
            if (segment.Text == null)
            {
                ids.Add(segment.Id);
                continue;
            }
            foreach (var piece in _split.Split(segment.Text)) ids.AddRange(Model.Encode(piece));
        }
        return ids.ToArray();
    }

    public bool IsKnownId(int id) => Model.TokenOf(id) != null || _addedById.ContainsKey(id);

    public string IdToToken(int id)
    {
        if (_addedById.TryGetValue(id, out var added)) return added.Content;
        return Model.TokenOf(id) ?? throw new ArgumentOutOfRangeException(nameof(id), id,
            $"token id {id} is not in the tokenizer {SourcePath} ({Model.Size} vocabulary ids, {_addedById.Count} added tokens)");
    }

    public int? TokenToId(string token) =>
        _addedByContent.TryGetValue(token, out var id) ? id : Model.IdOf(token);

    public bool IsSpecial(int id) => _addedById.ContainsKey(id);

    public byte[] TokenTextBytes(int id)
    {
        var token = IdToToken(id);
        if (_addedById.ContainsKey(id)) return Encoding.UTF8.GetBytes(token);
        return ByteLevel.Decode(token) ?? Encoding.UTF8.GetBytes(token); // a vocabulary entry outside the byte table: its own text
    }

    public string Decode(IEnumerable<int> ids)
    {
        var bytes = new List<byte>();
        foreach (var id in ids)
        {
            if (_addedById.ContainsKey(id)) continue;
            bytes.AddRange(TokenTextBytes(id)); // throws with the id named when unknown
        }
        return Encoding.UTF8.GetString(bytes.ToArray());
    }
}

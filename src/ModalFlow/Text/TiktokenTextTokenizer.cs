using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace ModalFlow.Text;

/// <summary>
/// Llama-3 tokenizer over Microsoft.ML.Tokenizers' <see cref="TiktokenTokenizer"/> and Meta's ranks file, which
/// reproduces the ids of tiktoken configured like Meta's <c>llama/tokenizer.py</c> (shared/platform/TOKENIZERS.md).
/// Token strings are Hugging Face's byte-level spellings ("Ġthe", "Ċ"), so the paper's span finder sees what it
/// saw with the HF fast tokenizer.
/// </summary>
public sealed class TiktokenTextTokenizer : ITextTokenizer
{
    private readonly TiktokenTokenizer _tk;
    private readonly byte[][] _rankBytes;                     // id → raw bytes, base ranks
    private readonly string[] _rankStrings;                   // id → byte-level string
    private readonly Dictionary<int, string> _specialById;    // special and added tokens: id → string
    private readonly HashSet<int> _addedIds;
    private readonly Lazy<Dictionary<string, int>> _idsByToken;

    private TiktokenTextTokenizer(TiktokenTokenizer tk, byte[][] rankBytes, TiktokenSettings settings,
        IReadOnlyDictionary<int, string> added, string source)
    {
        _tk = tk;
        _rankBytes = rankBytes;
        _rankStrings = rankBytes.Select(b => ByteLevel.Encode(b)).ToArray();
        _specialById = settings.SpecialTokens.ToDictionary(kv => kv.Value, kv => kv.Key);
        foreach (var (id, s) in added) _specialById[id] = s;
        _addedIds = [.. added.Keys];
        _idsByToken = new Lazy<Dictionary<string, int>>(() =>
        {
            var d = new Dictionary<string, int>(StringComparer.Ordinal);
            for (var i = 0; i < _rankStrings.Length; i++) d[_rankStrings[i]] = i;
            foreach (var (id, s) in _specialById) d[s] = id;
            return d;
        });
        SourcePath = source;
        Settings = settings;
        BosId = settings.SpecialTokens[settings.BosToken];
        EosId = settings.SpecialTokens[settings.EosToken];
        BaseVocabularySize = Math.Max(rankBytes.Length, settings.SpecialTokens.Values.DefaultIfEmpty(-1).Max() + 1);
        VocabularySize = Math.Max(BaseVocabularySize, added.Count == 0 ? 0 : added.Keys.Max() + 1);
    }

    /// <summary>The pattern and special tokens in use.</summary>
    public TiktokenSettings Settings { get; }

    /// <summary>
    /// Loads a tiktoken ranks file ("&lt;base64 bytes&gt; &lt;rank&gt;" per line, rank = id 0..n-1) with the given
    /// settings (default <see cref="TiktokenSettings.Llama3"/>) and added tokens (id → string).
    /// </summary>
    /// <exception cref="InputException">The file is missing, unreadable, malformed, or disagrees with the settings.</exception>
    public static TiktokenTextTokenizer Load(string ranksFile, TiktokenSettings? settings = null,
        IReadOnlyDictionary<int, string>? addedTokens = null, string? settingsSource = null)
    {
        settings ??= TiktokenSettings.Llama3;
        var settingsName = settingsSource ?? "built-in Llama-3 tokenizer settings";
        var bytes = TokenizerLoader.ReadTokenizerFile(ranksFile);
        var ranks = ParseRanks(ranksFile, bytes);
        if (settings.NumBaseTokens is int expected && expected != ranks.Length)
            throw new InputException(ranksFile, null,
                $"expected {expected} ranks (num_base_tokens of {settingsName}), found {ranks.Length}; is this the right ranks file for these settings?");
        foreach (var (token, id) in settings.SpecialTokens)
        {
            if (id < ranks.Length)
                throw new InputException(settingsSource ?? ranksFile, "special_tokens." + token,
                    $"expected an id ≥ {ranks.Length} (after the ranks), got {id}");
        }
        var added = addedTokens ?? new Dictionary<int, string>();
        foreach (var (id, content) in added)
        {
            var clash = id < ranks.Length || settings.SpecialTokens.Any(kv => kv.Value == id && kv.Key != content);
            if (clash)
                throw new InputException(ranksFile, "added tokens",
                    $"added token \"{content}\" claims id {id}, which is already a rank or another special token; expected a free id");
        }

        Regex regex;
        try
        {
            regex = new Regex(settings.Pattern, RegexOptions.None);
        }
        catch (ArgumentException e)
        {
            throw new InputException(settingsSource, "pat_str", $"expected a valid regular expression: {e.Message}", e);
        }

        TiktokenTokenizer tk;
        try
        {
            tk = TiktokenTokenizer.Create(new MemoryStream(bytes, writable: false),
                new RegexPreTokenizer(regex, settings.SpecialTokens), normalizer: null, settings.SpecialTokens);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new InputException(ranksFile, null,
                $"expected a tiktoken ranks file, but it could not be loaded: {e.GetType().Name}: {e.Message}", e);
        }
        return new TiktokenTextTokenizer(tk, ranks, settings, added, ranksFile);
    }

    /// <summary>Parses "&lt;base64&gt; &lt;rank&gt;" lines; ranks must be 0..n-1, each once.</summary>
    private static byte[][] ParseRanks(string path, byte[] content)
    {
        var text = Encoding.ASCII.GetString(content);
        var lines = text.Split('\n');
        var result = new List<byte[]?>(lines.Length);
        var seen = 0;
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].TrimEnd('\r');
            if (line.Length == 0) continue;
            var field = $"line {i + 1}";
            var space = line.IndexOf(' ');
            if (space <= 0 || space != line.LastIndexOf(' '))
                throw new InputException(path, field, $"expected \"<base64 bytes> <rank>\", got \"{Shorten(line)}\"");
            byte[] token;
            try
            {
                token = Convert.FromBase64String(line[..space]);
            }
            catch (FormatException)
            {
                throw new InputException(path, field, $"expected base64 token bytes, got \"{Shorten(line[..space])}\"");
            }
            if (!int.TryParse(line.AsSpan(space + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var rank))
                throw new InputException(path, field, $"expected an integer rank, got \"{Shorten(line[(space + 1)..])}\"");
            while (result.Count <= rank) result.Add(null);
            if (result[rank] != null) throw new InputException(path, field, $"rank {rank} appears twice; expected each rank once");
            result[rank] = token;
            seen++;
        }
        if (seen == 0) throw new InputException(path, null, "expected tiktoken ranks, found no lines");
        var missing = result.FindIndex(b => b == null);
        if (missing >= 0)
            throw new InputException(path, null, $"expected ranks 0..{result.Count - 1} without gaps; rank {missing} is missing");
        return result.ToArray()!;
    }

    private static string Shorten(string s) => s.Length <= 40 ? s : s[..40] + "…";

    public TokenizerKind Kind => TokenizerKind.Tiktoken;
    public TokenStringStyle StringStyle => TokenStringStyle.ByteLevel;
    public string SourcePath { get; }
    public int BosId { get; }
    public int EosId { get; }
    public int BaseVocabularySize { get; }
    public int VocabularySize { get; }

    public int[] EncodeToIds(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return [.. _tk.EncodeToIds(text)];
    }

    public bool IsKnownId(int id) => (id >= 0 && id < _rankBytes.Length) || _specialById.ContainsKey(id);

    public string IdToToken(int id)
    {
        if (id >= 0 && id < _rankStrings.Length) return _rankStrings[id];
        if (_specialById.TryGetValue(id, out var s)) return s;
        throw new ArgumentOutOfRangeException(nameof(id), id,
            $"token id {id} is not in the tokenizer {SourcePath} ({_rankBytes.Length} ranks, {_specialById.Count} special and added tokens)");
    }

    public int? TokenToId(string token) => _idsByToken.Value.TryGetValue(token, out var id) ? id : null;

    public bool IsSpecial(int id) => _specialById.ContainsKey(id);

    /// <summary>True for ids added by the checkpoint folder (&lt;image&gt;, &lt;pad&gt;).</summary>
    public bool IsAdded(int id) => _addedIds.Contains(id);

    public byte[] TokenTextBytes(int id)
    {
        if (id >= 0 && id < _rankBytes.Length) return (byte[])_rankBytes[id].Clone();
        return Encoding.UTF8.GetBytes(IdToToken(id));
    }

    public string Decode(IEnumerable<int> ids)
    {
        var bytes = new List<byte>();
        foreach (var id in ids)
        {
            if (id >= 0 && id < _rankBytes.Length) bytes.AddRange(_rankBytes[id]);
            else if (!_specialById.ContainsKey(id)) IdToToken(id); // throws with the id named
        }
        return Encoding.UTF8.GetString(bytes.ToArray());
    }
}

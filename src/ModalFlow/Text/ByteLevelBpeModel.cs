using System.Collections.Concurrent;
using System.Text;

namespace ModalFlow.Text;

/// <summary>
/// A byte-level BPE vocabulary with ranked merges (GPT-2, Qwen2, Hugging Face Llama-3): a pre-token's UTF-8 bytes
/// start as one byte-level symbol each; the adjacent pair with the lowest merge rank is merged everywhere, left to
/// right, until no pair has a rank (<c>GPT2Tokenizer.bpe</c>; Hugging Face's <c>BPE</c> model merges in the same
/// order). With <see cref="IgnoreMerges"/> a pre-token that is itself a vocabulary entry is that one token
/// (tokenizer.json <c>ignore_merges</c>, set by Llama-3).
/// </summary>
public sealed class ByteLevelBpeModel
{
    private const int CacheLimit = 100_000;
    private readonly Dictionary<string, int> _ids;
    private readonly Dictionary<int, string> _tokens;
    private readonly Dictionary<long, (int Rank, int Merged)> _merges;
    private readonly int[] _byteIds = new int[256];
    private readonly ConcurrentDictionary<string, int[]> _cache = new(StringComparer.Ordinal);

    /// <param name="vocabulary">Byte-level token string → id.</param>
    /// <param name="merges">Merge pairs, rank = position (lowest merges first).</param>
    /// <param name="ignoreMerges">Look a whole pre-token up in the vocabulary before merging.</param>
    /// <param name="source">The file the vocabulary came from, named in errors.</param>
    /// <param name="mergesSource">The file the merges came from (the same file for tokenizer.json).</param>
    /// <exception cref="InputException">A duplicate id, a byte without a token, or a merge whose parts or result are not tokens.</exception>
    public ByteLevelBpeModel(IReadOnlyDictionary<string, int> vocabulary, IReadOnlyList<(string Left, string Right)> merges,
        bool ignoreMerges, string source, string? mergesSource = null)
    {
        mergesSource ??= source;
        _ids = new Dictionary<string, int>(vocabulary, StringComparer.Ordinal);
        _tokens = new Dictionary<int, string>(_ids.Count);
        foreach (var (token, id) in _ids)
        {
            if (id < 0) throw new InputException(source, token, $"expected a non-negative token id, got {id}");
            if (!_tokens.TryAdd(id, token))
                throw new InputException(source, token, $"id {id} is also \"{_tokens[id]}\"; expected one token per id");
        }
        if (_ids.Count == 0) throw new InputException(source, null, "expected a non-empty vocabulary");
        for (var b = 0; b < 256; b++)
        {
            var s = ByteLevel.Encode([(byte)b]);
            _byteIds[b] = _ids.TryGetValue(s, out var id) ? id
                : throw new InputException(source, null,
                    $"byte 0x{b:X2} has no token \"{s}\"; expected a byte-level vocabulary with all 256 byte tokens");
        }
        _merges = new Dictionary<long, (int, int)>(merges.Count);
        for (var rank = 0; rank < merges.Count; rank++)
        {
            var (left, right) = merges[rank];
            var field = $"merge {rank + 1} (\"{left} {right}\")";
            if (!_ids.TryGetValue(left, out var l) || !_ids.TryGetValue(right, out var r))
                throw new InputException(mergesSource, field, "expected both parts of the merge to be vocabulary tokens");
            if (!_ids.TryGetValue(left + right, out var merged))
                throw new InputException(mergesSource, field, $"expected the merged token \"{left + right}\" in the vocabulary");
            _merges[Key(l, r)] = (rank, merged); // a repeated pair takes its last rank, as both Hugging Face readers do
        }
        IgnoreMerges = ignoreMerges;
        MergeCount = merges.Count;
        Size = _tokens.Keys.Max() + 1;
    }

    public bool IgnoreMerges { get; }

    public int MergeCount { get; }

    /// <summary>Highest id + 1.</summary>
    public int Size { get; }

    public int? IdOf(string token) => _ids.TryGetValue(token, out var id) ? id : null;

    public string? TokenOf(int id) => _tokens.GetValueOrDefault(id);

    /// <summary>The ids of one pre-token (a piece of text the split pattern produced).</summary>
    public int[] Encode(string preToken)
    {
        if (preToken.Length == 0) return [];
        if (_cache.TryGetValue(preToken, out var cached)) return cached;
        var bytes = Encoding.UTF8.GetBytes(preToken);
        int[] result;
        if (IgnoreMerges && _ids.TryGetValue(ByteLevel.Encode(bytes), out var whole)) result = [whole];
        else result = Merge(bytes.Select(b => _byteIds[b]).ToList());
        if (_cache.Count >= CacheLimit) _cache.Clear();
        _cache[preToken] = result;
        return result;
    }

    private int[] Merge(List<int> word)
    {
        while (word.Count > 1)
        {
            // The adjacent pair with the lowest rank ...
            var best = (Rank: int.MaxValue, Left: -1, Right: -1, Merged: -1);
            for (var i = 0; i + 1 < word.Count; i++)
            {
                if (_merges.TryGetValue(Key(word[i], word[i + 1]), out var m) && m.Rank < best.Rank)
                    best = (m.Rank, word[i], word[i + 1], m.Merged);
            }
            if (best.Rank == int.MaxValue) break;
            // ... merged at every occurrence, left to right, without overlaps.
            var next = new List<int>(word.Count);
            for (var i = 0; i < word.Count; i++)
            {
                if (i + 1 < word.Count && word[i] == best.Left && word[i + 1] == best.Right)
                {
                    next.Add(best.Merged);
                    i++;
                }
                else
                {
                    next.Add(word[i]);
                }
            }
            word = next;
        }
        return word.ToArray();
    }

    private static long Key(int left, int right) => ((long)left << 32) | (uint)right;
}

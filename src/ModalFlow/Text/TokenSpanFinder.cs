using System.Text;

namespace ModalFlow.Text;

/// <summary>
/// Maps a piece of text to the tokens that spell it. <see cref="FindTokenRange"/> is the paper's
/// <c>InformationFlow.find_token_range</c>; <see cref="FindTextBytes"/> is an exact variant on decoded bytes.
/// </summary>
public static class TokenSpanFinder
{
    /// <summary>
    /// The paper's <c>find_token_range</c>: join the token strings, make them searchable (SentencePiece "▁" → " ";
    /// byte-level "Ġ" → " ", "Ċ" → LF), take the FIRST occurrence of <paramref name="text"/>, then walk the
    /// cumulative token-string lengths: start = first token whose end passes the match start, end = one past the
    /// first token whose end reaches the match end. Returns token indices in <paramref name="tokens"/>, or null
    /// when the text does not occur (Python raises ValueError there). The replacements keep the length of every
    /// token string, so lengths of raw and searchable strings agree, as in the paper. Non-ASCII bytes stay in their
    /// byte-level / "&lt;0xNN&gt;" spelling and so are not found, also as in the paper.
    /// </summary>
    public static TokenSpan? FindTokenRange(IReadOnlyList<string> tokens, TokenStringStyle style, string text)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        ArgumentException.ThrowIfNullOrEmpty(text);
        var whole = SearchableText(tokens, style);
        var charLoc = whole.IndexOf(text, StringComparison.Ordinal);
        if (charLoc < 0) return null;
        var loc = 0;
        int? start = null;
        for (var i = 0; i < tokens.Count; i++)
        {
            loc += tokens[i].Length;
            if (start == null && loc > charLoc) start = i;
            if (loc >= charLoc + text.Length) return new TokenSpan(start!.Value, i + 1);
        }
        throw new InvalidOperationException("unreachable: a found text ends inside the joined tokens");
    }

    /// <summary>The joined token strings as the paper searches them.</summary>
    public static string SearchableText(IReadOnlyList<string> tokens, TokenStringStyle style)
    {
        var whole = string.Concat(tokens);
        return style switch
        {
            TokenStringStyle.SentencePiece => whole.Replace('▁', ' '),
            TokenStringStyle.ByteLevel => whole.Replace('Ġ', ' ').Replace('Ċ', '\n'),
            _ => throw new ArgumentOutOfRangeException(nameof(style), style, "unknown token string style"),
        };
    }

    /// <summary>
    /// First occurrence of the UTF-8 bytes of <paramref name="text"/> in the concatenated token bytes
    /// (<see cref="ITextTokenizer.TokenTextBytes"/>), at or after token <paramref name="fromToken"/>; returns the
    /// tokens that overlap it (same walk as <see cref="FindTokenRange"/>), or null. Unlike the paper's search this
    /// sees "&lt;0x0A&gt;" as LF and multi-byte characters split across tokens.
    /// </summary>
    public static TokenSpan? FindTextBytes(IReadOnlyList<byte[]> tokenBytes, string text, int fromToken = 0)
    {
        ArgumentNullException.ThrowIfNull(tokenBytes);
        ArgumentException.ThrowIfNullOrEmpty(text);
        if (fromToken < 0 || fromToken > tokenBytes.Count) throw new ArgumentOutOfRangeException(nameof(fromToken));
        var all = tokenBytes.Skip(fromToken).SelectMany(b => b).ToArray();
        var needle = Encoding.UTF8.GetBytes(text);
        var byteLoc = all.AsSpan().IndexOf(needle);
        if (byteLoc < 0) return null;
        var loc = 0;
        int? start = null;
        for (var i = fromToken; i < tokenBytes.Count; i++)
        {
            loc += tokenBytes[i].Length;
            if (start == null && loc > byteLoc) start = i;
            if (loc >= byteLoc + needle.Length) return new TokenSpan(start!.Value, i + 1);
        }
        throw new InvalidOperationException("unreachable: found bytes end inside the joined tokens");
    }
}

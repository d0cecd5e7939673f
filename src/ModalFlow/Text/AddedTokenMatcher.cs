namespace ModalFlow.Text;

/// <summary>
/// Cuts text at added tokens, leftmost first and the longest where several start at one place (Hugging Face's
/// added-token trie / Aho-Corasick), honouring <see cref="AddedTokenSpec.LStrip"/> / <see cref="AddedTokenSpec.RStrip"/>.
/// </summary>
public sealed class AddedTokenMatcher
{
    private readonly Dictionary<char, AddedTokenSpec[]> _byFirstChar;

    public AddedTokenMatcher(IEnumerable<AddedTokenSpec> tokens)
    {
        _byFirstChar = tokens.Where(t => t.Content.Length > 0)
            .GroupBy(t => t.Content[0])
            .ToDictionary(g => g.Key, g => g.OrderByDescending(t => t.Content.Length).ToArray());
    }

    /// <summary>One piece of the text: plain text to pre-tokenize (<paramref name="Text"/>), or an added token's id.</summary>
    public readonly record struct Segment(string? Text, int Id);

    /// <summary>The text as plain runs and added-token ids, in order (empty runs left out).</summary>
    public List<Segment> Split(string text)
    {
        var segments = new List<Segment>();
        int start = 0, i = 0;
        while (i < text.Length)
        {
            var match = Match(text, i);
            if (match == null)
            {
                i++;
                continue;
            }
            var end = i;
            if (match.LStrip) while (end > start && char.IsWhiteSpace(text[end - 1])) end--;
            if (end > start) segments.Add(new Segment(text[start..end], -1));
            segments.Add(new Segment(null, match.Id));
            i += match.Content.Length;
            if (match.RStrip) while (i < text.Length && char.IsWhiteSpace(text[i])) i++;
            start = i;
        }
        if (start < text.Length) segments.Add(new Segment(text[start..], -1));
        return segments;
    }

    private AddedTokenSpec? Match(string text, int at)
    {
        if (!_byFirstChar.TryGetValue(text[at], out var candidates)) return null;
        foreach (var t in candidates)
        {
            if (at + t.Content.Length <= text.Length && text.AsSpan(at, t.Content.Length).SequenceEqual(t.Content)) return t;
        }
        return null;
    }
}

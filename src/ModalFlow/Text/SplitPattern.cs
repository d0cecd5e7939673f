using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace ModalFlow.Text;

/// <summary>
/// A byte-level BPE pre-tokenizer split regex (Hugging Face <c>Split(Regex, behavior="isolated")</c>), matched over
/// code points as Python's <c>regex</c> and Rust's onig do. .NET regexes see UTF-16 units, so a character outside
/// the BMP (emoji, 𝐀, 𠀀) would be two surrogates of category Cs instead of one letter / number / symbol; before
/// matching, each such character is replaced by one BMP stand-in of the same Unicode category and the match
/// positions are mapped back to the original text.
/// </summary>
public sealed class SplitPattern
{
    /// <summary>Qwen2's pre-tokenizer regex (<c>PRETOKENIZE_REGEX</c> of <c>tokenization_qwen2.py</c>): single digits.</summary>
    public const string Qwen2 =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>GPT-2's regex, which Hugging Face's <c>ByteLevel</c> pre-tokenizer applies when <c>use_regex</c> is true.</summary>
    public const string Gpt2 = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    private static readonly Lazy<char[]> StandIns = new(BuildStandIns);
    private readonly Regex _regex;

    /// <exception cref="ArgumentException">Not a valid .NET regular expression.</exception>
    public SplitPattern(string pattern)
    {
        Pattern = pattern;
        _regex = new Regex(pattern, RegexOptions.CultureInvariant);
    }

    public string Pattern { get; }

    /// <summary>
    /// Splits <paramref name="text"/> into the matches and, between them, the unmatched runs (isolated behaviour), in
    /// order; the pieces concatenate to the text.
    /// </summary>
    public List<string> Split(string text)
    {
        var pieces = new List<string>();
        if (text.Length == 0) return pieces;
        var (subject, toOriginal) = BmpView(text);
        var last = 0;
        for (var m = _regex.Match(subject); m.Success; m = m.NextMatch())
        {
            if (m.Length == 0) continue;
            int start = toOriginal?[m.Index] ?? m.Index, end = toOriginal?[m.Index + m.Length] ?? m.Index + m.Length;
            if (start > last) pieces.Add(text[last..start]);
            pieces.Add(text[start..end]);
            last = end;
        }
        if (last < text.Length) pieces.Add(text[last..]);
        return pieces;
    }

    /// <summary>The text with every supplementary character replaced by one stand-in, and view index → text index (or null when unchanged).</summary>
    private static (string Subject, int[]? ToOriginal) BmpView(string text)
    {
        var firstSurrogate = text.AsSpan().IndexOfAnyInRange('\uD800', '\uDFFF');
        if (firstSurrogate < 0) return (text, null);
        var sb = new StringBuilder(text.Length);
        var map = new List<int>(text.Length + 1);
        for (var i = 0; i < text.Length;)
        {
            map.Add(i);
            if (Rune.DecodeFromUtf16(text.AsSpan(i), out var rune, out var used) == System.Buffers.OperationStatus.Done && used == 2)
            {
                sb.Append(StandIns.Value[(int)Rune.GetUnicodeCategory(rune)]);
                i += 2;
            }
            else
            {
                sb.Append(text[i]); // BMP char, or a lone surrogate (kept as it is: category Cs either way)
                i++;
            }
        }
        map.Add(text.Length);
        return (sb.ToString(), map.ToArray());
    }

    /// <summary>
    /// For each Unicode category, a BMP character of that category that is no white space and no ASCII / Latin-1
    /// letter (so neither <c>\s</c> nor a case-insensitive literal of a pattern can match it by accident).
    /// </summary>
    private static char[] BuildStandIns()
    {
        var categories = Enum.GetValues<UnicodeCategory>();
        var table = new char[categories.Max(c => (int)c) + 1];
        foreach (var category in categories)
        {
            table[(int)category] = '\uFFFD'; // fallback: a symbol
            for (var c = 0x0400; c < 0xFFFE; c++)
            {
                var ch = (char)c;
                if (char.IsSurrogate(ch) || char.IsWhiteSpace(ch) || char.GetUnicodeCategory(ch) != category) continue;
                table[(int)category] = ch;
                break;
            }
        }
        return table;
    }
}

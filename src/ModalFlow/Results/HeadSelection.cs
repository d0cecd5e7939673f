using System.Collections.Immutable;
using System.Globalization;

namespace ModalFlow.Results;

/// <summary>
/// Which query heads a knockout edits, as one short code stored with every result row (<c>KnockoutRow.Heads</c>):
/// "" = every head (the paper's knockout), "3" = head 3 alone, "-3" = every head but 3 (head 3 alone still reads the
/// sources). The unit is a query head also in grouped-query models: a key/value head shared by several query heads is
/// edited only for the query heads listed (<c>KnockoutSpec.Heads</c>).
/// </summary>
public static class HeadSelection
{
    public const string All = "";

    /// <summary>"h": head h alone is knocked out.</summary>
    public static string Alone(int head) => head.ToString(CultureInfo.InvariantCulture);

    /// <summary>"-h": every head but h is knocked out.</summary>
    public static string AllBut(int head) => "-" + head.ToString(CultureInfo.InvariantCulture);

    /// <summary>What a code selects: (false, -1) = all heads, (false, h) = h alone, (true, h) = all but h.</summary>
    public static (bool Complement, int Head) Parse(string code)
    {
        if (code.Length == 0) return (false, -1);
        bool complement = code[0] == '-';
        var digits = complement ? code[1..] : code;
        if (digits.Length == 0 || !digits.All(char.IsAsciiDigit) || !int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out int head))
            throw new InputException(null, "heads", $"'{code}'; expected \"\" (all heads), \"h\" (head h alone) or \"-h\" (all heads but h)");
        return (complement, head);
    }

    /// <summary>The query heads a code edits, for a model with <paramref name="numHeads"/> heads (empty = all).</summary>
    public static ImmutableArray<int> Edited(string code, int numHeads)
    {
        var (complement, head) = Parse(code);
        if (head < 0) return [];
        if (head >= numHeads) throw new InputException(null, "heads", $"'{code}': head {head} is outside 0..{numHeads - 1}");
        return complement ? Enumerable.Range(0, numHeads).Where(h => h != head).ToImmutableArray() : [head];
    }

    /// <summary>Words for a code: "all heads", "head 3", "all heads but 3".</summary>
    public static string Describe(string code)
    {
        var (complement, head) = Parse(code);
        return head < 0 ? "all heads" : complement ? $"all heads but {head}" : $"head {head}";
    }

    /// <summary>Order: all heads, then heads alone by number, then all-but-one by number.</summary>
    public static int Compare(string? a, string? b)
    {
        if (ReferenceEquals(a, b)) return 0;
        if (a is null) return -1;
        if (b is null) return 1;
        static (int Kind, int Head, string Text) Key(string s)
        {
            try
            {
                var (c, h) = Parse(s);
                return (h < 0 ? 0 : c ? 2 : 1, h, s);
            }
            catch (InputException) { return (3, 0, s); }   // not a head code: after every real one, ordinally
        }
        var (ka, kb) = (Key(a), Key(b));
        int r = ka.Kind.CompareTo(kb.Kind);
        if (r == 0) r = ka.Head.CompareTo(kb.Head);
        return r != 0 ? r : string.CompareOrdinal(ka.Text, kb.Text);
    }
}

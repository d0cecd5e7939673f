using System.Globalization;
using System.Text;

namespace ModalFlow.Text;

/// <summary>
/// Unicode NFC (canonical decomposition, canonical ordering, canonical composition; UAX #15) from the embedded
/// NfcTable.txt (Python's unicodedata, scripts/unicode/make_nfc_table.py). Needed because the project runs with
/// InvariantGlobalization, where <see cref="string.Normalize(NormalizationForm)"/> returns its input unchanged,
/// while Qwen2's tokenizer applies <c>unicodedata.normalize("NFC", text)</c> first.
/// </summary>
public static class UnicodeNfc
{
    private const int SBase = 0xAC00, LBase = 0x1100, VBase = 0x1161, TBase = 0x11A7;
    private const int LCount = 19, VCount = 21, TCount = 28, NCount = VCount * TCount, SCount = LCount * NCount;
    private static readonly Lazy<Tables> Data = new(LoadTables);

    private sealed record Tables(Dictionary<int, int[]> Decompositions, Dictionary<int, byte> CombiningClass,
        Dictionary<long, int> Compositions, string Version);

    /// <summary>The Unicode version of the table (Python's <c>unicodedata.unidata_version</c>).</summary>
    public static string TableVersion => Data.Value.Version;

    /// <summary>The NFC form of <paramref name="text"/>. Text without any character from U+0300 up is returned as is.</summary>
    public static string Normalize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (!text.AsSpan().ContainsAnyExceptInRange('\0', '\u02FF')) return text; // below U+0300 everything is NFC
        var t = Data.Value;
        var cps = new List<int>(text.Length);
        for (var i = 0; i < text.Length; i += char.IsSurrogatePair(text, i) ? 2 : 1)
            Decompose(t, char.IsSurrogatePair(text, i) ? char.ConvertToUtf32(text, i) : text[i], cps);
        Reorder(t, cps);
        Compose(t, cps);
        var sb = new StringBuilder(text.Length);
        foreach (var cp in cps)
        {
            if (cp is >= 0xD800 and <= 0xDFFF) sb.Append((char)cp); // a lone surrogate stays as it was
            else sb.Append(char.ConvertFromUtf32(cp));
        }
        return sb.ToString();
    }

    private static byte Ccc(Tables t, int cp) => t.CombiningClass.GetValueOrDefault(cp);

    private static void Decompose(Tables t, int cp, List<int> output)
    {
        if (cp is >= SBase and < SBase + SCount)
        {
            var s = cp - SBase;
            output.Add(LBase + s / NCount);
            output.Add(VBase + s % NCount / TCount);
            if (s % TCount != 0) output.Add(TBase + s % TCount);
            return;
        }
        if (t.Decompositions.TryGetValue(cp, out var parts))
        {
            foreach (var p in parts) Decompose(t, p, output);
            return;
        }
        output.Add(cp);
    }

    /// <summary>Canonical ordering: a stable sort of every run of non-starters by combining class.</summary>
    private static void Reorder(Tables t, List<int> cps)
    {
        for (var i = 1; i < cps.Count; i++)
        {
            var ccc = Ccc(t, cps[i]);
            if (ccc == 0) continue;
            for (var j = i; j > 0; j--)
            {
                var before = Ccc(t, cps[j - 1]);
                if (before <= ccc) break;
                (cps[j - 1], cps[j]) = (cps[j], cps[j - 1]);
            }
        }
    }

    /// <summary>Canonical composition (UAX #15's algorithm): a character joins the last starter unless blocked.</summary>
    private static void Compose(Tables t, List<int> cps)
    {
        if (cps.Count == 0) return;
        var starterPos = 0;
        var starter = cps[0];
        int lastClass = Ccc(t, starter);
        if (lastClass != 0) lastClass = 256; // text starting with a non-starter: nothing before it to join
        var write = 1;
        for (var read = 1; read < cps.Count; read++)
        {
            var ch = cps[read];
            int chClass = Ccc(t, ch);
            var composite = Pair(t, starter, ch);
            if (composite >= 0 && (lastClass < chClass || lastClass == 0))
            {
                cps[starterPos] = composite;
                starter = composite;
                continue;
            }
            if (chClass == 0)
            {
                starterPos = write;
                starter = ch;
            }
            lastClass = chClass;
            cps[write++] = ch;
        }
        cps.RemoveRange(write, cps.Count - write);
    }

    private static int Pair(Tables t, int first, int second)
    {
        if (first is >= LBase and < LBase + LCount && second is >= VBase and < VBase + VCount)
            return SBase + ((first - LBase) * VCount + (second - VBase)) * TCount;
        if (first is >= SBase and < SBase + SCount && (first - SBase) % TCount == 0 && second is > TBase and < TBase + TCount)
            return first + (second - TBase);
        return t.Compositions.TryGetValue(((long)first << 21) | (uint)second, out var c) ? c : -1;
    }

    private static Tables LoadTables()
    {
        const string name = "ModalFlow.Text.NfcTable.txt";
        using var stream = typeof(UnicodeNfc).Assembly.GetManifestResourceStream(name)
            ?? throw new InvalidOperationException($"embedded resource {name} is missing from the ModalFlow assembly");
        using var reader = new StreamReader(stream, Encoding.ASCII);
        var decompositions = new Dictionary<int, int[]>();
        var ccc = new Dictionary<int, byte>();
        var excluded = new HashSet<int>();
        var version = "?";
        static int Hex(string s) => int.Parse(s, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        for (var line = reader.ReadLine(); line != null; line = reader.ReadLine())
        {
            if (line.StartsWith('#'))
            {
                var at = line.IndexOf("(Unicode ", StringComparison.Ordinal);
                if (at >= 0) version = line[(at + 9)..line.IndexOf(')', at)];
                continue;
            }
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length == 0) continue;
            switch (f[0])
            {
                case "D":
                    decompositions[Hex(f[1])] = f[2..].Select(Hex).ToArray();
                    break;
                case "C":
                    for (var cp = Hex(f[1]); cp <= Hex(f[2]); cp++) ccc[cp] = byte.Parse(f[3], CultureInfo.InvariantCulture);
                    break;
                case "X":
                    excluded.Add(Hex(f[1]));
                    break;
                default:
                    throw new InvalidOperationException($"{name}: unknown line \"{line}\"");
            }
        }
        var compositions = new Dictionary<long, int>();
        foreach (var (cp, parts) in decompositions)
        {
            if (parts.Length == 2 && !excluded.Contains(cp)) compositions[((long)parts[0] << 21) | (uint)parts[1]] = cp;
        }
        return new Tables(decompositions, ccc, compositions, version);
    }
}

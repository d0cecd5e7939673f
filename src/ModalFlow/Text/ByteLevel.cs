using System.Text;

namespace ModalFlow.Text;

/// <summary>
/// GPT-2's reversible byte ↔ char table (<c>bytes_to_unicode</c>), which Hugging Face's byte-level BPE tokenizers
/// (Llama-3 included) use for token strings: printable Latin-1 bytes stand for themselves, the other 68 bytes map
/// to U+0100 onwards in byte order (space → "Ġ" U+0120, LF → "Ċ" U+010A).
/// </summary>
public static class ByteLevel
{
    private static readonly char[] ByteToChar = BuildTable();
    private static readonly Dictionary<char, byte> CharToByte =
        Enumerable.Range(0, 256).ToDictionary(b => ByteToChar[b], b => (byte)b);

    private static char[] BuildTable()
    {
        var table = new char[256];
        var next = 256;
        for (var b = 0; b < 256; b++)
        {
            var printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            table[b] = printable ? (char)b : (char)next++;
        }
        return table;
    }

    /// <summary>The byte-level string of raw token bytes.</summary>
    public static string Encode(ReadOnlySpan<byte> bytes)
    {
        var sb = new StringBuilder(bytes.Length);
        foreach (var b in bytes) sb.Append(ByteToChar[b]);
        return sb.ToString();
    }

    /// <summary>The raw bytes of a byte-level string, or null when a char is outside the table.</summary>
    public static byte[]? Decode(string text)
    {
        var bytes = new byte[text.Length];
        for (var i = 0; i < text.Length; i++)
        {
            if (!CharToByte.TryGetValue(text[i], out bytes[i])) return null;
        }
        return bytes;
    }
}

using System.Text.Json;

namespace ModalFlow.Tests.Text;

/// <summary>
/// TestData/bpe_reference.json: ids of tricky strings computed by Hugging Face's tokenizers (Rust, 0.23.2) on
/// converter-built tokenizer.json files, the Qwen2 ones also by the slow Qwen2Tokenizer pipeline, and Python's NFC
/// (TestData/make_bpe_reference.py). No ModalFlow code made any of these numbers.
/// </summary>
public static class BpeReference
{
    private static readonly Lazy<JsonElement> Root = new(() => JsonDocument.Parse(File.ReadAllBytes(
        Path.Combine(AppContext.BaseDirectory, "Text", "TestData", "bpe_reference.json"))).RootElement);

    public static string[] Texts => Root.Value.GetProperty("texts").EnumerateArray().Select(e => e.GetString()!).ToArray();

    /// <summary>(ids, tokens) of every text for "tiny-qwen2-vl", "tiny-llava-onevision" or "llama3".</summary>
    public static (int[] Ids, string[] Tokens)[] For(string model) =>
        Root.Value.GetProperty("models").GetProperty(model).EnumerateArray()
            .Select(e => (e.GetProperty("ids").EnumerateArray().Select(i => i.GetInt32()).ToArray(),
                e.GetProperty("tokens").EnumerateArray().Select(t => t.GetString()!).ToArray()))
            .ToArray();

    /// <summary>(text, unicodedata.normalize("NFC", text)) for texts that NFC changes.</summary>
    public static (string Text, string Nfc)[] Nfc =>
        Root.Value.GetProperty("nfc").EnumerateArray().Select(p => (p[0].GetString()!, p[1].GetString()!)).ToArray();

    /// <summary>The texts as a printable line (control characters and non-ASCII escaped).</summary>
    public static string Show(string text) =>
        string.Concat(text.Select(c => c is >= ' ' and <= '~' ? c.ToString() : $"\\u{(int)c:X4}"));

    /// <summary>Every mismatch of <paramref name="actual"/> against the reference ids, one line each; empty when all agree.</summary>
    public static List<string> Mismatches(string[] texts, (int[] Ids, string[] Tokens)[] expected, Func<string, int[]> actual)
    {
        var bad = new List<string>();
        for (var i = 0; i < texts.Length; i++)
        {
            var got = actual(texts[i]);
            if (!got.SequenceEqual(expected[i].Ids))
                bad.Add($"[{i}] \"{Show(texts[i])}\": expected [{string.Join(",", expected[i].Ids)}], got [{string.Join(",", got)}]");
        }
        return bad;
    }
}

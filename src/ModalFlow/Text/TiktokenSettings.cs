using System.Text.Json;

namespace ModalFlow.Text;

/// <summary>
/// What a tiktoken ranks file does not carry: the pre-tokenizer split pattern, the special tokens (numbered after
/// the ranks) and which of them are BOS / EOS. Read from a <c>tokenizer_meta.json</c> (fixtures format) or taken
/// from <see cref="Llama3"/>, Meta's own values in <c>llama/tokenizer.py</c>.
/// </summary>
public sealed record TiktokenSettings(
    string Pattern,
    IReadOnlyDictionary<string, int> SpecialTokens,
    string BosToken,
    string EosToken,
    int? NumBaseTokens)
{
    public const string MetaFileName = "tokenizer_meta.json";

    /// <summary>Meta Llama-3's split regex (<c>pat_str</c> in <c>llama/tokenizer.py</c>).</summary>
    public const string Llama3Pattern =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>
    /// Meta Llama-3: 128000 ranks, then 256 special tokens in <c>llama/tokenizer.py</c> order; BOS
    /// &lt;|begin_of_text|&gt;, EOS &lt;|eot_id|&gt; (the chat models' stop token, LLaVA-NeXT's
    /// <c>stop_token_ids</c>).
    /// </summary>
    public static TiktokenSettings Llama3 { get; } = BuildLlama3();

    private static TiktokenSettings BuildLlama3()
    {
        const int numBase = 128000;
        string[] named =
        [
            "<|begin_of_text|>", "<|end_of_text|>",
            "<|reserved_special_token_0|>", "<|reserved_special_token_1|>", "<|reserved_special_token_2|>", "<|reserved_special_token_3|>",
            "<|start_header_id|>", "<|end_header_id|>", "<|reserved_special_token_4|>", "<|eot_id|>",
        ];
        var all = named.Concat(Enumerable.Range(5, 256 - 5 - 5).Select(i => $"<|reserved_special_token_{i}|>"));
        var special = all.Select((s, i) => (s, i)).ToDictionary(t => t.s, t => numBase + t.i, StringComparer.Ordinal);
        return new TiktokenSettings(Llama3Pattern, special, "<|begin_of_text|>", "<|eot_id|>", numBase);
    }

    /// <summary>
    /// Reads <c>tokenizer_meta.json</c>: <c>pat_str</c>, <c>special_tokens</c> (string → id), optional
    /// <c>bos_token</c> (default &lt;|begin_of_text|&gt;), <c>eot_token</c> (default &lt;|eot_id|&gt;) and
    /// <c>num_base_tokens</c>.
    /// </summary>
    public static TiktokenSettings Read(string path)
    {
        JsonElement root;
        try
        {
            root = JsonDocument.Parse(File.ReadAllBytes(path)).RootElement;
        }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException)
        {
            throw new InputException(path, null, $"expected a readable JSON file: {e.Message}", e);
        }
        if (root.ValueKind != JsonValueKind.Object) throw new InputException(path, null, "expected a JSON object");

        string RequiredString(string field) =>
            root.TryGetProperty(field, out var v) && v.ValueKind == JsonValueKind.String && v.GetString()!.Length > 0
                ? v.GetString()!
                : throw new InputException(path, field, "expected a non-empty string");
        string OptionalString(string field, string fallback) =>
            !root.TryGetProperty(field, out var v) ? fallback
            : v.ValueKind == JsonValueKind.String ? v.GetString()! : throw new InputException(path, field, "expected a string");

        var pattern = RequiredString("pat_str");
        if (!root.TryGetProperty("special_tokens", out var sp) || sp.ValueKind != JsonValueKind.Object)
            throw new InputException(path, "special_tokens", "expected an object of token string → id");
        var special = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var p in sp.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetInt32(out var id) || id < 0)
                throw new InputException(path, "special_tokens." + p.Name, $"expected a non-negative integer id, got {p.Value.GetRawText()}");
            special[p.Name] = id;
        }
        int? numBase = null;
        if (root.TryGetProperty("num_base_tokens", out var nb))
        {
            if (nb.ValueKind != JsonValueKind.Number || !nb.TryGetInt32(out var n) || n <= 0)
                throw new InputException(path, "num_base_tokens", $"expected a positive integer, got {nb.GetRawText()}");
            numBase = n;
        }
        var settings = new TiktokenSettings(pattern, special,
            OptionalString("bos_token", "<|begin_of_text|>"), OptionalString("eot_token", "<|eot_id|>"), numBase);
        if (!special.ContainsKey(settings.BosToken))
            throw new InputException(path, "bos_token", $"expected one of the special_tokens, got \"{settings.BosToken}\"");
        if (!special.ContainsKey(settings.EosToken))
            throw new InputException(path, "eot_token", $"expected one of the special_tokens, got \"{settings.EosToken}\"");
        return settings;
    }
}

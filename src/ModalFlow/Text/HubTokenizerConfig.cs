using System.Globalization;
using System.Text.Json;

namespace ModalFlow.Text;

/// <summary>
/// What a Hugging Face folder's <c>tokenizer_config.json</c> (and <c>special_tokens_map.json</c>) says about a
/// byte-level BPE: the tokenizer class, the BOS / EOS strings, and the flags of its added tokens.
/// </summary>
/// <param name="Path">The tokenizer_config.json read, or null when the folder has none.</param>
/// <param name="TokenizerClass">"Qwen2Tokenizer", "PreTrainedTokenizerFast", … or null.</param>
/// <param name="BosToken">The BOS string; null when absent or explicitly null (<see cref="BosTokenGiven"/> tells which).</param>
/// <param name="BosTokenGiven">True when the file names bos_token (a string or null).</param>
/// <param name="EosToken">The EOS string, or null when neither file names one.</param>
/// <param name="AddedTokens">Added tokens of <c>added_tokens_decoder</c> with their flags, by id.</param>
public sealed record HubTokenizerConfig(
    string? Path,
    string? TokenizerClass,
    string? BosToken,
    bool BosTokenGiven,
    string? EosToken,
    IReadOnlyDictionary<int, AddedTokenSpec> AddedTokens)
{
    public const string SpecialTokensMapFile = "special_tokens_map.json";

    /// <summary>Reads the files of <paramref name="modelDir"/> (none present: everything empty).</summary>
    /// <exception cref="InputException">A file is not JSON, or a field has the wrong type.</exception>
    public static HubTokenizerConfig Read(string? modelDir)
    {
        var added = new Dictionary<int, AddedTokenSpec>();
        if (modelDir == null) return new HubTokenizerConfig(null, null, null, false, null, added);
        var path = System.IO.Path.Combine(modelDir, Text.AddedTokens.TokenizerConfigFile);
        JsonElement? config = File.Exists(path) ? ReadObject(path) : null;
        var mapPath = System.IO.Path.Combine(modelDir, SpecialTokensMapFile);
        JsonElement? map = File.Exists(mapPath) ? ReadObject(mapPath) : null;

        string? tokenizerClass = null;
        if (config is { } c && c.TryGetProperty("tokenizer_class", out var cls))
        {
            tokenizerClass = cls.ValueKind == JsonValueKind.String ? cls.GetString()
                : cls.ValueKind == JsonValueKind.Null ? null
                : throw new InputException(path, "tokenizer_class", $"expected a string, got {cls.GetRawText()}");
        }
        var (bos, bosGiven) = TokenString(config, path, "bos_token");
        if (!bosGiven) (bos, bosGiven) = TokenString(map, mapPath, "bos_token");
        var (eos, eosGiven) = TokenString(config, path, "eos_token");
        if (!eosGiven) (eos, _) = TokenString(map, mapPath, "eos_token");

        if (config is { } cfg && cfg.TryGetProperty("added_tokens_decoder", out var decoder) && decoder.ValueKind == JsonValueKind.Object)
        {
            foreach (var p in decoder.EnumerateObject())
            {
                var field = "added_tokens_decoder." + p.Name;
                if (!int.TryParse(p.Name, NumberStyles.None, CultureInfo.InvariantCulture, out var id))
                    throw new InputException(path, field, "expected an integer token id as key");
                if (p.Value.ValueKind != JsonValueKind.Object
                    || !p.Value.TryGetProperty("content", out var content) || content.ValueKind != JsonValueKind.String)
                    throw new InputException(path, field, "expected an object with a string \"content\"");
                added[id] = new AddedTokenSpec(id, content.GetString()!,
                    Special: Flag(p.Value, "special", path, field, fallback: false),
                    LStrip: Flag(p.Value, "lstrip", path, field, fallback: false),
                    RStrip: Flag(p.Value, "rstrip", path, field, fallback: false));
                if (Flag(p.Value, "single_word", path, field, fallback: false))
                    throw new InputException(path, field + ".single_word", "single_word added tokens are not supported; expected false");
            }
        }
        return new HubTokenizerConfig(config != null ? path : null, tokenizerClass, bos, bosGiven, eos, added);
    }

    /// <summary>A flag of an added-token object (absent: <paramref name="fallback"/>).</summary>
    internal static bool Flag(JsonElement token, string name, string path, string field, bool fallback)
    {
        if (!token.TryGetProperty(name, out var v)) return fallback;
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new InputException(path, $"{field}.{name}", $"expected true or false, got {v.GetRawText()}"),
        };
    }

    /// <summary>A special-token field: a string, an AddedToken object with "content", or null.</summary>
    private static (string? Value, bool Given) TokenString(JsonElement? root, string path, string field)
    {
        if (root is not { } r || !r.TryGetProperty(field, out var v)) return (null, false);
        return v.ValueKind switch
        {
            JsonValueKind.Null => (null, true),
            JsonValueKind.String => (v.GetString(), true),
            JsonValueKind.Object when v.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.String
                => (content.GetString(), true),
            _ => throw new InputException(path, field, $"expected a token string, an object with \"content\", or null; got {v.GetRawText()}"),
        };
    }

    internal static JsonElement ReadObject(string path)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(File.ReadAllBytes(path));
        }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException)
        {
            throw new InputException(path, null, $"expected a complete, readable JSON file: {e.Message}", e);
        }
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
            throw new InputException(path, null, $"expected a JSON object at the top level, got {doc.RootElement.ValueKind}");
        return doc.RootElement;
    }
}

using System.Text.Json;

namespace ModalFlow.Text;

/// <summary>
/// Tokens a checkpoint folder adds on top of the tokenizer file (llava-hf: &lt;image&gt; = 32000, &lt;pad&gt; = 32001),
/// read from <c>added_tokens.json</c>, <c>tokenizer_config.json</c> → <c>added_tokens_decoder</c> and the fixtures'
/// <c>tokenizer_extra_tokens.json</c>. They give ids strings; the SentencePiece and tiktoken tokenizers do not match
/// them inside prompt text (LLaVA splits the prompt at "&lt;image&gt;" before tokenizing and never feeds an added
/// token to the tokenizer); <see cref="ByteLevelBpeTokenizer"/> does, as Hugging Face's tokenizers do.
/// </summary>
public static class AddedTokens
{
    public const string AddedTokensFile = "added_tokens.json";
    public const string TokenizerConfigFile = "tokenizer_config.json";
    public const string ExtraTokensFile = "tokenizer_extra_tokens.json";

    /// <summary>id → string for every added token found in <paramref name="modelDir"/> (empty when none).</summary>
    public static IReadOnlyDictionary<int, string> Read(string modelDir)
    {
        var result = new Dictionary<int, string>();
        var origin = new Dictionary<int, string>();

        void Add(string file, string field, string content, int id)
        {
            if (id < 0) throw new InputException(file, field, $"expected a non-negative token id for \"{content}\", got {id}");
            if (result.TryGetValue(id, out var existing) && existing != content)
            {
                throw new InputException(file, field,
                    $"id {id} is \"{content}\" here but \"{existing}\" in {origin[id]}; expected one string per id");
            }
            var other = result.FirstOrDefault(kv => kv.Value == content && kv.Key != id);
            if (other.Value != null)
            {
                throw new InputException(file, field,
                    $"\"{content}\" has id {id} here but id {other.Key} in {origin[other.Key]}; expected one id per string");
            }
            result[id] = content;
            origin[id] = file;
        }

        var added = Path.Combine(modelDir, AddedTokensFile);
        if (File.Exists(added))
        {
            foreach (var p in ReadObject(added).EnumerateObject())
            {
                if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetInt32(out var id))
                    throw new InputException(added, p.Name, $"expected an integer token id, got {p.Value.GetRawText()}");
                Add(added, p.Name, p.Name, id);
            }
        }

        var config = Path.Combine(modelDir, TokenizerConfigFile);
        if (File.Exists(config) && ReadObject(config).TryGetProperty("added_tokens_decoder", out var decoder))
        {
            if (decoder.ValueKind != JsonValueKind.Object)
                throw new InputException(config, "added_tokens_decoder", "expected an object of id → {\"content\": …}");
            foreach (var p in decoder.EnumerateObject())
            {
                var field = "added_tokens_decoder." + p.Name;
                if (!int.TryParse(p.Name, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var id))
                    throw new InputException(config, field, "expected an integer token id as key");
                if (p.Value.ValueKind != JsonValueKind.Object
                    || !p.Value.TryGetProperty("content", out var content) || content.ValueKind != JsonValueKind.String)
                    throw new InputException(config, field, "expected an object with a string \"content\"");
                Add(config, field, content.GetString()!, id);
            }
        }

        // Fixture format: token → id entries next to descriptive string entries ("tokenizer_model", "note").
        var extra = Path.Combine(modelDir, ExtraTokensFile);
        if (File.Exists(extra))
        {
            foreach (var p in ReadObject(extra).EnumerateObject())
            {
                if (p.Value.ValueKind != JsonValueKind.Number) continue;
                if (!p.Value.TryGetInt32(out var id))
                    throw new InputException(extra, p.Name, $"expected an integer token id, got {p.Value.GetRawText()}");
                Add(extra, p.Name, p.Name, id);
            }
        }
        return result;
    }

    private static JsonElement ReadObject(string path)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(File.ReadAllBytes(path));
        }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException)
        {
            throw new InputException(path, null, $"expected a readable JSON file: {e.Message}", e);
        }
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
            throw new InputException(path, null, $"expected a JSON object at the top level, got {doc.RootElement.ValueKind}");
        return doc.RootElement;
    }
}

using System.Text.Json;
using System.Text.RegularExpressions;

namespace ModalFlow.Text;

/// <summary>
/// Reads a Hugging Face <c>tokenizer.json</c> that is a byte-level BPE, as hub folders ship it (Qwen2, Qwen2-VL,
/// LLaVA-OneVision, llava-hf Llama-3): <c>model</c> BPE (vocab, merges as "a b" strings or [a, b] pairs,
/// <c>ignore_merges</c>), <c>normalizer</c> none or NFC, <c>pre_tokenizer</c> Split(regex, isolated) + ByteLevel
/// (or ByteLevel alone with GPT-2's regex), <c>added_tokens</c>, and a TemplateProcessing <c>post_processor</c>'s
/// leading special token as BOS. EOS comes from the folder's tokenizer_config.json. Anything else (a SentencePiece-style
/// BPE with byte fallback, Unigram, WordPiece, other normalizers) is refused with an <see cref="InputException"/>
/// that says what was found.
/// </summary>
public static class HubTokenizerJson
{
    public const string FileName = "tokenizer.json";

    /// <summary>EOS when tokenizer_config.json names none: the first of these that is an added token.</summary>
    public static readonly string[] FallbackEosTokens = ["<|eot_id|>", "<|im_end|>", "<|endoftext|>", "</s>"];

    /// <summary>Loads <paramref name="path"/>; the folder's config and added tokens come from <paramref name="modelDir"/> (default: its folder).</summary>
    /// <exception cref="InputException">The file is missing, not JSON, or not a byte-level BPE this reader understands.</exception>
    public static ByteLevelBpeTokenizer Load(string path, string? modelDir = null)
    {
        if (!File.Exists(path)) throw new InputException(path, null, "file not found; expected a Hugging Face tokenizer.json");
        modelDir ??= Path.GetDirectoryName(Path.GetFullPath(path))!;
        var root = HubTokenizerConfig.ReadObject(path);
        var model = Object(root, "model", path, "an object (the tokenizer model)");
        CheckModel(model, path);
        var vocabulary = ReadVocabulary(Object(model, "vocab", path, "an object of byte-level token → id", "model."), path);
        var merges = ReadMerges(model, path);
        var bpe = new ByteLevelBpeModel(vocabulary, merges, Bool(model, "ignore_merges", path, "model.", fallback: false), path);
        var nfc = ReadNormalizer(root, path);
        var pattern = ReadPreTokenizer(root, path);
        var added = ReadAddedTokens(root, path);
        var bos = ReadBosToken(root, path);

        var config = HubTokenizerConfig.Read(modelDir);
        foreach (var t in BpeVocabFiles.FolderAddedTokens(modelDir, config))
        {
            var same = added.FirstOrDefault(a => a.Id == t.Id);
            if (same != null && same.Content != t.Content)
                throw new InputException(path, "added_tokens",
                    $"id {t.Id} is \"{same.Content}\" here but \"{t.Content}\" in the folder's {AddedTokens.TokenizerConfigFile} / {AddedTokens.AddedTokensFile}; expected one string per id");
            if (same == null) added.Add(t);
        }
        var eos = config.EosToken
            ?? FallbackEosTokens.FirstOrDefault(s => added.Any(a => a.Content == s))
            ?? throw new InputException(modelDir, "eos_token",
                $"expected {AddedTokens.TokenizerConfigFile} to name eos_token (none of {string.Join(", ", FallbackEosTokens)} is an added token of {path})");

        return new ByteLevelBpeTokenizer(bpe, new ByteLevelBpeOptions(pattern, nfc, added, bos, eos, path), path);
    }

    private static void CheckModel(JsonElement model, string path)
    {
        var type = model.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
        if (type == null && !model.TryGetProperty("merges", out _))
            throw new InputException(path, "model.type", "expected \"BPE\" (a byte-level BPE), found no type and no merges");
        if (type != null && type != "BPE")
            throw new InputException(path, "model.type",
                $"expected \"BPE\" (a byte-level BPE), got \"{type}\"; only byte-level BPE tokenizer.json files are read (SentencePiece folders: tokenizer.model)");
        if (Bool(model, "byte_fallback", path, "model.", fallback: false))
            throw new InputException(path, "model.byte_fallback",
                "this is a SentencePiece-style BPE with byte fallback (Llama-2 / Vicuna); expected a byte-level BPE. Load the folder's tokenizer.model instead");
        if (model.TryGetProperty("dropout", out var d) && d.ValueKind == JsonValueKind.Number && d.GetDouble() > 0)
            throw new InputException(path, "model.dropout", $"expected no BPE dropout (null), got {d.GetRawText()}");
        foreach (var affix in new[] { "continuing_subword_prefix", "end_of_word_suffix" })
        {
            if (model.TryGetProperty(affix, out var a) && a.ValueKind == JsonValueKind.String && a.GetString()!.Length > 0)
                throw new InputException(path, "model." + affix, $"expected none (a byte-level BPE), got \"{a.GetString()}\"");
        }
    }

    private static Dictionary<string, int> ReadVocabulary(JsonElement vocab, string path)
    {
        var result = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var p in vocab.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetInt32(out var id) || id < 0)
                throw new InputException(path, $"model.vocab.{p.Name}", $"expected a non-negative integer token id, got {p.Value.GetRawText()}");
            result[p.Name] = id;
        }
        if (result.Count == 0) throw new InputException(path, "model.vocab", "expected a non-empty vocabulary");
        return result;
    }

    private static List<(string, string)> ReadMerges(JsonElement model, string path)
    {
        if (!model.TryGetProperty("merges", out var merges) || merges.ValueKind != JsonValueKind.Array)
            throw new InputException(path, "model.merges", "expected an array of merges (\"left right\" strings or [left, right] pairs)");
        var result = new List<(string, string)>(merges.GetArrayLength());
        var i = 0;
        foreach (var m in merges.EnumerateArray())
        {
            var field = $"model.merges[{i++}]";
            if (m.ValueKind == JsonValueKind.String)
            {
                var parts = m.GetString()!.Split(' ');
                if (parts.Length != 2 || parts[0].Length == 0 || parts[1].Length == 0)
                    throw new InputException(path, field, $"expected two tokens separated by one space, got {m.GetRawText()}");
                result.Add((parts[0], parts[1]));
            }
            else if (m.ValueKind == JsonValueKind.Array && m.GetArrayLength() == 2
                && m[0].ValueKind == JsonValueKind.String && m[1].ValueKind == JsonValueKind.String)
            {
                result.Add((m[0].GetString()!, m[1].GetString()!));
            }
            else
            {
                throw new InputException(path, field, $"expected \"left right\" or [\"left\", \"right\"], got {m.GetRawText()}");
            }
        }
        return result;
    }

    /// <summary>True for NFC; false for none. Sequences of NFC are fine; anything else is refused.</summary>
    private static bool ReadNormalizer(JsonElement root, string path)
    {
        if (!root.TryGetProperty("normalizer", out var n) || n.ValueKind == JsonValueKind.Null) return false;
        var nfc = false;
        void Visit(JsonElement e, string field)
        {
            var type = e.ValueKind == JsonValueKind.Object && e.TryGetProperty("type", out var t) ? t.GetString() : null;
            if (type == "NFC") nfc = true;
            else if (type == "Sequence" && e.TryGetProperty("normalizers", out var list) && list.ValueKind == JsonValueKind.Array)
            {
                var i = 0;
                foreach (var inner in list.EnumerateArray()) Visit(inner, $"{field}.normalizers[{i++}]");
            }
            else
                throw new InputException(path, field, $"expected no normalizer or NFC (a byte-level BPE), got {Shorten(e.GetRawText())}");
        }
        Visit(n, "normalizer");
        return nfc;
    }

    /// <summary>The split regex: Split(Regex|String, Isolated) followed by ByteLevel(use_regex false), or ByteLevel(use_regex true) alone (GPT-2).</summary>
    private static string ReadPreTokenizer(JsonElement root, string path)
    {
        const string expected = "expected a byte-level pre-tokenizer: Sequence[Split(pattern, \"Isolated\"), ByteLevel(use_regex false)] or ByteLevel(use_regex true)";
        if (!root.TryGetProperty("pre_tokenizer", out var pre) || pre.ValueKind != JsonValueKind.Object)
            throw new InputException(path, "pre_tokenizer", expected + ", found none");
        var steps = Type(pre) == "Sequence" && pre.TryGetProperty("pretokenizers", out var list) && list.ValueKind == JsonValueKind.Array
            ? list.EnumerateArray().ToList()
            : [pre];
        var byteLevel = steps.Count > 0 && Type(steps[^1]) == "ByteLevel" ? steps[^1] : (JsonElement?)null;
        if (byteLevel is not { } bl || steps.Count > 2)
            throw new InputException(path, "pre_tokenizer", $"{expected}, got {Shorten(pre.GetRawText())}");
        if (Bool(bl, "add_prefix_space", path, "pre_tokenizer.ByteLevel.", fallback: true))
            throw new InputException(path, "pre_tokenizer.ByteLevel.add_prefix_space", "expected false (a prefix space is not supported)");
        var useRegex = Bool(bl, "use_regex", path, "pre_tokenizer.ByteLevel.", fallback: true);
        if (steps.Count == 1)
            return useRegex ? SplitPattern.Gpt2 : throw new InputException(path, "pre_tokenizer", $"{expected}, got ByteLevel(use_regex false) with no Split");
        if (useRegex)
            throw new InputException(path, "pre_tokenizer.ByteLevel.use_regex", "expected false after a Split step (a second regex split is not supported)");

        var split = steps[0];
        if (Type(split) != "Split")
            throw new InputException(path, "pre_tokenizer", $"{expected}, got a \"{Type(split)}\" step");
        if (!split.TryGetProperty("behavior", out var behavior) || behavior.GetString() != "Isolated")
            throw new InputException(path, "pre_tokenizer.Split.behavior", $"expected \"Isolated\", got {(split.TryGetProperty("behavior", out var b) ? b.GetRawText() : "none")}");
        if (Bool(split, "invert", path, "pre_tokenizer.Split.", fallback: false))
            throw new InputException(path, "pre_tokenizer.Split.invert", "expected false");
        if (split.TryGetProperty("pattern", out var p) && p.ValueKind == JsonValueKind.Object)
        {
            if (p.TryGetProperty("Regex", out var regex) && regex.ValueKind == JsonValueKind.String) return regex.GetString()!;
            if (p.TryGetProperty("String", out var s) && s.ValueKind == JsonValueKind.String) return Regex.Escape(s.GetString()!);
        }
        throw new InputException(path, "pre_tokenizer.Split.pattern", "expected {\"Regex\": \"…\"} or {\"String\": \"…\"}");
    }

    private static List<AddedTokenSpec> ReadAddedTokens(JsonElement root, string path)
    {
        var result = new List<AddedTokenSpec>();
        if (!root.TryGetProperty("added_tokens", out var list) || list.ValueKind == JsonValueKind.Null) return result;
        if (list.ValueKind != JsonValueKind.Array) throw new InputException(path, "added_tokens", "expected an array of {id, content, …}");
        var i = 0;
        foreach (var t in list.EnumerateArray())
        {
            var field = $"added_tokens[{i++}]";
            if (t.ValueKind != JsonValueKind.Object
                || !t.TryGetProperty("id", out var id) || id.ValueKind != JsonValueKind.Number || !id.TryGetInt32(out var idValue) || idValue < 0
                || !t.TryGetProperty("content", out var content) || content.ValueKind != JsonValueKind.String || content.GetString()!.Length == 0)
                throw new InputException(path, field, $"expected {{\"id\": non-negative integer, \"content\": non-empty string, …}}, got {Shorten(t.GetRawText())}");
            if (HubTokenizerConfig.Flag(t, "single_word", path, field, fallback: false))
                throw new InputException(path, field + ".single_word", "single_word added tokens are not supported; expected false");
            result.Add(new AddedTokenSpec(idValue, content.GetString()!,
                Special: HubTokenizerConfig.Flag(t, "special", path, field, fallback: false),
                LStrip: HubTokenizerConfig.Flag(t, "lstrip", path, field, fallback: false),
                RStrip: HubTokenizerConfig.Flag(t, "rstrip", path, field, fallback: false)));
        }
        return result;
    }

    /// <summary>The special token a TemplateProcessing post-processor puts before the sequence ($A), or null.</summary>
    private static string? ReadBosToken(JsonElement root, string path)
    {
        if (!root.TryGetProperty("post_processor", out var post) || post.ValueKind == JsonValueKind.Null) return null;
        var processors = Type(post) == "Sequence" && post.TryGetProperty("processors", out var list) && list.ValueKind == JsonValueKind.Array
            ? list.EnumerateArray().ToList()
            : [post];
        string? bos = null;
        foreach (var p in processors)
        {
            switch (Type(p))
            {
                case "ByteLevel":
                    break;
                case "TemplateProcessing":
                    if (p.TryGetProperty("single", out var single) && single.ValueKind == JsonValueKind.Array && single.GetArrayLength() > 0
                        && single[0].TryGetProperty("SpecialToken", out var first) && first.TryGetProperty("id", out var id)
                        && id.ValueKind == JsonValueKind.String)
                        bos = id.GetString();
                    break;
                default:
                    throw new InputException(path, "post_processor",
                        $"expected ByteLevel and / or TemplateProcessing (which adds BOS), got \"{Type(p)}\"");
            }
        }
        return bos;
    }

    private static string? Type(JsonElement e) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;

    private static JsonElement Object(JsonElement parent, string name, string path, string expected, string prefix = "")
    {
        if (!parent.TryGetProperty(name, out var v) || v.ValueKind != JsonValueKind.Object)
            throw new InputException(path, prefix + name, $"expected {expected}");
        return v;
    }

    private static bool Bool(JsonElement parent, string name, string path, string prefix, bool fallback)
    {
        if (!parent.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return fallback;
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new InputException(path, prefix + name, $"expected true or false, got {v.GetRawText()}"),
        };
    }

    private static string Shorten(string s) => s.Length <= 120 ? s : s[..120] + "…";
}

using System.Text;
using System.Text.Json;
using ModalFlow.Tests.Support;
using ModalFlow.Text;

namespace ModalFlow.Tests.Text;

/// <summary>
/// Hugging Face folders with a tokenizer.json, written the way transformers' converters write them (no hub access
/// here): Llama-3 from Meta's ranks file (TikTokenConverter: byte-level strings of each rank's bytes, merges derived
/// from the ranks, ignore_merges, Llama-3's split regex, its 256 special tokens and a BOS TemplateProcessing, plus
/// llava-hf's &lt;image&gt; / &lt;pad&gt;), and Qwen2 from vocab.json + merges.txt (Qwen2Converter: NFC, Qwen2's
/// regex, the folder's added tokens) beside copies of the fixture folder's config files.
/// </summary>
public static class HubJsonFolders
{
    /// <summary>Writes a llava-hf-style Llama-3 folder (tokenizer.json, tokenizer_config.json) into <paramref name="dir"/>.</summary>
    public static void WriteLlama3(string dir)
    {
        var ranks = new List<byte[]>();
        foreach (var line in File.ReadLines(TextFixtures.Llama3RanksFile))
        {
            if (line.Length == 0) continue;
            var parts = line.Split(' ');
            if (int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture) != ranks.Count) throw new InvalidDataException("ranks out of order");
            ranks.Add(Convert.FromBase64String(parts[0]));
        }
        var rankOf = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var r = 0; r < ranks.Count; r++) rankOf[Encoding.Latin1.GetString(ranks[r])] = r;

        // For each token in rank order: every split into two ranked parts, sorted by the parts' ranks.
        var merges = new List<string>();
        foreach (var token in ranks)
        {
            var local = new List<(int L, int R, string Merge)>();
            for (var i = 1; i < token.Length; i++)
            {
                if (rankOf.TryGetValue(Encoding.Latin1.GetString(token, 0, i), out var l)
                    && rankOf.TryGetValue(Encoding.Latin1.GetString(token, i, token.Length - i), out var r))
                    local.Add((l, r, ByteLevel.Encode(token.AsSpan(0, i)) + " " + ByteLevel.Encode(token.AsSpan(i))));
            }
            merges.AddRange(local.OrderBy(m => m.L).ThenBy(m => m.R).Select(m => m.Merge));
        }

        var added = TiktokenSettings.Llama3.SpecialTokens.OrderBy(kv => kv.Value).Select(kv => (kv.Value, kv.Key))
            .Append((128256, "<image>")).Append((128257, "<pad>")).ToList();
        using (var stream = File.Create(Path.Combine(dir, HubTokenizerJson.FileName)))
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            w.WriteString("version", "1.0");
            WriteAddedTokens(w, added);
            w.WriteNull("normalizer");
            WritePreTokenizer(w, TiktokenSettings.Llama3Pattern);
            w.WriteStartObject("post_processor");
            w.WriteString("type", "Sequence");
            w.WriteStartArray("processors");
            w.WriteStartObject();
            w.WriteString("type", "ByteLevel");
            w.WriteEndObject();
            w.WriteStartObject();
            w.WriteString("type", "TemplateProcessing");
            w.WriteStartArray("single");
            w.WriteStartObject();
            w.WriteStartObject("SpecialToken");
            w.WriteString("id", "<|begin_of_text|>");
            w.WriteNumber("type_id", 0);
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteStartObject();
            w.WriteStartObject("Sequence");
            w.WriteString("id", "A");
            w.WriteNumber("type_id", 0);
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteEndObject();
            WriteModel(w, Enumerable.Range(0, ranks.Count).Select(r => (ByteLevel.Encode(ranks[r]), r)), merges, ignoreMerges: true);
            w.WriteEndObject();
        }
        File.WriteAllText(Path.Combine(dir, AddedTokens.TokenizerConfigFile),
            """{"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"}""");
    }

    /// <summary>Writes a Qwen2 hub folder for fixture <paramref name="model"/>: tokenizer.json and the folder's own files.</summary>
    public static void WriteQwen2(string dir, string model)
    {
        var source = SharedData.Fixture(model);
        foreach (var f in new[] { "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "chat_template.json" })
            File.Copy(Path.Combine(source, f), Path.Combine(dir, f));
        var qwen2 = SharedData.Fixture("tokenizers", "qwen2");
        File.Copy(Path.Combine(qwen2, BpeVocabFiles.VocabFileName), Path.Combine(dir, BpeVocabFiles.VocabFileName));
        File.Copy(Path.Combine(qwen2, BpeVocabFiles.MergesFileName), Path.Combine(dir, BpeVocabFiles.MergesFileName));

        var vocab = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(qwen2, BpeVocabFiles.VocabFileName))).RootElement
            .EnumerateObject().Select(p => (p.Name, p.Value.GetInt32()));
        var merges = File.ReadAllLines(Path.Combine(qwen2, BpeVocabFiles.MergesFileName)).Skip(1).Where(l => l.Length > 0).ToList();
        var config = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(source, "tokenizer_config.json"))).RootElement;
        var added = config.GetProperty("added_tokens_decoder").EnumerateObject()
            .Select(p => (int.Parse(p.Name, System.Globalization.CultureInfo.InvariantCulture), p.Value.GetProperty("content").GetString()!))
            .ToList();
        using var stream = File.Create(Path.Combine(dir, HubTokenizerJson.FileName));
        using var w = new Utf8JsonWriter(stream);
        w.WriteStartObject();
        w.WriteString("version", "1.0");
        WriteAddedTokens(w, added);
        w.WriteStartObject("normalizer");
        w.WriteString("type", "NFC");
        w.WriteEndObject();
        WritePreTokenizer(w, SplitPattern.Qwen2);
        w.WriteStartObject("post_processor");
        w.WriteString("type", "ByteLevel");
        w.WriteBoolean("add_prefix_space", false);
        w.WriteBoolean("trim_offsets", false);
        w.WriteBoolean("use_regex", false);
        w.WriteEndObject();
        WriteModel(w, vocab, merges, ignoreMerges: false);
        w.WriteEndObject();
    }

    private static void WriteAddedTokens(Utf8JsonWriter w, IEnumerable<(int Id, string Content)> added)
    {
        w.WriteStartArray("added_tokens");
        foreach (var (id, content) in added)
        {
            w.WriteStartObject();
            w.WriteNumber("id", id);
            w.WriteString("content", content);
            w.WriteBoolean("single_word", false);
            w.WriteBoolean("lstrip", false);
            w.WriteBoolean("rstrip", false);
            w.WriteBoolean("normalized", false);
            w.WriteBoolean("special", true);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    private static void WritePreTokenizer(Utf8JsonWriter w, string pattern)
    {
        w.WriteStartObject("pre_tokenizer");
        w.WriteString("type", "Sequence");
        w.WriteStartArray("pretokenizers");
        w.WriteStartObject();
        w.WriteString("type", "Split");
        w.WriteStartObject("pattern");
        w.WriteString("Regex", pattern);
        w.WriteEndObject();
        w.WriteString("behavior", "Isolated");
        w.WriteBoolean("invert", false);
        w.WriteEndObject();
        w.WriteStartObject();
        w.WriteString("type", "ByteLevel");
        w.WriteBoolean("add_prefix_space", false);
        w.WriteBoolean("trim_offsets", true);
        w.WriteBoolean("use_regex", false);
        w.WriteEndObject();
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void WriteModel(Utf8JsonWriter w, IEnumerable<(string Token, int Id)> vocab, IEnumerable<string> merges, bool ignoreMerges)
    {
        w.WriteStartObject("model");
        w.WriteString("type", "BPE");
        w.WriteNull("dropout");
        w.WriteNull("unk_token");
        w.WriteNull("continuing_subword_prefix");
        w.WriteNull("end_of_word_suffix");
        w.WriteBoolean("fuse_unk", false);
        w.WriteBoolean("byte_fallback", false);
        w.WriteBoolean("ignore_merges", ignoreMerges);
        w.WriteStartObject("vocab");
        foreach (var (token, id) in vocab) w.WriteNumber(token, id);
        w.WriteEndObject();
        w.WriteStartArray("merges");
        foreach (var m in merges) w.WriteStringValue(m);
        w.WriteEndArray();
        w.WriteEndObject();
    }
}

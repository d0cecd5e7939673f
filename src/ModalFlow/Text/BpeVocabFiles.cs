using System.Text;
using System.Text.Json;

namespace ModalFlow.Text;

/// <summary>
/// Qwen2's slow-tokenizer files: <c>vocab.json</c> (byte-level token → id) and <c>merges.txt</c> ("#version" line,
/// then one "left right" pair per line, highest priority first), with the added tokens, BOS and EOS of the model
/// folder's <c>tokenizer_config.json</c> / <c>added_tokens.json</c>. Read like <c>Qwen2Tokenizer</c>: Qwen2's split
/// regex, NFC, no BOS.
/// </summary>
public static class BpeVocabFiles
{
    public const string VocabFileName = "vocab.json";
    public const string MergesFileName = "merges.txt";

    /// <summary>Qwen2Tokenizer's default EOS when tokenizer_config.json names none.</summary>
    public const string Qwen2DefaultEos = "<|endoftext|>";

    private static readonly string[] Qwen2Classes = ["Qwen2Tokenizer", "Qwen2TokenizerFast"];

    /// <summary>
    /// Loads <paramref name="vocabFile"/> with <paramref name="mergesFile"/> (default: merges.txt beside it) and the
    /// tokenizer configuration of <paramref name="modelDir"/> (default: the vocabulary's folder).
    /// </summary>
    /// <exception cref="InputException">A file is missing or malformed, or the folder does not say it is a Qwen2 tokenizer.</exception>
    public static ByteLevelBpeTokenizer Load(string vocabFile, string? mergesFile = null, string? modelDir = null)
    {
        var vocabDir = Path.GetDirectoryName(Path.GetFullPath(vocabFile))!;
        mergesFile ??= Path.Combine(vocabDir, MergesFileName);
        modelDir ??= vocabDir;
        var vocabulary = ReadVocabulary(vocabFile);
        var merges = ReadMerges(mergesFile);

        var config = HubTokenizerConfig.Read(modelDir);
        if (config.Path == null)
            throw new InputException(modelDir, AddedTokens.TokenizerConfigFile,
                $"expected a tokenizer_config.json with \"tokenizer_class\": \"Qwen2Tokenizer\" in this folder, to tell how to read {VocabFileName} + {MergesFileName}");
        if (!Qwen2Classes.Contains(config.TokenizerClass))
            throw new InputException(config.Path, "tokenizer_class",
                $"expected Qwen2Tokenizer (the byte-level BPE read from {VocabFileName} + {MergesFileName}), got \"{config.TokenizerClass}\"");

        var model = new ByteLevelBpeModel(vocabulary, merges, ignoreMerges: false, vocabFile, mergesFile);
        var options = new ByteLevelBpeOptions(SplitPattern.Qwen2, NormalizeNfc: true, FolderAddedTokens(modelDir, config),
            BosToken: config.BosToken, EosToken: config.EosToken ?? Qwen2DefaultEos, AddedTokensSource: config.Path);
        return new ByteLevelBpeTokenizer(model, options, vocabFile);
    }

    /// <summary>
    /// The folder's added tokens (<see cref="AddedTokens.Read"/>: added_tokens.json, added_tokens_decoder, the fixtures'
    /// extra tokens) with the flags of <c>added_tokens_decoder</c> where it has them.
    /// </summary>
    internal static List<AddedTokenSpec> FolderAddedTokens(string modelDir, HubTokenizerConfig config) =>
        AddedTokens.Read(modelDir)
            .Select(kv => config.AddedTokens.TryGetValue(kv.Key, out var spec) && spec.Content == kv.Value ? spec : new AddedTokenSpec(kv.Key, kv.Value))
            .OrderBy(t => t.Id)
            .ToList();

    /// <summary>vocab.json: one JSON object of token string → non-negative integer id.</summary>
    public static Dictionary<string, int> ReadVocabulary(string path)
    {
        var root = HubTokenizerConfig.ReadObject(RequireFile(path, "a vocab.json (byte-level token → id)"));
        var vocabulary = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var p in root.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetInt32(out var id) || id < 0)
                throw new InputException(path, p.Name, $"expected a non-negative integer token id, got {p.Value.GetRawText()}");
            vocabulary[p.Name] = id;
        }
        if (vocabulary.Count == 0) throw new InputException(path, null, "expected a non-empty vocabulary object");
        return vocabulary;
    }

    /// <summary>merges.txt: an optional "#version" first line, then "left right" per line (CRLF or LF; empty lines skipped).</summary>
    public static List<(string Left, string Right)> ReadMerges(string path)
    {
        RequireFile(path, "a merges.txt (one \"left right\" merge per line) beside vocab.json");
        string text;
        try
        {
            text = File.ReadAllText(path, new UTF8Encoding(false, throwOnInvalidBytes: true));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or DecoderFallbackException)
        {
            throw new InputException(path, null, $"expected a readable UTF-8 merges file: {e.Message}", e);
        }
        var merges = new List<(string, string)>();
        var lines = text.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].TrimEnd('\r');
            if (line.Length == 0 || (i == 0 && line.StartsWith("#version", StringComparison.Ordinal))) continue;
            var parts = line.Split(' ');
            if (parts.Length != 2 || parts[0].Length == 0 || parts[1].Length == 0)
                throw new InputException(path, $"line {i + 1}",
                    $"expected two tokens separated by one space, got \"{(line.Length <= 60 ? line : line[..60] + "…")}\"");
            merges.Add((parts[0], parts[1]));
        }
        return merges;
    }

    private static string RequireFile(string path, string what)
    {
        if (Directory.Exists(path)) throw new InputException(path, null, $"expected {what}, but this is a folder");
        if (!File.Exists(path)) throw new InputException(path, null, $"file not found; expected {what}");
        return path;
    }
}

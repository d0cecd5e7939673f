using System.Text;
using System.Text.RegularExpressions;

namespace ModalFlow.Text;

/// <summary>The tokenizer file formats this project reads.</summary>
public enum TokenizerFileFormat
{
    /// <summary>SentencePiece <c>tokenizer.model</c> (a protobuf ModelProto; Llama-2 / Vicuna).</summary>
    SentencePiece,

    /// <summary>tiktoken ranks, one "&lt;base64 bytes&gt; &lt;rank&gt;" per line (Meta's Llama-3 <c>tokenizer.model</c>).</summary>
    TiktokenRanks,

    /// <summary>A Hugging Face <c>tokenizer.json</c> (read when it is a byte-level BPE: Qwen2, llava-hf Llama-3).</summary>
    HubTokenizerJson,

    /// <summary>A byte-level BPE <c>vocab.json</c>, with <c>merges.txt</c> beside it (Qwen2's slow tokenizer files).</summary>
    BpeVocabJson,
}

/// <summary>
/// Finds and loads the tokenizer of a checkpoint folder as downloaded. Both Llama-2 and Meta's Llama-3 ship a file
/// named <c>tokenizer.model</c>; which one it is is read from the content, not the name. Without one, a
/// <c>tokenizer.json</c> (Hugging Face byte-level BPE: Qwen2 folders, llava-hf Llama-3 folders) is read, else
/// <c>vocab.json</c> + <c>merges.txt</c> (Qwen2). A caller may pass the tokenizer file explicitly (the Llama-3 fixture
/// folder has none: its ranks live in fixtures/tokenizers/llama3/; the Qwen2 fixtures' vocab.json lives in
/// fixtures/tokenizers/qwen2/).
/// </summary>
public static partial class TokenizerLoader
{
    public const string DefaultFileName = "tokenizer.model";

    /// <summary>
    /// Loads the tokenizer of <paramref name="modelDir"/>: <paramref name="tokenizerFile"/> when given, else the first
    /// of <c>tokenizer.model</c>, <c>tokenizer.json</c>, <c>vocab.json</c> (+ <c>merges.txt</c>) in the folder.
    /// Added tokens come from the model folder (<see cref="AddedTokens"/>). For tiktoken ranks, the settings come
    /// from <c>tokenizer_meta.json</c> beside the ranks file or in the model folder, else
    /// <see cref="TiktokenSettings.Llama3"/>.
    /// </summary>
    /// <exception cref="InputException">Folder or file missing, unreadable, or of an unknown or corrupt format.</exception>
    public static ITextTokenizer Load(string modelDir, string? tokenizerFile = null)
    {
        if (!Directory.Exists(modelDir))
            throw new InputException(modelDir, null, "expected a model folder, but it does not exist");
        if (tokenizerFile == null)
        {
            tokenizerFile = new[] { DefaultFileName, HubTokenizerJson.FileName, BpeVocabFiles.VocabFileName }
                .Select(name => Path.Combine(modelDir, name))
                .FirstOrDefault(File.Exists)
                ?? throw new InputException(modelDir, DefaultFileName,
                    "no tokenizer file: expected tokenizer.model (a SentencePiece model or tiktoken ranks), tokenizer.json "
                    + "(a Hugging Face byte-level BPE) or vocab.json + merges.txt (Qwen2) in this folder (or pass the tokenizer file explicitly)");
        }
        return LoadFile(tokenizerFile, modelDir);
    }

    /// <summary>Loads one tokenizer file; added tokens and tiktoken settings are looked up in <paramref name="modelDir"/> too.</summary>
    public static ITextTokenizer LoadFile(string tokenizerFile, string? modelDir = null)
    {
        var bytes = ReadTokenizerFile(tokenizerFile);
        var format = DetectFormat(tokenizerFile, bytes);
        if (format == TokenizerFileFormat.HubTokenizerJson) return HubTokenizerJson.Load(tokenizerFile, modelDir);
        if (format == TokenizerFileFormat.BpeVocabJson) return BpeVocabFiles.Load(tokenizerFile, modelDir: modelDir);
        var added = modelDir != null ? AddedTokens.Read(modelDir) : new Dictionary<int, string>();
        switch (format)
        {
            case TokenizerFileFormat.SentencePiece:
                return SentencePieceTextTokenizer.Load(tokenizerFile, added);
            default:
                var candidates = new[] { Path.GetDirectoryName(Path.GetFullPath(tokenizerFile)), modelDir }
                    .Where(d => d != null)
                    .Select(d => Path.Combine(d!, TiktokenSettings.MetaFileName));
                var meta = candidates.FirstOrDefault(File.Exists);
                var settings = meta != null ? TiktokenSettings.Read(meta) : TiktokenSettings.Llama3;
                return TiktokenTextTokenizer.Load(tokenizerFile, settings, added, meta);
        }
    }

    /// <summary>
    /// Tells the format from the content: a protobuf ModelProto starts with field 1 (0x0A); ranks are text; a JSON
    /// object is a tokenizer.json, or a vocab.json when the file is called so.
    /// </summary>
    /// <exception cref="InputException">None of these.</exception>
    public static TokenizerFileFormat DetectFormat(string path, ReadOnlySpan<byte> content)
    {
        const string expected = "expected a SentencePiece model (protobuf) or a tiktoken ranks file (\"<base64> <rank>\" lines), "
            + "a Hugging Face tokenizer.json or a byte-level BPE vocab.json (JSON)";
        if (content.IsEmpty) throw new InputException(path, null, "the file is empty; " + expected);
        if (content[0] == 0x0A) return TokenizerFileFormat.SentencePiece;
        var firstLine = content[..Math.Min(content.Length, 512)];
        var newline = firstLine.IndexOf((byte)'\n');
        if (newline >= 0) firstLine = firstLine[..newline];
        if (RanksLine().IsMatch(Encoding.ASCII.GetString(firstLine))) return TokenizerFileFormat.TiktokenRanks;
        var json = content.StartsWith("\uFEFF"u8) ? content[3..] : content;
        json = json.TrimStart(" \t\r\n"u8);
        if (!json.IsEmpty && json[0] == (byte)'{')
        {
            return string.Equals(Path.GetFileName(path), BpeVocabFiles.VocabFileName, StringComparison.OrdinalIgnoreCase)
                ? TokenizerFileFormat.BpeVocabJson
                : TokenizerFileFormat.HubTokenizerJson;
        }
        var head = Convert.ToHexString(content[..Math.Min(content.Length, 8)]);
        throw new InputException(path, null, $"unrecognised content (first bytes 0x{head}); " + expected);
    }

    /// <summary>Reads a tokenizer file, turning a missing or unreadable file into an <see cref="InputException"/>.</summary>
    internal static byte[] ReadTokenizerFile(string path)
    {
        if (Directory.Exists(path))
            throw new InputException(path, null, "expected a tokenizer file, but this is a folder (pass the tokenizer.model inside it)");
        if (!File.Exists(path))
            throw new InputException(path, null,
                "tokenizer file not found; expected a SentencePiece model or a tiktoken ranks file (tokenizer.model), a Hugging Face tokenizer.json or a vocab.json here");
        try
        {
            return File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InputException(path, null, $"the tokenizer file could not be read: {e.Message}", e);
        }
    }

    [GeneratedRegex(@"^[A-Za-z0-9+/]+={0,2} [0-9]+\r?$")]
    private static partial Regex RanksLine();
}

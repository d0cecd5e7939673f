using System.Text;
using System.Text.RegularExpressions;

namespace ModalFlow.Text;

/// <summary>The two tokenizer file formats this project reads.</summary>
public enum TokenizerFileFormat
{
    /// <summary>SentencePiece <c>tokenizer.model</c> (a protobuf ModelProto; Llama-2 / Vicuna).</summary>
    SentencePiece,

    /// <summary>tiktoken ranks, one "&lt;base64 bytes&gt; &lt;rank&gt;" per line (Meta's Llama-3 <c>tokenizer.model</c>).</summary>
    TiktokenRanks,
}

/// <summary>
/// Finds and loads the tokenizer of a checkpoint folder. Both Llama-2 and Meta's Llama-3 ship a file named
/// <c>tokenizer.model</c>; which one it is is read from the content, not the name. A caller may pass the tokenizer
/// file explicitly (the Llama-3 fixture folder has none: its ranks live in fixtures/tokenizers/llama3/).
/// </summary>
public static partial class TokenizerLoader
{
    public const string DefaultFileName = "tokenizer.model";

    /// <summary>
    /// Loads the tokenizer of <paramref name="modelDir"/>: <paramref name="tokenizerFile"/> when given, else
    /// <c>modelDir/tokenizer.model</c>. Added tokens come from the model folder (<see cref="AddedTokens"/>). For
    /// tiktoken ranks, the settings come from <c>tokenizer_meta.json</c> beside the ranks file or in the model
    /// folder, else <see cref="TiktokenSettings.Llama3"/>.
    /// </summary>
    /// <exception cref="InputException">Folder or file missing, unreadable, or of an unknown or corrupt format.</exception>
    public static ITextTokenizer Load(string modelDir, string? tokenizerFile = null)
    {
        if (!Directory.Exists(modelDir))
            throw new InputException(modelDir, null, "expected a model folder, but it does not exist");
        if (tokenizerFile == null)
        {
            tokenizerFile = Path.Combine(modelDir, DefaultFileName);
            if (!File.Exists(tokenizerFile))
            {
                var hint = File.Exists(Path.Combine(modelDir, "tokenizer.json"))
                    ? " (there is a tokenizer.json, the Hugging Face fast format, which is not read: pass Meta's / the model's tokenizer.model explicitly)"
                    : " (or pass the tokenizer file explicitly)";
                throw new InputException(modelDir, DefaultFileName,
                    "no tokenizer file: expected tokenizer.model (a SentencePiece model or tiktoken ranks) in this folder" + hint);
            }
        }
        return LoadFile(tokenizerFile, modelDir);
    }

    /// <summary>Loads one tokenizer file; added tokens and tiktoken settings are looked up in <paramref name="modelDir"/> too.</summary>
    public static ITextTokenizer LoadFile(string tokenizerFile, string? modelDir = null)
    {
        var bytes = ReadTokenizerFile(tokenizerFile);
        var added = modelDir != null ? AddedTokens.Read(modelDir) : new Dictionary<int, string>();
        switch (DetectFormat(tokenizerFile, bytes))
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

    /// <summary>Tells the format from the content: a protobuf ModelProto starts with field 1 (0x0A); ranks are text.</summary>
    /// <exception cref="InputException">Neither format.</exception>
    public static TokenizerFileFormat DetectFormat(string path, ReadOnlySpan<byte> content)
    {
        const string expected = "expected a SentencePiece model (protobuf) or a tiktoken ranks file (\"<base64> <rank>\" lines)";
        if (content.IsEmpty) throw new InputException(path, null, "the file is empty; " + expected);
        if (content[0] == 0x0A) return TokenizerFileFormat.SentencePiece;
        var firstLine = content[..Math.Min(content.Length, 512)];
        var newline = firstLine.IndexOf((byte)'\n');
        if (newline >= 0) firstLine = firstLine[..newline];
        if (RanksLine().IsMatch(Encoding.ASCII.GetString(firstLine))) return TokenizerFileFormat.TiktokenRanks;
        if (content[0] == (byte)'{')
            throw new InputException(path, null, "this looks like JSON (a Hugging Face tokenizer.json?); " + expected);
        var head = Convert.ToHexString(content[..Math.Min(content.Length, 8)]);
        throw new InputException(path, null, $"unrecognised content (first bytes 0x{head}); " + expected);
    }

    /// <summary>Reads a tokenizer file, turning a missing or unreadable file into an <see cref="InputException"/>.</summary>
    internal static byte[] ReadTokenizerFile(string path)
    {
        if (Directory.Exists(path))
            throw new InputException(path, null, "expected a tokenizer file, but this is a folder (pass the tokenizer.model inside it)");
        if (!File.Exists(path))
            throw new InputException(path, null, "tokenizer file not found; expected a SentencePiece model or a tiktoken ranks file here");
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

namespace ModalFlow.Text;

/// <summary>Which tokenizer algorithm and file format a tokenizer was built from.</summary>
public enum TokenizerKind
{
    /// <summary>A SentencePiece model (Llama-2 / Vicuna; LLaVA-1.5, LLaVA-v1.6-Vicuna).</summary>
    SentencePiece,

    /// <summary>A tiktoken BPE ranks file (Meta Llama-3; Llama3-LLaVA-NeXT).</summary>
    Tiktoken,

    /// <summary>
    /// A byte-level BPE: vocab.json + merges.txt (Qwen2) or a Hugging Face tokenizer.json (Qwen2-VL, LLaVA-OneVision,
    /// llava-hf Llama-3 folders).
    /// </summary>
    ByteLevelBpe,
}

/// <summary>
/// How token strings (<see cref="ITextTokenizer.IdToToken"/>) spell text, which decides how the paper's span finder
/// turns joined token strings back into searchable text.
/// </summary>
public enum TokenStringStyle
{
    /// <summary>SentencePiece pieces: "▁" stands for a space; bytes without a piece are "&lt;0xNN&gt;".</summary>
    SentencePiece,

    /// <summary>GPT-2 byte-level strings (Hugging Face Llama-3): every byte is one char, "Ġ" = space, "Ċ" = LF.</summary>
    ByteLevel,
}

/// <summary>
/// A text tokenizer as the paper's code uses it: encode a piece of prompt text (no BOS; callers add it where the
/// reference does), turn ids into token strings like Hugging Face's <c>convert_ids_to_tokens</c>, and decode
/// generated answers.
/// </summary>
public interface ITextTokenizer
{
    TokenizerKind Kind { get; }

    /// <summary>How <see cref="IdToToken"/> spells text.</summary>
    TokenStringStyle StringStyle { get; }

    /// <summary>The tokenizer file this was loaded from.</summary>
    string SourcePath { get; }

    /// <summary>Begin-of-sequence id (1 for Llama-2, 128000 &lt;|begin_of_text|&gt; for Llama-3).</summary>
    /// <exception cref="InvalidOperationException">The tokenizer has none (<see cref="AddsBos"/> false).</exception>
    int BosId { get; }

    /// <summary>
    /// Whether the tokenizer's default call puts <see cref="BosId"/> in front (true for Llama-2 and Llama-3; false for
    /// Qwen2, which has no BOS).
    /// </summary>
    bool AddsBos => true;

    /// <summary>End id that stops generation (2 &lt;/s&gt; for Llama-2, 128009 &lt;|eot_id|&gt; for Llama-3 chat).</summary>
    int EosId { get; }

    /// <summary>Ids of the model file itself (32000 / 128256 with Llama-3's special tokens).</summary>
    int BaseVocabularySize { get; }

    /// <summary>Base plus added tokens (Hugging Face <c>len(tokenizer)</c>, e.g. 32002 with &lt;image&gt;, &lt;pad&gt;).</summary>
    int VocabularySize { get; }

    /// <summary>Ids of <paramref name="text"/>, without BOS or EOS.</summary>
    int[] EncodeToIds(string text);

    /// <summary>True when <paramref name="id"/> has a token string.</summary>
    bool IsKnownId(int id);

    /// <summary>The token string of an id, as Hugging Face's <c>convert_ids_to_tokens</c> spells it.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The id is not in this tokenizer.</exception>
    string IdToToken(int id);

    /// <summary>The id of a token string (a piece, a byte-level string, a special or added token), or null.</summary>
    int? TokenToId(string token);

    /// <summary>Control, special and added tokens (BOS, EOS, UNK, &lt;|eot_id|&gt;, &lt;image&gt;, &lt;pad&gt;, …).</summary>
    bool IsSpecial(int id);

    /// <summary>
    /// The bytes of prompt text that the token stands for ("▁" → space, &lt;0x0A&gt; → LF, byte-level chars → their
    /// bytes, special and added tokens → their own string).
    /// </summary>
    byte[] TokenTextBytes(int id);

    /// <summary>
    /// Decodes generated ids: special and added tokens are skipped, the rest is joined as UTF-8 bytes (invalid
    /// sequences become U+FFFD). SentencePiece drops the leading space of the dummy prefix, as sentencepiece does.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">An id is not in this tokenizer.</exception>
    string Decode(IEnumerable<int> ids);
}

/// <summary>Conveniences over <see cref="ITextTokenizer"/>.</summary>
public static class TextTokenizerExtensions
{
    /// <summary>Hugging Face <c>convert_ids_to_tokens</c> for a list of ids.</summary>
    public static string[] IdsToTokens(this ITextTokenizer tokenizer, IEnumerable<int> ids) =>
        ids.Select(tokenizer.IdToToken).ToArray();

    /// <summary>
    /// The tokenizer's default call: <see cref="ITextTokenizer.EncodeToIds"/> with the BOS id in front when it adds one
    /// (<see cref="ITextTokenizer.AddsBos"/>).
    /// </summary>
    public static int[] EncodeWithBos(this ITextTokenizer tokenizer, string text) =>
        tokenizer.AddsBos ? [tokenizer.BosId, .. tokenizer.EncodeToIds(text)] : tokenizer.EncodeToIds(text);
}

using System.Collections.Immutable;

namespace ModalFlow.Text;

/// <summary>Prompt ids with image placeholders, as LLaVA's <c>tokenizer_image_token</c> returns them.</summary>
/// <param name="Ids">The ids, one <paramref name="PlaceholderId"/> per "&lt;image&gt;" of the prompt.</param>
/// <param name="PlaceholderIndices">Where the placeholders are, ascending.</param>
/// <param name="PlaceholderId">The placeholder id (LLaVA: -200; Hugging Face: the image token id).</param>
public sealed record TokenizedPrompt(ImmutableArray<int> Ids, ImmutableArray<int> PlaceholderIndices, int PlaceholderId)
{
    /// <summary>The ids as int64, for tensors and comparison with .npy fixtures.</summary>
    public long[] ToLongs() => Ids.Select(i => (long)i).ToArray();
}

/// <summary>LLaVA's <c>mm_utils.tokenizer_image_token</c>.</summary>
public static class LlavaPromptTokenizer
{
    /// <summary>LLaVA's IMAGE_TOKEN_INDEX: a placeholder id that is no vocabulary row.</summary>
    public const int ImageTokenIndex = -200;

    /// <summary>
    /// Splits <paramref name="prompt"/> at every literal <paramref name="imageTag"/> ("&lt;image&gt;"), tokenizes
    /// each piece on its own with BOS (the tokenizer's default call), emits the first piece's BOS once, drops the
    /// first id of every piece and puts <paramref name="placeholderId"/> between the pieces. A tokenizer without BOS
    /// (Qwen2) keeps every id of every piece, as LLaVA's code does when the first id is no BOS.
    /// </summary>
    /// <param name="imageTag">The image slot's text: "&lt;image&gt;" (LLaVA, OneVision) or "&lt;|image_pad|&gt;"
    /// (Qwen2-VL; <see cref="ConversationTemplate.ImageTag"/>).</param>
    public static TokenizedPrompt Tokenize(ITextTokenizer tokenizer, string prompt, int placeholderId = ImageTokenIndex,
        string imageTag = PaperPrompt.ImageTag)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentException.ThrowIfNullOrEmpty(imageTag);
        // prompt_chunks = [tokenizer(chunk).input_ids for chunk in prompt.split("<image>")]
        var chunks = prompt.Split(imageTag).Select(tokenizer.EncodeWithBos).ToArray();
        var ids = ImmutableArray.CreateBuilder<int>();
        var placeholders = ImmutableArray.CreateBuilder<int>();
        // offset = 1 (and the BOS emitted once) when the first chunk starts with BOS; then every chunk loses its
        // first id. The separator is [placeholder] * (offset + 1), of which x[offset:] keeps one.
        var offset = 0;
        if (tokenizer.AddsBos && chunks[0].Length > 0 && chunks[0][0] == tokenizer.BosId)
        {
            offset = 1;
            ids.Add(chunks[0][0]);
        }
        for (var c = 0; c < chunks.Length; c++)
        {
            if (c > 0)
            {
                placeholders.Add(ids.Count);
                ids.Add(placeholderId);
            }
            ids.AddRange(chunks[c].AsSpan(offset));
        }
        return new TokenizedPrompt(ids.ToImmutable(), placeholders.ToImmutable(), placeholderId);
    }
}

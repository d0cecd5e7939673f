using System.Collections.Immutable;

namespace ModalFlow.Text;

/// <summary>The named position sets of a sequence (the paper's block descriptions).</summary>
public enum SpanName
{
    /// <summary>Everything before the image, BOS included (system text and the user role).</summary>
    System,

    /// <summary>The image tokens [p, p + K).</summary>
    Image,

    /// <summary>Everything after the image, up to the last position.</summary>
    TextAfterImage,

    /// <summary>The question's tokens (paper: "Question").</summary>
    Question,

    /// <summary>The instruction suffix " \nAnswer the question using a single word or phrase.".</summary>
    Instruction,

    /// <summary>The last position, N - 1 (paper: "Last").</summary>
    Last,
}

/// <summary>
/// Where everything sits in the sequence the language model sees once LLaVA's single image placeholder is
/// replaced by K image tokens. All spans are half-open and absolute.
/// </summary>
public sealed record SequenceLayout
{
    private SequenceLayout(ImmutableArray<int> promptIds, int placeholderIndex, int imageTokenCount, string question,
        ImmutableArray<string> textAfterImageTokens, TokenStringStyle style, TokenSpan questionRelative, TokenSpan instructionRelative,
        string? source)
    {
        PromptIds = promptIds;
        PlaceholderIndex = placeholderIndex;
        ImageTokenCount = imageTokenCount;
        QuestionText = question;
        TextAfterImageTokens = textAfterImageTokens;
        StringStyle = style;
        Source = source;
        var afterImage = placeholderIndex + imageTokenCount;
        SeqLen = promptIds.Length - 1 + imageTokenCount;
        System = new TokenSpan(0, placeholderIndex);
        Image = new TokenSpan(placeholderIndex, afterImage);
        TextAfterImage = new TokenSpan(afterImage, SeqLen);
        Question = questionRelative.Shift(afterImage);
        Instruction = instructionRelative.Shift(afterImage);
    }

    /// <summary>Prompt ids with the single placeholder, LLaVA form (<see cref="LlavaPromptTokenizer.ImageTokenIndex"/>).</summary>
    public ImmutableArray<int> PromptIds { get; }

    /// <summary>p: index of the placeholder in <see cref="PromptIds"/> = first image position.</summary>
    public int PlaceholderIndex { get; }

    /// <summary>K: number of image tokens that replace the placeholder.</summary>
    public int ImageTokenCount { get; }

    /// <summary>N: length of the expanded sequence.</summary>
    public int SeqLen { get; }

    /// <summary>The question text the <see cref="Question"/> span was found for.</summary>
    public string QuestionText { get; }

    /// <summary>Token strings (<c>convert_ids_to_tokens</c>) of the prompt after the image, as the span finder sees them.</summary>
    public ImmutableArray<string> TextAfterImageTokens { get; }

    public TokenStringStyle StringStyle { get; }

    /// <summary>Where the prompt came from (a file), named in errors; may be null.</summary>
    public string? Source { get; }

    public TokenSpan System { get; }
    public TokenSpan Image { get; }
    public TokenSpan TextAfterImage { get; }
    public TokenSpan Question { get; }
    public TokenSpan Instruction { get; }

    /// <summary>The last position N - 1, whose next-token distribution is the answer.</summary>
    public int Last => SeqLen - 1;

    /// <summary>A named span (<see cref="SpanName.Last"/> is [N-1, N)).</summary>
    public TokenSpan this[SpanName name] => name switch
    {
        SpanName.System => System,
        SpanName.Image => Image,
        SpanName.TextAfterImage => TextAfterImage,
        SpanName.Question => Question,
        SpanName.Instruction => Instruction,
        SpanName.Last => new TokenSpan(Last, SeqLen),
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "unknown span name"),
    };

    /// <summary>
    /// Lays out a tokenized prompt with exactly one image placeholder and <paramref name="imageTokenCount"/>
    /// image tokens. The question span is found by the paper's <c>find_token_range</c> in the text after the image;
    /// the instruction span is the first occurrence of <paramref name="instruction"/> after the question.
    /// </summary>
    /// <param name="source">A file to name in error messages (the CSV, case.json, …), or null.</param>
    /// <exception cref="InputException">Not exactly one placeholder, K &lt; 1, empty question, or the question or the
    /// instruction cannot be found.</exception>
    public static SequenceLayout Create(ITextTokenizer tokenizer, TokenizedPrompt prompt, int imageTokenCount, string question,
        string instruction = PaperPrompt.Instruction, string? source = null)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(prompt);
        if (prompt.PlaceholderIndices.Length != 1)
            throw new InputException(source, "prompt",
                $"expected exactly one {PaperPrompt.ImageTag} in the prompt, found {prompt.PlaceholderIndices.Length}");
        if (imageTokenCount < 1)
            throw new InputException(source, "image tokens", $"expected at least one image token, got {imageTokenCount}");
        if (string.IsNullOrWhiteSpace(question))
            throw new InputException(source, "question", "expected a non-empty question text, got an empty one");
        if (string.IsNullOrEmpty(instruction))
            throw new InputException(source, "instruction", "expected a non-empty instruction text");

        var p = prompt.PlaceholderIndices[0];
        var promptIds = prompt.Ids.SetItem(p, LlavaPromptTokenizer.ImageTokenIndex);
        var after = prompt.Ids.AsSpan()[(p + 1)..].ToArray();
        var tokens = tokenizer.IdsToTokens(after);

        var q = TokenSpanFinder.FindTokenRange(tokens, tokenizer.StringStyle, question)
            ?? throw new InputException(source, "question",
                $"the question \"{question}\" does not occur in the prompt text after the image; searched the joined token "
                + $"strings \"{Escape(TokenSpanFinder.SearchableText(tokens, tokenizer.StringStyle))}\"");

        var bytes = after.Select(tokenizer.TokenTextBytes).ToArray();
        var ins = TokenSpanFinder.FindTextBytes(bytes, instruction, q.End)
            ?? throw new InputException(source, "instruction",
                $"the instruction \"{Escape(instruction)}\" does not occur after the question \"{question}\" in the prompt text "
                + $"after the image (decoded: \"{Escape(tokenizer.Decode(after))}\")");

        return new SequenceLayout(promptIds, p, imageTokenCount, question, [.. tokens], tokenizer.StringStyle, q, ins, source);
    }

    /// <summary>
    /// Tokenizes <paramref name="prompt"/> with <see cref="LlavaPromptTokenizer"/> (split at <paramref name="imageTag"/>:
    /// the template's <see cref="ConversationTemplate.ImageTag"/>), then <see cref="Create"/>.
    /// </summary>
    public static SequenceLayout FromPrompt(ITextTokenizer tokenizer, string prompt, int imageTokenCount, string question,
        string instruction = PaperPrompt.Instruction, string? source = null, string imageTag = PaperPrompt.ImageTag) =>
        Create(tokenizer, LlavaPromptTokenizer.Tokenize(tokenizer, prompt, imageTag: imageTag), imageTokenCount, question, instruction, source);

    /// <summary>
    /// The paper's <c>find_token_range</c> for any text after the image (an option word, an object name): first
    /// occurrence, absolute positions.
    /// </summary>
    /// <param name="field">What the text is (e.g. "true option"), named in the error.</param>
    /// <exception cref="InputException">The text is empty or does not occur.</exception>
    public TokenSpan FindTokenSpan(string text, string field = "text")
    {
        if (string.IsNullOrEmpty(text))
            throw new InputException(Source, field, "expected a non-empty text to locate in the prompt");
        var span = TokenSpanFinder.FindTokenRange(TextAfterImageTokens, StringStyle, text)
            ?? throw new InputException(Source, field,
                $"\"{text}\" does not occur in the prompt text after the image; searched the joined token strings "
                + $"\"{Escape(TokenSpanFinder.SearchableText(TextAfterImageTokens, StringStyle))}\"");
        return span.Shift(TextAfterImage.Start);
    }

    /// <summary>Prompt ids with one placeholder of the given id: -200 = LLaVA's input, the image token id = HF's legacy input.</summary>
    public long[] InputIds(long placeholderId = LlavaPromptTokenizer.ImageTokenIndex)
    {
        var ids = PromptIds.Select(i => (long)i).ToArray();
        ids[PlaceholderIndex] = placeholderId;
        return ids;
    }

    /// <summary>The expanded ids (length N): the placeholder repeated K times as <paramref name="imageTokenId"/> (HF convention).</summary>
    public long[] ExpandedInputIds(long imageTokenId)
    {
        var ids = new long[SeqLen];
        for (var i = 0; i < PlaceholderIndex; i++) ids[i] = PromptIds[i];
        Array.Fill(ids, imageTokenId, Image.Start, ImageTokenCount);
        for (var i = PlaceholderIndex + 1; i < PromptIds.Length; i++) ids[i - 1 + ImageTokenCount] = PromptIds[i];
        return ids;
    }

    /// <summary>The spans in one line, for logs and run records.</summary>
    public override string ToString() =>
        $"SequenceLayout(N={SeqLen}, K={ImageTokenCount}, System={System}, Image={Image}, TextAfterImage={TextAfterImage}, "
        + $"Question={Question}, Instruction={Instruction}, Last={Last})";

    private static string Escape(string s) => s.Replace("\n", "\\n", StringComparison.Ordinal);
}

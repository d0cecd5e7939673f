namespace ModalFlow.Text;

/// <summary>
/// The prompt of the paper's InformationFlow.py: <c>"&lt;image&gt;\n" + question + " \nAnswer the question using
/// a single word or phrase."</c> in one user turn of the model's conversation template.
/// </summary>
public static class PaperPrompt
{
    /// <summary>LLaVA's DEFAULT_IMAGE_TOKEN, split on by <see cref="LlavaPromptTokenizer"/>.</summary>
    public const string ImageTag = "<image>";

    /// <summary>What the paper appends to every question (a space, LF, then the instruction).</summary>
    public const string Instruction = " \nAnswer the question using a single word or phrase.";

    /// <summary>The user message: image tag, LF, question, <see cref="Instruction"/>.</summary>
    /// <exception cref="InputException">The question is empty or contains "&lt;image&gt;".</exception>
    public static string UserMessage(string question)
    {
        ValidateQuestion(question);
        return ImageTag + "\n" + question + Instruction;
    }

    /// <summary>
    /// The user message for <paramref name="template"/>: its image slot (<see cref="ConversationTemplate.ImageSlot"/>),
    /// the question, <see cref="Instruction"/>. For the LLaVA templates this is <see cref="UserMessage(string)"/>.
    /// </summary>
    /// <exception cref="InputException">The question is empty or contains the template's image tag.</exception>
    public static string UserMessage(ConversationTemplate template, string question)
    {
        ArgumentNullException.ThrowIfNull(template);
        ValidateQuestion(question);
        ValidateQuestion(question, imageTag: template.ImageTag);
        return template.ImageSlot + question + Instruction;
    }

    /// <summary>The full prompt text for <paramref name="template"/>, including its paper suffix.</summary>
    public static string Build(ConversationTemplate template, string question) =>
        template.RenderPaperPrompt(UserMessage(template, question));

    /// <summary>
    /// The conv mode the paper's script uses for a model: <c>vicuna_v1</c> for llava-v1.5-7b, llava-v1.5-13b and
    /// llava-v1.6-vicuna-7b; <c>llava_llama_3</c> for llama3-llava-next-8b. Accepts the short name or the Hub id
    /// (liuhaotian/llava-v1.5-7b, lmms-lab/llama3-llava-next-8b). Beyond the paper, Qwen2-VL-*-Instruct models get
    /// <c>qwen2_vl</c> and llava-onevision-* models <c>llava_onevision</c> (their own chat templates).
    /// </summary>
    /// <exception cref="InputException">A model the paper does not run.</exception>
    public static ConversationTemplate TemplateForModel(string model)
    {
        var name = model.TrimEnd('/');
        name = name[(name.LastIndexOf('/') + 1)..];
        return name switch
        {
            "llava-v1.5-7b" or "llava-v1.5-13b" or "llava-v1.6-vicuna-7b" => ConversationTemplate.VicunaV1,
            "llama3-llava-next-8b" => ConversationTemplate.LlavaLlama3,
            _ when name.StartsWith("Qwen2-VL-", StringComparison.OrdinalIgnoreCase)
                && name.EndsWith("-Instruct", StringComparison.OrdinalIgnoreCase) => ConversationTemplate.Qwen2VL,
            _ when name.StartsWith("llava-onevision-", StringComparison.OrdinalIgnoreCase) => ConversationTemplate.LlavaOneVision,
            _ => throw new InputException(null, "model",
                $"no paper conversation template for \"{model}\"; expected one of llava-v1.5-7b, llava-v1.5-13b, "
                + "llava-v1.6-vicuna-7b, llama3-llava-next-8b, Qwen2-VL-*-Instruct, llava-onevision-* (or name the template: "
                + string.Join(", ", ConversationTemplate.All.Select(t => t.Name)) + ")"),
        };
    }

    internal static void ValidateQuestion(string? question, string field = "question", string imageTag = ImageTag)
    {
        if (string.IsNullOrWhiteSpace(question))
            throw new InputException(null, field, "expected a non-empty question text, got an empty one");
        if (question.Contains(imageTag, StringComparison.Ordinal))
            throw new InputException(null, field, $"expected plain question text without \"{imageTag}\", got \"{question}\"");
    }
}

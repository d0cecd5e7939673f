using System.Text;

namespace ModalFlow.Text;

/// <summary>How a template joins its turns (LLaVA's <c>SeparatorStyle</c>, the two the paper uses, and ChatML).</summary>
public enum ConversationStyle
{
    /// <summary>
    /// <c>SeparatorStyle.TWO</c>: system + sep; each turn "ROLE: message" followed by sep / sep2 alternately; an
    /// empty turn is "ROLE:" with nothing after it.
    /// </summary>
    SeparatorTwo,

    /// <summary>
    /// <c>SeparatorStyle.LLAMA_3</c>: the Meta-Llama-3-Instruct chat template, system message first, with the
    /// generation prompt: "&lt;|begin_of_text|&gt;" before the first turn, each turn
    /// "&lt;|start_header_id|&gt;role&lt;|end_header_id|&gt;\n\n" + trim(content) + "&lt;|eot_id|&gt;", then
    /// "&lt;|start_header_id|&gt;assistant&lt;|end_header_id|&gt;\n\n".
    /// </summary>
    Llama3ChatTemplate,

    /// <summary>
    /// ChatML, as the Qwen2-VL-Instruct and llava-hf OneVision chat templates render it with the generation prompt:
    /// an optional system turn "&lt;|im_start|&gt;system\n" + system + "&lt;|im_end|&gt;\n" (left out when the system
    /// message is empty), "&lt;|im_start|&gt;user\n" + content + "&lt;|im_end|&gt;\n" (content not trimmed), then
    /// "&lt;|im_start|&gt;assistant\n".
    /// </summary>
    ChatML,
}

/// <summary>
/// A LLaVA conversation template (LLaVA-NeXT <c>conv_templates</c>) as data, rendering one user turn followed by
/// an empty assistant turn exactly as <c>conv.get_prompt()</c> does
/// (shared/data/conversation-templates/TEMPLATES.md).
/// </summary>
/// <param name="Name">The conv mode name (<c>vicuna_v1</c>, <c>llava_llama_3</c>).</param>
/// <param name="SystemMessage">The system text (ChatML: empty = no system turn).</param>
/// <param name="Style">How turns are joined.</param>
/// <param name="UserRole">Role of the user turn ("USER" / "user").</param>
/// <param name="AssistantRole">Role of the assistant turn.</param>
/// <param name="Separator">sep (SeparatorTwo: after the system text and after user turns).</param>
/// <param name="Separator2">sep2 (SeparatorTwo: after assistant turns that have text).</param>
/// <param name="PaperPromptSuffix">
/// Text the paper's InformationFlow.py appends to the rendered prompt for the model that uses this template:
/// " \n" (space, LF) for <c>llama3-llava-next-8b</c> / <c>llava_llama_3</c>, nothing for <c>vicuna_v1</c>.
/// Not part of LLaVA's template; applied only by <see cref="RenderPaperPrompt"/>.
/// </param>
public sealed record ConversationTemplate(
    string Name,
    string SystemMessage,
    ConversationStyle Style,
    string UserRole,
    string AssistantRole,
    string Separator,
    string Separator2,
    string PaperPromptSuffix)
{
    public const string Llama3BeginOfText = "<|begin_of_text|>";
    public const string Llama3StartHeader = "<|start_header_id|>";
    public const string Llama3EndHeader = "<|end_header_id|>";
    public const string Llama3EndOfTurn = "<|eot_id|>";
    public const string ChatMLStart = "<|im_start|>";
    public const string ChatMLEnd = "<|im_end|>";

    /// <summary>
    /// What stands for the image in the user message, before the question: "&lt;image&gt;\n" (LLaVA, OneVision) or
    /// "&lt;|vision_start|&gt;&lt;|image_pad|&gt;&lt;|vision_end|&gt;" (Qwen2-VL). Contains <see cref="ImageTag"/> once.
    /// </summary>
    public string ImageSlot { get; init; } = PaperPrompt.ImageTag + "\n";

    /// <summary>
    /// The text that the processor expands into the image tokens and <see cref="LlavaPromptTokenizer"/> splits the
    /// prompt at: "&lt;image&gt;" (LLaVA, OneVision id 151646) or "&lt;|image_pad|&gt;" (Qwen2-VL, id 151655).
    /// </summary>
    public string ImageTag { get; init; } = PaperPrompt.ImageTag;

    /// <summary>LLaVA's <c>conv_vicuna_v1</c> (the "user" system sentence, not <c>llava_v1</c>'s "human").</summary>
    public static ConversationTemplate VicunaV1 { get; } = new(
        Name: "vicuna_v1",
        SystemMessage: "A chat between a curious user and an artificial intelligence assistant. "
            + "The assistant gives helpful, detailed, and polite answers to the user's questions.",
        Style: ConversationStyle.SeparatorTwo,
        UserRole: "USER",
        AssistantRole: "ASSISTANT",
        Separator: " ",
        Separator2: "</s>",
        PaperPromptSuffix: "");

    /// <summary>LLaVA-NeXT's <c>conv_llava_llama_3</c> (roles plain "user" / "assistant", as since 2024-06-03).</summary>
    public static ConversationTemplate LlavaLlama3 { get; } = new(
        Name: "llava_llama_3",
        SystemMessage: "You are a helpful language and vision assistant. You are able to understand the visual content "
            + "that the user provides, and assist the user with a variety of tasks using natural language.",
        Style: ConversationStyle.Llama3ChatTemplate,
        UserRole: "user",
        AssistantRole: "assistant",
        Separator: "",
        Separator2: "",
        PaperPromptSuffix: " \n");

    /// <summary>
    /// Qwen2-VL-*-Instruct's chat template (system "You are a helpful assistant." added before the first turn; the
    /// image as "&lt;|vision_start|&gt;&lt;|image_pad|&gt;&lt;|vision_end|&gt;" straight before the text).
    /// </summary>
    public static ConversationTemplate Qwen2VL { get; } = new(
        Name: "qwen2_vl",
        SystemMessage: "You are a helpful assistant.",
        Style: ConversationStyle.ChatML,
        UserRole: "user",
        AssistantRole: "assistant",
        Separator: "",
        Separator2: "",
        PaperPromptSuffix: "")
    {
        ImageSlot = "<|vision_start|><|image_pad|><|vision_end|>",
        ImageTag = "<|image_pad|>",
    };

    /// <summary>llava-hf LLaVA-OneVision's chat template: no system turn; images first as "&lt;image&gt;\n", then the text.</summary>
    public static ConversationTemplate LlavaOneVision { get; } = new(
        Name: "llava_onevision",
        SystemMessage: "",
        Style: ConversationStyle.ChatML,
        UserRole: "user",
        AssistantRole: "assistant",
        Separator: "",
        Separator2: "",
        PaperPromptSuffix: "");

    /// <summary>All templates, by name.</summary>
    public static IReadOnlyList<ConversationTemplate> All { get; } = [VicunaV1, LlavaLlama3, Qwen2VL, LlavaOneVision];

    /// <summary>
    /// The template a model folder's tokenizer implies when none is named: SentencePiece → <c>vicuna_v1</c>; Llama-3's
    /// header tokens → <c>llava_llama_3</c>; Qwen2's "&lt;|vision_start|&gt;" + "&lt;|image_pad|&gt;" →
    /// <c>qwen2_vl</c>; "&lt;|im_start|&gt;" + an added "&lt;image&gt;" → <c>llava_onevision</c>.
    /// </summary>
    /// <exception cref="InputException">A tokenizer that fits none of these (name the template instead).</exception>
    public static ConversationTemplate DefaultFor(ITextTokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        bool Has(string token) => tokenizer.TokenToId(token) is { } id && tokenizer.IsSpecial(id);
        if (tokenizer.Kind == TokenizerKind.SentencePiece) return VicunaV1;
        if (Has(Llama3StartHeader) && Has(Llama3EndHeader)) return LlavaLlama3;
        if (Has(ChatMLStart) && Has("<|vision_start|>") && Has(Qwen2VL.ImageTag)) return Qwen2VL;
        if (Has(ChatMLStart) && Has(LlavaOneVision.ImageTag)) return LlavaOneVision;
        throw new InputException(tokenizer.SourcePath, "conv_mode",
            $"cannot tell the conversation template from this tokenizer; expected one of {string.Join(", ", All.Select(t => t.Name))} to be named");
    }

    /// <summary>The template called <paramref name="name"/> (a LLaVA conv mode).</summary>
    /// <exception cref="InputException">Unknown name; the message lists the known ones.</exception>
    public static ConversationTemplate Get(string name) =>
        All.FirstOrDefault(t => t.Name == name)
        ?? throw new InputException(null, "conv_mode",
            $"unknown conversation template \"{name}\"; expected one of {string.Join(", ", All.Select(t => t.Name))}");

    /// <summary>
    /// <c>conv.get_prompt()</c> after <c>append_message(user, userMessage)</c> and
    /// <c>append_message(assistant, None)</c>.
    /// </summary>
    public string Render(string userMessage)
    {
        ArgumentNullException.ThrowIfNull(userMessage);
        var sb = new StringBuilder();
        switch (Style)
        {
            case ConversationStyle.SeparatorTwo:
                sb.Append(SystemMessage).Append(Separator);
                sb.Append(UserRole).Append(": ").Append(userMessage).Append(Separator); // turn 0 ends with sep
                sb.Append(AssistantRole).Append(':');                                   // empty turn: "ROLE:"
                break;
            case ConversationStyle.Llama3ChatTemplate:
                sb.Append(Llama3BeginOfText);
                AppendLlama3Turn(sb, "system", SystemMessage);
                AppendLlama3Turn(sb, UserRole, userMessage);
                sb.Append(Llama3StartHeader).Append(AssistantRole).Append(Llama3EndHeader).Append("\n\n");
                break;
            case ConversationStyle.ChatML:
                if (SystemMessage.Length > 0) AppendChatMLTurn(sb, "system", SystemMessage);
                AppendChatMLTurn(sb, UserRole, userMessage);
                sb.Append(ChatMLStart).Append(AssistantRole).Append('\n');
                break;
            default:
                throw new InvalidOperationException($"conversation style {Style} is not implemented");
        }
        return sb.ToString();
    }

    /// <summary><see cref="Render"/> plus <see cref="PaperPromptSuffix"/>: the prompt string the paper feeds the model.</summary>
    public string RenderPaperPrompt(string userMessage) => Render(userMessage) + PaperPromptSuffix;

    private static void AppendChatMLTurn(StringBuilder sb, string role, string content) =>
        sb.Append(ChatMLStart).Append(role).Append('\n').Append(content).Append(ChatMLEnd).Append('\n');

    private static void AppendLlama3Turn(StringBuilder sb, string role, string content) =>
        sb.Append(Llama3StartHeader).Append(role).Append(Llama3EndHeader).Append("\n\n")
          .Append(content.Trim()).Append(Llama3EndOfTurn); // Jinja "| trim"
}

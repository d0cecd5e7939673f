using ModalFlow.Tests.Support;
using ModalFlow.Text;
using Xunit;

namespace ModalFlow.Tests.Text;

public class ConversationTemplateTests
{
    [SharedTheory]
    [MemberData(nameof(TextFixtures.AllCases), MemberType = typeof(TextFixtures))]
    public void PaperPrompt_Equals_CaseJson_Prompt(string model, string caseId)
    {
        var c = TextFixtures.Load(model, caseId);
        var template = ConversationTemplate.Get(c.ConvMode);
        Assert.Equal(c.Prompt, PaperPrompt.Build(template, c.Question));
        Assert.Equal(c.Prompt, template.RenderPaperPrompt(PaperPrompt.UserMessage(c.Question)));
    }

    [SharedFact]
    public void VicunaV1_Renders_Templates_md_Example()
    {
        const string expected = "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, "
            + "detailed, and polite answers to the user's questions. USER: <image>\nIs the jar full or empty? \n"
            + "Answer the question using a single word or phrase. ASSISTANT:";
        Assert.Equal(expected, ConversationTemplate.VicunaV1.Render(PaperPrompt.UserMessage("Is the jar full or empty?")));
        Assert.Equal("", ConversationTemplate.VicunaV1.PaperPromptSuffix);
    }

    [SharedFact]
    public void LlavaLlama3_Paper_Suffix_Is_Explicit_And_Only_Added_By_RenderPaperPrompt()
    {
        var t = ConversationTemplate.LlavaLlama3;
        var msg = PaperPrompt.UserMessage("Is the jar full or empty?");
        Assert.Equal(" \n", t.PaperPromptSuffix);
        Assert.EndsWith("<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n", t.Render(msg));
        Assert.Equal(t.Render(msg) + " \n", t.RenderPaperPrompt(msg));
        Assert.StartsWith("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a helpful", t.Render(msg));
    }

    [SharedFact]
    public void UserMessage_Is_Image_Question_Instruction()
    {
        Assert.Equal("<image>\nWhat is it? \nAnswer the question using a single word or phrase.", PaperPrompt.UserMessage("What is it?"));
    }

    [SharedTheory]
    [InlineData("llava-v1.5-7b", "vicuna_v1")]
    [InlineData("liuhaotian/llava-v1.5-13b", "vicuna_v1")]
    [InlineData("liuhaotian/llava-v1.6-vicuna-7b", "vicuna_v1")]
    [InlineData("lmms-lab/llama3-llava-next-8b", "llava_llama_3")]
    public void TemplateForModel_Follows_Papers_Script(string model, string template) =>
        Assert.Equal(template, PaperPrompt.TemplateForModel(model).Name);

    [SharedTheory]
    [InlineData("Qwen/Qwen2-VL-7B-Instruct", "qwen2_vl")]
    [InlineData("Qwen/Qwen2-VL-2B-Instruct", "qwen2_vl")]
    [InlineData("llava-hf/llava-onevision-qwen2-7b-ov-hf", "llava_onevision")]
    public void TemplateForModel_Knows_The_ChatML_Families(string model, string template) =>
        Assert.Equal(template, PaperPrompt.TemplateForModel(model).Name);

    [SharedTheory]
    [MemberData(nameof(ChatFixtures.AllCases), MemberType = typeof(ChatFixtures))]
    public void ChatML_PaperPrompt_Equals_CaseJson_Prompt(string model, string caseId)
    {
        var c = ChatFixtures.Load(model, caseId);
        var template = ConversationTemplate.Get(ChatFixtures.TemplateFor(model).Name);
        Assert.Equal(c.Prompt, PaperPrompt.Build(template, c.Question));
        Assert.Equal(1, c.Prompt.Split(template.ImageTag).Length - 1);
    }

    [SharedFact]
    public void Qwen2VL_Has_A_System_Turn_And_OneVision_None()
    {
        var q = PaperPrompt.UserMessage(ConversationTemplate.Qwen2VL, "What is it?");
        Assert.Equal("<|vision_start|><|image_pad|><|vision_end|>What is it? \nAnswer the question using a single word or phrase.", q);
        Assert.StartsWith("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n", ConversationTemplate.Qwen2VL.Render(q));
        var o = PaperPrompt.UserMessage(ConversationTemplate.LlavaOneVision, "What is it?");
        Assert.Equal(PaperPrompt.UserMessage("What is it?"), o); // "<image>\n" + question + instruction, as LLaVA
        Assert.Equal("<|im_start|>user\n" + o + "<|im_end|>\n<|im_start|>assistant\n", ConversationTemplate.LlavaOneVision.Render(o));
        Assert.Throws<InputException>(() => PaperPrompt.UserMessage(ConversationTemplate.Qwen2VL, "a <|image_pad|> b"));
    }
}

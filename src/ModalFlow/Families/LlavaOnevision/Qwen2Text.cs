using System.Text.Json;
using ModalFlow.Checkpoints;

namespace ModalFlow.Families.LlavaOnevision;

/// <summary>
/// A <c>text_config</c> block read as transformers v4.45.1's <c>Qwen2Config</c>: its class defaults (not LlamaConfig's)
/// for every omitted field, q/k/v biases and no o_proj / MLP bias whatever the block says (Qwen2 has no
/// <c>attention_bias</c> / <c>mlp_bias</c> / <c>head_dim</c> settings: head_dim = hidden_size / heads).
/// </summary>
public static class Qwen2Text
{
    /// <summary>"No token ids" (PretrainedConfig's None); declared first: <see cref="Defaults"/> uses it.</summary>
    private static readonly JsonElement NoTokens = JsonDocument.Parse("[]").RootElement.Clone();

    /// <summary>Qwen2Config() (what LlavaOnevisionConfig builds when text_config is absent).</summary>
    public static LlamaTextConfig Defaults { get; } = Apply(new LlamaTextConfig(), _ => false);

    /// <param name="block">The text_config object; null when absent (then <see cref="Defaults"/>).</param>
    internal static LlamaTextConfig Parse(JsonElement? block, string file)
    {
        if (block is not { } e) return Defaults;
        if (e.TryGetProperty("use_sliding_window", out var sw) && sw.ValueKind == JsonValueKind.True)
            throw new InputException(file, "text_config.use_sliding_window", "true is not supported (sliding-window attention); expected false");
        var bound = LlavaOnevisionConfig.Bind<LlamaTextConfig>(e, file, "text_config.");
        return Apply(bound, key => e.TryGetProperty(key, out _));
    }

    /// <summary>Fields the block omits (<paramref name="has"/> false) take Qwen2Config's defaults.</summary>
    private static LlamaTextConfig Apply(LlamaTextConfig t, Func<string, bool> has) => t with
    {
        ModelType = has("model_type") ? t.ModelType : "qwen2",
        VocabSize = has("vocab_size") ? t.VocabSize : 151936,
        HiddenSize = has("hidden_size") ? t.HiddenSize : 4096,
        IntermediateSize = has("intermediate_size") ? t.IntermediateSize : 22016,
        NumHiddenLayers = has("num_hidden_layers") ? t.NumHiddenLayers : 32,
        NumAttentionHeads = has("num_attention_heads") ? t.NumAttentionHeads : 32,
        // Qwen2Config's default is 32 itself; only an explicit null means "as many as the attention heads".
        NumKeyValueHeadsRaw = has("num_key_value_heads") ? t.NumKeyValueHeadsRaw : 32,
        MaxPositionEmbeddings = has("max_position_embeddings") ? t.MaxPositionEmbeddings : 32768,
        // PretrainedConfig's defaults: no BOS, no EOS (an empty list, not LlamaConfig's 1 and 2).
        BosTokenId = has("bos_token_id") ? t.BosTokenId : null,
        EosTokenIdRaw = t.EosTokenIdRaw is { ValueKind: JsonValueKind.Number or JsonValueKind.Array } eos ? eos : NoTokens,
        HeadDimRaw = null,
        AttentionBias = false,
        MlpBias = false,
        QkvBias = true,
    };
}

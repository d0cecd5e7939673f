using System.Text.Json;
using ModalFlow.Checkpoints;
using ModalFlow.Models;
using ModalFlow.Text;
using static TorchSharp.torch;

namespace ModalFlow.Toy;

/// <summary>
/// Writes a tiny llava-hf-format LLaVA folder (config.json, preprocessor_config.json, model.safetensors,
/// tokenizer.model + added_tokens.json) with seeded random weights and a small generated SentencePiece tokenizer.
/// Real LLaVA-1.5 geometry where it matters to the method (336-px CLIP with 14-px patches → 576 image tokens,
/// the paper's prompt), tiny widths elsewhere. Used by `modalflow demo` until a trained model ships.
/// </summary>
public static class DemoModelBuilder
{
    /// <summary>Words of the demo's questions and answers (besides the fixed prompt text the tokenizer always covers).</summary>
    public static IReadOnlyList<string> Words { get; } =
    [
        "is", "the", "a", "square", "circle", "triangle", "star", "red", "blue", "green", "yellow", "left", "right", "of",
        "or", "to", "what", "color", "colour", "shape", "which", "side", "on", "are", "there", "any", "either", "yes", "no",
        "both", "same", "in", "picture", "image", "photo", "and", "have", "common", "big", "small", "large", "this",
    ];

    public static void Create(string dir, long seed = 1234)
    {
        Directory.CreateDirectory(dir);
        var vocab = SentencePieceVocabulary.ForWords(Words);
        SentencePieceModelWriter.Write(Path.Combine(dir, "tokenizer.model"), vocab);
        int baseVocab = vocab.Count;
        int imageToken = baseVocab, padToken = baseVocab + 1;
        int paddedVocab = (baseVocab + 2 + 63) / 64 * 64;   // llava-hf pads the vocabulary to a multiple of 64
        File.WriteAllText(Path.Combine(dir, "added_tokens.json"), JsonSerializer.Serialize(new Dictionary<string, int> { ["<image>"] = imageToken, ["<pad>"] = padToken }));
        var config = new Dictionary<string, object?>
        {
            ["architectures"] = new[] { "LlavaForConditionalGeneration" },
            ["model_type"] = "llava",
            ["image_token_index"] = imageToken,
            ["pad_token_id"] = padToken,
            ["projector_hidden_act"] = "gelu",
            ["vision_feature_layer"] = -2,
            ["vision_feature_select_strategy"] = "default",
            ["tie_word_embeddings"] = false,
            ["text_config"] = new Dictionary<string, object?>
            {
                ["model_type"] = "llama", ["vocab_size"] = paddedVocab, ["hidden_size"] = 64, ["intermediate_size"] = 172,
                ["num_hidden_layers"] = 8, ["num_attention_heads"] = 4, ["num_key_value_heads"] = 2, ["rms_norm_eps"] = 1e-5,
                ["max_position_embeddings"] = 4096, ["bos_token_id"] = 1, ["eos_token_id"] = 2, ["pad_token_id"] = padToken,
            },
            ["vision_config"] = new Dictionary<string, object?>
            {
                ["model_type"] = "clip_vision_model", ["hidden_size"] = 32, ["intermediate_size"] = 64, ["num_hidden_layers"] = 2,
                ["num_attention_heads"] = 2, ["image_size"] = 336, ["patch_size"] = 14, ["projection_dim"] = 32,
            },
        };
        var configPath = Path.Combine(dir, "config.json");
        File.WriteAllText(configPath, JsonSerializer.Serialize(config, new JsonSerializerOptions { WriteIndented = true }));
        File.WriteAllText(Path.Combine(dir, PreprocessorConfig.FileName), JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["image_processor_type"] = "CLIPImageProcessor", ["do_resize"] = true, ["size"] = new { shortest_edge = 336 },
            ["resample"] = 3, ["do_center_crop"] = true, ["crop_size"] = new { height = 336, width = 336 }, ["do_rescale"] = true,
            ["rescale_factor"] = 1.0 / 255, ["do_normalize"] = true, ["image_mean"] = new[] { 0.48145466, 0.4578275, 0.40821073 },
            ["image_std"] = new[] { 0.26862954, 0.26130258, 0.27577711 }, ["do_convert_rgb"] = true,
        }, new JsonSerializerOptions { WriteIndented = true }));
        var cfg = LlavaConfig.Load(configPath);
        using var model = LlavaModel.Build(cfg, new RandomWeightSource(seed, ScalarType.Float32, CPU));
        SafetensorsWriter.Write(Path.Combine(dir, SafetensorsCheckpoint.SingleFileName),
            model.named_parameters().Select(p => (p.name, (Tensor)p.parameter)), new Dictionary<string, string> { ["format"] = "pt" });
    }
}

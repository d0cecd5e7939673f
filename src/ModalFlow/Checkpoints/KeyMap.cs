namespace ModalFlow.Checkpoints;

/// <summary>
/// Maps canonical tensor names (the llava-hf file scheme our module tree uses) to the names in a checkpoint
/// of some format: an ordered list of prefix rules, first match wins. No ad-hoc string edits elsewhere.
/// </summary>
public sealed class KeyMap
{
    private readonly (string Canonical, string File)[] _rules;
    private readonly string[] _ignoredSuffixes;
    private readonly string? _onlyFilePrefix;

    private KeyMap(string name, CheckpointFormat format, (string, string)[] rules, string[] ignoredSuffixes, string? onlyFilePrefix = null)
    {
        Name = name;
        Format = format;
        _rules = rules;
        _ignoredSuffixes = ignoredSuffixes;
        _onlyFilePrefix = onlyFilePrefix;
    }

    public string Name { get; }

    /// <summary>The config format whose checkpoints use these names.</summary>
    public CheckpointFormat Format { get; }

    /// <summary>llava-hf hub files (transformers 4.36–4.51): names are already canonical.</summary>
    public static KeyMap LlavaHf { get; } = new("llava-hf", CheckpointFormat.LlavaHf, [], ["embeddings.position_ids", "rotary_emb.inv_freq"]);

    /// <summary>Files saved by transformers ≥ 4.52 (LlavaModel refactor): language model without its own ".model".</summary>
    public static KeyMap TransformersModern { get; } = new("transformers>=4.52", CheckpointFormat.LlavaHf,
    [
        ("language_model.model.", "model.language_model."),
        ("language_model.lm_head.", "lm_head."),
        ("vision_tower.", "model.vision_tower."),
        ("multi_modal_projector.", "model.multi_modal_projector."),
        ("image_newline", "model.image_newline"),
    ], ["embeddings.position_ids", "rotary_emb.inv_freq"]);

    /// <summary>
    /// Original LLaVA / LLaVA-NeXT (<c>LlavaLlamaForCausalLM</c>; MAPPING.md, scheme 1): the Llama model under
    /// <c>model.</c>, the projector as <c>model.mm_projector.{0,2}</c> (nn.Sequential indices: Linear, GELU, Linear),
    /// the CLIP tower, when saved (NeXT originals), under <c>model.vision_tower.vision_tower.</c>. The fp32 rotary
    /// <c>inv_freq</c> buffers of the v1.5 .bin shards are ignored (recomputed from the config).
    /// </summary>
    public static KeyMap Original { get; } = new("original", CheckpointFormat.Original,
    [
        ("language_model.model.", "model."),
        ("language_model.lm_head.", "lm_head."),
        ("multi_modal_projector.linear_1.", "model.mm_projector.0."),
        ("multi_modal_projector.linear_2.", "model.mm_projector.2."),
        ("vision_tower.vision_model.", "model.vision_tower.vision_tower.vision_model."),
        ("image_newline", "model.image_newline"),
    ], ["embeddings.position_ids", "rotary_emb.inv_freq"]);

    /// <summary>
    /// A separate CLIP model folder (openai/clip-vit-large-patch14-336, named by an original config's
    /// <c>mm_vision_tower</c>): the vision tower's tensors are <c>vision_model.*</c>; everything else in the file
    /// (<c>text_model.*</c>, <c>visual_projection</c>, <c>text_projection</c>, <c>logit_scale</c>) and the
    /// <c>position_ids</c> buffer is unused by LLaVA.
    /// </summary>
    public static KeyMap ClipFolder { get; } = new("clip-folder", CheckpointFormat.Original,
    [
        ("vision_tower.vision_model.", "vision_model."),
    ], ["embeddings.position_ids"], onlyFilePrefix: "vision_model.");

    /// <summary>The canonical probe key whose presence says that a checkpoint holds the CLIP tower.</summary>
    public const string VisionTowerProbe = "vision_tower.vision_model.embeddings.patch_embedding.weight";

    public string ToFile(string canonical)
    {
        foreach (var (c, f) in _rules)
            if (canonical.StartsWith(c, StringComparison.Ordinal)) return f + canonical[c.Length..];
        return canonical;
    }

    /// <summary>Tensors that checkpoints carry but no model uses (buffers saved by old code).</summary>
    public bool IsIgnorable(string fileKey) =>
        (_onlyFilePrefix is not null && !fileKey.StartsWith(_onlyFilePrefix, StringComparison.Ordinal))
        || _ignoredSuffixes.Any(s => fileKey.EndsWith(s, StringComparison.Ordinal));

    /// <summary>Picks the map whose language-model embedding key the checkpoint holds.</summary>
    public static KeyMap Detect(Func<string, bool> contains, string describe)
    {
        foreach (var map in new[] { LlavaHf, TransformersModern, Original })
            if (contains(map.ToFile("language_model.model.embed_tokens.weight"))) return map;
        throw new InputException(describe, "weights",
            "no token embedding found; expected 'language_model.model.embed_tokens.weight' (llava-hf), " +
            "'model.language_model.embed_tokens.weight' (transformers >= 4.52) or 'model.embed_tokens.weight' (original LLaVA)");
    }

    /// <summary>Like <see cref="Detect"/>, and checks that the names agree with the config's format.</summary>
    public static KeyMap Detect(Func<string, bool> contains, string describe, LlavaConfig config)
    {
        var map = Detect(contains, describe);
        if (map.Format != config.Format)
        {
            throw new InputException(describe, "weights", config.IsOriginal
                ? $"use {map.Name} tensor names, but config.json is an original LLaVA config ({LlavaConfig.OriginalArchitecture}); expected 'model.embed_tokens.weight', 'model.mm_projector.0.weight', …"
                : $"use original LLaVA tensor names ('model.embed_tokens.weight', 'model.mm_projector.*'), but config.json is a llava-hf config; expected an original config ({LlavaConfig.OriginalArchitecture}, mm_* keys) beside them");
        }
        return map;
    }
}

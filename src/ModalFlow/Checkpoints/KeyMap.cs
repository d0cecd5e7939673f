namespace ModalFlow.Checkpoints;

/// <summary>
/// Maps canonical tensor names (the llava-hf file scheme our module tree uses) to the names in a checkpoint
/// of some format: an ordered list of prefix rules, first match wins. No ad-hoc string edits elsewhere.
/// </summary>
public sealed class KeyMap
{
    private readonly (string Canonical, string File)[] _rules;
    private readonly string[] _ignoredSuffixes;

    private KeyMap(string name, (string, string)[] rules, string[] ignoredSuffixes)
    {
        Name = name;
        _rules = rules;
        _ignoredSuffixes = ignoredSuffixes;
    }

    public string Name { get; }

    /// <summary>llava-hf hub files (transformers 4.36–4.51): names are already canonical.</summary>
    public static KeyMap LlavaHf { get; } = new("llava-hf", [], ["embeddings.position_ids", "rotary_emb.inv_freq"]);

    /// <summary>Files saved by transformers ≥ 4.52 (LlavaModel refactor): language model without its own ".model".</summary>
    public static KeyMap TransformersModern { get; } = new("transformers>=4.52",
    [
        ("language_model.model.", "model.language_model."),
        ("language_model.lm_head.", "lm_head."),
        ("vision_tower.", "model.vision_tower."),
        ("multi_modal_projector.", "model.multi_modal_projector."),
        ("image_newline", "model.image_newline"),
    ], ["embeddings.position_ids", "rotary_emb.inv_freq"]);

    public string ToFile(string canonical)
    {
        foreach (var (c, f) in _rules)
            if (canonical.StartsWith(c, StringComparison.Ordinal)) return f + canonical[c.Length..];
        return canonical;
    }

    /// <summary>Tensors that checkpoints carry but no model uses (buffers saved by old code).</summary>
    public bool IsIgnorable(string fileKey) => _ignoredSuffixes.Any(s => fileKey.EndsWith(s, StringComparison.Ordinal));

    /// <summary>Picks the map whose language-model embedding key the checkpoint holds.</summary>
    public static KeyMap Detect(Func<string, bool> contains, string describe)
    {
        foreach (var map in new[] { LlavaHf, TransformersModern })
            if (contains(map.ToFile("language_model.model.embed_tokens.weight"))) return map;
        throw new InputException(describe, "weights",
            "no token embedding found; expected 'language_model.model.embed_tokens.weight' (llava-hf) or " +
            "'model.language_model.embed_tokens.weight' (transformers >= 4.52)");
    }
}

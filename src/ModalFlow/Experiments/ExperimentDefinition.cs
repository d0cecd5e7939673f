namespace ModalFlow.Experiments;

/// <summary>What an experiment measures per sample (<see cref="Measurements"/> maps each kind to its code).</summary>
public enum ExperimentKind
{
    /// <summary>Knockout window sweeps of named blocks (the paper's Experiments 1–3 and custom blocks).</summary>
    Sweep,

    /// <summary>The logit lens at the last position (Experiment 4).</summary>
    Lens,

    /// <summary>Per-head knockout maps of named blocks: each query head knocked out alone, and all heads but one (<see cref="HeadMaps"/>).</summary>
    Heads,
}

/// <summary>One experiment: the knockout blocks it sweeps, or another per-sample measurement (DESIGN §1).</summary>
public sealed record ExperimentDefinition(string Name, string Title, IReadOnlyList<string> Blocks, ExperimentKind Kind = ExperimentKind.Sweep)
{
    /// <summary>The logit lens (Experiment 4).</summary>
    public bool Lens => Kind == ExperimentKind.Lens;

    public static ExperimentDefinition Exp1 { get; } = new("1", "Image / Question / Last -> Last", ["Image->Last", "Question->Last", "Last->Last"]);
    public static ExperimentDefinition Exp2 { get; } = new("2", "Image -> Question", ["Image->Question"]);

    /// <summary>Related vs other object patches → question; "Random Image Patches" (same size as related) is our control.</summary>
    public static ExperimentDefinition Exp3 { get; } = new("3", "Object patches -> Question",
        ["Related Image Patches->Question", "Other Image Patches->Question", "Random Image Patches->Question"]);

    public static ExperimentDefinition Exp4 { get; } = new("4", "Logit lens at the last position", [], ExperimentKind.Lens);

    public static IReadOnlyList<ExperimentDefinition> All { get; } = [Exp1, Exp2, Exp3, Exp4];

    /// <summary>The name of the per-head maps experiment (<see cref="ExperimentKind.Heads"/>; blocks from --block).</summary>
    public const string HeadsName = "heads";

    /// <summary>"1".."4" (also "exp1"), "custom" with explicit blocks (appendix variants: option / object-word sets), or "heads" (per-head maps of the given blocks).</summary>
    public static ExperimentDefinition Parse(string name, IReadOnlyList<string>? customBlocks = null)
    {
        var key = name.Trim().ToLowerInvariant();
        if (key == HeadsName)
        {
            if (customBlocks is not { Count: > 0 })
                throw new InputException(null, "--experiment", "'heads' needs at least one --block 'Source->Target', e.g. --block 'Image->Question'");
            return new ExperimentDefinition(HeadsName, "Per-head knockout maps", customBlocks, ExperimentKind.Heads);
        }
        if (key.StartsWith("exp", StringComparison.Ordinal)) key = key[3..];
        if (key == "custom")
        {
            if (customBlocks is not { Count: > 0 })
                throw new InputException(null, "--experiment", "'custom' needs at least one --block 'Source->Target'");
            return new ExperimentDefinition("custom", "Custom blocks", customBlocks);
        }
        var def = All.FirstOrDefault(e => e.Name == key)
            ?? throw new InputException(null, "--experiment", $"'{name}' is not an experiment; expected 1, 2, 3, 4, custom or heads");
        return customBlocks is { Count: > 0 } ? def with { Blocks = [.. def.Blocks, .. customBlocks] } : def;
    }
}

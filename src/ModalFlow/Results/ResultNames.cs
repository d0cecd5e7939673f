namespace ModalFlow.Results;

/// <summary>
/// Display order, legend labels and colours of tasks, conditions (block descriptions) and logit-lens token kinds,
/// shared by the aggregates, the exports and every figure so that a condition keeps its colour and place
/// everywhere. The paper's conditions have fixed colours (matplotlib's tab10, as in the paper's figures); any other
/// name gets a colour from a second palette chosen by a stable hash of the name, so it too is the same in every
/// figure and every run.
/// </summary>
public static class ResultNames
{
    /// <summary>The pooled pseudo-task of <see cref="Aggregator"/> (all tasks' samples together).</summary>
    public const string AllTasks = "All";

    /// <summary>Sub-word names of <see cref="KnockoutRow.Subword"/>.</summary>
    public const string FirstSubword = "first";

    /// <inheritdoc cref="FirstSubword"/>
    public const string FinalSubword = "final";

    /// <summary>The paper's six GQA tasks, in the order its figures show them.</summary>
    public static IReadOnlyList<string> PaperTasks { get; } = ["ChooseAttr", "ChooseCat", "ChooseRel", "CompareAttr", "LogicalObj", "QueryAttr"];

    private static readonly (string Name, string Color)[] KnownConditions =
    [
        ("Question->Last", "#1f77b4"),
        ("Image->Last", "#ff7f0e"),
        ("Last->Last", "#2ca02c"),
        ("Image->Question", "#d62728"),
        ("Related Image Patches->Question", "#9467bd"),
        ("Other Image Patches->Question", "#8c564b"),
    ];

    private static readonly (string Kind, string Label, string Color)[] KnownTokenKinds =
    [
        ("answer_lower", "Noncapitalized Answer", "#1f77b4"),
        ("answer_capital", "Capitalized Answer", "#ff7f0e"),
        ("false_option_lower", "False Option", "#2ca02c"),
        ("false_option_capital", "Capitalized False Option", "#d62728"),
    ];

    private static readonly string[] OtherColors =
    [
        "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39",
        "#7b4173", "#3182bd", "#e6550d", "#31a354",
    ];

    /// <summary>Tasks: the paper's six in its order, then others ordinally, <see cref="AllTasks"/> last.</summary>
    public static int CompareTasks(string? a, string? b) => CompareByList(a, b, PaperTasks, AllTasks);

    /// <summary>Conditions: the paper's in legend order (Figures 3–5), then others ordinally.</summary>
    public static int CompareConditions(string? a, string? b) => CompareByList(a, b, Array.ConvertAll(KnownConditions, c => c.Name), null);

    /// <summary>Token kinds: answer lower/capital, false option lower/capital, then others ordinally.</summary>
    public static int CompareTokenKinds(string? a, string? b) => CompareByList(a, b, Array.ConvertAll(KnownTokenKinds, c => c.Kind), null);

    /// <summary>"first" before "final", then others ordinally.</summary>
    public static int CompareSubwords(string? a, string? b) => CompareByList(a, b, [FirstSubword, FinalSubword], null);

    /// <summary>Legend text of a condition: "Question->Last" is shown as "Question→Last", like the paper.</summary>
    public static string ConditionLabel(string blockDesc) => blockDesc.Replace("->", "\u2192", StringComparison.Ordinal);

    /// <summary>Legend text of a token kind ("answer_capital" → "Capitalized Answer"); unknown kinds as given.</summary>
    public static string TokenKindLabel(string kind)
    {
        foreach (var k in KnownTokenKinds) if (k.Kind == kind) return k.Label;
        return kind;
    }

    /// <summary>"#rrggbb" colour of a condition, the same in every figure.</summary>
    public static string ConditionColor(string blockDesc)
    {
        foreach (var c in KnownConditions) if (c.Name == blockDesc) return c.Color;
        return HashedColor(blockDesc);
    }

    /// <summary>"#rrggbb" colour of a logit-lens token kind, the same in every figure.</summary>
    public static string TokenKindColor(string kind)
    {
        foreach (var k in KnownTokenKinds) if (k.Kind == kind) return k.Color;
        return HashedColor(kind);
    }

    private static string HashedColor(string name)
    {
        uint h = 2166136261;   // FNV-1a over UTF-16 code units: stable across runs and platforms (string.GetHashCode is not)
        foreach (char ch in name) { h ^= ch; h *= 16777619; }
        return OtherColors[h % (uint)OtherColors.Length];
    }

    private static int CompareByList(string? a, string? b, IReadOnlyList<string> known, string? last)
    {
        if (ReferenceEquals(a, b)) return 0;
        if (a is null) return -1;
        if (b is null) return 1;
        int ra = Rank(a, known, last), rb = Rank(b, known, last);
        return ra != rb ? ra.CompareTo(rb) : string.CompareOrdinal(a, b);
    }

    private static int Rank(string name, IReadOnlyList<string> known, string? last)
    {
        if (name == last) return int.MaxValue;
        for (int i = 0; i < known.Count; i++) if (known[i] == name) return i;
        return known.Count;
    }
}

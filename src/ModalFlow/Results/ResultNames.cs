namespace ModalFlow.Results;

/// <summary>
/// Display order, legend labels and styles (colour, line dash, marker) of tasks, conditions (block descriptions)
/// and logit-lens token kinds, shared by the aggregates, the exports and every figure so that a condition keeps its
/// look and place everywhere.
/// <para>
/// Colours of the paper's conditions are the paper's own palettes, from its released code (commit c9a1111):
/// vil/merge_lineplot.py builds <c>["#a7c957", "#ffcc00"] + Set1[0:3] + Set1[7:8]</c> and hands seaborn the slice
/// for each figure in the order its CSVs are concatenated — Figure 3: Question→Last #a7c957, Image→Last #ffcc00,
/// Last→Last #e41a1c; Figure 4: Image→Question #377eb8; Figure 5: Related Image Patches #4daf4a, Other Image Patches
/// #f781bf — and last_position_answer_prob.py colours Figure 6's Noncapitalized Answer #f20089, Capitalized Answer
/// #5c95ff, Noncapitalized False Option #ffa9a3, Capitalized False Option #b9e6ff. Our additions are not the
/// paper's: the Random Image Patches control is grey, and any other name gets a colour from a second palette by a
/// stable hash of the name. The paper tells its lines apart by colour alone; we add a dash pattern and a marker so
/// that overlapping lines (Other vs Random patches, the two capitalised lens tokens) stay distinguishable in grey.
/// </para>
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

    private const string PaperPalette = "the paper's palette (vil/merge_lineplot.py)";
    private const string PaperLensPalette = "the paper's palette (last_position_answer_prob.py)";
    private const string OurColour = "ModalFlow's (not in the paper)";

    private static readonly (string Name, SeriesStyle Style)[] KnownConditions =
    [
        ("Question->Last", new("#a7c957", LineDash.Solid, MarkerKind.Circle, PaperPalette)),
        ("Image->Last", new("#ffcc00", LineDash.Dashed, MarkerKind.Square, PaperPalette)),
        ("Last->Last", new("#e41a1c", LineDash.Dotted, MarkerKind.TriangleUp, PaperPalette)),
        ("Image->Question", new("#377eb8", LineDash.Solid, MarkerKind.Circle, PaperPalette)),
        ("Related Image Patches->Question", new("#4daf4a", LineDash.Solid, MarkerKind.Circle, PaperPalette)),
        ("Other Image Patches->Question", new("#f781bf", LineDash.Dashed, MarkerKind.Square, PaperPalette)),
        ("Random Image Patches->Question", new("#7f7f7f", LineDash.Dotted, MarkerKind.TriangleDown, OurColour)),
    ];

    private static readonly (string Kind, string Label, SeriesStyle Style)[] KnownTokenKinds =
    [
        ("answer_lower", "Noncapitalized Answer", new("#f20089", LineDash.Solid, MarkerKind.Circle, PaperLensPalette)),
        ("answer_capital", "Capitalized Answer", new("#5c95ff", LineDash.Dashed, MarkerKind.Square, PaperLensPalette)),
        ("false_option_lower", "Noncapitalized False Option", new("#ffa9a3", LineDash.Dotted, MarkerKind.TriangleUp, PaperLensPalette)),
        ("false_option_capital", "Capitalized False Option", new("#b9e6ff", LineDash.DashDot, MarkerKind.Diamond, PaperLensPalette)),
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
    public static string ConditionColor(string blockDesc) => ConditionStyle(blockDesc).Color;

    /// <summary>"#rrggbb" colour of a logit-lens token kind, the same in every figure.</summary>
    public static string TokenKindColor(string kind) => TokenKindStyle(kind).Color;

    /// <summary>Colour, dash and marker of a condition (see the class notes for where the colours come from).</summary>
    public static SeriesStyle ConditionStyle(string blockDesc)
    {
        foreach (var c in KnownConditions) if (c.Name == blockDesc) return c.Style;
        return HashedStyle(blockDesc);
    }

    /// <summary>Colour, dash and marker of a logit-lens token kind.</summary>
    public static SeriesStyle TokenKindStyle(string kind)
    {
        foreach (var k in KnownTokenKinds) if (k.Kind == kind) return k.Style;
        return HashedStyle(kind);
    }

    /// <summary>
    /// A heading for an experiment: "Experiment 1: Image/Question/Last → Last" — "Experiment {name}" when the name is
    /// a number (or "expN"), the name itself otherwise, then what was knocked out (<see cref="KnockedOut"/>).
    /// </summary>
    public static string ExperimentTitle(string experiment, IEnumerable<string> blockDescs)
    {
        var name = experiment.Length == 0 ? "Knockout"
            : experiment.StartsWith("exp", StringComparison.OrdinalIgnoreCase) && experiment.Length > 3 && experiment[3..].All(char.IsAsciiDigit) ? "Experiment " + experiment[3..]
            : experiment.All(char.IsAsciiDigit) ? "Experiment " + experiment
            : experiment;
        var what = KnockedOut(blockDescs);
        return what.Length == 0 ? name : $"{name}: {what}";
    }

    /// <summary>
    /// What a set of conditions knocks out, sources grouped by target in display order: "Image/Question/Last → Last";
    /// sources sharing a trailing phrase are shortened ("Related/Other Image Patches → Question").
    /// </summary>
    public static string KnockedOut(IEnumerable<string> blockDescs)
    {
        var parts = new List<string>();
        var ordered = blockDescs.Distinct().Order(Comparer<string>.Create(CompareConditions)).ToList();
        foreach (var g in ordered.GroupBy(b => b.Contains("->", StringComparison.Ordinal) ? b[(b.IndexOf("->", StringComparison.Ordinal) + 2)..] : ""))
        {
            var sources = g.Select(b => b.Contains("->", StringComparison.Ordinal) ? b[..b.IndexOf("->", StringComparison.Ordinal)] : b)
                .OrderBy(SourceRank).ToList();
            parts.Add(g.Key.Length == 0 ? string.Join("/", sources) : $"{JoinSources(sources)} \u2192 {g.Key}");
        }
        return string.Join("; ", parts);
    }

    /// <summary>Sources in reading order of the input sequence: image parts, question parts, the last position.</summary>
    private static readonly string[] SourceOrder =
    [
        "Image", "Related Image Patches", "Other Image Patches", "Random Image Patches", "Question", "Question without Options",
        "True Option", "False Option", "Central Object", "Object1", "Object2", "Last",
    ];

    private static int SourceRank(string source)
    {
        int i = Array.IndexOf(SourceOrder, source);
        return i < 0 ? SourceOrder.Length : i;
    }

    private static string JoinSources(List<string> sources)
    {
        if (sources.Count < 2) return string.Join("/", sources);
        // "Related Image Patches", "Other Image Patches" → "Related/Other Image Patches"
        var words = sources.Select(s => s.Split(' ')).ToList();
        int common = 0;
        while (words.All(w => w.Length > common + 1) && words.All(w => w[^(common + 1)] == words[0][^(common + 1)])) common++;
        if (common == 0) return string.Join("/", sources);
        var tail = string.Join(' ', words[0][^common..]);
        return string.Join("/", words.Select(w => string.Join(' ', w[..^common]))) + " " + tail;
    }

    private static SeriesStyle HashedStyle(string name)
    {
        uint h = 2166136261;   // FNV-1a over UTF-16 code units: stable across runs and platforms (string.GetHashCode is not)
        foreach (char ch in name) { h ^= ch; h *= 16777619; }
        var dashes = Enum.GetValues<LineDash>();
        var markers = Enum.GetValues<MarkerKind>().Where(m => m != MarkerKind.None).ToArray();
        return new SeriesStyle(OtherColors[h % (uint)OtherColors.Length], dashes[(h >> 8) % (uint)dashes.Length],
            markers[(h >> 16) % (uint)markers.Length], OurColour);
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

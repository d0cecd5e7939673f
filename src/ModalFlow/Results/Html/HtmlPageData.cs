namespace ModalFlow.Results.Html;

// The JSON the page's script reads (camelCase; see Page/report.js). Numbers are rounded to 5 significant digits.

internal sealed record PageData(
    string Title,
    string Generated,
    string CiMethod,
    IReadOnlyList<KeyValuePair<string, string>> Settings,
    IReadOnlyList<RunRow> Runs,
    IReadOnlyList<string> RunColumns,
    IReadOnlyList<ReportTable> Checks,
    IReadOnlyList<PageFigure> Figures,
    IReadOnlyList<string> Tasks,
    IReadOnlyList<PageExperiment> Experiments,
    IReadOnlyDictionary<string, PageStyle> Styles,
    IReadOnlyDictionary<string, PageSeries> Aggregates,
    IReadOnlyDictionary<string, PageLensSeries> Lens,
    IReadOnlyList<PageSample> Samples,
    IReadOnlyList<IReadOnlyList<int>> Geometries,
    IReadOnlyList<string> Notes,
    int Malformed,
    int NonFinite);

/// <summary>One run's settings that differ between the runs of the page (the common ones are <see cref="PageData.Settings"/>).</summary>
internal sealed record RunRow(string Dir, IReadOnlyList<string> Values, int Used, int Excluded);

internal sealed record PageFigure(string Name, string Caption, string Src);

/// <summary>A knockout experiment (its conditions) or the lens ("lens": its token kinds).</summary>
/// <param name="Key">"{experiment}|{subword}" for knockouts, "lens" for the logit lens.</param>
internal sealed record PageExperiment(string Key, string Title, string Kind, IReadOnlyList<string> Series, int Window, int Layers);

internal sealed record PageStyle(string Label, string Color, string Dash);

/// <summary>A mean curve: per layer, N, mean and the 95% interval (null where the layer has no value).</summary>
internal sealed record PageSeries(IReadOnlyList<int> Layers, IReadOnlyList<int> N, IReadOnlyList<double> Mean, IReadOnlyList<double> Lo, IReadOnlyList<double> Hi);

internal sealed record PageLensSeries(PageSeries Raw, PageSeries Norm);

/// <summary>One (task, question id): what the store says and, when it could be recomputed, what the model saw.</summary>
internal sealed class PageSample
{
    public required string Task { get; init; }
    public required string Qid { get; init; }
    public string Image { get; set; } = "";
    public string Question { get; set; } = "";
    public string Answer { get; set; } = "";
    public string Predicted { get; set; } = "";
    /// <summary>true / false: the clean answer equals the gold answer or not; null: not known (excluded before predicting).</summary>
    public bool? Correct { get; set; }
    /// <summary>"used" or "excluded".</summary>
    public required string Status { get; init; }
    public string Reason { get; init; } = "";
    public string Detail { get; init; } = "";
    /// <summary>How a used sample was measured when it was special (e.g. "nothing blocked: …" for an empty position set).</summary>
    public string Note { get; set; } = "";
    /// <summary>The clean probability of the tracked first answer token (knockout runs store it; lens-only runs do not).</summary>
    public double? P1 { get; set; }
    /// <summary>Relative change (%) per layer, keyed "{experiment}|{subword}|{condition}".</summary>
    public Dictionary<string, IReadOnlyList<double?>> Curves { get; init; } = [];
    /// <summary>Lens probabilities per layer, keyed "{kind}|raw" / "{kind}|norm".</summary>
    public Dictionary<string, IReadOnlyList<double?>> Lens { get; init; } = [];
    public PageView? View { get; set; }
    public string? ViewProblem { get; set; }
}

/// <summary>The recomputed picture and prompt of a sample.</summary>
/// <param name="Geometry">Index into <see cref="PageData.Geometries"/>: per image token crop, x, y, w, h (crop −1: no pixels).</param>
/// <param name="PromptText">The prompt's tokens in order, as text (the image block as one entry).</param>
/// <param name="PromptSets">One letter per prompt token: its position set (<see cref="PromptSet"/>); positions follow from the
/// order (the image entry stands for <paramref name="ImageTokens"/> positions).</param>
internal sealed record PageView(
    IReadOnlyList<PageCrop> Crops,
    int Geometry,
    int ImageTokens,
    int ImageStart,
    int SeqLen,
    string Preprocessing,
    IReadOnlyList<int>? Related,
    IReadOnlyList<int>? Random,
    string? PatchProblem,
    IReadOnlyList<string> PromptText,
    string PromptSets,
    int Width,
    int Height);

internal sealed record PageCrop(string Name, int W, int H, string Src);

/// <summary>The position set of a prompt token, one letter each in <see cref="PageView.PromptSets"/> (report.js: SET_NAMES).</summary>
internal static class PromptSet
{
    public const char System = 's', Image = 'i', Question = 'q', TrueOption = 't', FalseOption = 'f', Instruction = 'n', Template = 'm', Last = 'l';
}

using System.Collections.Immutable;

namespace ModalFlow.Data;

/// <summary>
/// A GQA bounding box in ORIGINAL image pixels: top-left corner (<see cref="X"/>, <see cref="Y"/>), width
/// <see cref="W"/>, height <see cref="H"/>. The paper draws it as the PIL rectangle (X, Y, X + W, Y + H) with both
/// end coordinates included, i.e. (W + 1) x (H + 1) pixels before clipping to the image.
/// </summary>
public readonly record struct Box(int X, int Y, int W, int H)
{
    /// <summary>The rectangle's right end as the paper passes it to <c>ImageDraw.rectangle</c> (included).</summary>
    public int X1 => X + W;

    /// <summary>The rectangle's bottom end (included).</summary>
    public int Y1 => Y + H;

    /// <summary>True when the drawn rectangle reaches past the right or bottom edge of a <paramref name="width"/> x
    /// <paramref name="height"/> image (x + w &gt; width or y + h &gt; height, as SCHEMA.md counts them).</summary>
    public bool ExtendsPast(int width, int height) => X1 > width || Y1 > height;

    public override string ToString() => $"(x={X}, y={Y}, w={W}, h={H})";
}

/// <summary>
/// The column layouts of the paper's six task CSVs (see data/paper-gqa/SCHEMA.md). Only the columns the paper's code
/// reads are required; any other column is allowed and ignored.
/// </summary>
public enum GqaSchema
{
    /// <summary>One central object, with true/false options: ChooseCat; ChooseAttr ("A+", extra columns ignored).</summary>
    A,

    /// <summary>One central object, no options: QueryAttr.</summary>
    B,

    /// <summary>Two objects, with options: ChooseRel.</summary>
    C,

    /// <summary>Two objects, no options, object2 may be <c>-</c>: CompareAttr, LogicalObj.</summary>
    D,
}

/// <summary>The paper's six task names (the text after the last <c>_</c> of each CSV file name).</summary>
public static class GqaTasks
{
    public const string ChooseAttr = "ChooseAttr";
    public const string ChooseCat = "ChooseCat";
    public const string ChooseRel = "ChooseRel";
    public const string CompareAttr = "CompareAttr";
    public const string LogicalObj = "LogicalObj";
    public const string QueryAttr = "QueryAttr";

    /// <summary>The six tasks in the paper's order of presentation.</summary>
    public static IReadOnlyList<string> All { get; } = [ChooseAttr, ChooseCat, ChooseRel, CompareAttr, LogicalObj, QueryAttr];

    /// <summary>The schema of a known task, or null for a name the paper does not use.</summary>
    public static GqaSchema? SchemaOf(string task) => task switch
    {
        ChooseCat or ChooseAttr => GqaSchema.A,
        QueryAttr => GqaSchema.B,
        ChooseRel => GqaSchema.C,
        CompareAttr or LogicalObj => GqaSchema.D,
        _ => null,
    };

    public static bool HasOptions(GqaSchema schema) => schema is GqaSchema.A or GqaSchema.C;
    public static bool IsTwoObject(GqaSchema schema) => schema is GqaSchema.C or GqaSchema.D;
}

/// <summary>
/// One validated row of a task CSV. Text fields are exactly as in the file (no trimming, no case change).
/// Single-object schemas (A, B) fill the central object members; two-object schemas (C, D) the object1/object2
/// members. Options are present for schemas A and C.
/// </summary>
/// <param name="Task">Task name (from the file name), e.g. "ChooseAttr".</param>
/// <param name="File">The CSV file the row came from.</param>
/// <param name="Line">The physical line the record starts on (1 = header).</param>
/// <param name="QuestionId">GQA question id as a STRING: leading zeros are significant ("02452198").</param>
/// <param name="ImgId">GQA image id; the image file is <see cref="ImageFileName"/>.</param>
/// <param name="Object2Box">Null when the CSV has <c>-</c> for object2 (the object is not in the scene graph).</param>
public sealed record GqaTaskRow(
    string Task,
    GqaSchema Schema,
    string File,
    int Line,
    string QuestionId,
    string ImgId,
    string Question,
    string Answer,
    string? TrueOption,
    string? FalseOption,
    string? CentralObjectName,
    Box? CentralObjectBox,
    string? Object1Name,
    Box? Object1Box,
    string? Object2Name,
    Box? Object2Box,
    int ImageWidth,
    int ImageHeight)
{
    public bool HasOptions => GqaTasks.HasOptions(Schema);
    public bool IsTwoObject => GqaTasks.IsTwoObject(Schema);

    /// <summary>The image file name the paper opens: <c>img_id + ".jpg"</c> unless the id already contains ".jpg".</summary>
    public string ImageFileName => ImgId.Contains(".jpg", StringComparison.Ordinal) ? ImgId : ImgId + ".jpg";

    /// <summary>
    /// The boxes the paper's code draws for Experiment 3 (<c>CustomDataset.__getitem__</c>): the central object for
    /// single-object schemas; object1 then object2 for two-object schemas, object2 skipped when it is <c>-</c>.
    /// </summary>
    public ImmutableArray<Box> PatchBoxes => IsTwoObject
        ? Object2Box is { } b2 ? [Object1Box!.Value, b2] : [Object1Box!.Value]
        : [CentralObjectBox!.Value];

    public override string ToString() => $"{Task} {QuestionId} ({Path.GetFileName(File)}:{Line}): {Question} -> {Answer}";
}

/// <summary>
/// A CSV row that was skipped: <paramref name="Line"/> is the physical line of the field at fault (the record's
/// first line for record-level problems; a later line when a multi-line quoted field comes before the field).
/// </summary>
public sealed record RowError(string File, int Line, string Field, string Message)
{
    public override string ToString() => $"{File}:{Line}: {Field}: {Message}";
}

/// <summary>The rows read from one task file and the rows skipped, with why.</summary>
public sealed class TaskReadResult
{
    private readonly Dictionary<string, GqaTaskRow> _byId;

    /// <exception cref="ArgumentException">Two rows share a question id.</exception>
    public TaskReadResult(string task, GqaSchema schema, string file, ImmutableArray<GqaTaskRow> rows, ImmutableArray<RowError> errors)
    {
        Task = task;
        Schema = schema;
        File = file;
        Rows = rows;
        Errors = errors;
        _byId = rows.ToDictionary(r => r.QuestionId, StringComparer.Ordinal);
    }

    public string Task { get; }
    public GqaSchema Schema { get; }
    public string File { get; }

    /// <summary>The valid rows, in file order.</summary>
    public ImmutableArray<GqaTaskRow> Rows { get; }

    /// <summary>The skipped rows, in file order.</summary>
    public ImmutableArray<RowError> Errors { get; }

    /// <summary>The row with this question id (exact string: "0090625" is not "90625"), or null.</summary>
    public GqaTaskRow? Find(string questionId) => _byId.GetValueOrDefault(questionId);

    /// <summary>The row with this question id.</summary>
    /// <exception cref="InputException">No such row.</exception>
    public GqaTaskRow Get(string questionId) => Find(questionId)
        ?? throw new InputException(File, "question_id", $"no row with question_id \"{questionId}\" among the {Rows.Length} rows read");

    public override string ToString() => $"{Task}: {Rows.Length} rows, {Errors.Length} skipped ({File})";
}

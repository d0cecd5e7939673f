using System.Collections.Immutable;
using System.Globalization;

namespace ModalFlow.Data;

/// <summary>
/// Reads the paper's GQA task CSVs (data/paper-gqa/SCHEMA.md) into <see cref="GqaTaskRow"/>s.
/// <list type="bullet">
/// <item>A missing file or folder, an unreadable header, a duplicated header name or a missing required column is a
///   hard <see cref="InputException"/>.</item>
/// <item>A malformed row (bad quoting, wrong field count, a non-integer box or size, an empty question, answer,
///   option or object name, a duplicated question_id, …) is skipped and reported as a <see cref="RowError"/>; the
///   read goes on.</item>
/// </list>
/// Columns are found by header name (opaque strings, exact match); their order does not matter and extra columns are
/// ignored. The schema comes from the task name for the paper's six tasks and from the header otherwise.
/// </summary>
public static class GqaTaskReader
{
    public const string QuestionIdColumn = "question_id";
    public const string ImgIdColumn = "img_id";
    public const string QuestionColumn = "question";
    public const string AnswerColumn = "answer";
    public const string TrueOptionColumn = "true option";
    public const string FalseOptionColumn = "false option";
    public const string ImageWidthColumn = "image_w";
    public const string ImageHeightColumn = "image_h";
    public const string CentralObject = "central object";
    public const string Object1 = "object1";
    public const string Object2 = "object2";

    /// <summary>The placeholder for a missing object2 (LogicalObj): all four box columns are "-".</summary>
    public const string Missing = "-";

    private static readonly string[] BoxParts = ["x", "y", "w", "h"];

    /// <summary>The paper's task name of a CSV file: the file name up to ".csv", after its last "_".</summary>
    public static string TaskNameFromFile(string path)
    {
        var name = Path.GetFileName(path);
        var csv = name.IndexOf(".csv", StringComparison.Ordinal);
        if (csv >= 0) name = name[..csv];
        return name[(name.LastIndexOf('_') + 1)..];
    }

    /// <summary>The file in <paramref name="dataFolder"/> whose name ends in <c>_{task}.csv</c>.</summary>
    /// <exception cref="InputException">No folder, an unknown task, no such file, or more than one.</exception>
    public static string TaskFile(string dataFolder, string task)
    {
        if (!GqaTasks.All.Contains(task, StringComparer.Ordinal))
            throw new InputException(dataFolder, "task", $"unknown task \"{task}\"; expected one of {string.Join(", ", GqaTasks.All)}");
        if (!Directory.Exists(dataFolder))
            throw new InputException(dataFolder, null, "data folder not found; expected the folder with the paper's six task CSVs");
        var suffix = "_" + task + ".csv";
        var matches = Directory.EnumerateFiles(dataFolder)
            .Where(f => Path.GetFileName(f).EndsWith(suffix, StringComparison.Ordinal))
            .Order(StringComparer.Ordinal).ToList();
        return matches.Count switch
        {
            1 => matches[0],
            0 => throw new InputException(dataFolder, "task",
                $"no file ending in \"{suffix}\" for task {task}; the folder has: "
                + string.Join(", ", Directory.EnumerateFiles(dataFolder, "*.csv").Select(Path.GetFileName).Order(StringComparer.Ordinal))),
            _ => throw new InputException(dataFolder, "task",
                $"{matches.Count} files end in \"{suffix}\" ({string.Join(", ", matches.Select(Path.GetFileName))}); expected exactly one"),
        };
    }

    /// <summary>Reads the task's file from <paramref name="dataFolder"/> (see <see cref="TaskFile"/>).</summary>
    public static TaskReadResult ReadTask(string dataFolder, string task) => ReadFile(TaskFile(dataFolder, task));

    /// <summary>A task by name (one of <see cref="GqaTasks.All"/>, looked up in <paramref name="dataFolder"/>) or a CSV path.</summary>
    public static TaskReadResult Read(string taskOrFile, string dataFolder) =>
        GqaTasks.All.Contains(taskOrFile, StringComparer.Ordinal) ? ReadTask(dataFolder, taskOrFile) : ReadFile(taskOrFile);

    /// <summary>All six tasks of <paramref name="dataFolder"/>, by task name.</summary>
    public static IReadOnlyDictionary<string, TaskReadResult> ReadAll(string dataFolder) =>
        GqaTasks.All.ToDictionary(t => t, t => ReadTask(dataFolder, t), StringComparer.Ordinal);

    /// <summary>Reads a task CSV; the task name comes from the file name unless <paramref name="task"/> is given.</summary>
    public static TaskReadResult ReadFile(string path, string? task = null) =>
        Parse(CsvReader.ReadAllText(path), path, task ?? TaskNameFromFile(path));

    /// <summary>Parses CSV text; <paramref name="file"/> is the name used in rows and errors.</summary>
    /// <exception cref="InputException">An empty text, a bad header, or a missing required column.</exception>
    public static TaskReadResult Parse(string text, string file, string task)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(file);
        ArgumentNullException.ThrowIfNull(task);
        using var records = CsvReader.Parse(text).GetEnumerator();
        if (!records.MoveNext())
            throw new InputException(file, "header", "the file is empty; expected a header row and records");
        var header = records.Current;
        if (header.Problem != null)
            throw new InputException(file, "header", $"line {header.Line}: malformed header: {header.Problem}");
        var columns = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < header.Count; i++)
        {
            if (!columns.TryAdd(header[i], i))
                throw new InputException(file, header[i],
                    $"the header names column \"{header[i]}\" twice (columns {columns[header[i]] + 1} and {i + 1}); expected unique names");
        }

        var schema = GqaTasks.SchemaOf(task) ?? DetectSchema(columns, file, task);
        var layout = new ColumnLayout(schema, columns, header, file, task);

        var rows = ImmutableArray.CreateBuilder<GqaTaskRow>();
        var errors = ImmutableArray.CreateBuilder<RowError>();
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        while (records.MoveNext())
        {
            var record = records.Current;
            var (row, error) = layout.ReadRow(record);
            if (row != null && seen.TryGetValue(row.QuestionId, out var firstLine))
            {
                error = new RowError(file, record.FieldLines[columns[QuestionIdColumn]], QuestionIdColumn,
                    $"question_id \"{row.QuestionId}\" already used by the row on line {firstLine}; expected unique ids");
                row = null;
            }
            if (row != null)
            {
                seen.Add(row.QuestionId, row.Line);
                rows.Add(row);
            }
            else
            {
                errors.Add(error!);
            }
        }
        return new TaskReadResult(task, schema, file, rows.ToImmutable(), errors.ToImmutable());
    }

    private static GqaSchema DetectSchema(Dictionary<string, int> columns, string file, string task)
    {
        bool options = columns.ContainsKey(TrueOptionColumn) || columns.ContainsKey(FalseOptionColumn);
        if (columns.ContainsKey(Object1 + " x")) return options ? GqaSchema.C : GqaSchema.D;
        if (columns.ContainsKey(CentralObject + " x")) return options ? GqaSchema.A : GqaSchema.B;
        throw new InputException(file, "header",
            $"task \"{task}\" is not one of the paper's ({string.Join(", ", GqaTasks.All)}) and the header has neither "
            + $"\"{CentralObject} x\" nor \"{Object1} x\"; cannot tell which boxes the rows have");
    }

    /// <summary>Where each column the reader needs sits in a file's header, and how to read a row with it.</summary>
    private sealed class ColumnLayout
    {
        private readonly GqaSchema _schema;
        private readonly string _file;
        private readonly string _task;
        private readonly string[] _names;
        private readonly int _questionId, _imgId, _question, _answer, _imageW, _imageH;
        private readonly int _trueOption = -1, _falseOption = -1;
        private readonly int _centralName = -1, _object1Name = -1, _object2Name = -1;
        private readonly int[]? _centralBox, _object1Box, _object2Box;

        public ColumnLayout(GqaSchema schema, Dictionary<string, int> columns, CsvRecord header, string file, string task)
        {
            _schema = schema;
            _file = file;
            _task = task;
            _names = [.. header.Fields];

            int Require(string name) => columns.TryGetValue(name, out var i)
                ? i
                : throw new InputException(file, name,
                    $"missing required column \"{name}\" (task {task}, schema {schema}); the header has: {string.Join(", ", header.Fields.Select(f => $"\"{f}\""))}");
            int[] Box(string prefix) => BoxParts.Select(p => Require(prefix + " " + p)).ToArray();

            _questionId = Require(QuestionIdColumn);
            _imgId = Require(ImgIdColumn);
            _question = Require(QuestionColumn);
            _answer = Require(AnswerColumn);
            if (GqaTasks.HasOptions(schema))
            {
                _trueOption = Require(TrueOptionColumn);
                _falseOption = Require(FalseOptionColumn);
            }
            if (GqaTasks.IsTwoObject(schema))
            {
                _object1Name = Require(Object1 + " name");
                _object1Box = Box(Object1);
                _object2Name = Require(Object2 + " name");
                _object2Box = Box(Object2);
            }
            else
            {
                _centralName = Require(CentralObject + " name");
                _centralBox = Box(CentralObject);
            }
            _imageW = Require(ImageWidthColumn);
            _imageH = Require(ImageHeightColumn);
        }

        public (GqaTaskRow? Row, RowError? Error) ReadRow(CsvRecord r)
        {
            try
            {
                return (Read(r), null);
            }
            catch (RowException e)
            {
                return (null, e.Error);
            }
        }

        private GqaTaskRow Read(CsvRecord r)
        {
            if (r.Problem != null)
            {
                var field = r.ProblemField < _names.Length ? _names[r.ProblemField] : $"field {r.ProblemField + 1}";
                throw Fail(r.FieldLines[r.ProblemField], field, $"malformed CSV: {r.Problem}");
            }
            if (r.Count != _names.Length)
            {
                throw Fail(r.Line, "record",
                    $"expected {_names.Length} fields (as many as the header), got {r.Count}");
            }

            var id = r[_questionId];
            string OfId() => $" (question_id {id})";
            if (id.Length == 0 || id.Any(char.IsWhiteSpace))
                throw Fail(r, _questionId, $"expected a GQA question id (digits, leading zeros kept), got \"{id}\"");

            var imgId = r[_imgId];
            if (imgId.Length == 0 || imgId.Any(c => char.IsWhiteSpace(c) || c is '/' or '\\'))
                throw Fail(r, _imgId, $"expected a GQA image id (the image file is <img_id>.jpg), got \"{imgId}\"{OfId()}");

            var question = r[_question];
            if (string.IsNullOrWhiteSpace(question))
                throw Fail(r, _question, $"expected the question text, got an empty field{OfId()}");
            if (question.Contains("<image>", StringComparison.Ordinal))
                throw Fail(r, _question, $"expected plain question text without \"<image>\", got \"{question}\"{OfId()}");

            string Text(int column)
            {
                var v = r[column];
                return string.IsNullOrWhiteSpace(v) ? throw Fail(r, column, $"expected a non-empty value, got \"{v}\"{OfId()}") : v;
            }
            var answer = Text(_answer);

            int imageW = Positive(r, _imageW, OfId);
            int imageH = Positive(r, _imageH, OfId);

            string? trueOption = null, falseOption = null, centralName = null, object1Name = null, object2Name = null;
            Box? centralBox = null, object1Box = null, object2Box = null;
            if (_trueOption >= 0)
            {
                trueOption = Text(_trueOption);
                falseOption = Text(_falseOption);
            }
            if (_centralBox != null)
            {
                centralName = Text(_centralName);
                centralBox = ReadBox(r, _centralBox, allowMissing: false, OfId);
            }
            else
            {
                object1Name = Text(_object1Name);
                object1Box = ReadBox(r, _object1Box!, allowMissing: false, OfId);
                object2Name = Text(_object2Name);
                object2Box = ReadBox(r, _object2Box!, allowMissing: _schema == GqaSchema.D, OfId);
            }

            return new GqaTaskRow(_task, _schema, _file, r.Line, id, imgId, question, answer, trueOption, falseOption,
                centralName, centralBox, object1Name, object1Box, object2Name, object2Box, imageW, imageH);
        }

        /// <summary>x, y, w, h: non-negative integers; or, where allowed, all four "-" (null).</summary>
        private Box? ReadBox(CsvRecord r, int[] c, bool allowMissing, Func<string> where)
        {
            int dashes = c.Count(i => r[i] == Missing);
            if (dashes == 4 && allowMissing) return null;
            if (dashes > 0)
            {
                var first = c.First(i => r[i] == Missing);
                var why = allowMissing
                    ? $"expected all four of {string.Join(", ", c.Select(i => _names[i]))} to be \"-\" or all integers, got "
                      + string.Join(", ", c.Select(i => $"\"{r[i]}\""))
                    : $"expected a non-negative integer, got \"-\" (this object may not be missing in schema {_schema})";
                throw Fail(r, first, why + where());
            }
            return new Box(NonNegative(r, c[0], where), NonNegative(r, c[1], where), NonNegative(r, c[2], where), NonNegative(r, c[3], where));
        }

        private int NonNegative(CsvRecord r, int column, Func<string> where) =>
            int.TryParse(r[column], NumberStyles.None, CultureInfo.InvariantCulture, out var v)
                ? v
                : throw Fail(r, column, $"expected a non-negative integer (pixels), got \"{r[column]}\"{where()}");

        private int Positive(CsvRecord r, int column, Func<string> where) =>
            int.TryParse(r[column], NumberStyles.None, CultureInfo.InvariantCulture, out var v) && v > 0
                ? v
                : throw Fail(r, column, $"expected a positive integer (pixels), got \"{r[column]}\"{where()}");

        private RowException Fail(CsvRecord r, int column, string message) => Fail(r.FieldLines[column], _names[column], message);

        private RowException Fail(int line, string field, string message) => new(new RowError(_file, line, field, message));
    }

    /// <summary>Carries a row's first problem out of the field checks; never leaves the reader.</summary>
    private sealed class RowException(RowError error) : Exception(error.ToString())
    {
        public RowError Error { get; } = error;
    }
}

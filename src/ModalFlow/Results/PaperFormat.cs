using System.Text.RegularExpressions;

namespace ModalFlow.Results;

/// <summary>How the per-sample knockout CSV is written.</summary>
public enum KnockoutCsvFormat
{
    /// <summary>The paper's ten columns (as we name them: <c>answer</c>) and then ours; round-trip exact.</summary>
    ModalFlow,

    /// <summary>
    /// Byte-compatible with the paper's own per-sample CSV (see <see cref="PaperFormat"/>): only its ten columns, its
    /// names (<c>goden answer</c>), <c>image</c> = <c>&lt;img_id&gt;.jpg</c>, its block names, pandas' number spelling.
    /// </summary>
    Paper,
}

/// <summary>
/// The per-sample CSV that the paper's released code writes, both ways. Source: InformationFlow.py of
/// github.com/FightingFighting/cross-modal-information-flow-in-MLLM at commit c9a1111dac4baa175f67716fab473789320187c0.
/// Per kept sample and window-centre layer it appends the record
/// <code>
/// {"question_id": question_id, "image": img_id,            # str(line["img_id"]) + ".jpg"
///  "goden answer": answer, "predicted answer": predicted_answer,
///  "question": question, "block_desc": block_desc, "layer": layer,
///  "base_score_first": …, "new_score_first": …, "relative diff first": (new − base) * 100.0 / base}
/// </code>
/// and writes <c>pd.DataFrame.from_records(results).to_csv(path, index=False)</c>. So: those ten columns in that
/// order (the misspelt <c>goden answer</c> included), no index column, the csv module's minimal quoting (a field with
/// a comma, a double quote or LF is quoted, inner quotes doubled; a lone CR is not, as Python 3.11 writes it — such a
/// record does not read back, in pandas either), "\n" line ends, UTF-8 without BOM, integers
/// as digits, floats as numpy's <c>astype(str)</c> = Python's <c>repr</c> (<see cref="PythonFloat"/>), NaN as ""
/// (pandas' default na_rep; the paper's code never produces one: it divides by p₁ > 0). One file holds one
/// condition (its <c>--block_description</c>, e.g. <c>Image Central Object-&gt;Question</c>, the name the paper's
/// plotting script vil/merge_lineplot.py renames to "Related Image Patches").
/// </summary>
public static partial class PaperFormat
{
    /// <summary>The paper's spelling of the gold-answer column (sic).</summary>
    public const string GoldAnswerColumn = "goden answer";

    /// <summary>The paper's per-sample columns, in its order, for a sub-word ("first"; the paper writes only that one).</summary>
    public static IReadOnlyList<string> KnockoutColumns(string subword = ResultNames.FirstSubword) =>
        ["question_id", "image", GoldAnswerColumn, "predicted answer", "question", "block_desc", "layer",
         $"base_score_{subword}", $"new_score_{subword}", $"relative diff {subword}"];

    /// <summary>Our condition names → the block descriptions the paper's scripts pass to InformationFlow.py.</summary>
    private static readonly (string Ours, string Paper)[] BlockNames =
    [
        ("Related Image Patches->Question", "Image Central Object->Question"),
        ("Other Image Patches->Question", "Image Without Central Object->Question"),
    ];

    /// <summary>
    /// The renames vil/merge_lineplot.py's read_csv applies to the paper's block names, in its order (plain substring
    /// replacement), which turn every name the paper's runs wrote into a figure legend name, i.e. ours.
    /// </summary>
    private static readonly (string From, string To)[] PaperReadRenames =
    [
        ("Image Central Object", "Related Image Patches"),
        ("Image Objects", "Related Image Patches"),
        ("Image Without Central Object", "Other Image Patches"),
        ("Other Image Patches with pad", "Other Image Patches"),
        ("Image Without Objects", "Other Image Patches"),
        ("last", "Last"),
    ];

    /// <summary>The paper's six dataset files (datasets/*.csv, without extension) by task, as its scripts name them.</summary>
    private static readonly Dictionary<string, string> DatasetStems = new(StringComparer.Ordinal)
    {
        ["ChooseAttr"] = "GQA_val_correct_question_with_choose_ChooseAttr",
        ["ChooseCat"] = "GQA_val_correct_question_with_categoryThatThisChoose_objThisChoose_ChooseCat",
        ["ChooseRel"] = "GQA_val_correct_question_with_relChooser_ChooseRel",
        ["CompareAttr"] = "GQA_val_correct_question_with_twoCommon_CompareAttr",
        ["LogicalObj"] = "GQA_val_correct_question_with_existThatOr_LogicalObj",
        ["QueryAttr"] = "GQA_val_correct_question_with_positionQuery_QueryAttr",
    };

    /// <summary>The block description the paper's code would have written for one of our conditions.</summary>
    public static string ToPaperBlock(string blockDesc)
    {
        foreach (var (ours, paper) in BlockNames) if (ours == blockDesc) return paper;
        return blockDesc;
    }

    /// <summary>A block description read from a paper file, renamed as the paper's plotting code does (= our names).</summary>
    public static string FromPaperBlock(string blockDesc)
    {
        foreach (var (from, to) in PaperReadRenames) blockDesc = blockDesc.Replace(from, to, StringComparison.Ordinal);
        return blockDesc;
    }

    /// <summary>The paper's <c>image</c> field: <c>str(img_id) + ".jpg"</c>.</summary>
    public static string ImageField(string imageId) => imageId + ".jpg";

    /// <summary>The image id back from a paper <c>image</c> field (a trailing ".jpg" removed).</summary>
    public static string ImageIdOf(string imageField) =>
        imageField.EndsWith(".jpg", StringComparison.Ordinal) ? imageField[..^4] : imageField;

    /// <summary>A float as pandas' to_csv writes it (NaN → "", the default na_rep).</summary>
    public static string FormatFloat(double v) => double.IsNaN(v) ? "" : PythonFloat.Repr(v);

    /// <summary>The paper's file-name part for a block: <c>block.replace(" ", "_").replace("->", "___")</c>.</summary>
    public static string SaveName(string paperBlock) => paperBlock.Replace(" ", "_", StringComparison.Ordinal).Replace("->", "___", StringComparison.Ordinal);

    /// <summary>The dataset stem of a task: the paper's file name for its six tasks, else the task name itself.</summary>
    public static string DatasetStem(string task) => DatasetStems.TryGetValue(task, out var s) ? s : task;

    /// <summary>
    /// The file name InformationFlow.py gives one condition's results:
    /// <c>{dataset stem}_window{k}_{save name}.csv</c> (a sub-word other than "first" is appended, as ours).
    /// </summary>
    public static string FileName(string task, int window, string blockDesc, string subword = ResultNames.FirstSubword) =>
        FileNames.Sanitize($"{DatasetStem(task)}_window{window}_{SaveName(ToPaperBlock(blockDesc))}"
            + (subword == ResultNames.FirstSubword ? "" : "_" + subword)) + ".csv";

    /// <summary>The task and window a paper file name carries (<c>…_ChooseAttr_window9_Image___Last.csv</c>), or nulls.</summary>
    public static (string? Task, int? Window) ParseFileName(string path)
    {
        var m = FileNamePattern().Match(Path.GetFileName(path));
        if (!m.Success) return (null, null);
        var stem = m.Groups["stem"].Value;
        var task = stem[(stem.LastIndexOf('_') + 1)..];   // the paper's task_name = dataset stem's text after the last '_'
        return (task.Length == 0 ? null : task, int.Parse(m.Groups["w"].Value, System.Globalization.CultureInfo.InvariantCulture));
    }

    [GeneratedRegex(@"^(?<stem>.+)_window(?<w>\d{1,4})_.+\.csv$")]
    private static partial Regex FileNamePattern();

    /// <summary>
    /// Writes rows as the paper's per-sample CSV, in the order given (one sub-word per file, as its column names say).
    /// </summary>
    public static void WriteKnockoutCsv(string path, IReadOnlyList<KnockoutRow> rows)
    {
        var columns = Columns(Exporter.SingleSubword(rows));
        AtomicFile.WriteText(path, w =>
        {
            WriteRecord(w, columns.Select(c => c.Name));
            foreach (var row in rows) WriteRecord(w, columns.Select(c => c.Format(row)));
        });
    }

    /// <summary>
    /// One record as Python's csv writer with pandas' settings (QUOTE_MINIMAL, lineterminator "\n"): a field is quoted
    /// only when it holds a comma, a double quote or "\n" (measured with Python 3.11 / pandas 1.5.3: a lone "\r" is
    /// written unquoted), inner quotes doubled.
    /// </summary>
    internal static void WriteRecord(TextWriter w, IEnumerable<string> fields)
    {
        bool first = true;
        foreach (var f in fields)
        {
            if (!first) w.Write(',');
            first = false;
            if (f.AsSpan().IndexOfAny(",\"\n") < 0) w.Write(f);
            else w.Write('"' + f.Replace("\"", "\"\"", StringComparison.Ordinal) + '"');
        }
        w.Write('\n');
    }

    /// <summary>
    /// The paper's relative change, <c>(new − base) * 100.0 / base</c> in that order (ours divides first; the two can
    /// differ in the last bit), from the row's scores; the row's own value where the paper's would not exist (p₁ = 0).
    /// </summary>
    public static double RelativeDiff(KnockoutRow r) =>
        r.BaseScore != 0 && double.IsFinite(r.BaseScore) && double.IsFinite(r.NewScore) ? (r.NewScore - r.BaseScore) * 100.0 / r.BaseScore : r.RelativeDiff;

    internal static IReadOnlyList<TableColumn<KnockoutRow>> Columns(string subword)
    {
        var names = KnockoutColumns(subword);
        return
        [
            TableColumn<KnockoutRow>.Str(names[0], r => r.QuestionId),
            TableColumn<KnockoutRow>.Str(names[1], r => ImageField(r.ImageId)),
            TableColumn<KnockoutRow>.Str(names[2], r => r.Answer),
            TableColumn<KnockoutRow>.Str(names[3], r => r.Predicted),
            TableColumn<KnockoutRow>.Str(names[4], r => r.Question),
            TableColumn<KnockoutRow>.Str(names[5], r => ToPaperBlock(r.BlockDesc)),
            TableColumn<KnockoutRow>.I32(names[6], r => r.Layer),
            TableColumn<KnockoutRow>.Str(names[7], r => FormatFloat(r.BaseScore)),
            TableColumn<KnockoutRow>.Str(names[8], r => FormatFloat(r.NewScore)),
            TableColumn<KnockoutRow>.Str(names[9], r => FormatFloat(RelativeDiff(r))),
        ];
    }

    /// <summary>
    /// One file per task × condition × window in <paramref name="dir"/>, named as InformationFlow.py names them
    /// (<see cref="FileName"/>), each holding exactly what the paper's run of that condition would write. Returns the paths.
    /// </summary>
    public static IReadOnlyList<string> WritePerCondition(string dir, IReadOnlyList<KnockoutRow> rows)
    {
        var written = new List<string>();
        foreach (var g in rows.GroupBy(r => (r.Task, r.BlockDesc, r.Window, r.Subword)))
        {
            var path = Path.Combine(dir, FileName(g.Key.Task, g.Key.Window, g.Key.BlockDesc, g.Key.Subword));
            WriteKnockoutCsv(path, g.ToList());
            written.Add(path);
        }
        return written;
    }
}

namespace ModalFlow.Results;

/// <summary>
/// Writes result rows and aggregates as CSV (for eyes and spreadsheets, byte-identical for the same rows) and as
/// Parquet with typed columns (string, int32, int64, double; for pandas, polars, DuckDB). Every write is atomic.
/// <para>
/// Per-sample knockout files have the paper's columns first — <c>question_id, image, answer, predicted answer,
/// question, block_desc, layer, base_score_first, new_score_first, relative diff first</c> — then ours: <c>task,
/// experiment, window, window_layers, target_token_id, logprob_new, top1_new, heads</c>. The three score columns carry the
/// sub-word in their names as the paper's files do (<c>base_score_final, new_score_final, relative diff final</c>
/// for the final sub-word), so one file holds one sub-word: <see cref="WriteAll"/> writes
/// <c>knockout_first.*</c> and <c>knockout_final.*</c>, and the single-file writers refuse rows that mix sub-words.
/// Rows are written in the order given.
/// </para>
/// </summary>
public static class Exporter
{
    /// <summary>The paper's per-sample columns, the sub-word-specific ones for <paramref name="subword"/>.</summary>
    public static IReadOnlyList<string> PaperKnockoutColumns(string subword) =>
        ["question_id", "image", "answer", "predicted answer", "question", "block_desc", "layer",
         $"base_score_{subword}", $"new_score_{subword}", $"relative diff {subword}"];

    /// <summary>Our columns after the paper's, in the per-sample knockout files.</summary>
    public static IReadOnlyList<string> ExtraKnockoutColumns { get; } =
        ["task", "experiment", "window", "window_layers", "target_token_id", "logprob_new", "top1_new", "heads"];

    /// <summary>File name of the per-sample knockout export for a sub-word, without extension: "knockout_first".</summary>
    public static string KnockoutFileStem(string subword) => "knockout_" + FileNames.Sanitize(subword);

    public const string AggregatesFileStem = "aggregates";
    public const string LensFileStem = "lens";
    public const string LensAggregatesFileStem = "lens_aggregates";
    public const string ExcludedFileName = "excluded.csv";
    public const string MalformedFileName = "malformed.csv";

    /// <summary>Folder (inside a run folder) of the per-condition files in the paper's layout, with <see cref="KnockoutCsvFormat.Paper"/>.</summary>
    public const string PaperFolder = "paper";

    /// <summary>
    /// Writes every table of a run into <paramref name="dir"/>: <c>knockout_{subword}.csv/.parquet</c> per sub-word
    /// present, <c>aggregates.csv/.parquet</c>, <c>lens.csv/.parquet</c> and <c>lens_aggregates.csv/.parquet</c>
    /// (when there are lens rows), <c>excluded.csv</c> and <c>malformed.csv</c> (when there are any). With
    /// <see cref="KnockoutCsvFormat.Paper"/> the knockout CSVs are the paper's own format (<see cref="PaperFormat"/>;
    /// the Parquet files keep all our columns) and <c>paper/</c> gets one file per task × condition as the paper's
    /// code names and writes them. Returns the paths.
    /// </summary>
    public static IReadOnlyList<string> WriteAll(string dir, RunResults run, IReadOnlyList<LayerAggregate> aggregates, IReadOnlyList<LensAggregate> lensAggregates,
        KnockoutCsvFormat format = KnockoutCsvFormat.ModalFlow)
    {
        var written = new List<string>();
        foreach (var group in run.Knockout.GroupBy(r => r.Subword).OrderBy(g => g.Key, Comparer<string>.Create(ResultNames.CompareSubwords)))
        {
            var rows = group.ToList();
            var stem = Path.Combine(dir, KnockoutFileStem(group.Key));
            if (format == KnockoutCsvFormat.Paper)
            {
                // The paper knocks out every head; its format has no heads column, so per-head rows stay in the Parquet file.
                var paperRows = rows.Where(r => r.Heads.Length == 0).ToList();
                PaperFormat.WriteKnockoutCsv(stem + ".csv", paperRows);
                written.AddRange(PaperFormat.WritePerCondition(Path.Combine(dir, PaperFolder), paperRows));
            }
            else
            {
                WriteKnockoutCsv(stem + ".csv", rows);
            }
            WriteKnockoutParquet(stem + ".parquet", rows);
            written.Add(stem + ".csv");
            written.Add(stem + ".parquet");
        }
        if (aggregates.Count > 0)
        {
            var stem = Path.Combine(dir, AggregatesFileStem);
            WriteAggregatesCsv(stem + ".csv", aggregates);
            WriteAggregatesParquet(stem + ".parquet", aggregates);
            written.Add(stem + ".csv");
            written.Add(stem + ".parquet");
        }
        if (run.Lens.Count > 0)
        {
            var stem = Path.Combine(dir, LensFileStem);
            WriteLensCsv(stem + ".csv", run.Lens);
            WriteLensParquet(stem + ".parquet", run.Lens);
            written.Add(stem + ".csv");
            written.Add(stem + ".parquet");
        }
        if (lensAggregates.Count > 0)
        {
            var stem = Path.Combine(dir, LensAggregatesFileStem);
            WriteLensAggregatesCsv(stem + ".csv", lensAggregates);
            WriteLensAggregatesParquet(stem + ".parquet", lensAggregates);
            written.Add(stem + ".csv");
            written.Add(stem + ".parquet");
        }
        if (run.Excluded.Count > 0)
        {
            var path = Path.Combine(dir, ExcludedFileName);
            WriteExcludedCsv(path, run.Excluded);
            written.Add(path);
        }
        if (run.Malformed.Count > 0)
        {
            var path = Path.Combine(dir, MalformedFileName);
            Table.WriteCsv(path, MalformedColumns, run.Malformed);
            written.Add(path);
        }
        return written;
    }

    // ---- per-sample knockout rows ----

    public static void WriteKnockoutCsv(string path, IReadOnlyList<KnockoutRow> rows) =>
        Table.WriteCsv(path, KnockoutColumns(SingleSubword(rows)), rows);

    public static void WriteKnockoutParquet(string path, IReadOnlyList<KnockoutRow> rows) =>
        Table.WriteParquet(path, KnockoutColumns(SingleSubword(rows)), rows);

    internal static IReadOnlyList<TableColumn<KnockoutRow>> KnockoutColumns(string subword)
    {
        if (subword.Length == 0 || subword.Any(c => !(char.IsAsciiLetterOrDigit(c) || c == '_')))
            throw new ArgumentException($"sub-word '{subword}' cannot name a column; expected letters, digits or '_' (\"first\", \"final\")", nameof(subword));
        var paper = PaperKnockoutColumns(subword);
        return
        [
            TableColumn<KnockoutRow>.Str(paper[0], r => r.QuestionId),
            TableColumn<KnockoutRow>.Str(paper[1], r => r.ImageId),
            TableColumn<KnockoutRow>.Str(paper[2], r => r.Answer),
            TableColumn<KnockoutRow>.Str(paper[3], r => r.Predicted),
            TableColumn<KnockoutRow>.Str(paper[4], r => r.Question),
            TableColumn<KnockoutRow>.Str(paper[5], r => r.BlockDesc),
            TableColumn<KnockoutRow>.I32(paper[6], r => r.Layer),
            TableColumn<KnockoutRow>.F64(paper[7], r => r.BaseScore),
            TableColumn<KnockoutRow>.F64(paper[8], r => r.NewScore),
            TableColumn<KnockoutRow>.F64(paper[9], r => r.RelativeDiff),
            TableColumn<KnockoutRow>.Str("task", r => r.Task),
            TableColumn<KnockoutRow>.Str("experiment", r => r.Experiment),
            TableColumn<KnockoutRow>.I32("window", r => r.Window),
            TableColumn<KnockoutRow>.Str("window_layers", r => r.WindowLayers),
            TableColumn<KnockoutRow>.I64("target_token_id", r => r.TargetTokenId),
            TableColumn<KnockoutRow>.F64("logprob_new", r => r.LogProbNew),
            TableColumn<KnockoutRow>.I64("top1_new", r => r.Top1New),
            TableColumn<KnockoutRow>.Str("heads", r => r.Heads),
        ];
    }

    internal static string SingleSubword(IReadOnlyList<KnockoutRow> rows)
    {
        if (rows.Count == 0) return ResultNames.FirstSubword;
        var s = rows[0].Subword;
        foreach (var r in rows)
            if (r.Subword != s)
                throw new ArgumentException($"rows mix sub-words '{s}' and '{r.Subword}'; a per-sample file holds one sub-word (its score columns are named after it): write one file per sub-word, as Exporter.WriteAll does", nameof(rows));
        return s;
    }

    // ---- aggregates ----

    internal static readonly IReadOnlyList<TableColumn<LayerAggregate>> AggregateColumns =
    [
        TableColumn<LayerAggregate>.Str("task", a => a.Task),
        TableColumn<LayerAggregate>.Str("experiment", a => a.Experiment),
        TableColumn<LayerAggregate>.Str("block_desc", a => a.BlockDesc),
        TableColumn<LayerAggregate>.Str("subword", a => a.Subword),
        TableColumn<LayerAggregate>.I32("layer", a => a.Layer),
        TableColumn<LayerAggregate>.I32("n", a => a.N),
        TableColumn<LayerAggregate>.F64("mean", a => a.Mean),
        TableColumn<LayerAggregate>.F64("std_error", a => a.StdError),
        TableColumn<LayerAggregate>.F64("ci95_low", a => a.Ci95Low),
        TableColumn<LayerAggregate>.F64("ci95_high", a => a.Ci95High),
        TableColumn<LayerAggregate>.Str("ci_method", a => a.CiMethod),
        TableColumn<LayerAggregate>.I32("window", a => a.Window),
        TableColumn<LayerAggregate>.Str("heads", a => a.Heads),
    ];

    public static void WriteAggregatesCsv(string path, IReadOnlyList<LayerAggregate> rows) => Table.WriteCsv(path, AggregateColumns, rows);

    public static void WriteAggregatesParquet(string path, IReadOnlyList<LayerAggregate> rows) => Table.WriteParquet(path, AggregateColumns, rows);

    // ---- logit lens ----

    internal static readonly IReadOnlyList<TableColumn<LensRow>> LensColumns =
    [
        TableColumn<LensRow>.Str("task", r => r.Task),
        TableColumn<LensRow>.Str("question_id", r => r.QuestionId),
        TableColumn<LensRow>.Str("answer", r => r.Answer),
        TableColumn<LensRow>.Str("predicted answer", r => r.Predicted),
        TableColumn<LensRow>.Str("token_kind", r => r.TokenKind),
        TableColumn<LensRow>.Str("token_text", r => r.TokenText),
        TableColumn<LensRow>.I64("token_id", r => r.TokenId),
        TableColumn<LensRow>.I32("layer", r => r.Layer),
        TableColumn<LensRow>.F64("prob_raw", r => r.ProbRaw),
        TableColumn<LensRow>.F64("prob_norm", r => r.ProbNorm),
    ];

    public static void WriteLensCsv(string path, IReadOnlyList<LensRow> rows) => Table.WriteCsv(path, LensColumns, rows);

    public static void WriteLensParquet(string path, IReadOnlyList<LensRow> rows) => Table.WriteParquet(path, LensColumns, rows);

    internal static readonly IReadOnlyList<TableColumn<LensAggregate>> LensAggregateColumns =
    [
        TableColumn<LensAggregate>.Str("task", a => a.Task),
        TableColumn<LensAggregate>.Str("token_kind", a => a.TokenKind),
        TableColumn<LensAggregate>.I32("layer", a => a.Layer),
        TableColumn<LensAggregate>.I32("n", a => a.N),
        TableColumn<LensAggregate>.F64("mean_raw", a => a.MeanRaw),
        TableColumn<LensAggregate>.F64("std_error_raw", a => a.StdErrorRaw),
        TableColumn<LensAggregate>.F64("ci95_low_raw", a => a.Ci95LowRaw),
        TableColumn<LensAggregate>.F64("ci95_high_raw", a => a.Ci95HighRaw),
        TableColumn<LensAggregate>.F64("mean_norm", a => a.MeanNorm),
        TableColumn<LensAggregate>.F64("std_error_norm", a => a.StdErrorNorm),
        TableColumn<LensAggregate>.F64("ci95_low_norm", a => a.Ci95LowNorm),
        TableColumn<LensAggregate>.F64("ci95_high_norm", a => a.Ci95HighNorm),
        TableColumn<LensAggregate>.Str("ci_method", a => a.CiMethod),
    ];

    public static void WriteLensAggregatesCsv(string path, IReadOnlyList<LensAggregate> rows) => Table.WriteCsv(path, LensAggregateColumns, rows);

    public static void WriteLensAggregatesParquet(string path, IReadOnlyList<LensAggregate> rows) => Table.WriteParquet(path, LensAggregateColumns, rows);

    // ---- exclusions and malformed input ----

    internal static readonly IReadOnlyList<TableColumn<ExcludedSample>> ExcludedColumns =
    [
        TableColumn<ExcludedSample>.Str("task", e => e.Task),
        TableColumn<ExcludedSample>.Str("question_id", e => e.QuestionId),
        TableColumn<ExcludedSample>.Str("reason", e => e.Reason),
        TableColumn<ExcludedSample>.Str("detail", e => e.Detail),
    ];

    public static void WriteExcludedCsv(string path, IReadOnlyList<ExcludedSample> rows) => Table.WriteCsv(path, ExcludedColumns, rows);

    internal static readonly IReadOnlyList<TableColumn<MalformedRow>> MalformedColumns =
    [
        TableColumn<MalformedRow>.Str("file", m => m.File),
        TableColumn<MalformedRow>.I64("line", m => m.Line),
        TableColumn<MalformedRow>.Str("problem", m => m.Problem),
    ];
}

/// <summary>File-name helpers shared by the exports and the figures.</summary>
public static class FileNames
{
    /// <summary>Keeps ASCII letters, digits, '.', '-' and '_'; anything else becomes '_' ("Image->Last" → "Image__Last").</summary>
    public static string Sanitize(string name)
    {
        if (name.Length == 0) return "_";
        var chars = name.Select(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_' ? c : '_').ToArray();
        return new string(chars);
    }
}

namespace ModalFlow.Results;

/// <summary>
/// Reads per-sample knockout files back into <see cref="KnockoutRow"/>s: ours (CSV and Parquet, exactly as written)
/// and the paper's own per-sample CSVs, which have only the paper's columns.
/// <para>
/// Columns are found by name, in any order; unknown columns (a pandas index column, say) are ignored. The sub-word
/// comes from the header: <c>relative diff first</c> → "first", <c>relative diff final</c> → "final". Required: the
/// paper's ten columns. Optional, with these defaults when absent or empty: task (the <c>task</c> argument, else
/// ""), experiment (""), window (0), window_layers (""), target_token_id (−1), logprob_new (NaN), top1_new (−1),
/// heads ("": every head).
/// </para>
/// <para>
/// A file with the paper's <c>goden answer</c> column instead of <c>answer</c> is read as the paper's code wrote it
/// (<see cref="PaperFormat"/>): <c>image</c> loses its ".jpg", block names are renamed as the paper's plotting script
/// does (<c>Image Central Object-&gt;Question</c> → <c>Related Image Patches-&gt;Question</c>, …), an empty score is
/// NaN (pandas' na_rep), and task and window, when not given, come from the file name
/// (<c>GQA_val_…_ChooseAttr_window9_Image___Last.csv</c> → ChooseAttr, 9).
/// </para>
/// </summary>
public static class ResultReader
{
    /// <summary>Reads a per-sample knockout CSV; the first malformed record throws an <see cref="InputException"/>.</summary>
    public static IReadOnlyList<KnockoutRow> ReadKnockoutCsv(string path, string? task = null) => ReadKnockoutCsv(path, malformed: null, task);

    /// <summary>
    /// Reads a per-sample knockout CSV, skipping malformed records (wrong field count, unparsable number, broken
    /// quoting) and adding each to <paramref name="malformed"/> instead of throwing; a bad header still throws.
    /// With <paramref name="malformed"/> null the first malformed record throws.
    /// </summary>
    public static IReadOnlyList<KnockoutRow> ReadKnockoutCsv(string path, ICollection<MalformedRow>? malformed, string? task = null)
    {
        if (!File.Exists(path)) throw new InputException(path, null, "file not found; expected a per-sample knockout CSV");
        using var reader = new StreamReader(path, AtomicFile.Utf8, detectEncodingFromByteOrderMarks: true);
        using var records = Csv.ReadRecords(reader).GetEnumerator();
        if (!records.MoveNext()) throw new InputException(path, null, "the file is empty; expected a header line with the paper's columns (question_id, image, …)");
        var header = records.Current;
        if (header.Error != null) throw new InputException(path, "header", header.Error);
        var map = new ColumnMap(path, header.Fields);
        if (map.IsPaperFile && task is null) task = PaperFormat.ParseFileName(path).Task;
        var rows = new List<KnockoutRow>();
        while (records.MoveNext())
        {
            var rec = records.Current;
            try
            {
                if (rec.Error != null) throw new RowException(rec.Error);
                if (rec.Fields.Count != header.Fields.Count)
                    throw new RowException($"{rec.Fields.Count} fields; the header has {header.Fields.Count}");
                rows.Add(map.Parse(rec.Fields, task));
            }
            catch (RowException e)
            {
                if (malformed == null) throw new InputException(path, $"line {rec.Line}", e.Message);
                malformed.Add(new MalformedRow(path, rec.Line, e.Message));
            }
        }
        return rows;
    }

    /// <summary>Reads a per-sample knockout Parquet file written by <see cref="Exporter.WriteKnockoutParquet"/>.</summary>
    public static IReadOnlyList<KnockoutRow> ReadKnockoutParquet(string path, string? task = null)
    {
        if (!File.Exists(path)) throw new InputException(path, null, "file not found; expected a per-sample knockout Parquet file");
        ParquetColumns cols;
        try
        {
            cols = Table.ReadParquet(path);
        }
        catch (Exception e) when (e is not InputException and (IOException or InvalidDataException or InvalidOperationException or NotSupportedException or ArgumentException or FormatException))
        {
            throw new InputException(path, null, $"not a readable Parquet file ({e.Message})", e);
        }
        var subword = SubwordOf(path, cols.Columns.Keys);
        var paper = Exporter.PaperKnockoutColumns(subword);
        var qid = cols.Get<string>(path, paper[0]);
        var image = cols.Get<string>(path, paper[1]);
        var answer = cols.Get<string>(path, paper[2]);
        var predicted = cols.Get<string>(path, paper[3]);
        var question = cols.Get<string>(path, paper[4]);
        var block = cols.Get<string>(path, paper[5]);
        var layer = cols.Get<int>(path, paper[6]);
        var baseScore = cols.Get<double>(path, paper[7]);
        var newScore = cols.Get<double>(path, paper[8]);
        var rel = cols.Get<double>(path, paper[9]);
        var taskCol = cols.TryGet<string>(path, "task");
        var exp = cols.TryGet<string>(path, "experiment");
        var window = cols.TryGet<int>(path, "window");
        var windowLayers = cols.TryGet<string>(path, "window_layers");
        var target = cols.TryGet<long>(path, "target_token_id");
        var logProb = cols.TryGet<double>(path, "logprob_new");
        var top1 = cols.TryGet<long>(path, "top1_new");
        var heads = cols.TryGet<string>(path, "heads");
        var rows = new KnockoutRow[cols.RowCount];
        for (int i = 0; i < rows.Length; i++)
        {
            rows[i] = new KnockoutRow(
                taskCol?[i] ?? task ?? "", qid[i], image[i], answer[i], predicted[i], question[i],
                exp?[i] ?? "", block[i], window?[i] ?? 0, layer[i], windowLayers?[i] ?? "", subword,
                target?[i] ?? -1, baseScore[i], newScore[i], logProb?[i] ?? double.NaN, rel[i], top1?[i] ?? -1)
            { Heads = heads?[i] ?? "" };
        }
        return rows;
    }

    private static string SubwordOf(string path, IEnumerable<string> names)
    {
        const string Prefix = "relative diff ";
        var found = names.Where(n => n.StartsWith(Prefix, StringComparison.Ordinal) && n.Length > Prefix.Length).ToList();
        return found.Count switch
        {
            1 => found[0][Prefix.Length..],
            0 => throw new InputException(path, "relative diff first", "column is missing; expected the paper's 'relative diff first' (or '… final') column"),
            _ => throw new InputException(path, "header", $"several sub-word columns ({string.Join(", ", found)}); expected one sub-word per file"),
        };
    }

    private sealed class RowException(string message) : Exception(message);

    /// <summary>Header name → field index, and the parse of one record.</summary>
    private sealed class ColumnMap
    {
        private readonly int[] _paper;
        private readonly int _task, _experiment, _window, _windowLayers, _target, _logProb, _top1, _heads;
        private readonly string _subword;
        private readonly IReadOnlyList<string> _paperNames;
        private readonly int _fileWindow;

        /// <summary>The paper's own file (its <c>goden answer</c> column instead of our <c>answer</c>).</summary>
        public bool IsPaperFile { get; }

        public ColumnMap(string path, List<string> header)
        {
            var index = new Dictionary<string, int>(StringComparer.Ordinal);
            for (int i = 0; i < header.Count; i++)
                if (!index.TryAdd(header[i], i) && header[i].Length > 0)
                    throw new InputException(path, header[i], "column appears twice in the header");
            _subword = SubwordOf(path, index.Keys);
            IsPaperFile = !index.ContainsKey("answer") && index.ContainsKey(PaperFormat.GoldAnswerColumn);
            _paperNames = IsPaperFile ? PaperFormat.KnockoutColumns(_subword) : Exporter.PaperKnockoutColumns(_subword);
            _fileWindow = IsPaperFile ? PaperFormat.ParseFileName(path).Window ?? 0 : 0;
            _paper = _paperNames.Select(n => index.TryGetValue(n, out var i) ? i
                : throw new InputException(path, n, $"column is missing; expected the paper's columns {string.Join(", ", _paperNames)}")).ToArray();
            int Opt(string name) => index.TryGetValue(name, out var i) ? i : -1;
            _task = Opt("task");
            _experiment = Opt("experiment");
            _window = Opt("window");
            _windowLayers = Opt("window_layers");
            _target = Opt("target_token_id");
            _logProb = Opt("logprob_new");
            _top1 = Opt("top1_new");
            _heads = Opt("heads");
        }

        public KnockoutRow Parse(List<string> f, string? task)
        {
            string Str(int i, string fallback) => i < 0 || f[i].Length == 0 ? fallback : f[i];
            int Int(int i, string name, int? fallback)
            {
                if (i < 0 || (f[i].Length == 0 && fallback.HasValue)) return fallback ?? throw new RowException($"column '{name}' is missing");
                return Csv.TryParseInt(f[i], out var v) ? v : throw new RowException($"column '{name}': '{f[i]}' is not an integer");
            }
            long Long(int i, string name, long fallback)
            {
                if (i < 0 || f[i].Length == 0) return fallback;
                return Csv.TryParseLong(f[i], out var v) ? v : throw new RowException($"column '{name}': '{f[i]}' is not an integer");
            }
            double Dbl(int i, string name, double? fallback)
            {
                if (IsPaperFile && i >= 0 && f[i].Length == 0) return double.NaN;   // pandas' na_rep
                if (i < 0 || (f[i].Length == 0 && fallback.HasValue)) return fallback ?? throw new RowException($"column '{name}' is missing");
                return Csv.TryParseDouble(f[i], out var v) ? v : throw new RowException($"column '{name}': '{f[i]}' is not a number");
            }
            return new KnockoutRow(
                Task: Str(_task, task ?? ""),
                QuestionId: f[_paper[0]],
                ImageId: IsPaperFile ? PaperFormat.ImageIdOf(f[_paper[1]]) : f[_paper[1]],
                Answer: f[_paper[2]],
                Predicted: f[_paper[3]],
                Question: f[_paper[4]],
                Experiment: Str(_experiment, ""),
                BlockDesc: IsPaperFile ? PaperFormat.FromPaperBlock(f[_paper[5]]) : f[_paper[5]],
                Window: Int(_window, "window", _fileWindow),
                Layer: Int(_paper[6], _paperNames[6], null),
                WindowLayers: Str(_windowLayers, ""),
                Subword: _subword,
                TargetTokenId: Long(_target, "target_token_id", -1),
                BaseScore: Dbl(_paper[7], _paperNames[7], null),
                NewScore: Dbl(_paper[8], _paperNames[8], null),
                LogProbNew: Dbl(_logProb, "logprob_new", double.NaN),
                RelativeDiff: Dbl(_paper[9], _paperNames[9], null),
                Top1New: Long(_top1, "top1_new", -1))
            {
                Heads = Str(_heads, ""),
            };
        }
    }
}

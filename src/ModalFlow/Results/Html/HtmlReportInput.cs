using Microsoft.Data.Sqlite;

namespace ModalFlow.Results.Html;

/// <summary>A small table shown as it is (a self-check, a verification table): column names and rows of text.</summary>
public sealed record ReportTable(string Title, IReadOnlyList<string> Columns, IReadOnlyList<IReadOnlyList<string>> Rows)
{
    /// <summary>A sentence under the title saying what the table checks.</summary>
    public string? Note { get; init; }
}

/// <summary>One run store as the HTML report reads it: where it is, its manifest, its rows, and any check tables it holds.</summary>
public sealed record HtmlRunSource(string Directory, RunManifest? Manifest, RunResults Results)
{
    /// <summary>Tables of checks the store holds besides its rows (e.g. a run's self-verification), shown in the overview.</summary>
    public IReadOnlyList<ReportTable> Checks { get; init; } = [];

    /// <summary>Reads a run folder's store (lock-free, like <c>modalflow report</c>).</summary>
    /// <exception cref="InputException">No run.sqlite in <paramref name="runDir"/>.</exception>
    public static HtmlRunSource Read(string runDir)
    {
        var path = Path.Combine(runDir, RunStore.FileName);
        if (!File.Exists(path)) throw new InputException(path, "--run", "not found; expected a run folder written by `modalflow run`");
        RunManifest? manifest;
        RunResults results;
        using (var store = RunStore.Open(path))
        {
            manifest = store.Manifest;
            results = store.Results();
        }
        return new HtmlRunSource(Path.GetFullPath(runDir), manifest, results) { Checks = StoreTables(path) };
    }

    /// <summary>The store's own tables (<see cref="RunStore"/>): the page draws their rows; every other table is shown as it is.</summary>
    private static readonly HashSet<string> KnownTables = new(["meta", "samples", "knockout", "lens", "row_errors", "merged"], StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// Every table of the store the page does not draw itself, read generically (every column as text, the first 500 rows):
    /// a run's self-check ("verification…", "self_check…") and the results of experiment kinds this page does not know yet
    /// (other measurements add their own tables) show up as tables instead of being dropped.
    /// </summary>
    public static IReadOnlyList<ReportTable> StoreTables(string storePath)
    {
        const int MaxRows = 500;
        var tables = new List<ReportTable>();
        using var db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = storePath, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
        db.Open();
        var names = new List<string>();
        using (var cmd = db.CreateCommand())
        {
            cmd.CommandText = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%' ORDER BY name";
            using var r = cmd.ExecuteReader();
            while (r.Read()) if (!KnownTables.Contains(r.GetString(0))) names.Add(r.GetString(0));
        }
        foreach (var name in names)
        {
            using var cmd = db.CreateCommand();
            var quoted = "\"" + name.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
            long total;
            using (var count = db.CreateCommand())
            {
                count.CommandText = $"SELECT COUNT(*) FROM {quoted}";
                total = (long)count.ExecuteScalar()!;
            }
            cmd.CommandText = $"SELECT * FROM {quoted} LIMIT {MaxRows}";
            using var r = cmd.ExecuteReader();
            var columns = Enumerable.Range(0, r.FieldCount).Select(r.GetName).ToList();
            var rows = new List<IReadOnlyList<string>>();
            while (r.Read())
                rows.Add(Enumerable.Range(0, r.FieldCount).Select(i => r.IsDBNull(i) ? "" : Convert.ToString(r.GetValue(i), System.Globalization.CultureInfo.InvariantCulture) ?? "").ToList());
            bool check = name.StartsWith("verification", StringComparison.OrdinalIgnoreCase) || name.StartsWith("self_check", StringComparison.OrdinalIgnoreCase);
            var shown = total > MaxRows ? $"the first {MaxRows} of {total} rows" : $"{total} row(s)";
            tables.Add(new ReportTable(check ? $"Self-check: {name}" : $"Results table {name}", columns, rows)
            {
                Note = check ? $"The run's check of itself, as stored ({shown})."
                    : $"A table of the run store this page does not draw as curves (an experiment kind it does not know), shown as stored ({shown}).",
            });
        }
        return tables;
    }
}

/// <summary>What goes into report.html besides the runs.</summary>
public sealed record HtmlReportOptions
{
    /// <summary>The page title (default: "ModalFlow report: {model}").</summary>
    public string? Title { get; init; }

    /// <summary>The interval of every band (as the aggregates).</summary>
    public CiOptions Ci { get; init; } = CiOptions.StudentT;

    /// <summary>PNG figures shown in the overview, as report.md shows them (panels, lens figures).</summary>
    public IReadOnlyList<FigureFile> Figures { get; init; } = [];

    /// <summary>Check tables that do not come from a store (the demo's method checks).</summary>
    public IReadOnlyList<ReportTable> Checks { get; init; } = [];

    /// <summary>Longest side of an embedded crop thumbnail in pixels (smaller crops keep their size).</summary>
    public int ThumbnailMaxSide { get; init; } = 288;

    /// <summary>Widest embedded figure in pixels (larger ones are downscaled to keep the page small).</summary>
    public int FigureMaxWidth { get; init; } = 1200;

    /// <summary>JPEG quality of the thumbnails (1-100).</summary>
    public int ThumbnailQuality { get; init; } = 85;

    /// <summary>Per-sample detail (image, token grid, patch sets, prompt tokens) for at most this many samples, in table order.</summary>
    public int MaxDetailedSamples { get; init; } = 2000;

    public static HtmlReportOptions Default { get; } = new();
}

/// <summary>What <see cref="HtmlReport.Write"/> wrote.</summary>
/// <param name="DetailedSamples">Samples with their image, token grid and prompt recomputed.</param>
/// <param name="Notes">Why some detail is missing (a model folder or image that cannot be read), one line each.</param>
public sealed record HtmlReportOutput(string Path, long Bytes, int Samples, int DetailedSamples, IReadOnlyList<string> Notes);

using System.Globalization;
using Microsoft.Data.Sqlite;

namespace ModalFlow.Results;

/// <summary>
/// One embedded SQLite file per run (DESIGN §5). A sample's rows and its "done" mark are written in ONE
/// transaction (WAL, synchronous=FULL), so a process killed at any moment loses at most the sample in flight and
/// never leaves half a sample: a resume skips done samples and recomputes the rest. Primary keys make a duplicate
/// row impossible.
/// </summary>
public sealed class RunStore : IDisposable
{
    public const string FileName = "run.sqlite";
    private readonly SqliteConnection _db;
    private RunFolderLock? _writerLock;

    private RunStore(string path, SqliteConnection db)
    {
        Path = path;
        _db = db;
    }

    public string Path { get; }

    /// <summary>The folder lock this store holds as its one writer (<see cref="OpenWriter"/>), or null for a reader.</summary>
    public RunFolderLock? WriterLock => _writerLock;

    /// <summary>
    /// Opens the store as its folder's one writer (run, merge): takes the <see cref="RunFolderLock"/> first and holds it
    /// until disposal. A second live writer is refused with an <see cref="InputException"/> naming the holder; a dead
    /// one's lock is taken over. <see cref="Open"/> stays lock-free for readers.
    /// </summary>
    public static RunStore OpenWriter(string path, bool forceUnlock = false)
    {
        var folderLock = RunFolderLock.Acquire(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!, forceUnlock);
        try
        {
            var store = Open(path);
            store._writerLock = folderLock;
            try { store.UpgradeKnockoutTable(); }
            catch
            {
                store.Dispose();
                throw;
            }
            return store;
        }
        catch
        {
            folderLock.Dispose();
            throw;
        }
    }

    public static RunStore Open(string path)
    {
        var dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!;
        Directory.CreateDirectory(dir);
        var db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        try
        {
            db.Open();
            Exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;");
            Exec(db, Schema);
        }
        catch (SqliteException e)
        {
            db.Dispose();
            throw new InputException(path, null, "is not a usable run store (SQLite): " + e.Message, e);
        }
        return new RunStore(path, db);
    }

    /// <summary>
    /// The knockout table's columns; <c>heads</c> (<see cref="KnockoutRow.Heads"/>) came with per-head maps and is part
    /// of the key. Stores written before it lack the column: readers default it to "" (every head), writers upgrade the
    /// table in place (<see cref="UpgradeKnockoutTable"/>).
    /// </summary>
    private const string KnockoutColumnsSql = """
        task TEXT NOT NULL, question_id TEXT NOT NULL, image_id TEXT NOT NULL, answer TEXT NOT NULL, predicted TEXT NOT NULL,
        question TEXT NOT NULL, experiment TEXT NOT NULL, block_desc TEXT NOT NULL, window INTEGER NOT NULL, layer INTEGER NOT NULL,
        window_layers TEXT NOT NULL, subword TEXT NOT NULL, target_token_id INTEGER NOT NULL, base_score REAL NOT NULL,
        new_score REAL NOT NULL, logprob_new REAL NOT NULL, relative_diff REAL NOT NULL, top1_new INTEGER NOT NULL,
        heads TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (task, question_id, experiment, block_desc, subword, heads, layer)
        """;

    /// <summary>The knockout columns in table order, for explicit SELECT / INSERT lists.</summary>
    private const string KnockoutColumnList =
        "task, question_id, image_id, answer, predicted, question, experiment, block_desc, window, layer, window_layers, subword, " +
        "target_token_id, base_score, new_score, logprob_new, relative_diff, top1_new, heads";

    private const string Schema = """
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS samples (
            task TEXT NOT NULL, question_id TEXT NOT NULL, status TEXT NOT NULL, reason TEXT, detail TEXT,
            PRIMARY KEY (task, question_id));
        CREATE TABLE IF NOT EXISTS knockout (
        """ + KnockoutColumnsSql + """
        );
        CREATE TABLE IF NOT EXISTS lens (
            task TEXT NOT NULL, question_id TEXT NOT NULL, answer TEXT NOT NULL, predicted TEXT NOT NULL, token_kind TEXT NOT NULL,
            token_text TEXT NOT NULL, token_id INTEGER NOT NULL, layer INTEGER NOT NULL, prob_raw REAL NOT NULL, prob_norm REAL NOT NULL,
            PRIMARY KEY (task, question_id, token_kind, layer));
        CREATE TABLE IF NOT EXISTS row_errors (
            file TEXT NOT NULL, line INTEGER NOT NULL, field TEXT NOT NULL, message TEXT NOT NULL, PRIMARY KEY (file, line, field));
        CREATE TABLE IF NOT EXISTS merged (source TEXT PRIMARY KEY, shard_index INTEGER NOT NULL, shard_count INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS verification (
            task TEXT NOT NULL, question_id TEXT NOT NULL, fraction REAL NOT NULL, cells INTEGER NOT NULL, total_cells INTEGER NOT NULL,
            max_abs_dp2 REAL, worst_cell TEXT NOT NULL, knockout_seconds REAL NOT NULL, verify_seconds REAL NOT NULL, tolerance REAL NOT NULL,
            PRIMARY KEY (task, question_id));
        """;

    public RunManifest? Manifest
    {
        get
        {
            using var cmd = Command("SELECT value FROM meta WHERE key = 'manifest'");
            return cmd.ExecuteScalar() is string json ? RunManifest.FromJson(json) : null;
        }
    }

    /// <summary>Records the manifest of a new run, or checks a resume against it (throws naming the differing fields).</summary>
    public void BeginOrResume(RunManifest manifest, bool ignoreShard = false)
    {
        var stored = Manifest;
        if (stored is null)
        {
            using var cmd = Command("INSERT INTO meta (key, value) VALUES ('manifest', $v)");
            cmd.Parameters.AddWithValue("$v", manifest.ToJson());
            cmd.ExecuteNonQuery();
            return;
        }
        var diffs = stored.Differences(manifest, ignoreShard);
        if (diffs.Count > 0)
            throw new InputException(Path, "manifest", "this run was started with different settings; refusing to resume. Differences: " +
                string.Join("; ", diffs) + ". Use a new --out folder for a new run.");
    }

    public HashSet<(string Task, string QuestionId)> FinishedSamples()
    {
        var set = new HashSet<(string, string)>();
        using var cmd = Command("SELECT task, question_id FROM samples");
        using var r = cmd.ExecuteReader();
        while (r.Read()) set.Add((r.GetString(0), r.GetString(1)));
        return set;
    }

    /// <summary>
    /// Writes a finished sample atomically: its knockout and lens rows, its self-check (when given) and its "done" mark,
    /// with an optional note on how it was measured (e.g. <see cref="SampleNote.NothingBlocked"/>: an empty position
    /// set, kept as the paper does).
    /// </summary>
    public void CommitSample(string task, string questionId, IReadOnlyList<KnockoutRow> rows, IReadOnlyList<LensRow> lens, SampleNote? note = null,
        SampleVerification? verification = null)
    {
        using var tx = _db.BeginTransaction();
        InsertSample(tx, task, questionId, "done", note?.Reason, note?.Detail);
        foreach (var row in rows) InsertKnockout(tx, row);
        foreach (var row in lens) InsertLens(tx, row);
        if (verification is not null) InsertVerification(tx, verification);
        tx.Commit();
    }

    /// <summary>True when the knockout table has the <c>heads</c> column (stores written before per-head maps do not).</summary>
    public bool HasHeadsColumn => ColumnsOf("main", "knockout").Contains("heads");

    /// <summary>
    /// A writer on a store written before per-head maps: rebuilds the knockout table with the <c>heads</c> column in its
    /// key (every existing row gets "", every head — what it measured), in one transaction. Readers never change the
    /// table (an older process may still be writing it); they default the column instead.
    /// </summary>
    internal void UpgradeKnockoutTable()
    {
        if (HasHeadsColumn) return;
        using var tx = _db.BeginTransaction();
        foreach (var sql in new[]
        {
            "CREATE TABLE knockout_with_heads (" + KnockoutColumnsSql + ")",
            "INSERT INTO knockout_with_heads (" + KnockoutColumnList + ") SELECT " + KnockoutColumnList.Replace(", heads", ", ''", StringComparison.Ordinal) + " FROM knockout",
            "DROP TABLE knockout",
            "ALTER TABLE knockout_with_heads RENAME TO knockout",
        })
        {
            using var cmd = Command(sql, tx);
            cmd.ExecuteNonQuery();
        }
        tx.Commit();
    }

    private HashSet<string> ColumnsOf(string schema, string table)
    {
        var set = new HashSet<string>(StringComparer.Ordinal);
        using var cmd = Command($"PRAGMA {schema}.table_info({table})");
        using var r = cmd.ExecuteReader();
        while (r.Read()) set.Add(r.GetString(1));
        return set;
    }

    private bool HasTable(string schema, string table)
    {
        using var cmd = Command($"SELECT COUNT(*) FROM {schema}.sqlite_master WHERE type = 'table' AND name = $n");
        cmd.Parameters.AddWithValue("$n", table);
        return Convert.ToInt64(cmd.ExecuteScalar(), CultureInfo.InvariantCulture) > 0;
    }

    /// <summary>Marks a sample excluded (wrong clean answer, unreadable image …); it counts as finished.</summary>
    public void CommitExcluded(ExcludedSample e)
    {
        using var tx = _db.BeginTransaction();
        InsertSample(tx, e.Task, e.QuestionId, "excluded", e.Reason, e.Detail);
        tx.Commit();
    }

    public void RecordRowErrors(IEnumerable<(string File, int Line, string Field, string Message)> errors)
    {
        using var tx = _db.BeginTransaction();
        foreach (var (file, line, field, message) in errors)
        {
            using var cmd = Command("INSERT OR IGNORE INTO row_errors VALUES ($f, $l, $fi, $m)", tx);
            cmd.Parameters.AddWithValue("$f", file);
            cmd.Parameters.AddWithValue("$l", line);
            cmd.Parameters.AddWithValue("$fi", field);
            cmd.Parameters.AddWithValue("$m", message);
            cmd.ExecuteNonQuery();
        }
        tx.Commit();
    }

    public IReadOnlyList<KnockoutRow> KnockoutRows()
    {
        var list = new List<KnockoutRow>();
        var columns = HasHeadsColumn ? KnockoutColumnList : KnockoutColumnList.Replace(", heads", ", '' AS heads", StringComparison.Ordinal);
        using var cmd = Command($"SELECT {columns} FROM knockout ORDER BY task, question_id, experiment, block_desc, subword, heads, layer");
        using var r = cmd.ExecuteReader();
        while (r.Read())
            list.Add(new KnockoutRow(r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetString(4), r.GetString(5),
                r.GetString(6), r.GetString(7), r.GetInt32(8), r.GetInt32(9), r.GetString(10), r.GetString(11), r.GetInt64(12),
                r.GetDouble(13), r.GetDouble(14), r.GetDouble(15), r.GetDouble(16), r.GetInt64(17))
            { Heads = r.GetString(18) });
        return list;
    }

    public IReadOnlyList<LensRow> LensRows()
    {
        var list = new List<LensRow>();
        using var cmd = Command("SELECT * FROM lens ORDER BY task, question_id, token_kind, layer");
        using var r = cmd.ExecuteReader();
        while (r.Read())
            list.Add(new LensRow(r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetString(4), r.GetString(5),
                r.GetInt64(6), r.GetInt32(7), r.GetDouble(8), r.GetDouble(9)));
        return list;
    }

    public IReadOnlyList<ExcludedSample> Excluded()
    {
        var list = new List<ExcludedSample>();
        using var cmd = Command("SELECT task, question_id, reason, detail FROM samples WHERE status = 'excluded' ORDER BY task, question_id");
        using var r = cmd.ExecuteReader();
        while (r.Read()) list.Add(new ExcludedSample(r.GetString(0), r.GetString(1), r.IsDBNull(2) ? "" : r.GetString(2), r.IsDBNull(3) ? "" : r.GetString(3)));
        return list;
    }

    /// <summary>Finished samples that carry a note (e.g. kept with nothing blocked), in task/question order.</summary>
    public IReadOnlyList<NotedSample> NotedSamples()
    {
        var list = new List<NotedSample>();
        using var cmd = Command("SELECT task, question_id, reason, detail FROM samples WHERE status = 'done' AND reason IS NOT NULL ORDER BY task, question_id");
        using var r = cmd.ExecuteReader();
        while (r.Read()) list.Add(new NotedSample(r.GetString(0), r.GetString(1), r.GetString(2), r.IsDBNull(3) ? "" : r.GetString(3)));
        return list;
    }

    public IReadOnlyList<(string File, int Line, string Field, string Message)> RowErrors()
    {
        var list = new List<(string, int, string, string)>();
        using var cmd = Command("SELECT file, line, field, message FROM row_errors ORDER BY file, line, field");
        using var r = cmd.ExecuteReader();
        while (r.Read()) list.Add((r.GetString(0), r.GetInt32(1), r.GetString(2), r.GetString(3)));
        return list;
    }

    /// <summary>Every sample's self-check (<see cref="SampleVerification"/>), in sample order.</summary>
    public IReadOnlyList<SampleVerification> Verifications()
    {
        var list = new List<SampleVerification>();
        using var cmd = Command("SELECT task, question_id, fraction, cells, total_cells, max_abs_dp2, worst_cell, knockout_seconds, verify_seconds, tolerance " +
            "FROM verification ORDER BY task, question_id");
        using var r = cmd.ExecuteReader();
        while (r.Read())
            list.Add(new SampleVerification(r.GetString(0), r.GetString(1), r.GetDouble(2), r.GetInt32(3), r.GetInt32(4),
                r.IsDBNull(5) ? double.NaN : r.GetDouble(5), r.GetString(6), r.GetDouble(7), r.GetDouble(8), r.GetDouble(9)));
        return list;
    }

    /// <summary>The run's self-check so far (null when no sample recorded one: a store from before self-checks, or none done yet).</summary>
    public VerificationSummary? Verification() => VerificationSummary.Of(Verifications());

    /// <summary>Everything the store holds, as the results code (exports, figures, report) consumes it.</summary>
    public RunResults Results() => new(KnockoutRows(), LensRows(), Excluded(),
        RowErrors().Select(e => new MalformedRow(e.File, e.Line, $"{e.Field}: {e.Message}")).ToList())
    {
        Partial = PartialMerge(),
        Verification = Verification(),
        Manifest = Manifest,
        Noted = NotedSamples(),
    };

    /// <summary>
    /// For a merged store that lacks shards: which are merged and which are missing (from the <c>merged</c> table and
    /// the manifest's shard count, so it is always current); null for a complete merge or a store that is no merge.
    /// </summary>
    public PartialMerge? PartialMerge()
    {
        var merged = MergedShards();
        if (merged.Count == 0 || Manifest is not { } m) return null;
        var missing = Enumerable.Range(1, m.ShardCount).Except(merged).ToList();
        return missing.Count == 0 ? null : new PartialMerge(m.ShardCount, merged, missing);
    }

    public (int Done, int Excluded) Counts()
    {
        using var cmd = Command("SELECT SUM(status = 'done'), SUM(status = 'excluded') FROM samples");
        using var r = cmd.ExecuteReader();
        r.Read();
        return (r.IsDBNull(0) ? 0 : r.GetInt32(0), r.IsDBNull(1) ? 0 : r.GetInt32(1));
    }

    /// <summary>
    /// Adds a shard's store to this one exactly once: same manifest apart from the shard index, each shard merged
    /// at most once (merging it again is refused), and no sample may come from two shards.
    /// </summary>
    public void MergeShard(RunStore shard)
    {
        var m = shard.Manifest ?? throw new InputException(shard.Path, "manifest", "has no manifest; expected a run store written by `modalflow run`");
        BeginOrResume(m with { ShardIndex = 0 }, ignoreShard: true);
        using (var check = Command("SELECT COUNT(*) FROM merged WHERE shard_index = $i"))
        {
            check.Parameters.AddWithValue("$i", m.ShardIndex);
            if (Convert.ToInt64(check.ExecuteScalar(), CultureInfo.InvariantCulture) > 0)
                throw new InputException(shard.Path, "shard", $"shard {m.ShardIndex}/{m.ShardCount} was already merged into {Path}; merging it twice would duplicate its rows");
        }
        using (var attach = Command("ATTACH DATABASE $p AS src"))   // ATTACH cannot run inside a transaction
        {
            attach.Parameters.AddWithValue("$p", shard.Path);
            attach.ExecuteNonQuery();
        }
        try
        {
            // A shard written before per-head maps has no heads column: its rows measured every head ("").
            var knockoutSelect = ColumnsOf("src", "knockout").Contains("heads") ? KnockoutColumnList
                : KnockoutColumnList.Replace(", heads", ", ''", StringComparison.Ordinal);
            var copies = new List<(string Table, string Sql)>
            {
                ("samples", "INSERT INTO main.samples SELECT * FROM src.samples"),
                ("knockout", $"INSERT INTO main.knockout ({KnockoutColumnList}) SELECT {knockoutSelect} FROM src.knockout"),
                ("lens", "INSERT INTO main.lens SELECT * FROM src.lens"),
            };
            if (HasTable("src", "verification")) copies.Add(("verification", "INSERT INTO main.verification SELECT * FROM src.verification"));
            using var tx2 = _db.BeginTransaction();
            foreach (var (table, sql) in copies)
            {
                using var ins = Command(sql, tx2);
                try { ins.ExecuteNonQuery(); }
                catch (SqliteException e) when (e.SqliteErrorCode == 19)   // constraint: a sample in two shards
                {
                    throw new InputException(shard.Path, table, "holds samples that are already in the merged store (overlapping shards?): " + e.Message, e);
                }
            }
            using (var ins = Command("INSERT OR IGNORE INTO main.row_errors SELECT * FROM src.row_errors", tx2)) ins.ExecuteNonQuery();
            using (var rec = Command("INSERT INTO merged VALUES ($s, $i, $n)", tx2))
            {
                rec.Parameters.AddWithValue("$s", System.IO.Path.GetFullPath(shard.Path));
                rec.Parameters.AddWithValue("$i", m.ShardIndex);
                rec.Parameters.AddWithValue("$n", m.ShardCount);
                rec.ExecuteNonQuery();
            }
            tx2.Commit();
        }
        finally
        {
            using var detach = Command("DETACH DATABASE src");
            detach.ExecuteNonQuery();
        }
    }

    public IReadOnlyList<int> MergedShards()
    {
        var list = new List<int>();
        using var cmd = Command("SELECT shard_index FROM merged ORDER BY shard_index");
        using var r = cmd.ExecuteReader();
        while (r.Read()) list.Add(r.GetInt32(0));
        return list;
    }

    private void InsertSample(SqliteTransaction tx, string task, string qid, string status, string? reason, string? detail)
    {
        using var cmd = Command("INSERT INTO samples VALUES ($t, $q, $s, $r, $d)", tx);
        cmd.Parameters.AddWithValue("$t", task);
        cmd.Parameters.AddWithValue("$q", qid);
        cmd.Parameters.AddWithValue("$s", status);
        cmd.Parameters.AddWithValue("$r", (object?)reason ?? DBNull.Value);
        cmd.Parameters.AddWithValue("$d", (object?)detail ?? DBNull.Value);
        cmd.ExecuteNonQuery();
    }

    private void InsertKnockout(SqliteTransaction tx, KnockoutRow k)
    {
        using var cmd = Command($"INSERT INTO knockout ({KnockoutColumnList}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19)", tx);
        object[] values = [k.Task, k.QuestionId, k.ImageId, k.Answer, k.Predicted, k.Question, k.Experiment, k.BlockDesc, k.Window, k.Layer,
            k.WindowLayers, k.Subword, k.TargetTokenId, k.BaseScore, k.NewScore, k.LogProbNew, k.RelativeDiff, k.Top1New, k.Heads];
        for (int i = 0; i < values.Length; i++) cmd.Parameters.AddWithValue("$" + (i + 1), values[i]);
        cmd.ExecuteNonQuery();
    }

    private void InsertVerification(SqliteTransaction tx, SampleVerification v)
    {
        using var cmd = Command("INSERT INTO verification VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)", tx);
        object[] values = [v.Task, v.QuestionId, v.Fraction, v.Cells, v.TotalCells, double.IsNaN(v.MaxAbsDeltaP2) ? DBNull.Value : v.MaxAbsDeltaP2,
            v.WorstCell, v.KnockoutSeconds, v.VerifySeconds, v.Tolerance];
        for (int i = 0; i < values.Length; i++) cmd.Parameters.AddWithValue("$" + (i + 1), values[i]);
        cmd.ExecuteNonQuery();
    }

    private void InsertLens(SqliteTransaction tx, LensRow l)
    {
        using var cmd = Command("INSERT INTO lens VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)", tx);
        object[] values = [l.Task, l.QuestionId, l.Answer, l.Predicted, l.TokenKind, l.TokenText, l.TokenId, l.Layer, l.ProbRaw, l.ProbNorm];
        for (int i = 0; i < values.Length; i++) cmd.Parameters.AddWithValue("$" + (i + 1), values[i]);
        cmd.ExecuteNonQuery();
    }

    private SqliteCommand Command(string sql, SqliteTransaction? tx = null)
    {
        var cmd = _db.CreateCommand();
        cmd.CommandText = sql;
        cmd.Transaction = tx;
        return cmd;
    }

    private static void Exec(SqliteConnection db, string sql)
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    public void Dispose()
    {
        _db.Dispose();
        _writerLock?.Dispose();
        _writerLock = null;
    }
}

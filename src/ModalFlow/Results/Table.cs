using Parquet;
using Parquet.Schema;

namespace ModalFlow.Results;

internal enum ColumnType { String, Int32, Int64, Double }

/// <summary>One typed column of an export: its name and how to read it from a row. Drives both CSV and Parquet.</summary>
internal sealed class TableColumn<T>
{
    private TableColumn(string name, ColumnType type) { Name = name; Type = type; }

    public string Name { get; }
    public ColumnType Type { get; }
    public Func<T, string>? GetString { get; private init; }
    public Func<T, int>? GetInt32 { get; private init; }
    public Func<T, long>? GetInt64 { get; private init; }
    public Func<T, double>? GetDouble { get; private init; }

    public static TableColumn<T> Str(string name, Func<T, string> get) => new(name, ColumnType.String) { GetString = get };
    public static TableColumn<T> I32(string name, Func<T, int> get) => new(name, ColumnType.Int32) { GetInt32 = get };
    public static TableColumn<T> I64(string name, Func<T, long> get) => new(name, ColumnType.Int64) { GetInt64 = get };
    public static TableColumn<T> F64(string name, Func<T, double> get) => new(name, ColumnType.Double) { GetDouble = get };

    public string Format(T row) => Type switch
    {
        ColumnType.String => GetString!(row),
        ColumnType.Int32 => Csv.FormatInt(GetInt32!(row)),
        ColumnType.Int64 => Csv.FormatInt(GetInt64!(row)),
        _ => Csv.FormatDouble(GetDouble!(row)),
    };

    public DataField Field() => Type switch
    {
        ColumnType.String => new DataField<string>(Name, false),
        ColumnType.Int32 => new DataField<int>(Name),
        ColumnType.Int64 => new DataField<long>(Name),
        _ => new DataField<double>(Name),
    };
}

/// <summary>Writes rows through a column list as CSV or Parquet, atomically.</summary>
internal static class Table
{
    /// <summary>Rows per Parquet row group: bounds memory on million-row sweeps, large enough for fast scans.</summary>
    public const int RowGroupSize = 100_000;

    public static void WriteCsv<T>(string path, IReadOnlyList<TableColumn<T>> columns, IEnumerable<T> rows) =>
        AtomicFile.WriteText(path, w =>
        {
            var fields = new string[columns.Count];
            for (int i = 0; i < columns.Count; i++) fields[i] = columns[i].Name;
            Csv.WriteRecord(w, fields);
            foreach (var row in rows)
            {
                for (int i = 0; i < columns.Count; i++) fields[i] = columns[i].Format(row);
                Csv.WriteRecord(w, fields);
            }
        });

    public static void WriteParquet<T>(string path, IReadOnlyList<TableColumn<T>> columns, IReadOnlyList<T> rows) =>
        AtomicFile.Write(path, stream => WriteParquetAsync(stream, columns, rows).GetAwaiter().GetResult());

    private static async Task WriteParquetAsync<T>(Stream stream, IReadOnlyList<TableColumn<T>> columns, IReadOnlyList<T> rows)
    {
        var fields = columns.Select(c => c.Field()).ToArray();
        var schema = new ParquetSchema(fields);
        await using var writer = await ParquetWriter.CreateAsync(schema, stream).ConfigureAwait(false);
        // An empty table still gets one (empty) row group, so that readers see the schema and zero rows.
        for (int start = 0; start < Math.Max(rows.Count, 1); start += RowGroupSize)
        {
            int n = Math.Min(RowGroupSize, rows.Count - start);
            using var group = writer.CreateRowGroup();
            for (int c = 0; c < columns.Count; c++)
            {
                var col = columns[c];
                switch (col.Type)
                {
                    case ColumnType.String:
                        var s = new string[n];
                        for (int i = 0; i < n; i++) s[i] = col.GetString!(rows[start + i]);
                        await group.WriteAsync(fields[c], s).ConfigureAwait(false);
                        break;
                    case ColumnType.Int32:
                        var a = new int[n];
                        for (int i = 0; i < n; i++) a[i] = col.GetInt32!(rows[start + i]);
                        await group.WriteAsync<int>(fields[c], a).ConfigureAwait(false);
                        break;
                    case ColumnType.Int64:
                        var l = new long[n];
                        for (int i = 0; i < n; i++) l[i] = col.GetInt64!(rows[start + i]);
                        await group.WriteAsync<long>(fields[c], l).ConfigureAwait(false);
                        break;
                    default:
                        var d = new double[n];
                        for (int i = 0; i < n; i++) d[i] = col.GetDouble!(rows[start + i]);
                        await group.WriteAsync<double>(fields[c], d).ConfigureAwait(false);
                        break;
                }
            }
        }
    }

    /// <summary>Reads a Parquet file written by <see cref="WriteParquet{T}"/> as named, typed column arrays.</summary>
    public static ParquetColumns ReadParquet(string path) =>
        ReadParquetAsync(path).GetAwaiter().GetResult();

    private static async Task<ParquetColumns> ReadParquetAsync(string path)
    {
        await using var reader = await ParquetReader.CreateAsync(path).ConfigureAwait(false);
        var fields = reader.Schema.GetDataFields();
        var result = new ParquetColumns();
        var parts = fields.ToDictionary(f => f.Name, _ => new List<Array>(), StringComparer.Ordinal);
        for (int g = 0; g < reader.RowGroupCount; g++)
        {
            using var group = reader.OpenRowGroupReader(g);
            int n = checked((int)group.RowCount);
            result.RowCount += n;
            foreach (var f in fields)
            {
                Array part;
                if (f.ClrType == typeof(string) || f.ClrType == typeof(ReadOnlyMemory<char>))   // UTF-8 strings (read back as char memory by default)
                {
                    var s = new string?[n];
                    await group.ReadAsync(f, s.AsMemory()).ConfigureAwait(false);
                    part = Array.ConvertAll(s, v => v ?? "");
                }
                else if (f.ClrType == typeof(int)) { var a = new int[n]; await group.ReadAsync<int>(f, a.AsMemory()).ConfigureAwait(false); part = a; }
                else if (f.ClrType == typeof(long)) { var a = new long[n]; await group.ReadAsync<long>(f, a.AsMemory()).ConfigureAwait(false); part = a; }
                else if (f.ClrType == typeof(double)) { var a = new double[n]; await group.ReadAsync<double>(f, a.AsMemory()).ConfigureAwait(false); part = a; }
                else throw new InputException(path, f.Name, $"column type {f.ClrType.Name} is not one this reader knows (string, int32, int64, double)");
                parts[f.Name].Add(part);
            }
        }
        foreach (var f in fields)
        {
            var type = f.ClrType == typeof(ReadOnlyMemory<char>) ? typeof(string) : f.ClrType;
            result.Columns[f.Name] = Concat(parts[f.Name], type, result.RowCount);
        }
        return result;
    }

    private static Array Concat(List<Array> parts, Type type, int total)
    {
        var all = Array.CreateInstance(type, total);
        int at = 0;
        foreach (var p in parts) { Array.Copy(p, 0, all, at, p.Length); at += p.Length; }
        return all;
    }
}

/// <summary>A Parquet file's columns by name.</summary>
internal sealed class ParquetColumns
{
    public int RowCount { get; set; }
    public Dictionary<string, Array> Columns { get; } = new(StringComparer.Ordinal);

    public T[] Get<T>(string path, string name) =>
        Columns.TryGetValue(name, out var a)
            ? a as T[] ?? throw new InputException(path, name, $"column has type {a.GetType().GetElementType()?.Name}; expected {typeof(T).Name}")
            : throw new InputException(path, name, "column is missing");

    public T[]? TryGet<T>(string path, string name) => Columns.ContainsKey(name) ? Get<T>(path, name) : null;
}

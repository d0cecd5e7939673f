using System.Globalization;
using System.Text;

namespace ModalFlow.Results;

/// <summary>
/// CSV as pandas writes and reads it: comma separated, RFC-4180 quoting (a field holding a comma, a double quote,
/// CR or LF is wrapped in quotes and inner quotes are doubled), "\n" line endings, UTF-8 without BOM, invariant
/// culture. Doubles are written shortest-round-trip ("R"), so parsing gives back the same bits; NaN and infinities
/// are written "NaN", "inf", "-inf" (the spellings pandas reads).
/// </summary>
internal static class Csv
{
    public static void WriteField(TextWriter w, string value)
    {
        if (value.AsSpan().IndexOfAny(",\"\r\n") < 0)
        {
            w.Write(value);
            return;
        }
        w.Write('"');
        w.Write(value.Replace("\"", "\"\"", StringComparison.Ordinal));
        w.Write('"');
    }

    public static void WriteRecord(TextWriter w, IReadOnlyList<string> fields)
    {
        for (int i = 0; i < fields.Count; i++)
        {
            if (i > 0) w.Write(',');
            WriteField(w, fields[i]);
        }
        w.Write('\n');
    }

    public static string FormatDouble(double v) =>
        double.IsNaN(v) ? "NaN"
        : double.IsPositiveInfinity(v) ? "inf"
        : double.IsNegativeInfinity(v) ? "-inf"
        : v.ToString("R", CultureInfo.InvariantCulture);

    public static string FormatInt(long v) => v.ToString(CultureInfo.InvariantCulture);

    public static bool TryParseDouble(string s, out double v)
    {
        switch (s.Trim().ToLowerInvariant())
        {
            case "nan": v = double.NaN; return true;
            case "inf" or "+inf" or "infinity" or "+infinity": v = double.PositiveInfinity; return true;
            case "-inf" or "-infinity": v = double.NegativeInfinity; return true;
        }
        return double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out v);
    }

    public static bool TryParseInt(string s, out int v) => int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out v);

    public static bool TryParseLong(string s, out long v) => long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out v);

    /// <summary>One parsed record: the physical line it starts on (1-based), its fields, or why it is malformed.</summary>
    public readonly record struct Record(long Line, List<string> Fields, string? Error);

    /// <summary>
    /// Reads RFC-4180 records: quoted fields may hold commas, doubled quotes and line breaks; CRLF, LF and CR all end
    /// a record; a leading BOM is skipped; blank lines are skipped (as pandas does). An unterminated quote is
    /// reported as an error on the record that opened it.
    /// </summary>
    public static IEnumerable<Record> ReadRecords(TextReader reader)
    {
        var fields = new List<string>();
        var field = new StringBuilder();
        long line = 1, recordLine = 1;
        bool inQuotes = false, fieldQuoted = false, any = false, first = true;
        string? error = null;
        while (true)
        {
            int c = reader.Read();
            if (first)
            {
                first = false;
                if (c == '\uFEFF') c = reader.Read();
            }
            if (c < 0)
            {
                if (inQuotes) error ??= "a quoted field is not closed before the end of the file";
                if (any || field.Length > 0 || fields.Count > 0)
                {
                    fields.Add(field.ToString());
                    yield return new Record(recordLine, fields, error);
                }
                yield break;
            }
            char ch = (char)c;
            if (inQuotes)
            {
                if (ch == '"')
                {
                    if (reader.Peek() == '"') { reader.Read(); field.Append('"'); }
                    else inQuotes = false;
                }
                else
                {
                    if (ch == '\n' || (ch == '\r' && reader.Peek() != '\n')) line++;
                    field.Append(ch);
                }
                continue;
            }
            switch (ch)
            {
                case ',':
                    fields.Add(field.ToString());
                    field.Clear();
                    fieldQuoted = false;
                    any = true;
                    break;
                case '"' when field.Length == 0 && !fieldQuoted:
                    inQuotes = true;
                    fieldQuoted = true;
                    any = true;
                    break;
                case '"':
                    error ??= $"a double quote inside a{(fieldQuoted ? " quoted field must be doubled" : "n unquoted field")} (field {fields.Count + 1})";
                    field.Append(ch);
                    break;
                case '\r' or '\n':
                    if (ch == '\r' && reader.Peek() == '\n') reader.Read();
                    if (any || field.Length > 0)
                    {
                        fields.Add(field.ToString());
                        yield return new Record(recordLine, fields, error);
                        fields = [];
                    }
                    field.Clear();
                    fieldQuoted = false;
                    any = false;
                    error = null;
                    line++;
                    recordLine = line;
                    break;
                default:
                    if (fieldQuoted) error ??= $"text after the closing quote of field {fields.Count + 1}";
                    field.Append(ch);
                    any = true;
                    break;
            }
        }
    }
}

using System.Collections.Immutable;
using System.Text;

namespace ModalFlow.Data;

/// <summary>
/// One CSV record. <see cref="Line"/> and <see cref="FieldLines"/> are 1-based PHYSICAL line numbers of the file
/// (a quoted field may span several lines, so the record after it starts more than one line later).
/// </summary>
/// <param name="Line">The physical line the record starts on.</param>
/// <param name="Fields">The field values, quotes removed and doubled quotes undone; raw line breaks inside quoted
/// fields are kept as they are in the file.</param>
/// <param name="FieldLines">The physical line each field starts on (same length as <paramref name="Fields"/>).</param>
/// <param name="Problem">Null for a well-formed record; otherwise what is wrong with its quoting (the fields are then
/// a best-effort reading) and <paramref name="ProblemField"/> is the index of the field at fault.</param>
public sealed record CsvRecord(int Line, ImmutableArray<string> Fields, ImmutableArray<int> FieldLines, string? Problem = null,
    int ProblemField = -1)
{
    public int Count => Fields.Length;
    public string this[int index] => Fields[index];
}

/// <summary>
/// A small RFC 4180 reader: comma separated, fields optionally wrapped in <c>"</c>, an inner <c>"</c> doubled, raw
/// CR/LF allowed inside quoted fields. Records end at LF, CRLF or a lone CR outside quotes; blank lines between
/// records are skipped (as pandas' <c>skip_blank_lines</c>); a final line break is optional.
/// Malformed quoting does not throw: the record carries a <see cref="CsvRecord.Problem"/> and reading goes on with
/// the next record —
/// <list type="bullet">
/// <item>a <c>"</c> inside an unquoted field (kept literally, as pandas does),</item>
/// <item>characters between a closing quote and the next comma or line end (appended literally, as pandas does),</item>
/// <item>a quoted field still open at the end of the text (it swallows the rest of the file: reported on the line the
///   field opened on).</item>
/// </list>
/// </summary>
public static class CsvReader
{
    /// <summary>UTF-8 that throws on invalid bytes (a UTF-8 BOM is accepted and dropped).</summary>
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Reads a whole file as strict UTF-8 (BOM dropped).</summary>
    /// <exception cref="InputException">The file is missing, unreadable or not valid UTF-8.</exception>
    public static string ReadAllText(string path)
    {
        if (!File.Exists(path)) throw new InputException(path, null, "file not found; expected a CSV file");
        try
        {
            using var reader = new StreamReader(path, StrictUtf8, detectEncodingFromByteOrderMarks: true);
            return reader.ReadToEnd();
        }
        catch (DecoderFallbackException e)
        {
            throw new InputException(path, null, $"not valid UTF-8 ({e.Message}); expected a UTF-8 CSV file", e);
        }
        catch (IOException e)
        {
            throw new InputException(path, null, $"cannot read the file: {e.Message}", e);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new InputException(path, null, $"cannot read the file: {e.Message}", e);
        }
    }

    /// <summary>Parses <paramref name="text"/> into records (the header, if any, is the first record).</summary>
    public static IEnumerable<CsvRecord> Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return ParseIterator(text);
    }

    private static IEnumerable<CsvRecord> ParseIterator(string text)
    {
        int pos = 0, line = 1, n = text.Length;
        var fields = ImmutableArray.CreateBuilder<string>();
        var fieldLines = ImmutableArray.CreateBuilder<int>();
        var sb = new StringBuilder();
        while (pos < n)
        {
            if (IsLineBreak(text[pos]))
            {
                // A blank line between records.
                pos = SkipLineBreak(text, pos);
                line++;
                continue;
            }

            int recordLine = line;
            string? problem = null;
            int problemField = -1;
            fields.Clear();
            fieldLines.Clear();
            while (true)
            {
                int fieldLine = line;
                int index = fields.Count;
                sb.Clear();
                if (pos < n && text[pos] == '"')
                {
                    pos++;
                    bool closed = false;
                    while (pos < n)
                    {
                        char c = text[pos];
                        if (c == '"')
                        {
                            if (pos + 1 < n && text[pos + 1] == '"')
                            {
                                sb.Append('"');
                                pos += 2;
                                continue;
                            }
                            pos++;
                            closed = true;
                            break;
                        }
                        if (IsLineBreak(c))
                        {
                            int next = SkipLineBreak(text, pos);
                            sb.Append(text, pos, next - pos);
                            pos = next;
                            line++;
                            continue;
                        }
                        sb.Append(c);
                        pos++;
                    }
                    if (!closed)
                    {
                        SetProblem(ref problem, ref problemField, index,
                            $"field {index + 1}: the quoted field opened on line {fieldLine} is never closed (unterminated \" before the end of the file)");
                    }
                    else if (pos < n && text[pos] != ',' && !IsLineBreak(text[pos]))
                    {
                        SetProblem(ref problem, ref problemField, index,
                            $"field {index + 1}: unexpected character '{text[pos]}' after the closing quote; expected a comma or the end of the line");
                        int start = pos;
                        while (pos < n && text[pos] != ',' && !IsLineBreak(text[pos])) pos++;
                        sb.Append(text, start, pos - start);
                    }
                }
                else
                {
                    int start = pos;
                    while (pos < n && text[pos] != ',' && !IsLineBreak(text[pos])) pos++;
                    sb.Append(text, start, pos - start);
                    int quote = text.IndexOf('"', start, pos - start);
                    if (quote >= 0)
                    {
                        SetProblem(ref problem, ref problemField, index,
                            $"field {index + 1}: a double quote inside an unquoted field (at character {quote - start + 1}); "
                            + "expected the whole field in quotes with the inner quote doubled");
                    }
                }
                fields.Add(sb.ToString());
                fieldLines.Add(fieldLine);

                if (pos < n && text[pos] == ',')
                {
                    pos++;
                    continue; // a comma at the end of a line gives one more, empty, field
                }
                if (pos < n)
                {
                    pos = SkipLineBreak(text, pos);
                    line++;
                }
                break;
            }
            yield return new CsvRecord(recordLine, fields.ToImmutable(), fieldLines.ToImmutable(), problem, problemField);
        }
    }

    private static void SetProblem(ref string? problem, ref int problemField, int index, string message)
    {
        if (problem != null) return;
        problem = message;
        problemField = index;
    }

    private static bool IsLineBreak(char c) => c is '\n' or '\r';

    /// <summary>Position after the line break at <paramref name="pos"/> (CRLF counts as one).</summary>
    private static int SkipLineBreak(string text, int pos) =>
        text[pos] == '\r' && pos + 1 < text.Length && text[pos + 1] == '\n' ? pos + 2 : pos + 1;
}

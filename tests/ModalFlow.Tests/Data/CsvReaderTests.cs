using ModalFlow.Data;
using ModalFlow.Tests.Support;
using Xunit;

namespace ModalFlow.Tests.Data;

public class CsvReaderTests
{
    private static CsvRecord[] Parse(string text) => CsvReader.Parse(text).ToArray();

    [SharedFact]
    public void Quoted_Commas_Doubled_Quotes_And_Empty_Fields()
    {
        var r = Parse("a,b,c\n1,\"x, y\",\"say \"\"hi\"\"\"\n,\"\",\n");
        Assert.Equal(3, r.Length);
        Assert.Equal(["1", "x, y", "say \"hi\""], r[1].Fields.ToArray());
        Assert.Equal(["", "", ""], r[2].Fields.ToArray());
        Assert.All(r, x => Assert.Null(x.Problem));
        Assert.Equal([1, 2, 3], r.Select(x => x.Line));
    }

    [SharedFact]
    public void Raw_Newlines_Inside_Quotes_Keep_Physical_Line_Numbers()
    {
        var r = Parse("id,text,n\n1,\"two\nlines\",5\n2,\"three\r\nphysical\nlines\",6\n3,plain,7");
        Assert.Equal([1, 2, 4, 7], r.Select(x => x.Line));
        Assert.Equal("two\nlines", r[1][1]);
        Assert.Equal("three\r\nphysical\nlines", r[2][1]);
        Assert.Equal([4, 4, 6], r[2].FieldLines.ToArray()); // the field after the multi-line one starts on its last line
        Assert.Equal(["3", "plain", "7"], r[3].Fields.ToArray()); // no final line break
    }

    [SharedFact]
    public void Crlf_And_Lone_Cr_End_Records_And_Blank_Lines_Are_Skipped()
    {
        var r = Parse("a,b\r\n1,2\r\n\r\n3,4\r5,6\n\n");
        Assert.Equal([["a", "b"], ["1", "2"], ["3", "4"], ["5", "6"]], r.Select(x => x.Fields.ToArray()));
        Assert.Equal([1, 2, 4, 5], r.Select(x => x.Line));
    }

    [SharedFact]
    public void Trailing_Comma_Gives_An_Empty_Last_Field()
    {
        Assert.Equal(["1", "2", ""], Parse("1,2,\n")[0].Fields.ToArray());
    }

    [SharedFact]
    public void Quote_Inside_Unquoted_Field_Is_A_Problem_And_Reading_Goes_On()
    {
        var r = Parse("a,b\n1,ab\"c\n2,ok\n");
        Assert.Equal(3, r.Length);
        Assert.Equal(1, r[1].ProblemField);
        Assert.Contains("double quote inside an unquoted field", r[1].Problem);
        Assert.Equal("ab\"c", r[1][1]);
        Assert.Null(r[2].Problem);
    }

    [SharedFact]
    public void Text_After_Closing_Quote_Is_A_Problem()
    {
        var r = Parse("a,b\n\"x\"y,2\n3,4\n");
        Assert.Equal(0, r[1].ProblemField);
        Assert.Contains("unexpected character 'y' after the closing quote", r[1].Problem);
        Assert.Equal(["xy", "2"], r[1].Fields.ToArray());
        Assert.Equal(["3", "4"], r[2].Fields.ToArray());
    }

    [SharedFact]
    public void Unterminated_Quote_Swallows_The_Rest_And_Names_The_Opening_Line()
    {
        var r = Parse("a,b\n1,2\n3,\"open\n4,5\n");
        Assert.Equal(3, r.Length);
        Assert.Equal(3, r[2].Line);
        Assert.Equal(1, r[2].ProblemField);
        Assert.Contains("opened on line 3 is never closed", r[2].Problem);
    }

    [SharedFact]
    public void ReadAllText_Drops_Bom_And_Rejects_Invalid_Utf8()
    {
        var dir = Directory.CreateTempSubdirectory("mf-csv-");
        try
        {
            var bom = Path.Combine(dir.FullName, "bom.csv");
            File.WriteAllBytes(bom, [0xEF, 0xBB, 0xBF, (byte)'a', (byte)',', (byte)'b', (byte)'\n']);
            Assert.Equal(["a", "b"], CsvReader.Parse(CsvReader.ReadAllText(bom)).Single().Fields.ToArray());

            var bad = Path.Combine(dir.FullName, "bad.csv");
            File.WriteAllBytes(bad, [(byte)'a', 0xFF, (byte)'\n']);
            var e = Assert.Throws<InputException>(() => CsvReader.ReadAllText(bad));
            Assert.Equal(bad, e.File);
            Assert.Contains("not valid UTF-8", e.Message);

            var missing = Path.Combine(dir.FullName, "none.csv");
            Assert.Equal(missing, Assert.Throws<InputException>(() => CsvReader.ReadAllText(missing)).File);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}

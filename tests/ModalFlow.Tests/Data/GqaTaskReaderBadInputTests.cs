using ModalFlow.Data;
using ModalFlow.Tests.Support;
using Xunit;

namespace ModalFlow.Tests.Data;

/// <summary>Malformed task CSVs in small temporary files: skipped rows name file, line and field; hard errors throw.</summary>
public class GqaTaskReaderBadInputTests
{
    // LogicalObj's real header (schema D) and ChooseCat's (schema A).
    private const string HeaderD = "question_id,img_id,question,answer,object1 name,object1 id,object2 name,object2 id,question word,"
        + "type_detailed,type_semantic,type_structural,operations,captions,image_w,image_h,object1 w,object1 h,object1 x,object1 y,"
        + "object2 w,object2 h,object2 x,object2 y";
    private const string HeaderA = "question_id,img_id,question,answer,true option,false option,central object name,central object id,"
        + "type_detailed,type_semantic,type_structural,operations,captions,image_w,image_h,central object w,central object h,"
        + "central object x,central object y";

    /// <summary>A valid schema-D row; <paramref name="set"/> overrides fields by column name.</summary>
    private static string RowD(string id, params (string Column, string Value)[] set)
    {
        var v = new Dictionary<string, string>
        {
            ["question_id"] = id, ["img_id"] = "2350927", ["question"] = "Is there any grass or mud that is not brown?",
            ["answer"] = "no", ["object1 name"] = "grass", ["object1 id"] = "3899215", ["object2 name"] = "mud", ["object2 id"] = "-",
            ["question word"] = "common", ["type_detailed"] = "existThatOrC", ["type_semantic"] = "obj", ["type_structural"] = "logical",
            ["operations"] = "[{'operation': 'select', 'argument': 'grass (3899215)'}]", ["captions"] = "grass. mud, \"wet\" ground",
            ["image_w"] = "500", ["image_h"] = "375", ["object1 w"] = "214", ["object1 h"] = "147", ["object1 x"] = "32", ["object1 y"] = "312",
            ["object2 w"] = "-", ["object2 h"] = "-", ["object2 x"] = "-", ["object2 y"] = "-",
        };
        foreach (var (c, x) in set) v[c] = x;
        return string.Join(",", HeaderD.Split(',').Select(c => Quote(v[c])));
    }

    private static string RowA(string id, params (string Column, string Value)[] set)
    {
        var v = new Dictionary<string, string>
        {
            ["question_id"] = id, ["img_id"] = "2414951", ["question"] = "Which animal is this, a puppy or a cat?", ["answer"] = "cat",
            ["true option"] = "cat", ["false option"] = "puppy", ["central object name"] = "animal", ["central object id"] = "1",
            ["type_detailed"] = "categoryThisChoose", ["type_semantic"] = "cat", ["type_structural"] = "choose", ["operations"] = "[]",
            ["captions"] = "a cat", ["image_w"] = "500", ["image_h"] = "333", ["central object w"] = "391", ["central object h"] = "158",
            ["central object x"] = "81", ["central object y"] = "99",
        };
        foreach (var (c, x) in set) v[c] = x;
        return string.Join(",", HeaderA.Split(',').Select(c => Quote(v[c])));
    }

    private static string Quote(string s) =>
        s.IndexOfAny([',', '"', '\n', '\r']) >= 0 ? "\"" + s.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : s;

    /// <summary>Writes header + lines to t_{task}.csv, reads it, returns the result and the path.</summary>
    private static (TaskReadResult Result, string File) Read(TempDir dir, string task, string header, params string[] lines)
    {
        var file = dir.Write("t_" + task + ".csv", header + "\n" + string.Join("\n", lines) + "\n");
        return (GqaTaskReader.ReadFile(file), file);
    }

    /// <summary>Reads good row, bad row, good row; asserts the bad one is the only error, with file, line 3 and field.</summary>
    private static RowError OneBad(string bad, string field, string task = "LogicalObj", int line = 3)
    {
        using var dir = new TempDir();
        bool a = task == "ChooseCat";
        var (r, file) = Read(dir, task, a ? HeaderA : HeaderD, a ? RowA("01") : RowD("01"), bad, a ? RowA("03") : RowD("03"));
        Assert.Equal(["01", "03"], r.Rows.Select(x => x.QuestionId));
        var e = Assert.Single(r.Errors);
        Assert.Equal((file, line, field), (e.File, e.Line, e.Field));
        Assert.StartsWith($"{file}:{line}: {field}: ", e.ToString());
        return e;
    }

    [SharedFact]
    public void Good_Rows_Read_With_Quoted_Captions()
    {
        using var dir = new TempDir();
        var (r, _) = Read(dir, "LogicalObj", HeaderD, RowD("01"), RowD("02", ("captions", "a\nb, \"c\"\nd")), RowD("03"));
        Assert.Empty(r.Errors);
        Assert.Equal([2, 3, 6], r.Rows.Select(x => x.Line));
    }

    [SharedFact]
    public void Too_Few_Fields()
    {
        var e = OneBad("02,2350927,Is it?,no", "record");
        Assert.Contains("expected 24 fields (as many as the header), got 4", e.Message);
    }

    [SharedFact]
    public void Too_Many_Fields() =>
        Assert.Contains("got 25", OneBad(RowD("02") + ",extra", "record").Message);

    [SharedFact]
    public void Non_Integer_Box() =>
        Assert.Contains("expected a non-negative integer (pixels), got \"12.5\" (question_id 02)",
            OneBad(RowD("02", ("object1 x", "12.5")), "object1 x").Message);

    [SharedFact]
    public void Negative_Box_Width() =>
        Assert.Contains("got \"-5\"", OneBad(RowD("02", ("object1 w", "-5")), "object1 w").Message);

    [SharedFact]
    public void Non_Integer_And_Zero_Image_Size()
    {
        Assert.Contains("expected a positive integer (pixels), got \"abc\"", OneBad(RowD("02", ("image_w", "abc")), "image_w").Message);
        Assert.Contains("got \"0\"", OneBad(RowD("02", ("image_h", "0")), "image_h").Message);
    }

    [SharedFact]
    public void Missing_Question() =>
        Assert.Contains("expected the question text, got an empty field", OneBad(RowD("02", ("question", "")), "question").Message);

    [SharedFact]
    public void Empty_Answer_Option_And_Object_Name()
    {
        Assert.Contains("expected a non-empty value", OneBad(RowD("02", ("answer", "")), "answer").Message);
        OneBad(RowD("02", ("answer", "  ")), "answer");
        OneBad(RowA("02", ("true option", "")), "true option", "ChooseCat");
        OneBad(RowA("02", ("central object name", "")), "central object name", "ChooseCat");
        OneBad(RowD("02", ("object2 name", "")), "object2 name");
    }

    [SharedFact]
    public void Empty_Question_Id() =>
        Assert.Contains("expected a GQA question id", OneBad(RowD(""), "question_id").Message);

    [SharedFact]
    public void Object2_Partly_Dash()
    {
        var e = OneBad(RowD("02", ("object2 x", "10"), ("object2 y", "10"), ("object2 w", "5")), "object2 h");
        Assert.Contains("expected all four of object2 x, object2 y, object2 w, object2 h to be \"-\" or all integers", e.Message);
    }

    [SharedFact]
    public void Object1_Dash_And_Central_Object_Dash_Are_Not_Allowed()
    {
        OneBad(RowD("02", ("object1 x", "-")), "object1 x");
        Assert.Contains("may not be missing", OneBad(RowA("02", ("central object w", "-")), "central object w", "ChooseCat").Message);
    }

    [SharedFact]
    public void Duplicate_Question_Id_Keeps_The_First()
    {
        var e = OneBad(RowD("01", ("answer", "yes")), "question_id");
        Assert.Contains("already used by the row on line 2", e.Message);
    }

    [SharedFact]
    public void Stray_Quote_In_Unquoted_Field() =>
        Assert.Contains("malformed CSV: field 4: a double quote inside an unquoted field",
            OneBad(RowD("02", ("answer", "x")).Replace(",x,", ",x\"y,", StringComparison.Ordinal), "answer").Message);

    [SharedFact]
    public void Text_After_Closing_Quote() =>
        Assert.Contains("after the closing quote",
            OneBad(RowD("02").Replace("\"grass. mud, \"\"wet\"\" ground\"", "\"grass\"x", StringComparison.Ordinal), "captions").Message);

    [SharedFact]
    public void Unterminated_Quote_Swallows_The_Rest_And_Is_Reported_Where_It_Opened()
    {
        using var dir = new TempDir();
        var bad = RowD("02").Replace("\"grass. mud, \"\"wet\"\" ground\"", "\"grass", StringComparison.Ordinal);
        var (r, file) = Read(dir, "LogicalObj", HeaderD, RowD("01"), RowD("02"), bad, RowD("04"));
        // The open quote runs to the caption of row 04, whose opening quote closes it: two records merge into one.
        Assert.Equal(["01", "02"], r.Rows.Select(x => x.QuestionId));
        var e = Assert.Single(r.Errors);
        Assert.Equal((file, 4, "captions"), (e.File, e.Line, e.Field));
        Assert.Contains("after the closing quote", e.Message);

        using var dir2 = new TempDir();
        (r, file) = Read(dir2, "LogicalObj", HeaderD, RowD("01"), RowD("02"), bad);
        Assert.Equal(["01", "02"], r.Rows.Select(x => x.QuestionId));
        e = Assert.Single(r.Errors);
        Assert.Equal((file, 4, "captions"), (e.File, e.Line, e.Field));
        Assert.Contains("the quoted field opened on line 4 is never closed", e.Message);
    }

    [SharedFact]
    public void Error_In_A_Field_After_A_Multi_Line_Caption_Names_That_Fields_Physical_Line()
    {
        using var dir = new TempDir();
        var (r, file) = Read(dir, "LogicalObj", HeaderD, RowD("01"), RowD("02", ("captions", "one\ntwo\nthree"), ("image_h", "x")), RowD("03"));
        var e = Assert.Single(r.Errors);
        Assert.Equal((file, 5, "image_h"), (e.File, e.Line, e.Field));
        Assert.Equal(6, r.Find("03")!.Line);
    }

    [SharedFact]
    public void Several_Bad_Rows_Are_All_Reported_In_Order()
    {
        using var dir = new TempDir();
        var (r, _) = Read(dir, "LogicalObj", HeaderD, RowD("01", ("answer", "")), RowD("02"), RowD("03", ("image_w", "")), "04");
        Assert.Equal(["02"], r.Rows.Select(x => x.QuestionId));
        Assert.Equal([(2, "answer"), (4, "image_w"), (5, "record")], r.Errors.Select(e => (e.Line, e.Field)));
    }

    [SharedFact]
    public void Missing_Required_Column_Is_A_Hard_Error_Naming_The_Column()
    {
        using var dir = new TempDir();
        var header = HeaderD.Replace(",object2 x", "", StringComparison.Ordinal);
        var file = dir.Write("t_LogicalObj.csv", header + "\n");
        var e = Assert.Throws<InputException>(() => GqaTaskReader.ReadFile(file));
        Assert.Equal((file, "object2 x"), (e.File, e.Field));
        Assert.Contains("missing required column \"object2 x\" (task LogicalObj, schema D)", e.Message);

        // ChooseRel needs options; a schema-D header is not enough.
        var rel = dir.Write("t_ChooseRel.csv", HeaderD + "\n");
        Assert.Equal("true option", Assert.Throws<InputException>(() => GqaTaskReader.ReadFile(rel)).Field);
    }

    [SharedFact]
    public void Empty_File_Duplicate_Header_And_Malformed_Header_Are_Hard_Errors()
    {
        using var dir = new TempDir();
        var empty = dir.Write("t_QueryAttr.csv", "");
        Assert.Equal((empty, "header"), Field(() => GqaTaskReader.ReadFile(empty)));
        var dup = dir.Write("t_LogicalObj.csv", HeaderD + ",answer\n");
        Assert.Equal((dup, "answer"), Field(() => GqaTaskReader.ReadFile(dup)));
        var bad = dir.Write("t_CompareAttr.csv", "\"question_id,img_id\n");
        Assert.Equal((bad, "header"), Field(() => GqaTaskReader.ReadFile(bad)));
    }

    [SharedFact]
    public void Header_Only_File_Has_No_Rows_And_Unknown_Task_Uses_The_Header_Schema()
    {
        using var dir = new TempDir();
        var (r, _) = Read(dir, "Mine", HeaderD, RowD("01"));
        Assert.Equal(("Mine", GqaSchema.D), (r.Task, r.Schema));
        Assert.Single(r.Rows);
        var (a, _) = Read(dir, "Other", HeaderA, RowA("01"));
        Assert.Equal(GqaSchema.A, a.Schema);
        var none = dir.Write("x_Neither.csv", "question_id,img_id,question,answer\n");
        Assert.Equal("header", Assert.Throws<InputException>(() => GqaTaskReader.ReadFile(none)).Field);
        Assert.Empty(GqaTaskReader.ReadFile(dir.Write("t_QueryAttr.csv", HeaderA.Replace("true option,false option,", "", StringComparison.Ordinal) + "\n")).Rows);
    }

    private static (string?, string?) Field(Action a)
    {
        var e = Assert.Throws<InputException>(a);
        return (e.File, e.Field);
    }
}

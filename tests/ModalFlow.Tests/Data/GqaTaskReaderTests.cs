using ModalFlow.Data;
using ModalFlow.Tests.Support;
using Xunit;

namespace ModalFlow.Tests.Data;

public class GqaTaskReaderTests
{
    public static string Folder => SharedData.DataFile("paper-gqa");

    private static readonly Lazy<IReadOnlyDictionary<string, TaskReadResult>> AllLazy = new(() => GqaTaskReader.ReadAll(Folder));
    public static IReadOnlyDictionary<string, TaskReadResult> All => AllLazy.Value;

    [SharedTheory]
    [InlineData("ChooseCat", 1000, GqaSchema.A)]
    [InlineData("ChooseAttr", 1000, GqaSchema.A)]
    [InlineData("QueryAttr", 1000, GqaSchema.B)]
    [InlineData("ChooseRel", 964, GqaSchema.C)]
    [InlineData("CompareAttr", 570, GqaSchema.D)]
    [InlineData("LogicalObj", 991, GqaSchema.D)]
    public void Paper_Files_Read_Every_Record_Without_Errors(string task, int records, GqaSchema schema)
    {
        var r = All[task];
        Assert.Empty(r.Errors);
        Assert.Equal(records, r.Rows.Length);
        Assert.Equal(task, r.Task);
        Assert.Equal(schema, r.Schema);
        Assert.All(r.Rows, row =>
        {
            Assert.Equal(task, row.Task);
            Assert.Equal(r.File, row.File);
            Assert.EndsWith("?", row.Question);
            Assert.Equal(row.Answer.ToLowerInvariant(), row.Answer);
            Assert.Equal(row.HasOptions, row.TrueOption != null && row.FalseOption != null);
            if (row.HasOptions) Assert.Equal(row.Answer, row.TrueOption);
            Assert.Equal(row.IsTwoObject, row.CentralObjectName == null && row.CentralObjectBox == null);
            Assert.Equal(row.IsTwoObject, row.Object1Name != null && row.Object1Box != null && row.Object2Name != null);
        });
        Assert.Equal(r.Rows.Length, r.Rows.Select(x => x.QuestionId).Distinct().Count());
        // Lines strictly increase from 2 (1 = header).
        Assert.Equal(2, r.Rows[0].Line);
        Assert.True(r.Rows.Zip(r.Rows.Skip(1)).All(p => p.First.Line < p.Second.Line));
        Assert.Equal(r.File, GqaTaskReader.TaskFile(Folder, task));
    }

    [SharedTheory]
    [InlineData("ChooseCat", "10931541", 603, 605)]
    [InlineData("ChooseAttr", "06695482", 714, 746)]
    [InlineData("CompareAttr", "06695168", 76, 78)]
    [InlineData("LogicalObj", "10931510", 531, 533)]
    public void Multi_Line_Captions_Rows_Are_One_Record_And_The_Next_Row_Has_Its_Physical_Line(string task, string id, int line, int nextLine)
    {
        var r = All[task];
        var row = r.Get(id);
        Assert.Equal(line, row.Line);
        var index = r.Rows.IndexOf(row);
        Assert.Equal(nextLine, r.Rows[index + 1].Line);
    }

    [SharedFact]
    public void Last_Rows_End_On_The_Files_Last_Physical_Lines()
    {
        Assert.Equal(1002, All["ChooseCat"].Rows[^1].Line);
        Assert.Equal(1032, All["ChooseAttr"].Rows[^1].Line);
        Assert.Equal(1001, All["QueryAttr"].Rows[^1].Line);
        Assert.Equal(965, All["ChooseRel"].Rows[^1].Line);
        Assert.Equal(572, All["CompareAttr"].Rows[^1].Line);
        Assert.Equal(993, All["LogicalObj"].Rows[^1].Line);
    }

    [SharedFact]
    public void Question_Ids_Keep_Leading_Zeros()
    {
        Assert.Equal("02452198", All["QueryAttr"].Rows[0].QuestionId);
        Assert.Equal(["19817684", "00556075", "001039575"], All["ChooseCat"].Rows.Take(3).Select(r => r.QuestionId));
        Assert.NotNull(All["LogicalObj"].Find("0090625"));
        Assert.Null(All["LogicalObj"].Find("90625"));
        Assert.Equal(2815, All.Values.Sum(t => t.Rows.Count(r => r.QuestionId.StartsWith('0'))));
    }

    [SharedFact]
    public void Row_Fields_Are_Read_By_Header_Name()
    {
        var c = All["ChooseCat"].Get("10931541");
        Assert.Equal(("Which animal is this, a puppy or a cat?", "cat", "cat", "puppy", "animal"),
            (c.Question, c.Answer, c.TrueOption, c.FalseOption, c.CentralObjectName));
        Assert.Equal(new Box(81, 99, 391, 158), c.CentralObjectBox);
        Assert.Equal((500, 333), (c.ImageWidth, c.ImageHeight));
        Assert.Equal(("2414951", "2414951.jpg"), (c.ImgId, c.ImageFileName));
        Assert.Equal([new Box(81, 99, 391, 158)], c.PatchBoxes.ToArray());

        var l = All["LogicalObj"].Get("12824169");
        Assert.Equal(("grass", "mud"), (l.Object1Name, l.Object2Name));
        Assert.Equal(new Box(32, 312, 214, 147), l.Object1Box);
        Assert.Null(l.Object2Box);
        Assert.Equal([new Box(32, 312, 214, 147)], l.PatchBoxes.ToArray());
        Assert.Equal("2350927.jpg", l.ImageFileName);
    }

    [SharedFact]
    public void Object2_Dash_Is_Null_In_910_LogicalObj_Rows_Only()
    {
        Assert.Equal(910, All["LogicalObj"].Rows.Count(r => r.Object2Box == null));
        Assert.All(All["LogicalObj"].Rows, r => Assert.NotNull(r.Object1Box));
        Assert.All(All["LogicalObj"].Rows.Where(r => r.Object2Box == null), r => Assert.Single(r.PatchBoxes));
        Assert.All(All["ChooseRel"].Rows.Concat(All["CompareAttr"].Rows), r => Assert.Equal(2, r.PatchBoxes.Length));
    }

    [SharedFact]
    public void Boxes_Past_The_Image_Edge_Are_Kept_As_Read()
    {
        var boxes = All.Values.SelectMany(t => t.Rows).SelectMany(r => r.PatchBoxes.Select(b => (r, b))).ToList();
        Assert.Equal(102, boxes.Count(x => x.b.ExtendsPast(x.r.ImageWidth, x.r.ImageHeight)));
        Assert.Equal(new Box(0, 96, 667, 185), All["ChooseCat"].Get("1595102").CentralObjectBox);
        var outside = All["QueryAttr"].Get("1594913");
        Assert.Equal(new Box(503, 91, 163, 72), outside.CentralObjectBox);
        Assert.True(outside.CentralObjectBox!.Value.X >= outside.ImageWidth);
    }

    [SharedFact]
    public void Task_Name_Is_The_Text_After_The_Last_Underscore()
    {
        Assert.Equal("ChooseCat", GqaTaskReader.TaskNameFromFile("/x/GQA_val_correct_question_with_categoryThatThisChoose_objThisChoose_ChooseCat.csv"));
        Assert.Equal("plain", GqaTaskReader.TaskNameFromFile("plain.csv"));
        Assert.Equal("LogicalObj", GqaTaskReader.Read("LogicalObj", Folder).Task);
        var byPath = GqaTaskReader.Read(GqaTaskReader.TaskFile(Folder, "QueryAttr"), "/nonexistent");
        Assert.Equal(1000, byPath.Rows.Length);
    }

    [SharedFact]
    public void Unknown_Task_Missing_Folder_And_Missing_File_Are_Input_Errors()
    {
        var e = Assert.Throws<InputException>(() => GqaTaskReader.ReadTask(Folder, "ChooseColor"));
        Assert.Equal("task", e.Field);
        Assert.Contains("ChooseAttr, ChooseCat", e.Message);
        Assert.Equal("/no/such/folder", Assert.Throws<InputException>(() => GqaTaskReader.ReadTask("/no/such/folder", "ChooseCat")).File);
        Assert.Equal("/no/such/file_ChooseCat.csv",
            Assert.Throws<InputException>(() => GqaTaskReader.ReadFile("/no/such/file_ChooseCat.csv")).File);

        using var dir = new TempDir();
        var none = Assert.Throws<InputException>(() => GqaTaskReader.ReadTask(dir.Path, "ChooseCat"));
        Assert.Contains("no file ending in \"_ChooseCat.csv\"", none.Message);
        File.WriteAllText(System.IO.Path.Combine(dir.Path, "a_ChooseCat.csv"), "");
        File.WriteAllText(System.IO.Path.Combine(dir.Path, "b_ChooseCat.csv"), "");
        Assert.Contains("2 files end in", Assert.Throws<InputException>(() => GqaTaskReader.ReadTask(dir.Path, "ChooseCat")).Message);
    }
}

/// <summary>A temporary folder removed on dispose.</summary>
public sealed class TempDir : IDisposable
{
    public TempDir() => Path = Directory.CreateTempSubdirectory("mf-data-").FullName;
    public string Path { get; }
    public string Write(string name, string text)
    {
        var file = System.IO.Path.Combine(Path, name);
        File.WriteAllText(file, text);
        return file;
    }
    public void Dispose() => Directory.Delete(Path, recursive: true);
}

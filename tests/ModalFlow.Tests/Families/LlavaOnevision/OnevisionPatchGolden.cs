using System.Text.Json;
using ModalFlow.Data;
using ModalFlow.Families.LlavaOnevision;
using ModalFlow.Tests.Support;

namespace ModalFlow.Tests.Families.LlavaOnevision;

/// <summary>One mode's record of a row of fixtures/patch-sets/llava_onevision.json.</summary>
public sealed record OnevisionGoldenSets(JsonElement Json)
{
    public int[] Ints(string name) => Json.GetProperty(name).EnumerateArray().Select(x => x.GetInt32()).ToArray();
    public int Int(string name) => Json.GetProperty(name).GetInt32();
    public int TokenCount => Int("n_image_tokens");
}

/// <summary>One row (CSV, synthetic or extra) with its sets in both modes.</summary>
public sealed record OnevisionGoldenRow(string Kind, int Index, string Task, string QuestionId, int ImageW, int ImageH, Box[] Boxes,
    IReadOnlyDictionary<string, OnevisionGoldenSets> Modes)
{
    public override string ToString() => $"{Kind}[{Index}] {Task} {QuestionId} {ImageW}x{ImageH}";
}

public static class OnevisionPatchGolden
{
    public const string RealMode = "llava_onevision_qwen2_7b";
    public const string TinyMode = "tiny_llava_onevision";

    /// <summary>The real checkpoints' pinpoints: v4.45.1's class default (384·i, 384·j), i, j in 1..6, as (height, width).</summary>
    public static (int Height, int Width)[] RealPinpoints => [.. LlavaOnevisionConfig.DefaultImageGridPinpoints.Select(p => (p[0], p[1]))];

    public static string File => SharedData.Fixture("patch-sets", "llava_onevision.json");

    private static readonly Lazy<JsonElement> RootLazy = new(() => JsonDocument.Parse(System.IO.File.ReadAllBytes(File)).RootElement.Clone());
    public static JsonElement Root => RootLazy.Value;

    private static readonly Lazy<OnevisionGoldenRow[]> RowsLazy = new(Load);
    public static OnevisionGoldenRow[] Rows => RowsLazy.Value;

    /// <summary>(row index, mode) for every row of every kind and both modes.</summary>
    public static Xunit.TheoryData<int, string> RowModes()
    {
        var data = new Xunit.TheoryData<int, string>();
        for (int i = 0; i < Rows.Length; i++)
        {
            data.Add(i, RealMode);
            data.Add(i, TinyMode);
        }
        return data;
    }

    /// <summary>The mapper of a mode: the real checkpoint's class defaults, or the tiny fixture's config.</summary>
    public static LlavaOnevisionPatchMapper Mapper(string mode) => mode switch
    {
        RealMode => new LlavaOnevisionPatchMapper(RealPinpoints, 384, 14),
        TinyMode => LlavaOnevisionPatchMapper.ForModel(OnevisionFixture.Config()),
        _ => throw new ArgumentOutOfRangeException(nameof(mode), mode, "unknown mode"),
    };

    private static OnevisionGoldenRow[] Load()
    {
        static int[] Ints(JsonElement e) => e.EnumerateArray().Select(x => x.GetInt32()).ToArray();
        IEnumerable<OnevisionGoldenRow> Read(string kind) => Root.GetProperty(kind).EnumerateArray().Select((r, i) =>
            new OnevisionGoldenRow(kind, i, r.GetProperty("task").GetString()!, r.GetProperty("question_id").GetString()!,
                r.GetProperty("image_w").GetInt32(), r.GetProperty("image_h").GetInt32(),
                r.GetProperty("boxes_xywh").EnumerateArray().Select(b => { var v = Ints(b); return new Box(v[0], v[1], v[2], v[3]); }).ToArray(),
                new Dictionary<string, OnevisionGoldenSets>
                {
                    [RealMode] = new(r.GetProperty(RealMode)),
                    [TinyMode] = new(r.GetProperty(TinyMode)),
                }));
        return [.. Read("rows"), .. Read("synthetic_rows"), .. Read("extra_rows")];
    }
}

using System.Text.Json;

namespace ModalFlow.Tests.Support;

/// <summary>
/// One golden case of ../shared/fixtures/&lt;model&gt;/cases/&lt;case&gt; (or its copy in tests/fixtures): case.json plus
/// its arrays.
/// </summary>
public sealed class FixtureCase
{
    private FixtureCase(string model, string id)
    {
        Model = model;
        Id = id;
        Dir = SharedData.Fixture(model, "cases", id);
        Json = JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir, "case.json"))).RootElement.Clone();
    }

    public string Model { get; }
    public string Id { get; }
    public string Dir { get; }
    public JsonElement Json { get; }

    public static FixtureCase Load(string model, string id) => new(model, id);

    /// <summary>The cases every fixture model has (../shared/fixtures/README.md, "Cases").</summary>
    public static readonly string[] DocumentedIds = ["dog_jar", "ironing_rel", "tree_attr"];

    /// <summary>
    /// The model's cases: the folders of ../shared/fixtures/&lt;model&gt;/cases, or, on a clone without ../shared, the
    /// documented ids, so that a theory lists the same rows everywhere and the rows tests/fixtures cannot serve skip.
    /// </summary>
    public static IEnumerable<string> CaseIds(string model) => SharedData.Root is { } root
        ? Directory.GetDirectories(Path.Combine(root, "fixtures", model, "cases")).Select(Path.GetFileName).Order()!
        : DocumentedIds;

    public NpyArray Array(string name) => NpyArray.Load(Path.Combine(Dir, name + ".npy"));

    public string Prompt => Json.GetProperty("prompt").GetString()!;
    public string Question => Json.GetProperty("question").GetString()!;
    public string ImagePath => SharedData.Fixture(Json.GetProperty("image").GetString()!);
    public string PixelValuesPath => SharedData.Fixture(Json.GetProperty("pixel_values").GetString()!);
    public int PlaceholderIndex => Json.GetProperty("image_placeholder_index").GetInt32();
    public int SeqLen => Json.GetProperty("seq_len").GetInt32();
    public int NumImageTokens => Json.GetProperty("n_image_tokens").GetInt32();
    public long Top1Id => Json.GetProperty("top1_id").GetInt64();
    public double Top1Prob => Json.GetProperty("top1_prob").GetDouble();
    public int[] ProbePositions => Json.GetProperty("probe_positions").EnumerateArray().Select(e => e.GetInt32()).ToArray();

    public (int Start, int End) Range(string name)
    {
        var r = Json.GetProperty("ranges").GetProperty(name);
        return r.ValueKind == JsonValueKind.Array ? (r[0].GetInt32(), r[1].GetInt32()) : (r.GetInt32(), r.GetInt32() + 1);
    }

    public override string ToString() => $"{Model}/{Id}";
}

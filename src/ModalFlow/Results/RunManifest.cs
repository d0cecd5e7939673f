using System.Text.Json;

namespace ModalFlow.Results;

/// <summary>
/// What a run is: everything that changes its numbers. Stored in the run store at the start; a resume (or a merge)
/// with any different field is refused, naming the fields. Shard is identity too, except for merges.
/// </summary>
public sealed record RunManifest
{
    public required string Model { get; init; }
    /// <summary>The model family (<c>IModelFamily.Name</c>: llava, qwen2-vl, llava-onevision).</summary>
    public string Family { get; init; } = "llava";
    public required string CheckpointFingerprint { get; init; }
    public required string DType { get; init; }
    public string Device { get; init; } = "cpu";
    public required string Task { get; init; }
    public required string DataFile { get; init; }
    public required string DataFingerprint { get; init; }
    public required string Images { get; init; }
    public required string Experiment { get; init; }
    public required int Window { get; init; }
    public required string Subword { get; init; }
    public required string Filter { get; init; }
    /// <summary>Empty position sets: "keep" (block nothing, the paper) or "exclude" (skip the sample).</summary>
    public string EmptySets { get; init; } = "keep";
    /// <summary>"paper" when --preset paper chose window, dtype, max new tokens and preprocessing; "" otherwise.</summary>
    public string Preset { get; init; } = "";
    /// <summary>The greedy answer's length limit (the correctness filter reads the answer).</summary>
    public int MaxNewTokens { get; init; } = 32;
    /// <summary>What the images really went through (pad, crop, anyres/transformers, anyres/llava-next, smart_resize, …).</summary>
    public required string Preprocessing { get; init; }
    public required string Engine { get; init; }
    public int? Limit { get; init; }
    public required int ShardIndex { get; init; }
    public required int ShardCount { get; init; }
    public required string CodeVersion { get; init; }
    /// <summary>Fingerprint of an explicit tokenizer file ("" when the folder's own is used).</summary>
    public string Tokenizer { get; init; } = "";

    /// <summary>
    /// The self-check's share of cells (<c>run --verify</c>) this run started with; null in stores from before self-checks.
    /// Recorded, but not identity (<see cref="NotIdentity"/>): it changes no result, so a resume or a shard may use another
    /// share (each sample's own share is in the store's verification table).
    /// </summary>
    public double? Verify { get; init; }

    /// <summary>Fields a resume or a merge may differ in.</summary>
    public static IReadOnlySet<string> NotIdentity { get; } = new HashSet<string>(StringComparer.Ordinal) { nameof(Verify) };

    /// <summary>'-&gt;' and non-ASCII stay as they are (the default encoder would store "Image-\u003EQuestion").</summary>
    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    public static RunManifest FromJson(string json) => JsonSerializer.Deserialize<RunManifest>(json)
        ?? throw new InvalidDataException("empty run manifest");

    /// <summary>Names of the fields that differ (optionally ignoring the shard, for merges).</summary>
    public IReadOnlyList<string> Differences(RunManifest other, bool ignoreShard = false)
    {
        var a = JsonSerializer.SerializeToElement(this, JsonOptions);
        var b = JsonSerializer.SerializeToElement(other, JsonOptions);
        var diffs = new List<string>();
        foreach (var p in a.EnumerateObject())
        {
            if (ignoreShard && p.Name is nameof(ShardIndex)) continue;
            if (NotIdentity.Contains(p.Name)) continue;
            var q = b.GetProperty(p.Name);
            if (p.Value.GetRawText() != q.GetRawText()) diffs.Add($"{p.Name} (stored {p.Value.GetRawText()}, now {q.GetRawText()})");
        }
        return diffs;
    }
}

namespace ModalFlow.Results;

/// <summary>A record of input that could not be read (a CSV record with a wrong field count, an unparsable number).</summary>
public sealed record MalformedRow(string File, long Line, string Problem);

/// <summary>Everything a run produced, as the results code consumes it: per-sample rows, exclusions, malformed input.</summary>
public sealed record RunResults(
    IReadOnlyList<KnockoutRow> Knockout,
    IReadOnlyList<LensRow> Lens,
    IReadOnlyList<ExcludedSample> Excluded,
    IReadOnlyList<MalformedRow> Malformed)
{
    public static RunResults Empty { get; } = new([], [], [], []);

    /// <summary>Set when these results come from a merge that lacks shards; a report must say so at the top.</summary>
    public PartialMerge? Partial { get; init; }

    /// <summary>The run's self-check (naive recomputation of a sample of cells); null when none was recorded.</summary>
    public VerificationSummary? Verification { get; init; }

    /// <summary>The run's settings as stored (null for results not read from a run store): the report lists them.</summary>
    public RunManifest? Manifest { get; init; }

    /// <summary>Used samples measured in a special way (e.g. kept with an empty position set: nothing blocked).</summary>
    public IReadOnlyList<NotedSample> Noted { get; init; } = [];
}

/// <summary>A merge made with shards missing (<c>modalflow merge --allow-partial</c>).</summary>
public sealed record PartialMerge(int ShardCount, IReadOnlyList<int> Merged, IReadOnlyList<int> Missing)
{
    /// <summary>The line a report opens with.</summary>
    public string Notice =>
        $"> **Partial results: {Merged.Count} of {ShardCount} shards merged; missing shard{(Missing.Count == 1 ? "" : "s")} " +
        $"{string.Join(", ", Missing)}.** Every number below covers only the merged shards.";
}

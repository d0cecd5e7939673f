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
}

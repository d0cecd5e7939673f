using System.Collections.Immutable;
using ModalFlow.Text;

namespace ModalFlow.Tracing;

/// <summary>A named set of absolute positions in the expanded sequence (sorted, distinct).</summary>
public sealed record PositionSet
{
    private PositionSet(string name, ImmutableArray<int> positions)
    {
        Name = name;
        Positions = positions;
    }

    public string Name { get; }
    public ImmutableArray<int> Positions { get; }
    public int Count => Positions.Length;
    public int First => Positions[0];

    public static PositionSet Of(string name, IEnumerable<int> positions)
    {
        var sorted = positions.Distinct().Order().ToImmutableArray();
        if (sorted.Length > 0 && sorted[0] < 0)
            throw new ArgumentException($"position set '{name}' has a negative position {sorted[0]}");
        return new PositionSet(name, sorted);
    }

    public static PositionSet Range(string name, int start, int end) => Of(name, Enumerable.Range(start, Math.Max(0, end - start)));

    public override string ToString() => Count <= 6
        ? $"{Name}[{string.Join(",", Positions)}]"
        : $"{Name}[{Positions[0]}..{Positions[^1]} ({Count})]";
}

/// <summary>
/// The paper's named position sets resolved from a <see cref="SequenceLayout"/>: experiments name sets, they never
/// compute indices themselves. More sets (options, object words, image patches) are added by later features.
/// </summary>
public static class NamedPositions
{
    public const string Image = "Image";
    public const string Question = "Question";
    public const string Last = "Last";

    public static IReadOnlyList<string> Basic { get; } = [Image, Question, Last];

    public static PositionSet Resolve(string name, SequenceLayout layout) => name switch
    {
        Image => PositionSet.Range(Image, layout.Image.Start, layout.Image.End),
        Question => PositionSet.Range(Question, layout.Question.Start, layout.Question.End),
        Last => PositionSet.Of(Last, [layout.Last]),
        _ => throw new InputException(null, "block", $"unknown position set '{name}'; expected one of {string.Join(", ", Basic)}"),
    };
}

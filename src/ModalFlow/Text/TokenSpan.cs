namespace ModalFlow.Text;

/// <summary>A half-open range [Start, End) of sequence positions.</summary>
public readonly record struct TokenSpan
{
    public TokenSpan(int start, int end)
    {
        if (start < 0 || end < start)
            throw new ArgumentOutOfRangeException(nameof(end), $"expected 0 ≤ start ≤ end, got [{start}, {end})");
        Start = start;
        End = end;
    }

    public int Start { get; }
    public int End { get; }
    public int Length => End - Start;
    public bool IsEmpty => End == Start;

    public bool Contains(int position) => position >= Start && position < End;

    /// <summary>The positions Start, Start+1, …, End-1.</summary>
    public int[] Positions() => Enumerable.Range(Start, Length).ToArray();

    /// <summary>The same span moved by <paramref name="offset"/> positions.</summary>
    public TokenSpan Shift(int offset) => new(Start + offset, End + offset);

    public override string ToString() => $"[{Start}, {End})";
}

using System.Collections.Immutable;
using ModalFlow.Platform;
using ModalFlow.Text;
using ModalFlow.Tracing;

namespace ModalFlow.Data;

/// <summary>
/// Experiment 3's split of one image's tokens: the patches the annotated objects fall on (<see cref="Related"/>), the
/// rest (<see cref="Other"/>), and positions in neither (<see cref="Newlines"/>: LLaVA-NeXT's row-end tokens; empty
/// for LLaVA-1.5). Indices are relative to the first image token (0 .. <see cref="ImageTokenCount"/> - 1), sorted;
/// the three sets are disjoint and cover the whole block.
/// </summary>
public sealed record ObjectPatchSets
{
    /// <summary>The paper's "Image Central Object" (DESIGN: "Related Image Patches").</summary>
    public const string RelatedName = "Related Image Patches";

    /// <summary>The paper's "Image Without Central Object" (DESIGN: "Other Image Patches").</summary>
    public const string OtherName = "Other Image Patches";

    /// <summary>A control: as many patches as <see cref="Related"/>, drawn at random from <see cref="Other"/>.</summary>
    public const string RandomName = "Random Image Patches";

    /// <exception cref="ArgumentException">Out-of-range, unsorted, repeated or overlapping indices.</exception>
    public ObjectPatchSets(int imageTokenCount, ImmutableArray<int> related, ImmutableArray<int> other, ImmutableArray<int> newlines)
    {
        if (imageTokenCount < 1) throw new ArgumentOutOfRangeException(nameof(imageTokenCount), imageTokenCount, "expected at least one image token");
        var all = new bool[imageTokenCount];
        foreach (var (name, set) in new[] { ("related", related), ("other", other), ("newlines", newlines) })
        {
            for (int i = 0; i < set.Length; i++)
            {
                int p = set[i];
                if ((uint)p >= (uint)imageTokenCount)
                    throw new ArgumentException($"{name}[{i}] = {p} outside 0..{imageTokenCount - 1}");
                if (i > 0 && set[i - 1] >= p)
                    throw new ArgumentException($"{name} must be sorted and distinct: [{i - 1}] = {set[i - 1]}, [{i}] = {p}");
                if (all[p]) throw new ArgumentException($"{name} repeats position {p}, which is already in another set");
                all[p] = true;
            }
        }
        int missing = Array.IndexOf(all, false);
        if (missing >= 0) throw new ArgumentException($"position {missing} is in none of related, other, newlines");
        ImageTokenCount = imageTokenCount;
        Related = related;
        Other = other;
        Newlines = newlines;
    }

    public int ImageTokenCount { get; }
    public ImmutableArray<int> Related { get; }
    public ImmutableArray<int> Other { get; }
    public ImmutableArray<int> Newlines { get; }

    /// <summary>Related positions in the sequence: <paramref name="imageStart"/> + each index.</summary>
    public PositionSet RelatedPositions(int imageStart) => Absolute(RelatedName, Related, imageStart);

    /// <summary>Other positions in the sequence: <paramref name="imageStart"/> + each index.</summary>
    public PositionSet OtherPositions(int imageStart) => Absolute(OtherName, Other, imageStart);

    /// <summary>Related positions in <paramref name="layout"/>'s sequence (its image block must have this many tokens).</summary>
    public PositionSet RelatedPositions(SequenceLayout layout) => RelatedPositions(ImageStart(layout));

    /// <summary>Other positions in <paramref name="layout"/>'s sequence.</summary>
    public PositionSet OtherPositions(SequenceLayout layout) => OtherPositions(ImageStart(layout));

    /// <summary>
    /// The random control: min(|Related|, |Other|) indices drawn without replacement from <see cref="Other"/>,
    /// deterministic per (<paramref name="questionId"/>, <paramref name="seed"/>) and independent of the platform.
    /// Algorithm: the first k steps of a <see cref="StableShuffle"/> of the sorted Other list keyed by the question id;
    /// the first k entries, sorted.
    /// </summary>
    public ImmutableArray<int> RandomControl(string questionId, int seed = 0)
    {
        int k = Math.Min(Related.Length, Other.Length);
        var pool = Other.ToArray();
        StableShuffle.Shuffle(pool, k, questionId, seed);
        return [.. pool.AsSpan(0, k).ToArray().Order()];
    }

    /// <summary>The random control in the sequence (see <see cref="RandomControl"/>).</summary>
    public PositionSet RandomPositions(int imageStart, string questionId, int seed = 0) =>
        Absolute(RandomName, RandomControl(questionId, seed), imageStart);

    public override string ToString() =>
        $"ObjectPatchSets(K={ImageTokenCount}, related={Related.Length}, other={Other.Length}, newlines={Newlines.Length})";

    private int ImageStart(SequenceLayout layout)
    {
        ArgumentNullException.ThrowIfNull(layout);
        if (layout.ImageTokenCount != ImageTokenCount)
            throw new InputException(layout.Source, "image tokens",
                $"the patch sets are for {ImageTokenCount} image tokens but the sequence has {layout.ImageTokenCount}; "
                + "use the patch mapper of the model's own image mode");
        return layout.Image.Start;
    }

    private static PositionSet Absolute(string name, ImmutableArray<int> indices, int imageStart)
    {
        if (imageStart < 0) throw new ArgumentOutOfRangeException(nameof(imageStart), imageStart, "expected a non-negative image start");
        return PositionSet.Of(name, indices.Select(i => imageStart + i));
    }
}

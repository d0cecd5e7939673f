using System.Globalization;
using ModalFlow.Results;

namespace ModalFlow.Experiments;

/// <summary>
/// The (K, R) grid of `run --experiment prune`: keep fractions R (the share of image tokens kept) and layers K (the
/// first layer the others are gone; FastV's K, its ranking reads layer K−1). Defaults: FastV's own setting, K = 2, with
/// 75 %, 50 % and 25 % kept.
/// </summary>
public sealed record PruneGrid
{
    public PruneGrid(IReadOnlyList<double> keep, IReadOnlyList<int> at)
    {
        Keep = keep.Distinct().OrderDescending().ToArray();
        At = at.Distinct().Order().ToArray();
    }

    /// <summary>Keep fractions in [0, 1], descending, distinct.</summary>
    public IReadOnlyList<double> Keep { get; }

    /// <summary>Layers K, ascending, distinct.</summary>
    public IReadOnlyList<int> At { get; }

    public static PruneGrid Default { get; } = new([0.75, 0.5, 0.25], [2]);

    /// <summary>"keep 0.75,0.5 at 2,4": what the run manifest records (a resume with another grid is refused).</summary>
    public string Describe() =>
        $"keep {string.Join(",", Keep.Select(k => k.ToString("R", CultureInfo.InvariantCulture)))} at {string.Join(",", At)}";

    /// <summary>Throws an <see cref="InputException"/> for a keep fraction outside [0, 1], or a layer outside 1 … L−1 when the depth is known.</summary>
    public void Validate(int? numLayers = null)
    {
        if (Keep.Count == 0) throw new InputException(null, "--keep", "no keep fraction given; expected e.g. 0.5 or 50%");
        if (At.Count == 0) throw new InputException(null, "--at", "no layer given; expected e.g. 2");
        foreach (var k in Keep)
            if (!(k >= 0 && k <= 1)) throw new InputException(null, "--keep", $"{k}; expected a fraction in [0, 1] (or a percentage 0%-100%)");
        var names = Keep.GroupBy(k => new WithdrawalCondition(WithdrawalRule.FastV, k).BlockDesc).FirstOrDefault(g => g.Count() > 1);
        if (names is not null)
            throw new InputException(null, "--keep", $"{string.Join(" and ", names)} both name '{names.Key}'; expected keep fractions that differ at 0.001%");
        int max = numLayers is { } l ? l - 1 : int.MaxValue;
        foreach (var k in At)
            if (k < 1 || k > max)
                throw new InputException(null, "--at", numLayers is { } n
                    ? $"{k}; the model has {n} decoder layers: expected 1 … {n - 1} (FastV ranks image tokens by layer K−1's attention; at K = {n} nothing would be dropped)"
                    : $"{k}; expected a layer of at least 1 (FastV ranks image tokens by layer K−1's attention)");
    }
}

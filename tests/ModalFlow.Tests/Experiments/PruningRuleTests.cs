using ModalFlow.Experiments;
using ModalFlow.Results;
using ModalFlow.Tests.Support;
using ModalFlow.Text;
using Xunit;

namespace ModalFlow.Tests.Experiments;

/// <summary>The parts of pruning that need no model: kept counts, the random control, ties, condition names, the grid.</summary>
public sealed class PruningRuleTests
{
    [SharedTheory]
    // Python: round(576 * 0.5) = 288, round(5 * 0.5) = 2, round(3 * 0.5) = 2, round(64 * 0.1) = 6, round(576 * 0.25) = 144 (half to even).
    [InlineData(576, 0.5, 288)]
    [InlineData(5, 0.5, 2)]
    [InlineData(3, 0.5, 2)]
    [InlineData(64, 0.1, 6)]
    [InlineData(576, 0.25, 144)]
    [InlineData(10, 0.0, 0)]
    [InlineData(10, 1.0, 10)]
    public void Keep_Count_Rounds_As_Python_Round(int n, double keep, int expected) =>
        Assert.Equal(expected, Pruning.KeepCount(n, keep));

    [SharedFact]
    public void Random_Control_Is_A_Permutation_Fixed_By_Question_And_Seed()
    {
        var a = Pruning.RandomOrder(576, "02452198", seed: 0);
        Assert.Equal(a, Pruning.RandomOrder(576, "02452198", seed: 0));
        Assert.Equal(Enumerable.Range(0, 576), a.Order());
        Assert.NotEqual(a, Pruning.RandomOrder(576, "02452198", seed: 1));
        Assert.NotEqual(a, Pruning.RandomOrder(576, "2452198", seed: 0));     // leading zeros are part of the id
        Assert.NotEqual(Enumerable.Range(0, 576), a);
    }

    [SharedFact]
    public void Random_Withdrawn_Sets_Have_FastVs_Size_And_Are_Nested_Across_Keep_Fractions()
    {
        var image = new TokenSpan(35, 35 + 576);
        int[]? previous = null;
        foreach (var keep in new[] { 0.75, 0.5, 0.25, 0.1, 0.0 })
        {
            var w = Pruning.RandomWithdrawn(image, "q7", keep, seed: 3);
            Assert.Equal(576 - Pruning.KeepCount(576, keep), w.Length);
            Assert.All(w, p => Assert.True(image.Contains(p)));
            Assert.Equal(w.Order(), w);
            if (previous is not null) Assert.Empty(previous.Except(w));        // keeping less withdraws a superset
            previous = w;
        }
        Assert.Equal(image.Positions(), Pruning.RandomWithdrawn(image, "q7", 0.0, seed: 3));
    }

    [SharedFact]
    public void Top_Indices_Break_Ties_Toward_The_Lower_Position()
    {
        float[] scores = [0.1f, 0.3f, 0.3f, 0.05f, 0.3f];
        Assert.Equal([1, 2], Pruning.TopIndices(scores, 2));
        Assert.Equal([0, 1, 2, 4], Pruning.TopIndices(scores, 4));
        Assert.Empty(Pruning.TopIndices(scores, 0));
    }

    [SharedFact]
    public void Withdrawal_Spec_Blocks_The_Withdrawn_Tokens_From_Every_Later_Kept_Position_In_Layers_K_On()
    {
        var spec = ImageWithdrawal.Spec([3, 5, 6], seqLen: 10, k: 2, numLayers: 4)!;
        Assert.Equal([3, 5, 6], spec.Sources.Positions.ToArray());
        Assert.Equal([4, 7, 8, 9], spec.Targets.Positions.ToArray());
        Assert.Equal([2, 3], spec.Layers.ToArray());
        Assert.Null(ImageWithdrawal.Spec([3, 5, 6], 10, k: 4, numLayers: 4));    // K = L: nothing is withdrawn
        Assert.True(ImageWithdrawal.Spec([], 10, k: 1, numLayers: 4)!.BlocksNothing);
        Assert.Throws<ArgumentOutOfRangeException>(() => ImageWithdrawal.Spec([3], 10, k: 5, numLayers: 4));
    }

    [SharedTheory]
    [InlineData(WithdrawalRule.FastV, 0.25, "FastV keep 25%->Rest")]
    [InlineData(WithdrawalRule.Random, 0.125, "Random keep 12.5%->Rest")]
    [InlineData(WithdrawalRule.FastV, 0.0, "FastV keep 0%->Rest")]
    [InlineData(WithdrawalRule.All, 0.0, "Image->After Image")]
    public void Condition_Names_Round_Trip(WithdrawalRule rule, double keep, string name)
    {
        var c = new WithdrawalCondition(rule, keep);
        Assert.Equal(name, c.BlockDesc);
        Assert.Equal(c, WithdrawalCondition.TryParse(name));
    }

    [SharedTheory]
    [InlineData("Image->Question")]
    [InlineData("FastV keep 25%->Last")]
    [InlineData("fastv keep 25%->Rest")]
    [InlineData("FastV keep %->Rest")]
    public void Other_Block_Names_Are_No_Withdrawal_Conditions(string name) => Assert.Null(WithdrawalCondition.TryParse(name));

    [SharedFact]
    public void Prune_Grid_Checks_Keep_Fractions_And_Layers_Against_The_Depth()
    {
        new PruneGrid([0.5, 0.25], [1, 7]).Validate(8);
        Assert.Contains("1 … 7", Assert.Throws<InputException>(() => new PruneGrid([0.5], [8]).Validate(8)).Message);
        Assert.Contains("--at", Assert.Throws<InputException>(() => new PruneGrid([0.5], [0]).Validate()).Message);
        Assert.Contains("--keep", Assert.Throws<InputException>(() => new PruneGrid([1.5], [2]).Validate()).Message);
        Assert.Contains("both name", Assert.Throws<InputException>(() => new PruneGrid([0.123451, 0.123452], [2]).Validate()).Message);
        Assert.Equal("keep 0.75,0.5 at 2,4", new PruneGrid([0.5, 0.75, 0.5], [4, 2]).Describe());
    }
}

using System.Globalization;
using System.Text.RegularExpressions;

namespace ModalFlow.Results;

/// <summary>Which image tokens a withdrawal condition removes.</summary>
public enum WithdrawalRule
{
    /// <summary>Every image token (VTW, Visual Tokens Withdrawal): condition "Image->After Image".</summary>
    All,

    /// <summary>FastV: the image tokens outside the top R by the attention they receive at layer K−1.</summary>
    FastV,

    /// <summary>The control: as many image tokens as FastV drops, drawn at random (seeded, per sample).</summary>
    Random,
}

/// <summary>
/// A withdrawal or pruning condition as it is stored in <see cref="KnockoutRow.BlockDesc"/> (the row's Layer is K, the first
/// layer the tokens are gone; its WindowLayers lists K … L−1; its Window is 0: these are not window sweeps):
/// <list type="bullet">
/// <item><c>Image->After Image</c>: every image token is withdrawn; targets are all positions after the image.</item>
/// <item><c>FastV keep 25%->Rest</c> / <c>Random keep 25%->Rest</c>: the image tokens FastV does not keep (or a random set
///   of the same size) are withdrawn; targets ("Rest") are every later position that is kept — the text after the image
///   and the kept image tokens — so that no kept position sees a withdrawn one, as in FastV.</item>
/// </list>
/// The keep fraction is written in percent with up to three decimals (invariant culture).
/// </summary>
public sealed partial record WithdrawalCondition(WithdrawalRule Rule, double Keep)
{
    /// <summary>The VTW condition: every image token withdrawn from every later position.</summary>
    public const string AllImageTokens = "Image->After Image";

    /// <summary>The tracked-token variant of rows that follow the gold answer's first token (<c>--filter none</c>).</summary>
    public const string GoldSubword = "gold";

    public static WithdrawalCondition All { get; } = new(WithdrawalRule.All, 0);

    /// <summary>The condition's name in <see cref="KnockoutRow.BlockDesc"/>.</summary>
    public string BlockDesc => Rule == WithdrawalRule.All ? AllImageTokens : $"{Rule} keep {Percent(Keep)}%->Rest";

    /// <summary>The fraction of image tokens withdrawn (1 for <see cref="WithdrawalRule.All"/>).</summary>
    public double Dropped => Rule == WithdrawalRule.All ? 1 : 1 - Keep;

    /// <summary>"25" for 0.25, "12.5" for 0.125: the keep fraction in percent, up to three decimals.</summary>
    public static string Percent(double keep) => (keep * 100).ToString("0.###", CultureInfo.InvariantCulture);

    /// <summary>The condition a block description names, or null when it is no withdrawal condition.</summary>
    public static WithdrawalCondition? TryParse(string blockDesc)
    {
        if (blockDesc == AllImageTokens) return All;
        var m = PruneName().Match(blockDesc);
        if (!m.Success) return null;
        var rule = m.Groups[1].Value == nameof(WithdrawalRule.FastV) ? WithdrawalRule.FastV : WithdrawalRule.Random;
        return new WithdrawalCondition(rule, double.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture) / 100);
    }

    /// <summary>True when <paramref name="blockDesc"/> names a withdrawal or pruning condition.</summary>
    public static bool Is(string blockDesc) => TryParse(blockDesc) is not null;

    [GeneratedRegex(@"^(FastV|Random) keep ([0-9]+(?:\.[0-9]+)?)%->Rest$")]
    private static partial Regex PruneName();
}

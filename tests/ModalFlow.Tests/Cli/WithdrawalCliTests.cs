using ModalFlow.Tests.Support;
using ModalFlow.Toy;
using Xunit;

namespace ModalFlow.Tests.Cli;

/// <summary>
/// `run --experiment withdrawal|prune` on the embedded toy LLaVA (4 decoder layers): bad grids are exit 2 with one line
/// naming the option before any model loads or any run folder is made; a small run writes the withdrawal tables.
/// </summary>
public sealed class WithdrawalCliTests
{
    private static string[] Run(string experiment, string outDir, params string[] extra) =>
    [
        "run", "--model", EmbeddedToy.ModelDir, "--data", Path.Combine(EmbeddedToy.EvalDir, "toy_ChooseAttr.csv"),
        "--images", Path.Combine(EmbeddedToy.EvalDir, "images"), "--experiment", experiment, "--out", outDir, .. extra,
    ];

    public static TheoryData<string, string[], string> BadGrids => new()
    {
        { "prune", ["--keep", "1.5"], "--keep: '1.5'; expected a fraction in [0, 1]" },
        { "prune", ["--keep", "50%,abc"], "--keep: 'abc' is not a number" },
        { "prune", ["--at", "0"], "--at: 0; expected at least 1" },
        { "prune", ["--at", "2,4"], "--at: 4; the model has 4 decoder layers: expected 1 … 3" },
        { "2", ["--at", "2"], "--at: applies to --experiment prune only" },
        { "withdrawal", ["--keep", "0.5"], "--keep: applies to --experiment prune only" },
        { "withdrawal", ["--block", "Image->Last"], "takes no --block" },
    };

    [SharedTheory]
    [MemberData(nameof(BadGrids))]
    public void Bad_Prune_Grids_Are_Exit_2_Before_Anything_Loads(string experiment, string[] extra, string expected)
    {
        EmbeddedToy.EnsurePresent();
        var outDir = Path.Combine(Path.GetTempPath(), "mf-withdrawal-cli-" + Guid.NewGuid().ToString("N"));
        var (code, stdout, stderr) = CliTests.Run(Run(experiment, outDir, extra));
        Assert.True(code == 2, $"exit {code}\nstderr: {stderr}");
        Assert.Equal("", stdout);
        Assert.StartsWith("error: ", stderr);
        Assert.Contains(expected, stderr);
        Assert.DoesNotContain("   at ", stderr);
        Assert.False(Directory.Exists(outDir), "a run folder was made before the grid was checked");
    }
}

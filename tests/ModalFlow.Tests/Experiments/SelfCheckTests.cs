using ModalFlow.Data;
using ModalFlow.Experiments;
using ModalFlow.Results;
using ModalFlow.Tests.Support;
using ModalFlow.Toy;
using ModalFlow.Tracing;
using Xunit;
using Xunit.Abstractions;

namespace ModalFlow.Tests.Experiments;

/// <summary>
/// A deliberately wrong engine: every knockout at the next layer (the last wraps to 0), as an off-by-one in a layer
/// offset would do; otherwise the fast engine.
/// </summary>
internal sealed class LayerShiftEngine(IKnockoutEngine inner) : IKnockoutEngine
{
    private static IReadOnlyList<KnockoutSpec> Shift(CleanRun clean, IReadOnlyList<KnockoutSpec> specs) =>
        specs.Select(s => new KnockoutSpec(s.Sources, s.Targets, s.Layers.Select(l => (l + 1) % clean.NumLayers), s.Label) { Heads = s.Heads }).ToList();

    public IReadOnlyList<KnockoutOutcome> Run(CleanRun clean, IReadOnlyList<KnockoutSpec> specs) => inner.Run(clean, Shift(clean, specs));

    public IReadOnlyList<float[]> RunLogits(CleanRun clean, IReadOnlyList<KnockoutSpec> specs) => inner.RunLogits(clean, Shift(clean, specs));
}

/// <summary>Wrong on its first call only (then the honest engine): a transient fault, as memory corrupted under load would be.</summary>
internal sealed class FirstCallWrongEngine(IKnockoutEngine inner) : IKnockoutEngine
{
    private readonly LayerShiftEngine _wrong = new(inner);
    private int _calls;

    public IReadOnlyList<KnockoutOutcome> Run(CleanRun clean, IReadOnlyList<KnockoutSpec> specs) =>
        _calls++ == 0 ? _wrong.Run(clean, specs) : inner.Run(clean, specs);

    public IReadOnlyList<float[]> RunLogits(CleanRun clean, IReadOnlyList<KnockoutSpec> specs) =>
        _calls++ == 0 ? _wrong.RunLogits(clean, specs) : inner.RunLogits(clean, specs);
}

/// <summary>
/// An honest engine handed a wrong clean run: before its first call it scales layer 0's clean keys in place, as a clean
/// forward computed wrongly would leave them (seen: MKL's first-call race in the rotary table). The naive reference
/// recomputes everything from the embeddings and is not affected.
/// </summary>
internal sealed class CorruptedCleanRunEngine(IKnockoutEngine inner) : IKnockoutEngine
{
    private bool _done;

    private CleanRun Corrupted(CleanRun clean)
    {
        if (!_done) clean.Cache.Keys[0]!.mul_(ModalFlow.Platform.Scalars.Of(1.5));
        _done = true;
        return clean;
    }

    public IReadOnlyList<KnockoutOutcome> Run(CleanRun clean, IReadOnlyList<KnockoutSpec> specs) => inner.Run(Corrupted(clean), specs);

    public IReadOnlyList<float[]> RunLogits(CleanRun clean, IReadOnlyList<KnockoutSpec> specs) => inner.RunLogits(Corrupted(clean), specs);
}

/// <summary>Self-verifying runs (issue 13): which cells are checked, and that a wrong engine cannot pass.</summary>
public sealed class SelfCheckTests(ITestOutputHelper log) : IDisposable
{
    private readonly DirectoryInfo _tmp = Directory.CreateTempSubdirectory("mf-selfcheck-");

    public void Dispose() => _tmp.Delete(true);

    private static KnockoutSpec Spec(int i, bool blocksNothing = false) => new(
        blocksNothing ? PositionSet.Of("S", []) : PositionSet.Of("S", [1, 2]), PositionSet.Of("T", [5]), [i % 7], $"cond{i / 7}@{i % 7}");

    private static List<RecordedCell> Cells(int count) => Enumerable.Range(0, count).Select(i => new RecordedCell(null!, Spec(i), 0.5)).ToList();

    [SharedFact]
    public void Chosen_Cells_Depend_Only_On_The_Cell_Not_On_Order_And_Follow_The_Fraction()
    {
        var cells = Cells(20000);
        var chosen = SelfCheck.Choose("T", "q1", cells, 0.01, atLeastOne: false).Select(c => c.Spec.Label).ToHashSet();
        // ~1% of 20,000 = 200; a fair hash lands within ±5 standard deviations (±70).
        Assert.InRange(chosen.Count, 130, 270);
        var reversed = Enumerable.Reverse(cells).ToList();
        Assert.Equal(chosen, SelfCheck.Choose("T", "q1", reversed, 0.01, atLeastOne: false).Select(c => c.Spec.Label).ToHashSet());
        // A subset (another shard's or a resumed session's share of the same cells) chooses the same cells within it.
        var half = cells.Where((_, i) => i % 2 == 0).ToList();
        Assert.Equal(chosen.Where(l => half.Any(c => c.Spec.Label == l)).ToHashSet(),
            SelfCheck.Choose("T", "q1", half, 0.01, atLeastOne: false).Select(c => c.Spec.Label).ToHashSet());
        // Another sample chooses other cells.
        Assert.NotEqual(chosen, SelfCheck.Choose("T", "q2", cells, 0.01, atLeastOne: false).Select(c => c.Spec.Label).ToHashSet());
        Assert.Equal(cells.Count, SelfCheck.Choose("T", "q1", cells, 1, atLeastOne: false).Count);
        Assert.Empty(SelfCheck.Choose("T", "q1", cells, 0, atLeastOne: true));
    }

    [SharedFact]
    public void At_Least_One_Cell_Is_Chosen_When_Asked_And_Never_One_That_Blocks_Nothing()
    {
        var few = Cells(3);
        var none = SelfCheck.Choose("T", "q", few, 1e-9, atLeastOne: false);
        Assert.Empty(none);
        var one = Assert.Single(SelfCheck.Choose("T", "q", few, 1e-9, atLeastOne: true));
        Assert.Equal(few.MinBy(c => SelfCheck.CellHash("T", "q", c.Spec)), one);
        var nothing = new[] { new RecordedCell(null!, Spec(0, blocksNothing: true), 0.5) };
        Assert.Empty(SelfCheck.Choose("T", "q", nothing, 1, atLeastOne: true));
    }

    [SharedFact]
    public void Summary_Fails_On_A_Large_Or_Non_Finite_Difference_And_Names_The_Worst_Cell()
    {
        SampleVerification S(string q, double d, int cells = 2) => new("T", q, 0.01, cells, 100, d, $"cell of {q}", 1, 0.1, VerificationSummary.Float32Tolerance);
        var ok = VerificationSummary.Of([S("a", 1e-7), S("b", 3e-6), S("c", 0, cells: 0)])!;
        Assert.True(ok.Passed);
        Assert.Equal(3e-6, ok.MaxAbsDeltaP2);
        Assert.Equal(4, ok.Cells);
        Assert.Contains("passed", ok.Describe());
        var bad = VerificationSummary.Of([S("a", 1e-7), S("b", 2e-4)])!;
        Assert.False(bad.Passed);
        Assert.Equal("T/b cell of b", bad.WorstCell);
        Assert.Contains("FAILED", bad.Describe());
        var nan = VerificationSummary.Of([S("a", 1e-3), S("b", double.NaN)])!;
        Assert.False(nan.Passed);
        Assert.Equal("T/b cell of b", nan.WorstCell);
        Assert.Null(VerificationSummary.Of([]));
        Assert.Equal(1e-4, VerificationSummary.ToleranceFor("f32"));
        Assert.True(VerificationSummary.ToleranceFor("bf16") > VerificationSummary.Float32Tolerance);
    }

    private static string[] ToyRun(string outDir, string verify, params string[] extra) =>
    [
        "run", "--model", EmbeddedToy.ModelDir, "--data", Path.Combine(EmbeddedToy.EvalDir, "toy_ChooseCat.csv"), "--images", Path.Combine(EmbeddedToy.EvalDir, "images"),
        "--experiment", "2", "--window", "1", "--limit", "2", "--verify", verify, "--out", outDir, .. extra,
    ];

    private static (int Code, string Out, string Err) Run(string[] args, Func<IKnockoutEngine, IKnockoutEngine>? wrap = null)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = ModalFlow.Cli.Cli.RunAsync(args, new ModalFlow.Cli.CliContext(o, e) { Args = args, EngineWrapper = wrap }).GetAwaiter().GetResult();
        return (code, o.ToString(), e.ToString());
    }

    [SharedFact]
    public void A_Corrupted_Fast_Engine_Fails_The_Run_Loudly_While_The_Honest_Run_Passes()
    {
        EmbeddedToy.EnsurePresent();
        // Every cell is checked here so that the verdict cannot depend on which cells the hash picks: a one-layer shift
        // moves p2 a lot at some layers and hardly at others (the default 1% is exercised by the next test).
        var honest = Path.Combine(_tmp.FullName, "honest");
        var (code, stdout, stderr) = Run(ToyRun(honest, "1"));
        Assert.True(code == 0, stderr);
        Assert.Contains("self-check", stdout);
        Assert.Contains("passed", stderr);
        using (var store = RunStore.Open(Path.Combine(honest, RunStore.FileName)))
        {
            var v = store.Verification()!;
            Assert.True(v.Passed);
            Assert.Equal(store.KnockoutRows().Count, v.Cells);
            Assert.Equal(v.TotalCells, v.Cells);
            Assert.InRange(v.MaxAbsDeltaP2, 0, VerificationSummary.Float32Tolerance);
            log.WriteLine($"honest: {v.Describe()}");
        }

        var corrupt = Path.Combine(_tmp.FullName, "corrupt");
        var (badCode, _, badErr) = Run(ToyRun(corrupt, "1"), inner => new LayerShiftEngine(inner));
        log.WriteLine(badErr);
        Assert.Equal(ModalFlow.Cli.CliContext.ExitSelfCheckFailed, badCode);
        Assert.Contains("SELF-CHECK FAILED", badErr);
        Assert.Contains("Image->Question@", badErr);   // names the cell
        Assert.Contains("vs naive", badErr);
        Assert.Contains("systematic engine error", badErr);   // the second opinion repeats the wrong value
        using (var store = RunStore.Open(Path.Combine(corrupt, RunStore.FileName)))
        {
            var v = store.Verification()!;
            Assert.False(v.Passed);
            Assert.True(v.MaxAbsDeltaP2 > VerificationSummary.Float32Tolerance);
            Assert.Equal(1, store.Counts().Done);   // stopped after the sample that failed, which is stored
        }
        Assert.Contains("SELF-CHECK FAILED", File.ReadAllText(Path.Combine(corrupt, "report.md")));
        // `report` on that folder fails too: a wrong result never passes silently.
        var (reportCode, _, reportErr) = Run(["report", "--run", corrupt]);
        Assert.Equal(ModalFlow.Cli.CliContext.ExitSelfCheckFailed, reportCode);
        Assert.Contains("SELF-CHECK FAILED", reportErr);
    }

    /// <summary>A toy run (every cell checked) on a wrapped engine, which must fail its self-check; its stderr.</summary>
    private string FailedRun(string name, Func<IKnockoutEngine, IKnockoutEngine> wrap)
    {
        EmbeddedToy.EnsurePresent();
        var (code, _, err) = Run(ToyRun(Path.Combine(_tmp.FullName, name), "1"), wrap);
        log.WriteLine(err);
        Assert.Equal(ModalFlow.Cli.CliContext.ExitSelfCheckFailed, code);   // the stored values are wrong either way: the run fails
        Assert.Contains("SELF-CHECK FAILED", err);
        return err;
    }

    [SharedFact]
    public void A_Transient_Fault_Is_Told_Apart_From_An_Engine_Error()
    {
        var err = FailedRun("transient", inner => new FirstCallWrongEngine(inner));
        Assert.Contains("transient fault", err);
        Assert.DoesNotContain("systematic", err);
    }

    [SharedFact]
    public void A_Wrong_Clean_Run_Is_Told_Apart_From_An_Engine_Error()
    {
        var err = FailedRun("clean", inner => new CorruptedCleanRunEngine(inner));
        Assert.Contains("clean pass computed again differs from the one the engines read (layer 0's keys)", err);
        Assert.DoesNotContain("systematic engine error", err);
    }

    [SharedFact]
    public void Every_Shard_Checks_At_Least_One_Cell_And_Zero_Switches_It_Off()
    {
        EmbeddedToy.EnsurePresent();
        foreach (var shard in new[] { "1/2", "2/2" })
        {
            var dir = Path.Combine(_tmp.FullName, "shard" + shard[0]);
            var (code, _, stderr) = Run(ToyRun(dir, "0.000001", "--shard", shard));
            Assert.True(code == 0, stderr);
            using var store = RunStore.Open(Path.Combine(dir, RunStore.FileName));
            var v = store.Verification()!;
            Assert.Equal(1, v.Cells);
            Assert.True(v.Passed);
            Assert.Equal(0.000001, store.Manifest!.Verify);
        }
        var off = Path.Combine(_tmp.FullName, "off");
        var (offCode, _, offErr) = Run(ToyRun(off, "0"), inner => new LayerShiftEngine(inner));
        Assert.True(offCode == 0, offErr);   // nothing checked: the wrong engine is not noticed, as asked
        using (var store = RunStore.Open(Path.Combine(off, RunStore.FileName)))
            Assert.Equal(0, store.Verification()!.Cells);
        Assert.Contains("Self-check off (--verify 0)", File.ReadAllText(Path.Combine(off, "report.md")));
    }

    [SharedFact]
    public void A_Resume_With_Another_Verify_Fraction_Is_Accepted()
    {
        EmbeddedToy.EnsurePresent();
        var dir = Path.Combine(_tmp.FullName, "resume");
        Assert.Equal(0, Run(ToyRun(dir, "0.01")).Code);
        // Every other setting is identity (a different window is refused); the share of cells checked changes no result.
        var (code, _, stderr) = Run(ToyRun(dir, "0.5"));
        Assert.True(code == 0, stderr);
        Assert.DoesNotContain("refusing", stderr);
        using var store = RunStore.Open(Path.Combine(dir, RunStore.FileName));
        Assert.Equal(0.01, store.Manifest!.Verify);   // what the run started with
        Assert.Equal(2, store.Verifications().Count);
    }

    [SharedFact]
    public void Bad_Verify_Values_Are_Refused_At_Parse_Time()
    {
        var (code, _, stderr) = Run(ToyRun(Path.Combine(_tmp.FullName, "x"), "1.5"));
        Assert.Equal(2, code);
        Assert.Contains("--verify", stderr);
        Assert.Equal(2, Run(ToyRun(Path.Combine(_tmp.FullName, "y"), "lots")).Code);
    }
}

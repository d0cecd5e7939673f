using System.Diagnostics;
using System.Globalization;
using ModalFlow.Results;
using ModalFlow.Tracing;
using static TorchSharp.torch;

namespace ModalFlow.Experiments;

/// <summary>One knockout a measurement asked its engine for, with the p2 the engine gave.</summary>
public sealed record RecordedCell(CleanRun Clean, KnockoutSpec Spec, double P2);

/// <summary>
/// Wraps a sample's engine and records every knockout it computes (spec, clean run, p2) and the time it took, so the
/// self-check can recompute a sample of them without the measurement having to expose its specs.
/// </summary>
public sealed class RecordingEngine(IKnockoutEngine inner) : IKnockoutEngine
{
    private readonly List<RecordedCell> _cells = [];
    private readonly Stopwatch _time = new();

    public IReadOnlyList<RecordedCell> Cells => _cells;

    /// <summary>Time spent in the wrapped engine.</summary>
    public TimeSpan Elapsed => _time.Elapsed;

    public IReadOnlyList<KnockoutOutcome> Run(CleanRun clean, IReadOnlyList<KnockoutSpec> specs)
    {
        _time.Start();
        try
        {
            var outcomes = inner.Run(clean, specs);
            for (int i = 0; i < specs.Count; i++) _cells.Add(new RecordedCell(clean, specs[i], outcomes[i].P2));
            return outcomes;
        }
        finally { _time.Stop(); }
    }

    public IReadOnlyList<float[]> RunLogits(CleanRun clean, IReadOnlyList<KnockoutSpec> specs)
    {
        _time.Start();
        try
        {
            var logits = inner.RunLogits(clean, specs);
            for (int i = 0; i < specs.Count; i++) _cells.Add(new RecordedCell(clean, specs[i], Probability(logits[i], clean.TargetTokenId)));
            return logits;
        }
        finally { _time.Stop(); }
    }

    /// <summary>The wrapped engine's outcomes for <paramref name="specs"/>, neither recorded nor timed (the self-check's second opinion).</summary>
    public IReadOnlyList<KnockoutOutcome> RunAgain(CleanRun clean, IReadOnlyList<KnockoutSpec> specs) => inner.Run(clean, specs);

    /// <summary>softmax(logits)[target] in double precision.</summary>
    private static double Probability(float[] logits, long target)
    {
        double max = double.NegativeInfinity;
        foreach (var v in logits) max = Math.Max(max, v);
        double sum = 0;
        foreach (var v in logits) sum += Math.Exp(v - max);
        return Math.Exp(logits[target] - max) / sum;
    }
}

/// <summary>A run's self-check found a cell where the run's engine and the naive engine disagree.</summary>
public sealed class SelfCheckFailedException(SampleVerification failed, string runDir)
    : Exception(string.Create(CultureInfo.InvariantCulture,
        $"SELF-CHECK FAILED: sample {failed.Task}/{failed.QuestionId}, cell {failed.WorstCell}: |Δp2| = {failed.MaxAbsDeltaP2:0.0##e0} between the run's engine and the naive reference exceeds the tolerance {VerificationSummary.Scientific(failed.Tolerance)}. The knockout results in {runDir} cannot be trusted; the run stopped after storing this sample (its check is in the run store and the report)."))
{
    public SampleVerification Failed { get; } = failed;
}

/// <summary>
/// Self-verifying runs (issue 13): after each sample's measurement, a deterministic share of the knockout cells its
/// engine computed is recomputed with the naive engine (a full forward with the edited mask, DESIGN §3's reference)
/// against the same clean run, and the largest |Δp2| is stored with the sample, in the same transaction.
/// <para>
/// A cell is chosen when a hash of (task, question id, condition label, layers, heads) falls below the fraction, so a
/// shard, a resume and an uninterrupted run choose the same cells. When the run folder holds no checked cell yet and
/// this sample's hash picks none, its cell with the smallest hash is checked, so every shard (every run folder) checks at
/// least one. Cells that block nothing (p2 = p1 by definition) are not candidates.
/// </para>
/// </summary>
public static class SelfCheck
{
    /// <summary>The default share of cells recomputed (<c>run --verify</c>): 1%.</summary>
    public const double DefaultFraction = 0.01;

    /// <summary>A 64-bit hash of the cell's identity: FNV-1a over its text, then a SplitMix64 finaliser (stable across processes).</summary>
    public static ulong CellHash(string task, string questionId, KnockoutSpec spec)
    {
        var text = $"{task}\u0001{questionId}\u0001{spec.Label}\u0001{string.Join(" ", spec.Layers)}\u0001{string.Join(" ", spec.Heads)}";
        ulong h = 14695981039346656037UL;
        foreach (char c in text) { h ^= c; h *= 1099511628211UL; }
        h ^= h >> 30; h *= 0xbf58476d1ce4e5b9UL;
        h ^= h >> 27; h *= 0x94d049bb133111ebUL;
        return h ^ (h >> 31);
    }

    /// <summary>True when a hash lies in the lowest <paramref name="fraction"/> of the 64-bit range.</summary>
    public static bool Selected(ulong hash, double fraction) => fraction > 0 && hash / 18446744073709551616.0 < fraction;

    /// <summary>The cells to recompute (see the class notes), in recorded order.</summary>
    public static IReadOnlyList<RecordedCell> Choose(string task, string questionId, IReadOnlyList<RecordedCell> cells, double fraction, bool atLeastOne)
    {
        if (fraction <= 0) return [];
        var candidates = cells.Where(c => !c.Spec.BlocksNothing).Select(c => (Cell: c, Hash: CellHash(task, questionId, c.Spec))).ToList();
        var chosen = candidates.Where(c => Selected(c.Hash, fraction)).Select(c => c.Cell).ToList();
        if (chosen.Count == 0 && atLeastOne && candidates.Count > 0) chosen.Add(candidates.MinBy(c => c.Hash).Cell);
        return chosen;
    }

    /// <summary>Recomputes the chosen cells with <paramref name="reference"/> and summarises the sample's check.</summary>
    public static SampleVerification Verify(string task, string questionId, RecordingEngine recorded, double fraction, bool atLeastOne,
        double tolerance, IKnockoutEngine? reference = null)
    {
        reference ??= new NaiveKnockoutEngine();
        var chosen = Choose(task, questionId, recorded.Cells, fraction, atLeastOne);
        var sw = Stopwatch.StartNew();
        double worst = 0;
        string worstCell = "";
        (RecordedCell Cell, double NaiveP2)? worstPair = null;
        foreach (var group in chosen.GroupBy(c => c.Clean))
        {
            var cells = group.ToList();
            var naive = reference.Run(group.Key, cells.Select(c => c.Spec).ToList());
            for (int i = 0; i < cells.Count; i++)
            {
                double delta = Math.Abs(cells[i].P2 - naive[i].P2);
                bool worse = double.IsNaN(delta) ? !double.IsNaN(worst) : delta > worst || worstCell.Length == 0;
                if (!worse) continue;
                worst = delta;
                worstCell = Describe(cells[i], naive[i].P2);
                worstPair = (cells[i], naive[i].P2);
            }
        }
        if (!(worst <= tolerance) && worstPair is var (cell, naiveP2))
            worstCell += SecondOpinion(recorded, reference, cell, naiveP2, tolerance);
        sw.Stop();
        return new SampleVerification(task, questionId, fraction, chosen.Count, recorded.Cells.Count, worst, worstCell,
            recorded.Elapsed.TotalSeconds, sw.Elapsed.TotalSeconds, tolerance);
    }

    /// <summary>
    /// A failed cell computed once more by both engines, so that the message tells a fault of this process (the engine
    /// now agrees with the reference: nondeterminism, e.g. memory corrupted under load) from an engine error (it
    /// repeats its value); when it repeats, the sample's clean pass is also run again, because an engine that reads a
    /// wrong clean run (its keys, values, layer inputs) repeats the reference's disagreement without being wrong itself.
    /// </summary>
    private static string SecondOpinion(RecordingEngine recorded, IKnockoutEngine reference, RecordedCell cell, double naiveP2, double tolerance)
    {
        double again = recorded.RunAgain(cell.Clean, [cell.Spec])[0].P2;
        double naiveAgain = reference.Run(cell.Clean, [cell.Spec])[0].P2;
        static bool Near(double a, double b, double tol) => Math.Abs(a - b) <= tol;
        bool referenceSteady = Near(naiveAgain, naiveP2, tolerance);
        string verdict = referenceSteady && Near(again, naiveAgain, tolerance)
            ? "they agree now: the recorded value was a transient fault of this process, not an engine error"
            : !referenceSteady || !Near(again, cell.P2, tolerance)
                ? "the values changed between computations: nondeterminism in this process"
                : CleanPassDifference(cell.Clean) is { } where
                    ? $"the same disagreement again, but the sample's clean pass computed again differs from the one the engines read ({where}): a fault of this process's clean forward (e.g. a library's first-call race), not an engine error"
                    : "the same disagreement again, on a clean pass that reproduces bit for bit: a systematic engine error";
        return string.Create(CultureInfo.InvariantCulture, $"; computed again: p2 {again:0.000000} vs naive {naiveAgain:0.000000}, {verdict}");
    }

    /// <summary>
    /// The clean pass of <paramref name="clean"/>'s input run again and compared bit for bit with it (p1, then per layer
    /// the residual entering it and its keys and values): null when equal, else where it first differs. A forward on the
    /// same process and input is deterministic, so a difference means the stored clean run was computed wrongly.
    /// </summary>
    private static string? CleanPassDifference(CleanRun clean)
    {
        using var scope = NewDisposeScope();
        using var fresh = CleanRun.Create(clean.Decoder, clean.Embeds, clean.Positions, clean.TargetTokenId);
        if (fresh.LogP1 != clean.LogP1)
            return string.Create(CultureInfo.InvariantCulture, $"p1 {clean.P1:0.000000}, computed again {fresh.P1:0.000000}");
        for (int l = 0; l < clean.NumLayers; l++)                         // Tensor.Equals: torch.equal (shape and every element)
        {
            if (!fresh.LayerInputs[l].Equals(clean.LayerInputs[l])) return $"the residual entering layer {l}";
            if (!fresh.Cache.Keys[l]!.Equals(clean.Cache.Keys[l]!)) return $"layer {l}'s keys";
            if (!fresh.Cache.Values[l]!.Equals(clean.Cache.Values[l]!)) return $"layer {l}'s values";
        }
        return null;
    }

    private static string Describe(RecordedCell c, double naiveP2)
    {
        var heads = c.Spec.IsPerHead ? $"; heads {string.Join(" ", c.Spec.Heads)}" : "";
        return string.Create(CultureInfo.InvariantCulture, $"{c.Spec.Label} (layers {string.Join(" ", c.Spec.Layers)}{heads}): p2 {c.P2:0.000000} vs naive {naiveP2:0.000000}");
    }
}

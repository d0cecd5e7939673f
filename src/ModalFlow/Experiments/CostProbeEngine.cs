using System.Diagnostics;
using ModalFlow.Tracing;

namespace ModalFlow.Experiments;

/// <summary>
/// The knockout engine the cost planner hands to the runner's own per-sample code: it counts the specs the measurement
/// asks for (exactly what `run` would run), times all of them on the fast engine (whose cost depends on how specs batch
/// by t₀, so a subset would not extrapolate) and a handful on the naive engine (one full forward each, whatever the
/// spec, so a handful does), and returns the fast engine's outcomes.
/// </summary>
public sealed class CostProbeEngine(int naiveKnockouts) : IKnockoutEngine
{
    private readonly IKnockoutEngine _fast = KnockoutEngine.Create(KnockoutEngineKind.Fast);
    private readonly IKnockoutEngine _naive = KnockoutEngine.Create(KnockoutEngineKind.Naive);

    /// <summary>Specs asked for since the last <see cref="Reset"/>.</summary>
    public int Knockouts { get; private set; }

    /// <summary>Of those, the specs that block something (the naive engine runs a forward for each; the others are p2 = p1).</summary>
    public int Blocking { get; private set; }

    public double FastSeconds { get; private set; }
    public double NaiveSeconds { get; private set; }
    public int NaiveTimed { get; private set; }

    public void Reset()
    {
        Knockouts = Blocking = NaiveTimed = 0;
        FastSeconds = NaiveSeconds = 0;
    }

    public IReadOnlyList<KnockoutOutcome> Run(CleanRun clean, IReadOnlyList<KnockoutSpec> specs)
    {
        Knockouts += specs.Count;
        var blocking = specs.Where(s => !s.BlocksNothing).ToList();
        Blocking += blocking.Count;
        var sw = Stopwatch.StartNew();
        var outcomes = _fast.Run(clean, specs);
        FastSeconds += sw.Elapsed.TotalSeconds;
        var handful = blocking.Take(Math.Max(0, naiveKnockouts - NaiveTimed)).ToList();
        if (handful.Count > 0)
        {
            sw.Restart();
            _naive.Run(clean, handful);
            NaiveSeconds += sw.Elapsed.TotalSeconds;
            NaiveTimed += handful.Count;
        }
        return outcomes;
    }

    public IReadOnlyList<float[]> RunLogits(CleanRun clean, IReadOnlyList<KnockoutSpec> specs) => _fast.RunLogits(clean, specs);
}

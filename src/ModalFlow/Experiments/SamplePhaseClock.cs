using System.Diagnostics;

namespace ModalFlow.Experiments;

/// <summary>The steps `run` takes per sample, in order (<see cref="ExperimentRunner"/>).</summary>
public enum SamplePhase
{
    /// <summary>Image decode, preprocessing, vision tower and projector, prompt embedding.</summary>
    Prepare,

    /// <summary>The clean forward (and, for the final sub-word, the second clean pass).</summary>
    Clean,

    /// <summary>Greedy answer generation for the correctness filter.</summary>
    Answer,

    /// <summary>The experiment's measurement: knockout sweeps or the logit lens.</summary>
    Measure,

    /// <summary>The sample's rows written to the run store (one transaction).</summary>
    Commit,
}

/// <summary>Seconds spent in each <see cref="SamplePhase"/> of one sample: a phase's time runs from the previous mark to its own.</summary>
public sealed class SamplePhaseClock
{
    private readonly Func<double> _now;
    private readonly Dictionary<SamplePhase, double> _seconds = [];
    private readonly double _start;
    private double _lastMark, _othersShare;

    /// <param name="seconds">The time source (tests); default a stopwatch started now.</param>
    public SamplePhaseClock(Func<double>? seconds = null)
    {
        var sw = Stopwatch.StartNew();
        _now = seconds ?? (() => sw.Elapsed.TotalSeconds);
        _start = _lastMark = _now();
    }

    /// <summary>
    /// Ends <paramref name="phase"/> now (a phase ended twice adds both stretches). With <paramref name="sharedBy"/> N, the
    /// stretch did the work of N samples (`run` decodes answers in groups) and counts 1/N here, and in <see cref="Total"/>.
    /// </summary>
    public void End(SamplePhase phase, int sharedBy = 1)
    {
        double now = _now(), stretch = now - _lastMark;
        _seconds[phase] = _seconds.GetValueOrDefault(phase) + stretch / sharedBy;
        _othersShare += stretch - stretch / sharedBy;
        _lastMark = now;
    }

    public double this[SamplePhase phase] => _seconds.GetValueOrDefault(phase);

    public bool Reached(SamplePhase phase) => _seconds.ContainsKey(phase);

    /// <summary>Seconds since the clock started, less the other samples' share of shared phases.</summary>
    public double Total => _now() - _start - _othersShare;
}

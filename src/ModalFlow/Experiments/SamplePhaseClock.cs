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
    private readonly Stopwatch _sw = Stopwatch.StartNew();
    private readonly Dictionary<SamplePhase, double> _seconds = [];
    private double _lastMark;

    /// <summary>Ends <paramref name="phase"/> now (a phase ended twice adds both stretches).</summary>
    public void End(SamplePhase phase)
    {
        double now = _sw.Elapsed.TotalSeconds;
        _seconds[phase] = _seconds.GetValueOrDefault(phase) + (now - _lastMark);
        _lastMark = now;
    }

    public double this[SamplePhase phase] => _seconds.GetValueOrDefault(phase);

    public bool Reached(SamplePhase phase) => _seconds.ContainsKey(phase);

    /// <summary>Seconds since the clock started.</summary>
    public double Total => _sw.Elapsed.TotalSeconds;
}

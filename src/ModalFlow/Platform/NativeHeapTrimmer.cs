namespace ModalFlow.Platform;

/// <summary>
/// Between the samples of a sweep: gives freed native memory back to the OS only when the process has grown past the size it
/// had at the last trim. Trimming after every sample made the next one fault its working set in again (2,000–3,000 minor
/// faults, ~40 ms on a VM: more than a whole →Last sweep of the benchmark model), while a sweep that reuses its working set
/// is flat anyway; the margin still catches real growth. The first sample only sets the reference: trimming its freed
/// working set made the second sample fault all of it in again (280,000 faults, about 1 s, in a 12-sample `run` of the
/// 1024-wide benchmark model); what loading left behind is trimmed by the load itself (ModelFolder.Load).
/// </summary>
public sealed class NativeHeapTrimmer(double minGrowthMb = 256, double growthFraction = 0.25, Func<double>? rssMb = null, Action? trim = null)
{
    private readonly Func<double> _rssMb = rssMb ?? ProcessMemory.RssMb;
    private readonly Action _trim = trim ?? TorchRuntime.TrimNativeHeap;
    private double _referenceMb = double.NaN;

    /// <summary>
    /// Trims when resident memory exceeds its size at the last trim (at first: after the first sample) by max(minGrowthMb,
    /// growthFraction of it). Returns whether it trimmed.
    /// </summary>
    public bool AfterSample()
    {
        double rss = _rssMb();
        if (double.IsNaN(_referenceMb))
        {
            _referenceMb = rss;
            return false;
        }
        if (rss <= _referenceMb + Math.Max(minGrowthMb, growthFraction * _referenceMb)) return false;
        _trim();
        _referenceMb = rss;
        return true;
    }
}

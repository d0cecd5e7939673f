namespace ModalFlow.Platform;

/// <summary>
/// Between the samples of a sweep: gives freed native memory back to the OS only when the process has grown past the size it
/// had at the last trim. Trimming after every sample made the next one fault its working set in again (2,000–3,000 minor
/// faults, ~40 ms on a VM: more than a whole →Last sweep of the benchmark model), while a sweep that reuses its working set
/// is flat anyway; the margin still catches real growth.
/// </summary>
public sealed class NativeHeapTrimmer(double minGrowthMb = 256, double growthFraction = 0.25, Func<double>? rssMb = null, Action? trim = null)
{
    private readonly Func<double> _rssMb = rssMb ?? ProcessMemory.RssMb;
    private readonly Action _trim = trim ?? TorchRuntime.TrimNativeHeap;
    private double _referenceMb = double.NaN;

    /// <summary>
    /// Trims when resident memory exceeds its size before the last trim by max(minGrowthMb, growthFraction of it); the first
    /// call always trims. Returns whether it trimmed.
    /// </summary>
    public bool AfterSample()
    {
        double rss = _rssMb();
        if (!double.IsNaN(_referenceMb) && rss <= _referenceMb + Math.Max(minGrowthMb, growthFraction * _referenceMb)) return false;
        _trim();
        _referenceMb = rss;
        return true;
    }
}

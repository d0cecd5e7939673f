namespace ModalFlow.Tests.Support;

/// <summary>
/// TorchSharp's live tensor count with pending finalizers run first: an earlier test's undisposed tensor finalized
/// in the middle of a measurement would otherwise change the global count and fail a leak check spuriously.
/// </summary>
public static class LiveTensors
{
    public static long Count()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        return TorchSharp.torch.Tensor.TotalCount;
    }
}

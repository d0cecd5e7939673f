using System.Collections.Concurrent;
using TorchSharp;

namespace ModalFlow.Platform;

/// <summary>
/// Long-lived TorchSharp Scalars. TorchSharp 0.107 passes a Scalar's native handle without keeping the managed
/// object alive during the call, so an implicit temporary (<c>tensor * 0.5</c>, <c>masked_fill(m, -1e38)</c>,
/// <c>arange(a, b)</c>) can be finalized and freed while native code still reads it. We saw it here as a rare
/// "Expected false to be true" from c10::Scalar::toFloat inside masked_fill after heavy managed allocation.
/// Every Scalar our tensor code passes comes from this cache (rooted for the process, never finalized).
/// </summary>
public static class Scalars
{
    private static readonly ConcurrentDictionary<long, Scalar> Cache = new();

    public static Scalar Of(double value) => Cache.GetOrAdd(BitConverter.DoubleToInt64Bits(value), bits => BitConverter.Int64BitsToDouble(bits).ToScalar());
}

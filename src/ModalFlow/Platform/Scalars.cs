using System.Collections.Concurrent;
using TorchSharp;

namespace ModalFlow.Platform;

/// <summary>
/// Long-lived TorchSharp Scalars. TorchSharp 0.107 passes a Scalar's native handle without keeping the managed
/// object alive during the call, so an implicit temporary (<c>tensor * 0.5</c>, <c>masked_fill(m, -1e38)</c>,
/// <c>arange(a, b)</c>) can be finalized and freed while native code still reads it. We saw it here as a rare
/// "Expected false to be true" from c10::Scalar::toFloat inside masked_fill after heavy managed allocation.
/// Every Scalar our tensor code passes comes from this cache (rooted for the process, never finalized).
/// <para>
/// TorchSharp's own <c>Tensor.add(Tensor)</c> / <c>add(Scalar)</c> — and so the <c>+</c> operator on tensors — create
/// their alpha as an implicit temporary <c>1</c> the same way (seen as the same error in `modalflow run` under load),
/// so our code adds with an explicit alpha: <c>a.add(b, Scalars.One)</c>, never <c>a + b</c> on tensors.
/// (<c>sub</c>, <c>mul</c>, <c>div</c> with a tensor argument take no Scalar.)
/// </para>
/// </summary>
public static class Scalars
{
    private static readonly ConcurrentDictionary<long, Scalar> Cache = new();
    private static readonly ConcurrentDictionary<long, Scalar> Integers = new();

    /// <summary>The alpha of an addition (see the type's summary).</summary>
    public static Scalar One { get; } = 1L.ToScalar();

    public static Scalar Of(double value) => Cache.GetOrAdd(BitConverter.DoubleToInt64Bits(value), bits => BitConverter.Int64BitsToDouble(bits).ToScalar());

    /// <summary>An integer Scalar: keeps an integer tensor integer (a double Scalar would promote it to float).</summary>
    public static Scalar OfInteger(long value) => Integers.GetOrAdd(value, v => v.ToScalar());
}

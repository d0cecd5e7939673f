using static TorchSharp.torch;

namespace ModalFlow.Platform;

/// <summary>
/// TorchSharp factories that build temporary Scalars internally (<c>normal(mean, std)</c> = randn · std + mean,
/// <c>arange(stop)</c> = arange(0, stop, 1)), rewritten on <see cref="Scalars"/>'s rooted ones: same values, bit for
/// bit, without the finalizer race (ImplicitScalarTests keeps every other call site off such members).
/// </summary>
public static class TensorFactories
{
    /// <summary>N(mean, std²) samples, as TorchSharp's <c>normal</c> computes them: randn, times std, plus mean.</summary>
    public static Tensor Normal(double mean, double std, long[] shape, Generator? generator = null, Device? device = null) =>
        randn(shape, device: device, generator: generator).mul_(Scalars.Of(std)).add_(Scalars.Of(mean), Scalars.One);

    /// <summary>0, 1, …, stop − 1 in <paramref name="dtype"/>.</summary>
    public static Tensor Arange(long stop, ScalarType dtype, Device? device = null) =>
        arange(Scalars.OfInteger(0), Scalars.OfInteger(stop), Scalars.OfInteger(1), dtype, device);
}

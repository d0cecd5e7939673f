using ModalFlow.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace ModalFlow.Checkpoints;

/// <summary>
/// Weights from a safetensors checkpoint, converted once into the requested dtype on the requested device.
/// Reports every missing, mis-shaped and unexpected tensor (see <see cref="WeightSource.Finish"/>).
/// </summary>
public sealed class CheckpointWeightSource(SafetensorsCheckpoint checkpoint, KeyMap map, ScalarType dtype, Device device)
    : WeightSource(dtype, device)
{
    private readonly HashSet<string> _used = [];

    public KeyMap Map => map;

    public override string Describe => checkpoint.Path;

    protected override Tensor? TryLoad(string key, long[] shape, out long[]? actualShape)
    {
        var fileKey = map.ToFile(key);
        if (!checkpoint.Contains(fileKey))
        {
            actualShape = null;
            return null;
        }
        _used.Add(fileKey);
        actualShape = [.. checkpoint.Info(fileKey).Shape];
        if (!actualShape.SequenceEqual(shape)) return null;
        // Integer/bool tensors are not weights of this model: keep floating dtypes only.
        return checkpoint.Load(fileKey, DType, Device.type == DeviceType.META ? CPU : Device);
    }

    protected override IEnumerable<string> Unexpected() =>
        checkpoint.Names.Where(n => !_used.Contains(n) && !map.IsIgnorable(n)).OrderBy(n => n, StringComparer.Ordinal);
}

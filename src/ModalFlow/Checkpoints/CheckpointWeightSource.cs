using ModalFlow.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace ModalFlow.Checkpoints;

/// <summary>
/// One checkpoint read through a key map; with <paramref name="CanonicalPrefix"/>, only for canonical keys that start
/// with it (an original LLaVA's separate CLIP folder serves "vision_tower." keys).
/// </summary>
public sealed record CheckpointPart(ITensorCheckpoint Checkpoint, KeyMap Map, string? CanonicalPrefix = null);

/// <summary>
/// Weights from one or more checkpoints (safetensors or .bin), converted once into the requested dtype on the requested
/// device. Each canonical key is served by the first part whose prefix matches. Reports every missing, mis-shaped and
/// unexpected tensor of every part (see <see cref="WeightSource.Finish"/>).
/// </summary>
public sealed class CheckpointWeightSource : WeightSource
{
    private readonly IReadOnlyList<CheckpointPart> _parts;
    private readonly HashSet<string>[] _used;

    public CheckpointWeightSource(ITensorCheckpoint checkpoint, KeyMap map, ScalarType dtype, Device device)
        : this([new CheckpointPart(checkpoint, map)], dtype, device)
    {
    }

    public CheckpointWeightSource(IReadOnlyList<CheckpointPart> parts, ScalarType dtype, Device device) : base(dtype, device)
    {
        if (parts.Count == 0) throw new ArgumentException("at least one checkpoint is needed", nameof(parts));
        _parts = parts;
        _used = parts.Select(_ => new HashSet<string>(StringComparer.Ordinal)).ToArray();
    }

    /// <summary>The map of the part without a prefix (the main checkpoint).</summary>
    public KeyMap Map => (_parts.FirstOrDefault(p => p.CanonicalPrefix is null) ?? _parts[0]).Map;

    public IReadOnlyList<CheckpointPart> Parts => _parts;

    public override string Describe => string.Join(" + ", _parts.Select(p => p.Checkpoint.Path));

    /// <summary>
    /// The shapes the modules ask for follow the folder's config.json (an original LLaVA's separate CLIP tower: its own
    /// folder's config.json): the file to compare the tensors with.
    /// </summary>
    public override string ConfigName => "config.json";

    protected override Tensor? TryLoad(string key, long[] shape, out long[]? actualShape)
    {
        int i = 0;
        while (i < _parts.Count - 1 && _parts[i].CanonicalPrefix is { } prefix && !key.StartsWith(prefix, StringComparison.Ordinal)) i++;
        var (checkpoint, map, _) = _parts[i];
        var fileKey = map.ToFile(key);
        if (!checkpoint.Contains(fileKey))
        {
            actualShape = null;
            return null;
        }
        _used[i].Add(fileKey);
        actualShape = [.. checkpoint.Info(fileKey).Shape];
        if (!actualShape.SequenceEqual(shape)) return null;
        return checkpoint.Load(fileKey, DType, Device.type == DeviceType.META ? CPU : Device);
    }

    protected override IEnumerable<string> Unexpected() => _parts
        .SelectMany((p, i) => p.Checkpoint.Names.Where(n => !_used[i].Contains(n) && !p.Map.IsIgnorable(n))
            .Select(n => _parts.Count == 1 ? n : $"{n} ({ShortPath(p.Checkpoint.FileOf(n))})"))
        .OrderBy(n => n, StringComparer.Ordinal);

    /// <summary>"folder/file": enough to tell the model's files from the CLIP folder's.</summary>
    private static string ShortPath(string file) =>
        System.IO.Path.GetFileName(System.IO.Path.GetDirectoryName(file)) + "/" + System.IO.Path.GetFileName(file);
}

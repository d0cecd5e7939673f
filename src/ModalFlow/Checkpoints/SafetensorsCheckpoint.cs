using System.Text.Json;
using TorchSharp;

namespace ModalFlow.Checkpoints;

/// <summary>
/// A model's weights as one or more .safetensors files, addressed by tensor name. <see cref="Open"/> accepts:
/// <list type="bullet">
/// <item>a folder with <c>model.safetensors.index.json</c> (Hugging Face sharding: <c>weight_map</c> name → shard
/// file, optional <c>metadata.total_size</c>) — used when present;</item>
/// <item>otherwise a folder with <c>model.safetensors</c> — only that file, other *.safetensors beside it (such as
/// the fixtures' <c>model.bf16.safetensors</c>) are not read;</item>
/// <item>otherwise every *.safetensors directly in the folder (no index: each tensor must be in exactly one file);</item>
/// <item>a path to a .safetensors file, or to an index file (<c>*.index.json</c>).</item>
/// </list>
/// With an index the shards must agree with it exactly: every listed tensor is in its shard, and no shard holds a
/// tensor that the index does not assign to it (a tensor in two shards, or one the index does not list).
/// </summary>
public sealed class SafetensorsCheckpoint : ITensorCheckpoint
{
    public const string IndexFileName = "model.safetensors.index.json";
    public const string SingleFileName = "model.safetensors";

    private readonly List<SafetensorsFile> _files;
    private readonly Dictionary<string, SafetensorsFile> _owner;
    private bool _disposed;

    /// <summary>The folder or file given to <see cref="Open"/>, as a full path.</summary>
    public string Path { get; }

    /// <summary>The index file, when the checkpoint is sharded through one.</summary>
    public string? IndexPath { get; }

    /// <summary>The index's <c>metadata.total_size</c> when given (not checked against the shards; see remarks in the report).</summary>
    public long? DeclaredTotalSize { get; }

    /// <summary>The files read, in the order opened.</summary>
    public IReadOnlyList<SafetensorsFile> Files => _files.AsReadOnly();

    /// <summary>All tensor names, sorted (ordinal).</summary>
    public IReadOnlyCollection<string> Names { get; }

    public string FormatName => "safetensors";

    /// <summary>Sum of the tensors' byte lengths.</summary>
    public long TotalBytes { get; }

    private SafetensorsCheckpoint(string path, string? indexPath, long? declaredTotalSize,
        List<SafetensorsFile> files, Dictionary<string, SafetensorsFile> owner)
    {
        Path = path;
        IndexPath = indexPath;
        DeclaredTotalSize = declaredTotalSize;
        _files = files;
        _owner = owner;
        Names = owner.Keys.Order(StringComparer.Ordinal).ToList().AsReadOnly();
        TotalBytes = owner.Sum(kv => kv.Value.Info(kv.Key).ByteLength);
    }

    /// <summary>Opens a checkpoint folder or file (see the class summary); throws <see cref="InputException"/> on bad input.</summary>
    public static SafetensorsCheckpoint Open(string path)
    {
        path = System.IO.Path.GetFullPath(path);
        if (Directory.Exists(path))
        {
            var index = System.IO.Path.Combine(path, IndexFileName);
            if (File.Exists(index)) return FromIndex(path, index);
            var single = System.IO.Path.Combine(path, SingleFileName);
            if (File.Exists(single)) return FromFiles(path, [single]);
            var all = Directory.GetFiles(path, "*.safetensors").Order(StringComparer.Ordinal).ToList();
            if (all.Count == 0)
            {
                throw new InputException(path, null,
                    $"no checkpoint here; expected {IndexFileName}, {SingleFileName} or at least one *.safetensors file");
            }
            return FromFiles(path, all);
        }
        if (File.Exists(path))
        {
            return path.EndsWith(".index.json", StringComparison.Ordinal)
                ? FromIndex(path, path)
                : FromFiles(path, [path]);
        }
        throw new InputException(path, null, "not found; expected a checkpoint folder, a .safetensors file or a .safetensors.index.json file");
    }

    public bool Contains(string name) => _owner.ContainsKey(name);

    /// <summary>dtype, shape and byte range of <paramref name="name"/>; <see cref="InputException"/> when absent.</summary>
    public TensorInfo Info(string name) => Owner(name).Info(name);

    /// <summary>The file that holds <paramref name="name"/>.</summary>
    public string FileOf(string name) => Owner(name).Path;

    /// <summary>Copies tensor <paramref name="name"/> into a new tensor; see <see cref="SafetensorsFile.Load(string, torch.ScalarType, torch.Device)"/>.</summary>
    public torch.Tensor Load(string name, torch.ScalarType dtype, torch.Device device) => Owner(name).Load(name, dtype, device);

    /// <summary>Loads in the stored dtype on the CPU.</summary>
    public torch.Tensor Load(string name) => Owner(name).Load(name);

    private SafetensorsFile Owner(string name)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return _owner.TryGetValue(name, out var file)
            ? file
            : throw new InputException(Path, name, $"no such tensor in the checkpoint; it holds {_owner.Count} tensors in {_files.Count} file(s)");
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var f in _files) f.Dispose();
    }

    public override string ToString() => $"{Path} ({_owner.Count} tensors in {_files.Count} file(s))";

    // ---- opening -------------------------------------------------------------------------------------------------

    private static SafetensorsCheckpoint FromFiles(string path, IReadOnlyList<string> paths)
    {
        var (files, owner) = ShardSet.FromFiles(path, paths, SafetensorsFile.Open);
        return new SafetensorsCheckpoint(path, null, null, files, owner);
    }

    private static SafetensorsCheckpoint FromIndex(string path, string indexPath)
    {
        var (files, owner, totalSize) = ShardSet.FromIndex(indexPath, SafetensorsFile.Open);
        return new SafetensorsCheckpoint(path, indexPath, totalSize, files, owner);
    }
}

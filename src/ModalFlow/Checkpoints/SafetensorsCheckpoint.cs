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
public sealed class SafetensorsCheckpoint : IDisposable
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

    /// <summary>Unsharded: every tensor in exactly one of <paramref name="paths"/>.</summary>
    private static SafetensorsCheckpoint FromFiles(string path, IReadOnlyList<string> paths)
    {
        var files = new List<SafetensorsFile>();
        try
        {
            var owner = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
            foreach (var p in paths)
            {
                var file = SafetensorsFile.Open(p);
                files.Add(file);
                foreach (var name in file.Names)
                {
                    if (!owner.TryAdd(name, file))
                    {
                        throw new InputException(path, name,
                            $"tensor is present in both {owner[name].Path} and {file.Path}; expected each tensor in exactly one file");
                    }
                }
            }
            return new SafetensorsCheckpoint(path, null, null, files, owner);
        }
        catch
        {
            foreach (var f in files) f.Dispose();
            throw;
        }
    }

    private static SafetensorsCheckpoint FromIndex(string path, string indexPath)
    {
        var (weightMap, totalSize) = ReadIndex(indexPath);
        var folder = System.IO.Path.GetDirectoryName(indexPath)!;

        // Resolve and check every shard before mapping any.
        var shardPaths = new Dictionary<string, string>(StringComparer.Ordinal);  // as written → full path
        foreach (var (tensor, shard) in weightMap.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            if (shardPaths.ContainsKey(shard)) continue;
            var full = ResolveShard(indexPath, folder, tensor, shard);
            if (!File.Exists(full))
            {
                var needing = weightMap.Count(kv => kv.Value == shard);
                throw new InputException(indexPath, tensor,
                    $"needs shard file \"{shard}\" ({needing} tensor(s) in weight_map), which does not exist at {full}; expected the shard beside the index");
            }
            shardPaths.Add(shard, full);
        }

        var files = new List<SafetensorsFile>();
        try
        {
            var byShard = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
            foreach (var (shard, full) in shardPaths)
            {
                var file = SafetensorsFile.Open(full);
                files.Add(file);
                byShard.Add(shard, file);
            }

            var owner = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
            foreach (var (tensor, shard) in weightMap.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            {
                var file = byShard[shard];
                if (!file.Contains(tensor))
                {
                    throw new InputException(indexPath, tensor,
                        $"listed in weight_map under shard \"{shard}\", but {file.Path} has no such tensor; expected the index and the shards to agree");
                }
                owner.Add(tensor, file);
            }

            // Nothing in a shard that the index does not assign to it.
            foreach (var (shard, file) in byShard)
            {
                foreach (var name in file.Names)
                {
                    if (!weightMap.TryGetValue(name, out var assigned))
                    {
                        throw new InputException(indexPath, name,
                            $"tensor is in shard {file.Path} but not listed in weight_map; expected the index to list every tensor of its shards");
                    }
                    if (assigned != shard)
                    {
                        throw new InputException(indexPath, name,
                            $"tensor is present in two shards, {byShard[assigned].Path} (as weight_map says) and {file.Path}; expected each tensor in exactly one shard");
                    }
                }
            }
            return new SafetensorsCheckpoint(path, indexPath, totalSize, files, owner);
        }
        catch
        {
            foreach (var f in files) f.Dispose();
            throw;
        }
    }

    /// <summary>A shard name is a path relative to the index's folder and must stay inside it.</summary>
    private static string ResolveShard(string indexPath, string folder, string tensor, string shard)
    {
        if (shard.Length == 0 || System.IO.Path.IsPathRooted(shard))
        {
            throw new InputException(indexPath, tensor, $"weight_map names shard \"{shard}\"; expected a file name relative to the index's folder");
        }
        var full = System.IO.Path.GetFullPath(System.IO.Path.Combine(folder, shard));
        var root = System.IO.Path.TrimEndingDirectorySeparator(folder) + System.IO.Path.DirectorySeparatorChar;
        if (!full.StartsWith(root, StringComparison.Ordinal))
        {
            throw new InputException(indexPath, tensor, $"weight_map names shard \"{shard}\", which lies outside {folder}; expected a file beside the index");
        }
        return full;
    }

    /// <summary>Parses the index: <c>{"metadata": {"total_size": int}?, "weight_map": {name: shard}}</c>.</summary>
    private static (Dictionary<string, string> WeightMap, long? TotalSize) ReadIndex(string indexPath)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(indexPath);
        }
        catch (IOException e)
        {
            throw new InputException(indexPath, null, $"cannot read the index ({e.Message})", e);
        }

        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(bytes);
        }
        catch (JsonException e)
        {
            throw new InputException(indexPath, null, $"expected a JSON object with \"weight_map\"; the file is not valid JSON ({e.Message})", e);
        }

        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new InputException(indexPath, null, $"expected a JSON object with \"weight_map\", found a JSON {root.ValueKind.ToString().ToLowerInvariant()}");
            }
            JsonElement? weightMapEl = null, metadataEl = null;
            foreach (var p in root.EnumerateObject())
            {
                if (p.Name is not ("weight_map" or "metadata")) continue;
                if ((p.Name == "weight_map" ? weightMapEl : metadataEl) != null)
                {
                    throw new InputException(indexPath, p.Name, "appears twice; expected it once");
                }
                if (p.Name == "weight_map") weightMapEl = p.Value; else metadataEl = p.Value;
            }

            long? totalSize = null;
            if (metadataEl is { } md)
            {
                if (md.ValueKind != JsonValueKind.Object)
                {
                    throw new InputException(indexPath, "metadata", $"expected a JSON object, found a JSON {md.ValueKind.ToString().ToLowerInvariant()}");
                }
                if (md.TryGetProperty("total_size", out var ts))
                {
                    // Some writers emit total_size as a float (1.4e10); accept any integral, non-negative number.
                    if (ts.ValueKind != JsonValueKind.Number || !ts.TryGetDouble(out var d) || d < 0 || d != Math.Floor(d) || d > long.MaxValue)
                    {
                        throw new InputException(indexPath, "metadata.total_size", $"expected a non-negative integer byte count, found {ts.GetRawText()}");
                    }
                    totalSize = ts.TryGetInt64(out var l) ? l : (long)d;
                }
            }

            if (weightMapEl is not { } wm)
            {
                throw new InputException(indexPath, "weight_map", "missing; expected an object mapping each tensor name to its shard file");
            }
            if (wm.ValueKind != JsonValueKind.Object)
            {
                throw new InputException(indexPath, "weight_map", $"expected an object mapping tensor names to shard files, found a JSON {wm.ValueKind.ToString().ToLowerInvariant()}");
            }
            var map = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var p in wm.EnumerateObject())
            {
                if (p.Value.ValueKind != JsonValueKind.String)
                {
                    throw new InputException(indexPath, p.Name, $"weight_map value must be a shard file name (string), found {p.Value.GetRawText()}");
                }
                if (!map.TryAdd(p.Name, p.Value.GetString()!))
                {
                    throw new InputException(indexPath, p.Name, "tensor appears twice in weight_map; expected each tensor once");
                }
            }
            if (map.Count == 0)
            {
                throw new InputException(indexPath, "weight_map", "is empty; expected at least one tensor");
            }
            return (map, totalSize);
        }
    }
}

using System.Text.Json;

namespace ModalFlow.Checkpoints;

/// <summary>
/// Assembles a checkpoint from weight files of one format (safetensors or .bin): unsharded (each tensor in exactly one
/// file) or through a Hugging Face index (<c>{"metadata": {"total_size"}, "weight_map": {name: shard}}</c>), whose
/// shards must agree with it exactly. Shared by <see cref="SafetensorsCheckpoint"/> and <see cref="TorchBinCheckpoint"/>.
/// </summary>
internal static class ShardSet
{
    /// <summary>Unsharded: every tensor in exactly one of <paramref name="paths"/>.</summary>
    public static (List<T> Files, Dictionary<string, T> Owner) FromFiles<T>(string path, IReadOnlyList<string> paths, Func<string, T> open)
        where T : ITensorFile
    {
        var files = new List<T>();
        try
        {
            var owner = new Dictionary<string, T>(StringComparer.Ordinal);
            foreach (var p in paths)
            {
                var file = open(p);
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
            return (files, owner);
        }
        catch
        {
            foreach (var f in files) f.Dispose();
            throw;
        }
    }

    /// <summary>Sharded through a Hugging Face index: the shards must agree with its <c>weight_map</c> exactly.</summary>
    public static (List<T> Files, Dictionary<string, T> Owner, long? TotalSize) FromIndex<T>(string indexPath, Func<string, T> open)
        where T : ITensorFile
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

        var files = new List<T>();
        try
        {
            var byShard = new Dictionary<string, T>(StringComparer.Ordinal);
            foreach (var (shard, full) in shardPaths)
            {
                var file = open(full);
                files.Add(file);
                byShard.Add(shard, file);
            }

            var owner = new Dictionary<string, T>(StringComparer.Ordinal);
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
            return (files, owner, totalSize);
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

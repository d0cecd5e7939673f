using System.IO.Compression;
using System.Text;
using TorchSharp;

namespace ModalFlow.Checkpoints;

/// <summary>
/// One PyTorch <c>torch.save</c> file (<c>pytorch_model.bin</c>, the zip format of PyTorch ≥ 1.6): a zip archive with
/// one top folder holding <c>data.pkl</c> (the state dict, read by a safe unpickler, <see cref="TorchPickle"/>),
/// <c>data/&lt;key&gt;</c> (each storage's raw little-endian bytes), <c>version</c> and <c>byteorder</c>. Opening reads
/// the record and checks every tensor against its storage (present, the right byte size, the view inside it);
/// <see cref="Load"/> reads the bytes one tensor spans and copies them into a new tensor, following the view's offset
/// and strides (contiguous or not). Legacy (pre-1.6, non-zip) files are refused.
/// </summary>
/// <remarks>Loads are serialised (one zip reader); tensors returned never alias the file.</remarks>
public sealed class TorchBinFile : ITensorFile
{
    /// <summary>Largest data.pkl read (a 7B state dict's record is about 30 kB).</summary>
    private const long MaxRecordBytes = 256L << 20;

    private const long ChunkBytes = 16L << 20;

    private readonly FileStream _stream;
    private readonly ZipArchive _zip;
    private readonly string _prefix;
    private readonly Dictionary<string, TorchTensorRecord> _records;
    private readonly Dictionary<string, TensorInfo> _infos;
    private readonly Lock _lock = new();
    private bool _disposed;

    public string Path { get; }

    /// <summary>Tensor names in the record's order.</summary>
    public IReadOnlyCollection<string> Names { get; }

    /// <summary>The archive's top folder (torch.save uses the file's stem, or "archive").</summary>
    public string ArchiveName => _prefix.TrimEnd('/');

    private TorchBinFile(string path, FileStream stream, ZipArchive zip, string prefix, IReadOnlyList<KeyValuePair<string, TorchTensorRecord>> records)
    {
        Path = path;
        _stream = stream;
        _zip = zip;
        _prefix = prefix;
        _records = new Dictionary<string, TorchTensorRecord>(records, StringComparer.Ordinal);
        _infos = records.ToDictionary(r => r.Key, r => ToInfo(r.Key, r.Value), StringComparer.Ordinal);
        Names = records.Select(r => r.Key).ToList().AsReadOnly();
    }

    internal static bool HasTorchExtension(string path) =>
        path.EndsWith(".bin", StringComparison.Ordinal) || path.EndsWith(".pt", StringComparison.Ordinal) || path.EndsWith(".pth", StringComparison.Ordinal);

    /// <summary>Whether the file starts with a zip local-file header ("PK\x03\x04").</summary>
    internal static bool LooksLikeZip(string path)
    {
        try
        {
            using var fs = File.OpenRead(path);
            Span<byte> magic = stackalloc byte[4];
            return fs.Read(magic) == 4 && magic.SequenceEqual("PK\x03\x04"u8);
        }
        catch (IOException) { return false; }
    }

    /// <summary>Opens <paramref name="path"/> and checks its record; throws <see cref="InputException"/> on bad input.</summary>
    public static TorchBinFile Open(string path)
    {
        SafetensorsFile.EnsureLittleEndian();
        path = System.IO.Path.GetFullPath(path);
        if (!File.Exists(path)) throw new InputException(path, null, "file not found; expected a PyTorch .bin (torch.save zip archive)");
        FileStream stream;
        try { stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InputException(path, null, $"cannot open the file for reading ({e.Message}); expected a readable .bin file", e);
        }
        ZipArchive? zip = null;
        try
        {
            CheckMagic(path, stream);
            try { zip = new ZipArchive(stream, ZipArchiveMode.Read, leaveOpen: true); }
            catch (InvalidDataException e)
            {
                throw new InputException(path, null, $"is not a readable zip archive ({e.Message}); the file is truncated or corrupt (expected a torch.save zip archive)", e);
            }
            var prefix = FindPrefix(path, zip);
            CheckByteOrder(path, zip, prefix);
            var recordEntry = zip.GetEntry(prefix + "data.pkl")!;
            var records = TorchPickle.Read(path, ReadAll(path, recordEntry, MaxRecordBytes));
            CheckStorages(path, stream.Length, zip, prefix, records);
            return new TorchBinFile(path, stream, zip, prefix, records);
        }
        catch
        {
            zip?.Dispose();
            stream.Dispose();
            throw;
        }
    }

    private static void CheckMagic(string path, FileStream stream)
    {
        Span<byte> head = stackalloc byte[4];
        int n = stream.ReadAtLeast(head, 4, throwOnEndOfStream: false);
        stream.Position = 0;
        if (n == 4 && head.SequenceEqual("PK\x03\x04"u8)) return;
        if (n >= 1 && head[0] == 0x80)
            throw new InputException(path, null, "is a legacy torch.save file (a bare pickle, PyTorch < 1.6), which is not supported; re-save it with a current PyTorch or convert it to safetensors");
        throw new InputException(path, null, $"does not start with a zip header ({Convert.ToHexString(head[..n])}); expected a torch.save zip archive (PyTorch ≥ 1.6)");
    }

    /// <summary>The single top folder that holds data.pkl ("pytorch_model/", "archive/").</summary>
    private static string FindPrefix(string path, ZipArchive zip)
    {
        List<string> found;
        try
        {
            found = zip.Entries.Select(e => e.FullName)
                .Where(n => n.EndsWith("/data.pkl", StringComparison.Ordinal) && n.IndexOf('/') == n.Length - "/data.pkl".Length)
                .ToList();
        }
        catch (InvalidDataException e)
        {
            throw new InputException(path, null, $"has a corrupt zip directory ({e.Message}); the file is truncated or corrupt", e);
        }
        return found.Count switch
        {
            1 => found[0][..^"data.pkl".Length],
            0 => throw new InputException(path, "data.pkl",
                $"missing; expected <archive>/data.pkl in a torch.save archive (entries: {string.Join(", ", zip.Entries.Take(5).Select(e => e.FullName))}{(zip.Entries.Count > 5 ? ", …" : "")})"),
            _ => throw new InputException(path, "data.pkl", $"found {found.Count} times ({string.Join(", ", found)}); expected one archive per file"),
        };
    }

    private static void CheckByteOrder(string path, ZipArchive zip, string prefix)
    {
        var entry = zip.GetEntry(prefix + "byteorder");
        if (entry is null) return;   // written since PyTorch 2.1; older files are little-endian
        var text = Encoding.ASCII.GetString(ReadAll(path, entry, 16)).Trim();
        if (text != "little") throw new InputException(path, "byteorder", $"'{text}'; only little-endian archives are supported");
    }

    private static void CheckStorages(string path, long fileLength, ZipArchive zip, string prefix, IReadOnlyList<KeyValuePair<string, TorchTensorRecord>> records)
    {
        foreach (var (name, r) in records)
        {
            var entryName = prefix + "data/" + r.StorageKey;
            var entry = zip.GetEntry(entryName)
                ?? throw new InputException(path, name, $"its storage record '{entryName}' is missing from the archive; the file is incomplete");
            long elementSize = r.DType.ElementSize();
            // The zip directory's sizes are claims: a stored record must fit in the file, a deflated one within deflate's ratio.
            if (entry.CompressedLength > fileLength || entry.Length > Math.Max(entry.CompressedLength, 1) * 1100)
            {
                throw new InputException(path, name,
                    $"storage '{entryName}' claims {entry.Length} bytes ({entry.CompressedLength} compressed) in a {fileLength}-byte file; the archive is corrupt");
            }
            if (r.StorageElements > long.MaxValue / elementSize || entry.Length != r.StorageElements * elementSize)
            {
                throw new InputException(path, name,
                    $"storage '{entryName}' holds {entry.Length} bytes; the record says {r.StorageElements} × {r.DType}" +
                    (r.StorageElements > long.MaxValue / elementSize ? "" : $" = {r.StorageElements * elementSize} bytes"));
            }
            long extent;
            try { extent = r.Extent; }
            catch (OverflowException e)
            {
                throw new InputException(path, name, $"shape [{string.Join(", ", r.Shape)}], stride [{string.Join(", ", r.Stride)}] overflows; the record is corrupt", e);
            }
            if (r.Offset > r.StorageElements - extent)
            {
                throw new InputException(path, name,
                    $"shape [{string.Join(", ", r.Shape)}], stride [{string.Join(", ", r.Stride)}] at offset {r.Offset} reaches element {r.Offset + extent - 1} " +
                    $"of a storage of {r.StorageElements} elements; the tensor does not fit its storage");
            }
        }
    }

    private static byte[] ReadAll(string path, ZipArchiveEntry entry, long limit)
    {
        if (entry.Length > limit)
            throw new InputException(path, entry.FullName, $"is {entry.Length} bytes; expected at most {limit}");
        var bytes = new byte[entry.Length];
        try
        {
            using var s = entry.Open();
            s.ReadExactly(bytes);
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or IOException)
        {
            throw new InputException(path, entry.FullName, $"cannot be read ({e.Message}); the file is truncated or corrupt", e);
        }
        return bytes;
    }

    private static TensorInfo ToInfo(string name, TorchTensorRecord r)
    {
        long es = r.DType.ElementSize();
        return new TensorInfo(name, r.DType, r.Shape, r.Offset * es, (r.Offset + r.Extent) * es);
    }

    public bool Contains(string name) => _records.ContainsKey(name);

    public TensorInfo Info(string name) => _infos.TryGetValue(name, out var info)
        ? info
        : throw new InputException(Path, name, $"no such tensor; the file holds {_records.Count} tensors");

    /// <summary>The view record (storage, offset, shape, stride) of <paramref name="name"/>.</summary>
    public TorchTensorRecord Record(string name) => _records.TryGetValue(name, out var r)
        ? r
        : throw new InputException(Path, name, $"no such tensor; the file holds {_records.Count} tensors");

    /// <summary>
    /// Reads the bytes <paramref name="name"/> spans in its storage into a staging tensor of the stored dtype, then
    /// takes the view (<c>as_strided</c> with the record's shape and stride) and copies it into a new contiguous tensor
    /// of <paramref name="dtype"/> on <paramref name="device"/>. Conversions follow <see cref="TensorDTypes.CanConvert"/>.
    /// </summary>
    public torch.Tensor Load(string name, torch.ScalarType dtype, torch.Device device)
    {
        var r = Record(name);
        if (!TensorDTypes.CanConvert(r.DType, dtype))
        {
            throw new ArgumentException(
                $"{Path}: {name}: stored as {r.DType}; loading it as {dtype} would change its values (allowed: the same type, any floating-point type, or a wider integer type)",
                nameof(dtype));
        }
        var shape = r.Shape.ToArray();
        using var scope = torch.NewDisposeScope();
        if (r.ElementCount == 0) return torch.empty(shape, dtype, device).MoveToOuterDisposeScope();
        var stored = r.DType.ToScalarType();
        var staging = torch.empty(r.Extent, stored);                                    // [extent], CPU
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            ReadSpan(name, r, staging);
        }
        if (r.DType == TensorDType.BOOL) CheckBool(name, staging);
        var view = r.IsContiguous ? staging.view(shape) : staging.as_strided(shape, r.Stride.ToArray());
        var result = view.to(dtype, device, copy: false).contiguous();
        // A fresh tensor unless nothing was converted (then the contiguous staging buffer is the result).
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>Copies storage elements [offset, offset + extent) into <paramref name="staging"/>.</summary>
    private void ReadSpan(string name, TorchTensorRecord r, torch.Tensor staging)
    {
        var entryName = _prefix + "data/" + r.StorageKey;
        var entry = _zip.GetEntry(entryName) ?? throw new InputException(Path, name, $"storage record '{entryName}' is missing");
        long es = r.DType.ElementSize();
        try
        {
            using var s = entry.Open();
            long skip = r.Offset * es;
            if (s.CanSeek) s.Seek(skip, SeekOrigin.Begin);
            else Skip(s, skip);
            long chunkElements = Math.Max(1, ChunkBytes / es);
            using var flat = staging.view(-1);
            for (long first = 0; first < r.Extent; first += chunkElements)
            {
                long n = Math.Min(chunkElements, r.Extent - first);
                using var part = flat.narrow(0, first, n);
                s.ReadExactly(part.bytes);
            }
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or IOException)
        {
            throw new InputException(Path, name, $"storage record '{entryName}' cannot be read ({e.Message}); the file is truncated or corrupt", e);
        }
    }

    private static void Skip(Stream s, long bytes)
    {
        var buffer = new byte[Math.Min(bytes, 1 << 20)];
        while (bytes > 0)
        {
            int n = s.Read(buffer, 0, (int)Math.Min(buffer.Length, bytes));
            if (n == 0) throw new EndOfStreamException("storage ends before the tensor's offset");
            bytes -= n;
        }
    }

    private void CheckBool(string name, torch.Tensor staging)
    {
        var bytes = staging.bytes;
        int bad = bytes.IndexOfAnyExcept((byte)0, (byte)1);
        if (bad >= 0) throw new InputException(Path, name, $"BOOL element {bad} is byte 0x{bytes[bad]:X2}; expected 0 or 1");
    }

    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
            _zip.Dispose();
            _stream.Dispose();
        }
    }

    public override string ToString() => $"{Path} ({_records.Count} tensors)";
}

/// <summary>
/// A model's weights as PyTorch .bin files: a folder with <c>pytorch_model.bin.index.json</c> (sharded, every listed
/// tensor in its shard and nothing else), else <c>pytorch_model.bin</c>, else every *.bin in it (except
/// <c>training_args.bin</c>); or one .bin file, or an index file. Same rules as <see cref="SafetensorsCheckpoint"/>.
/// </summary>
public sealed class TorchBinCheckpoint : ITensorCheckpoint
{
    public const string IndexFileName = "pytorch_model.bin.index.json";
    public const string SingleFileName = "pytorch_model.bin";

    private readonly List<TorchBinFile> _files;
    private readonly Dictionary<string, TorchBinFile> _owner;
    private bool _disposed;

    private TorchBinCheckpoint(string path, string? indexPath, long? declaredTotalSize, List<TorchBinFile> files, Dictionary<string, TorchBinFile> owner)
    {
        Path = path;
        IndexPath = indexPath;
        DeclaredTotalSize = declaredTotalSize;
        _files = files;
        _owner = owner;
        Names = owner.Keys.Order(StringComparer.Ordinal).ToList().AsReadOnly();
    }

    public string Path { get; }
    public string FormatName => "pytorch .bin";
    public string? IndexPath { get; }

    /// <summary>The index's <c>metadata.total_size</c> when given.</summary>
    public long? DeclaredTotalSize { get; }

    public IReadOnlyList<TorchBinFile> Files => _files.AsReadOnly();
    public IReadOnlyCollection<string> Names { get; }

    /// <summary>The .bin weight files of a folder without an index, sorted.</summary>
    internal static IReadOnlyList<string> WeightFilesIn(string dir) =>
        Directory.GetFiles(dir, "*.bin").Where(f => System.IO.Path.GetFileName(f) != "training_args.bin").Order(StringComparer.Ordinal).ToList();

    public static TorchBinCheckpoint Open(string path)
    {
        path = System.IO.Path.GetFullPath(path);
        if (Directory.Exists(path))
        {
            var index = System.IO.Path.Combine(path, IndexFileName);
            if (File.Exists(index)) return FromIndex(path, index);
            var single = System.IO.Path.Combine(path, SingleFileName);
            if (File.Exists(single)) return FromFiles(path, [single]);
            var all = WeightFilesIn(path);
            if (all.Count == 0)
                throw new InputException(path, null, $"no checkpoint here; expected {IndexFileName}, {SingleFileName} or at least one *.bin file");
            return FromFiles(path, all);
        }
        if (File.Exists(path))
            return path.EndsWith(".index.json", StringComparison.Ordinal) ? FromIndex(path, path) : FromFiles(path, [path]);
        throw new InputException(path, null, "not found; expected a checkpoint folder, a .bin file or a .bin.index.json file");
    }

    private static TorchBinCheckpoint FromFiles(string path, IReadOnlyList<string> paths)
    {
        var (files, owner) = ShardSet.FromFiles(path, paths, TorchBinFile.Open);
        return new TorchBinCheckpoint(path, null, null, files, owner);
    }

    private static TorchBinCheckpoint FromIndex(string path, string indexPath)
    {
        var (files, owner, totalSize) = ShardSet.FromIndex(indexPath, TorchBinFile.Open);
        return new TorchBinCheckpoint(path, indexPath, totalSize, files, owner);
    }

    public bool Contains(string name) => _owner.ContainsKey(name);
    public TensorInfo Info(string name) => Owner(name).Info(name);
    public string FileOf(string name) => Owner(name).Path;
    public torch.Tensor Load(string name, torch.ScalarType dtype, torch.Device device) => Owner(name).Load(name, dtype, device);

    private TorchBinFile Owner(string name)
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

    public override string ToString() => $"{Path} ({_owner.Count} tensors in {_files.Count} .bin file(s))";
}

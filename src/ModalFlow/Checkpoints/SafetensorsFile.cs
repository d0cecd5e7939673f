using System.Buffers.Binary;
using Microsoft.Win32.SafeHandles;
using TorchSharp;

namespace ModalFlow.Checkpoints;

/// <summary>
/// One .safetensors file, open read-only. Opening parses and validates the whole header (see
/// <see cref="SafetensorsHeader"/> for the rules); <see cref="Load"/> reads one tensor's bytes from the file into libtorch
/// memory. Opened inside <see cref="MappingWeights"/>(true) (<c>LoadOptions.MapWeights</c>), it instead gives a floating-point
/// tensor stored in the dtype asked for (on the CPU) as a view of a private, copy-on-write mapping of the file: no copy, its
/// pages read from the page cache on first use. Either way the tensors stay valid after <see cref="Dispose"/>, which closes
/// the handle (a mapping lives as long as the tensors that view it).
/// </summary>
/// <remarks>
/// Loads may run concurrently with each other, not with <see cref="Dispose"/>. A file found shorter than when it was opened
/// gives an <see cref="InputException"/> naming the tensor. A mapped file truncated while its tensors are in use cannot be
/// caught that way (the process faults, as with any memory-mapped loader): that is why mapping is opt-in.
/// </remarks>
public sealed unsafe class SafetensorsFile : ITensorFile
{
    /// <summary>Bytes moved per copy step; bounds the staging buffer of a converting load.</summary>
    internal const long ChunkBytes = 16L << 20;

    private readonly SafeFileHandle _handle;   // header and tensor bytes are read() from here, straight into their destination
    private readonly Dictionary<string, TensorInfo> _tensors;
    private bool _disposed;
    private readonly long _dataStart;
    private readonly long _fileLength;
    private readonly Dictionary<torch.ScalarType, torch.Tensor?> _mapped = new();   // the whole file as one 1-D tensor per stored dtype

    /// <summary>Full path of the file.</summary>
    public string Path { get; }

    /// <summary>Length of the JSON header in bytes (N).</summary>
    public long HeaderLength { get; }

    /// <summary>The file's <c>__metadata__</c> map (empty when absent).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Tensor entries in file order (ascending offsets).</summary>
    public IReadOnlyList<TensorInfo> Entries { get; }

    /// <summary>Tensor names in file order.</summary>
    public IReadOnlyCollection<string> Names { get; }

    private SafetensorsFile(string path, SafeFileHandle handle, long headerLength, long fileLength, SafetensorsHeader.Parsed parsed)
    {
        Path = path;
        _handle = handle;
        HeaderLength = headerLength;
        _dataStart = 8 + headerLength;
        _fileLength = fileLength;
        MapWhenPossible = MapOnOpen.Value;
        _tensors = new Dictionary<string, TensorInfo>(parsed.Tensors, StringComparer.Ordinal);
        Entries = parsed.ByOffset.ToList().AsReadOnly();
        Names = parsed.ByOffset.Select(t => t.Name).ToList().AsReadOnly();
        Metadata = parsed.Metadata;
    }

    /// <summary>Opens <paramref name="path"/> and validates its header; throws <see cref="InputException"/> on bad input.</summary>
    public static SafetensorsFile Open(string path)
    {
        EnsureLittleEndian();
        path = System.IO.Path.GetFullPath(path);
        if (!File.Exists(path))
        {
            throw new InputException(path, null, "file not found; expected a .safetensors file");
        }

        // FileShare.Delete: the file may be deleted or renamed while open (POSIX semantics).
        SafeFileHandle handle;
        try
        {
            handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InputException(path, null, $"cannot open the file for reading ({e.Message}); expected a readable .safetensors file", e);
        }
        try
        {
            var fileLength = RandomAccess.GetLength(handle);
            if (fileLength < 8)
            {
                throw new InputException(path, "header length",
                    $"file is {fileLength} bytes; expected at least 8 (a little-endian u64 header length, then the JSON header)");
            }
            Span<byte> lengthBytes = stackalloc byte[8];
            RandomAccess.Read(handle, lengthBytes, 0);
            var n = BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
            if (n > (ulong)SafetensorsHeader.MaxHeaderBytes)
            {
                throw new InputException(path, "header length",
                    $"header length {n} exceeds the limit of {SafetensorsHeader.MaxHeaderBytes} bytes; expected a safetensors file (first 8 bytes = JSON header length, little-endian)");
            }
            var headerLength = (long)n;
            if (8 + headerLength > fileLength)
            {
                throw new InputException(path, "header length",
                    $"header length {headerLength} reaches past the end of the {fileLength}-byte file; expected at most {fileLength - 8}");
            }
            var header = new byte[headerLength];
            ReadExactly(handle, path, "header", 8, header);
            var parsed = SafetensorsHeader.Parse(path, header, fileLength - 8 - headerLength);
            return new SafetensorsFile(path, handle, headerLength, fileLength, parsed);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    public bool Contains(string name) => _tensors.ContainsKey(name);

    /// <summary>The entry for <paramref name="name"/>; <see cref="InputException"/> when the file has no such tensor.</summary>
    public TensorInfo Info(string name) =>
        _tensors.TryGetValue(name, out var info)
            ? info
            : throw new InputException(Path, name, $"no such tensor; the file holds {_tensors.Count} tensors");

    public bool TryGetInfo(string name, out TensorInfo info) => _tensors.TryGetValue(name, out info!);

    /// <summary>
    /// Copies tensor <paramref name="name"/> into a new tensor of <paramref name="dtype"/> on <paramref name="device"/>.
    /// Same dtype on the CPU: the file's bytes are read straight into the result (page cache → result, one kernel copy).
    /// Otherwise the bytes go through a
    /// staging tensor of at most <see cref="ChunkBytes"/> and libtorch converts (<c>copy_</c>) into the result, so
    /// the peak is the result plus one chunk. Widening float conversions are exact (BF16 → F32 is bits &lt;&lt; 16,
    /// F16 → F32 exact). Conversions that would change values silently (float → integer, integer narrowing) are
    /// refused, see <see cref="TensorDTypes.CanConvert"/>.
    /// </summary>
    public torch.Tensor Load(string name, torch.ScalarType dtype, torch.Device device)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var info = Info(name);
        if (!TensorDTypes.CanConvert(info.DType, dtype))
        {
            throw new ArgumentException(
                $"{Path}: {name}: stored as {info.DType}; loading it as {dtype} would change its values (allowed: the same type, any floating-point type, or a wider integer type)",
                nameof(dtype));
        }
        if (TryMapped(name, info, dtype, device) is { } mapped) return mapped;

        using var scope = torch.NewDisposeScope();
        var result = torch.empty(info.ShapeArray(), dtype, device);
        var count = info.ElementCount;
        if (count == 0) return result.MoveToOuterDisposeScope();
        // Fresh memory written once: huge pages make its first touch (most of a warm load) hundreds of times fewer faults.
        if (device.type == DeviceType.CPU && count * result.ElementSize <= int.MaxValue)
            fixed (byte* p = result.bytes) ModalFlow.Platform.HugePages.Advise(p, count * result.ElementSize);

        var src = _dataStart + info.Begin;                                  // file offset of the first byte
        var elementSize = info.DType.ElementSize();
        var chunkElements = Math.Max(1, ChunkBytes / elementSize);
        using var flat = result.view(-1);                                   // [count]
        var direct = dtype == info.DType.ToScalarType() && device.type == DeviceType.CPU;
        using var staging = direct ? null : torch.empty(Math.Min(chunkElements, count), info.DType.ToScalarType());
        for (long first = 0; first < count; first += chunkElements)
        {
            var n = Math.Min(chunkElements, count - first);
            using var part = flat.narrow(0, first, n);                      // [n], contiguous
            using var stage = direct ? null : staging!.narrow(0, 0, n);    // [n], stored dtype, CPU
            var bytes = (direct ? part : stage!).bytes;
            ReadExactly(_handle, Path, name, src + first * elementSize, bytes);
            if (info.DType == TensorDType.BOOL) CheckBool(name, bytes, first);
            if (!direct) part.copy_(stage!);
        }
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Zero copy: a floating-point tensor stored in the dtype asked for, for the CPU, at an offset that is a multiple of its
    /// element size, comes back as a view of a private mapping of the whole file (copy-on-write: writing to it never
    /// changes the file). Its pages come from the page cache when first read, so a warm load costs no copy at all. Null
    /// otherwise, or when the file cannot be mapped: the caller copies.
    /// </summary>
    private torch.Tensor? TryMapped(string name, TensorInfo info, torch.ScalarType dtype, torch.Device device)
    {
        if (!MapWhenPossible || device.type != DeviceType.CPU || dtype != info.DType.ToScalarType()
            || dtype is not (torch.ScalarType.Float32 or torch.ScalarType.Float16 or torch.ScalarType.BFloat16 or torch.ScalarType.Float64)) return null;
        long elementSize = info.DType.ElementSize(), offset = _dataStart + info.Begin;
        if (offset % elementSize != 0 || info.ElementCount == 0) return null;
        torch.Tensor? whole;
        lock (_mapped)
        {
            if (!_mapped.TryGetValue(dtype, out whole))
                _mapped[dtype] = whole = MapWhole(name, dtype, elementSize);
        }
        if (whole is null) return null;
        using var flat = whole.narrow(0, offset / elementSize, info.ElementCount);
        return flat.view(info.ShapeArray());
    }

    /// <summary>The whole file as a 1-D tensor of <paramref name="dtype"/>; null when it cannot be mapped.</summary>
    private torch.Tensor? MapWhole(string name, torch.ScalarType dtype, long elementSize)
    {
        // A file that shrank since its header was read would fault on access instead of reading short: refuse it here.
        long now = RandomAccess.GetLength(_handle);
        if (now < _fileLength)
            throw new InputException(Path, name, $"the file is {now} bytes, {_fileLength} when it was opened; was it truncated?");
        // Owned by this file, not by whatever dispose scope the caller of this load has open.
        try { return torch.from_file(Path, shared: false, size: _fileLength / elementSize, dtype: dtype).DetachFromDisposeScope(); }
        catch (Exception e) when (e is System.Runtime.InteropServices.ExternalException or IOException or UnauthorizedAccessException) { return null; }
    }

    /// <summary>Load returns views of a mapping of the file where it can (<see cref="TryMapped"/>); false: always copies.</summary>
    public bool MapWhenPossible { get; }

    private static readonly AsyncLocal<bool> MapOnOpen = new();

    /// <summary>Files opened on this flow until the result is disposed map where they can (<see cref="MapWhenPossible"/>).</summary>
    public static IDisposable MappingWeights(bool on)
    {
        bool before = MapOnOpen.Value;
        MapOnOpen.Value = on;
        return new Restore(() => MapOnOpen.Value = before);
    }

    private sealed class Restore(Action undo) : IDisposable
    {
        public void Dispose() => undo();
    }

    private static void ReadExactly(SafeFileHandle handle, string path, string what, long offset, Span<byte> into)
    {
        for (int done = 0; done < into.Length;)
        {
            int got = RandomAccess.Read(handle, into[done..], offset + done);
            if (got == 0)
                throw new InputException(path, what, $"the file ends at byte {offset + done}, inside these bytes ({into.Length} from byte {offset}); was it truncated after it was opened?");
            done += got;
        }
    }

    /// <summary>Loads in the stored dtype on the CPU.</summary>
    public torch.Tensor Load(string name) => Load(name, Info(name).DType.ToScalarType(), torch.CPU);

    /// <summary>libtorch's bool must be 0 or 1; any other byte would be undefined behaviour downstream.</summary>
    private void CheckBool(string name, ReadOnlySpan<byte> bytes, long firstElement)
    {
        var bad = bytes.IndexOfAnyExcept((byte)0, (byte)1);
        if (bad >= 0)
        {
            throw new InputException(Path, name, $"BOOL element {firstElement + bad} is byte 0x{bytes[bad]:X2}; expected 0 or 1");
        }
    }

    internal static void EnsureLittleEndian()
    {
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("safetensors data is little-endian; this reader supports little-endian hosts only");
        }
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var whole in _mapped.Values) whole?.Dispose();             // tensors loaded from it keep the mapping alive
        _mapped.Clear();
        _handle.Dispose();
    }

    public override string ToString() => $"{Path} ({Entries.Count} tensors)";
}

using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace ModalFlow.Tests.Support;

/// <summary>How <see cref="TorchSaveWriter"/> lays tensors into storages.</summary>
public enum TorchSaveLayout
{
    /// <summary>One contiguous storage per tensor (what <c>torch.save(model.state_dict())</c> gives).</summary>
    Contiguous,

    /// <summary>2-D tensors stored transposed (storage = Wᵀ, stride [1, rows]): non-contiguous views.</summary>
    Transposed,

    /// <summary>Every tensor of one dtype is a view at an offset into one shared storage (views of a flat buffer).</summary>
    SharedStorage,
}

/// <summary>One tensor record: a view (offset, shape, stride) of a storage.</summary>
public sealed record TorchSaveRecord(string Name, string StorageKey, long Offset, long[] Shape, long[] Stride);

/// <summary>A storage: its element type and raw little-endian bytes.</summary>
public sealed record TorchSaveStorage(string Key, ScalarType DType, byte[] Bytes)
{
    public long Elements => Bytes.Length / TorchSaveWriter.ElementSize(DType);
}

/// <summary>
/// A minimal <c>torch.save</c> writer for tests (no PyTorch here): a zip archive <c>&lt;archive&gt;/data.pkl</c> +
/// <c>data/&lt;key&gt;</c> + <c>byteorder</c> + <c>version</c>, the record pickled with protocol 2 the way CPython's
/// pickler writes torch.save's objects — <c>collections.OrderedDict</c> via GLOBAL + EMPTY_TUPLE + REDUCE, each tensor
/// as GLOBAL <c>torch._utils._rebuild_tensor_v2</c> + REDUCE of (BINPERSID ('storage', torch.&lt;T&gt;Storage, key,
/// 'cpu', numel), offset, size, stride, False, OrderedDict()), memo BINPUT/BINGET for repeated globals and strings,
/// SETITEMS in batches of 1000, and optionally the <c>_metadata</c> attribute that <c>state_dict()</c> carries (BUILD).
/// </summary>
public static class TorchSaveWriter
{
    public static int ElementSize(ScalarType t) => t switch
    {
        ScalarType.Float64 or ScalarType.Int64 => 8,
        ScalarType.Float32 or ScalarType.Int32 => 4,
        ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Int16 => 2,
        ScalarType.Int8 or ScalarType.Byte or ScalarType.Bool => 1,
        _ => throw new ArgumentException($"dtype {t}"),
    };

    public static string StorageClass(ScalarType t) => t switch
    {
        ScalarType.Float32 => "FloatStorage",
        ScalarType.Float16 => "HalfStorage",
        ScalarType.BFloat16 => "BFloat16Storage",
        ScalarType.Float64 => "DoubleStorage",
        ScalarType.Int64 => "LongStorage",
        ScalarType.Int32 => "IntStorage",
        ScalarType.Int16 => "ShortStorage",
        ScalarType.Int8 => "CharStorage",
        ScalarType.Byte => "ByteStorage",
        ScalarType.Bool => "BoolStorage",
        _ => throw new ArgumentException($"dtype {t}"),
    };

    private static byte[] Bytes(Tensor t)
    {
        using var c = t.detach().cpu().contiguous();
        var b = new byte[c.numel() * ElementSize(c.dtype)];
        if (b.Length > 0) c.bytes.CopyTo(b);
        return b;
    }

    private static long[] ContiguousStride(long[] shape)
    {
        var s = new long[shape.Length];
        long e = 1;
        for (int i = shape.Length - 1; i >= 0; i--) { s[i] = e; e *= shape[i]; }
        return s;
    }

    /// <summary>Lays <paramref name="tensors"/> into storages as <paramref name="layout"/> says.</summary>
    public static (List<TorchSaveStorage> Storages, List<TorchSaveRecord> Records) Plan(IEnumerable<(string Name, Tensor Tensor)> tensors, TorchSaveLayout layout)
    {
        var storages = new List<TorchSaveStorage>();
        var records = new List<TorchSaveRecord>();
        if (layout == TorchSaveLayout.SharedStorage)
        {
            var byType = new Dictionary<ScalarType, (string Key, MemoryStream Data)>();
            foreach (var (name, t) in tensors)
            {
                if (!byType.TryGetValue(t.dtype, out var s))
                {
                    s = (byType.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), new MemoryStream());
                    byType[t.dtype] = s;
                }
                long offset = s.Data.Length / ElementSize(t.dtype);
                s.Data.Write(Bytes(t));
                records.Add(new TorchSaveRecord(name, s.Key, offset, t.shape, ContiguousStride(t.shape)));
            }
            storages.AddRange(byType.Select(kv => new TorchSaveStorage(kv.Value.Key, kv.Key, kv.Value.Data.ToArray())));
            return (storages, records);
        }
        foreach (var (name, t) in tensors)
        {
            var key = storages.Count.ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (layout == TorchSaveLayout.Transposed && t.dim() == 2)
            {
                using var tt = t.t();
                storages.Add(new TorchSaveStorage(key, t.dtype, Bytes(tt)));                  // [cols, rows] row-major
                records.Add(new TorchSaveRecord(name, key, 0, t.shape, [1, t.shape[0]]));
            }
            else
            {
                storages.Add(new TorchSaveStorage(key, t.dtype, Bytes(t)));
                records.Add(new TorchSaveRecord(name, key, 0, t.shape, ContiguousStride(t.shape)));
            }
        }
        return (storages, records);
    }

    public static void Write(string path, IEnumerable<(string Name, Tensor Tensor)> tensors, TorchSaveLayout layout = TorchSaveLayout.Contiguous, bool withMetadata = true)
    {
        var (storages, records) = Plan(tensors, layout);
        WriteArchive(path, Pickle(records, storages, withMetadata), storages);
    }

    /// <summary>The zip archive; <paramref name="skip"/> leaves out entries (by name under the archive folder, e.g. "data.pkl", "data/0").</summary>
    public static void WriteArchive(string path, byte[] dataPkl, IEnumerable<TorchSaveStorage> storages, string? archiveName = null, params string[] skip)
    {
        archiveName ??= Path.GetFileNameWithoutExtension(path);
        using var fs = new FileStream(path, FileMode.Create, FileAccess.Write);
        using var zip = new ZipArchive(fs, ZipArchiveMode.Create);
        void Add(string name, byte[] bytes)
        {
            if (skip.Contains(name)) return;
            var e = zip.CreateEntry(archiveName + "/" + name, CompressionLevel.NoCompression);
            using var s = e.Open();
            s.Write(bytes);
        }
        Add("data.pkl", dataPkl);
        Add("byteorder", "little"u8.ToArray());
        foreach (var s in storages) Add("data/" + s.Key, s.Bytes);
        Add("version", "3\n"u8.ToArray());
        Add(".data/serialization_id", "1234567890123456789012345678901234567890"u8.ToArray());
    }

    /// <summary>The data.pkl bytes (protocol 2) of a state dict made of <paramref name="records"/>.</summary>
    public static byte[] Pickle(IReadOnlyList<TorchSaveRecord> records, IReadOnlyList<TorchSaveStorage> storages, bool withMetadata = true)
    {
        var p = new PickleWriter();
        var types = storages.ToDictionary(s => s.Key);
        p.Proto(2);
        p.Global("collections", "OrderedDict");
        p.EmptyTuple();
        p.Reduce();
        for (int start = 0; start < records.Count; start += 1000)
        {
            var batch = records.Skip(start).Take(1000).ToList();
            if (batch.Count > 1) p.Mark();
            foreach (var r in batch)
            {
                p.String(r.Name);
                p.Global("torch._utils", "_rebuild_tensor_v2");
                p.Mark();
                // persistent id ('storage', torch.<T>Storage, key, location, numel)
                var st = types[r.StorageKey];
                p.Mark();
                p.String("storage");
                p.Global("torch", StorageClass(st.DType));
                p.String(r.StorageKey);
                p.String("cpu");
                p.Int(st.Elements);
                p.Tuple(5);
                p.BinPersId();
                p.Int(r.Offset);
                p.IntTuple(r.Shape);
                p.IntTuple(r.Stride);
                p.Bool(false);
                p.Global("collections", "OrderedDict");
                p.EmptyTuple();
                p.Reduce();
                p.Tuple(6);
                p.Reduce();
            }
            if (batch.Count > 1) p.SetItems(); else p.SetItem();
        }
        if (withMetadata)
        {
            // state_dict()._metadata: {'': {'version': 1}} as an OrderedDict attribute, restored by BUILD.
            p.EmptyDict();
            p.String("_metadata");
            p.Global("collections", "OrderedDict");
            p.EmptyTuple();
            p.Reduce();
            p.String("");
            p.EmptyDict();
            p.String("version");
            p.Int(1);
            p.SetItem();
            p.SetItem();
            p.SetItem();
            p.Build();
        }
        p.Stop();
        return p.ToArray();
    }

    /// <summary>Emits opcodes with CPython's memo habits (BINPUT after each object, BINGET for a repeated global or string).</summary>
    public sealed class PickleWriter
    {
        private readonly MemoryStream _s = new();
        private readonly Dictionary<string, int> _memo = new(StringComparer.Ordinal);
        private int _next;

        public byte[] ToArray() => _s.ToArray();
        public void Raw(params byte[] b) => _s.Write(b);

        private void Put()
        {
            int i = _next++;
            if (i < 256) Raw((byte)'q', (byte)i);
            else { Raw((byte)'r'); Span<byte> b = stackalloc byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(b, (uint)i); _s.Write(b); }
        }

        private bool GetMemo(string key)
        {
            if (!_memo.TryGetValue(key, out int i)) return false;
            if (i < 256) Raw((byte)'h', (byte)i);
            else { Raw((byte)'j'); Span<byte> b = stackalloc byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(b, (uint)i); _s.Write(b); }
            return true;
        }

        private void Remember(string key)
        {
            _memo[key] = _next;
            Put();
        }

        public void Proto(byte v) => Raw(0x80, v);
        public void Mark() => Raw((byte)'(');
        public void Stop() => Raw((byte)'.');
        public void EmptyTuple() => Raw((byte)')');
        public void EmptyDict() { Raw((byte)'}'); Put(); }
        public void SetItem() => Raw((byte)'s');
        public void SetItems() => Raw((byte)'u');
        public void Build() => Raw((byte)'b');
        public void BinPersId() => Raw((byte)'Q');
        public void Reduce() { Raw((byte)'R'); Put(); }
        public void Bool(bool v) => Raw(v ? (byte)0x88 : (byte)0x89);

        public void Global(string module, string name)
        {
            if (GetMemo("g:" + module + "." + name)) return;
            Raw((byte)'c');
            _s.Write(Encoding.ASCII.GetBytes(module + "\n" + name + "\n"));
            Remember("g:" + module + "." + name);
        }

        public void String(string v)
        {
            if (GetMemo("s:" + v)) return;
            var b = Encoding.UTF8.GetBytes(v);
            Raw((byte)'X');
            Span<byte> n = stackalloc byte[4];
            BinaryPrimitives.WriteUInt32LittleEndian(n, (uint)b.Length);
            _s.Write(n);
            _s.Write(b);
            Remember("s:" + v);
        }

        public void Int(long v)
        {
            Span<byte> b = stackalloc byte[8];
            if (v is >= 0 and <= 0xff) Raw((byte)'K', (byte)v);
            else if (v is >= 0 and <= 0xffff) { Raw((byte)'M'); BinaryPrimitives.WriteUInt16LittleEndian(b, (ushort)v); _s.Write(b[..2]); }
            else if (v is >= int.MinValue and <= int.MaxValue) { Raw((byte)'J'); BinaryPrimitives.WriteInt32LittleEndian(b, (int)v); _s.Write(b[..4]); }
            else
            {
                BinaryPrimitives.WriteInt64LittleEndian(b, v);
                int n = 8;
                while (n > 1 && ((b[n - 1] == 0 && (b[n - 2] & 0x80) == 0) || (b[n - 1] == 0xff && (b[n - 2] & 0x80) != 0))) n--;
                Raw(0x8a, (byte)n);
                _s.Write(b[..n]);
            }
        }

        /// <summary>A tuple of the <paramref name="n"/> items just written; the caller wrote MARK first when n &gt; 3.</summary>
        public void Tuple(int n)
        {
            if (n == 0) Raw((byte)')');
            else Raw((byte)'t');
            Put();
        }

        /// <summary>A tuple of ints as CPython writes it: EMPTY_TUPLE, TUPLE1..3, or MARK … TUPLE.</summary>
        public void IntTuple(long[] items)
        {
            if (items.Length == 0) { EmptyTuple(); return; }
            if (items.Length > 3) Mark();
            foreach (var i in items) Int(i);
            Raw(items.Length switch { 1 => (byte)0x85, 2 => (byte)0x86, 3 => (byte)0x87, _ => (byte)'t' });
            Put();
        }
    }
}

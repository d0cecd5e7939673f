using System.IO.Compression;
using System.Text;
using System.Text.Json;
using ModalFlow.Checkpoints;
using ModalFlow.Platform;
using ModalFlow.Tests.Support;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace ModalFlow.Tests.Checkpoints;

/// <summary>
/// The PyTorch .bin reader (original LLaVA shards): values, dtypes and strided views against tensors written by the
/// test writer and against an archive pickled by CPython; the safe unpickler's refusals; damaged archives.
/// </summary>
public sealed class OriginalTorchBinTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("mf-bin-");

    public OriginalTorchBinTests() => TorchRuntime.Initialize();

    public void Dispose() => _dir.Delete(true);

    private string P(string name) => Path.Combine(_dir.FullName, name);

    private static List<(string Name, Tensor Tensor)> Sample()
    {
        var g = new Generator(7);
        return
        [
            ("a.f32", randn([5, 3], generator: g)),
            ("b.f16", randn([4, 6], generator: g).to(ScalarType.Float16)),
            ("c.bf16", randn([2, 3, 4], generator: g).to(ScalarType.BFloat16)),
            ("d.f64", randn([3], ScalarType.Float64, generator: g)),
            ("e.i64", tensor(new long[] { -5, 3_000_000_000L, 0, 9 })),
            ("f.i32", tensor(new[] { 1, -2, 3 })),
            ("g.bool", tensor(new[] { true, false, true, true })),
            ("h.u8", tensor(new byte[] { 0, 200, 255 })),
            ("i.scalar", tensor(3.25f)),
            ("j.empty", zeros(0, 4)),
            ("k.col", randn([7, 1], generator: g)),
        ];
    }

    [SharedTheory]
    [InlineData(TorchSaveLayout.Contiguous)]
    [InlineData(TorchSaveLayout.Transposed)]
    [InlineData(TorchSaveLayout.SharedStorage)]
    public void Original_Bin_RoundTrips_Every_DType_And_Layout_Exactly(TorchSaveLayout layout)
    {
        var tensors = Sample();
        TorchSaveWriter.Write(P("m.bin"), tensors, layout);
        using var file = TorchBinFile.Open(P("m.bin"));
        Assert.Equal(tensors.Select(t => t.Name), file.Names);
        Assert.Equal("m", file.ArchiveName);
        foreach (var (name, t) in tensors)
        {
            var info = file.Info(name);
            Assert.Equal(t.shape, info.ShapeArray());
            Assert.Equal(t.dtype, info.DType.ToScalarType());
            using var loaded = file.Load(name, t.dtype, CPU);
            Assert.Equal(t.shape, loaded.shape);
            Assert.True(loaded.is_contiguous());
            Assert.True(Compare.SameBits(t, loaded), $"{name} ({layout}) differs");
            if (layout == TorchSaveLayout.Transposed && t.dim() == 2 && t.shape[0] > 1 && t.shape[1] > 1)
                Assert.False(file.Record(name).IsContiguous);
        }
        // Conversion on load, as the safetensors reader: f16 → f32 exact, float → int refused.
        using var up = file.Load("b.f16", ScalarType.Float32, CPU);
        Assert.True(Compare.SameBits(tensors[1].Tensor.to(ScalarType.Float32), up));
        Assert.Throws<ArgumentException>(() => file.Load("a.f32", ScalarType.Int64, CPU));
    }

    [SharedFact]
    public void Original_Bin_Written_By_CPython_Pickler_Reads_As_The_Values_It_Encodes()
    {
        var dir = Path.Combine(AppContext.BaseDirectory, "Checkpoints", "TestData");
        using var expected = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "cpython_state_dict.json")));
        using var ck = TensorCheckpoint.Open(Path.Combine(dir, "cpython_state_dict.bin"));
        Assert.Equal("pytorch .bin", ck.FormatName);
        var names = expected.RootElement.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(names, ck.Names);
        Assert.Equal(311, names.Count);
        foreach (var p in expected.RootElement.EnumerateObject())
        {
            var info = ck.Info(p.Name);
            Assert.Equal(p.Value.GetProperty("dtype").GetString(), info.DType.ToString());
            Assert.Equal(p.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()), info.Shape);
            using var t = ck.Load(p.Name, ScalarType.Float64, CPU);
            var want = p.Value.GetProperty("values").EnumerateArray().Select(e => e.GetDouble()).ToArray();
            var got = t.reshape(-1).data<double>().ToArray();
            Assert.Equal(want, got);
        }
        using var i64 = ck.Load("i64", ScalarType.Int64, CPU);
        Assert.Equal([-7L, 3_000_000_000L, 5], i64.data<long>().ToArray());
    }

    [SharedFact]
    public void Original_Bin_Sharded_Index_Is_Checked_Like_Safetensors()
    {
        var folder = Directory.CreateDirectory(P("sharded")).FullName;
        var tensors = Sample();
        TorchSaveWriter.Write(Path.Combine(folder, "pytorch_model-00001-of-00002.bin"), tensors.Take(5));
        TorchSaveWriter.Write(Path.Combine(folder, "pytorch_model-00002-of-00002.bin"), tensors.Skip(5), TorchSaveLayout.SharedStorage);
        File.WriteAllBytes(Path.Combine(folder, "mm_projector.bin"), [1, 2, 3]);   // beside the index, never read
        var map = tensors.Select((t, i) => (t.Name, File: i < 5 ? "pytorch_model-00001-of-00002.bin" : "pytorch_model-00002-of-00002.bin"))
            .ToDictionary(x => x.Name, x => x.File);
        File.WriteAllText(Path.Combine(folder, TorchBinCheckpoint.IndexFileName),
            JsonSerializer.Serialize(new { metadata = new { total_size = 123 }, weight_map = map }));
        using (var ck = TensorCheckpoint.Open(folder))
        {
            var bin = Assert.IsType<TorchBinCheckpoint>(ck);
            Assert.Equal(2, bin.Files.Count);
            Assert.Equal(123, bin.DeclaredTotalSize);
            Assert.Equal(tensors.Select(t => t.Name).Order(StringComparer.Ordinal), ck.Names);
            Assert.EndsWith("00002-of-00002.bin", ck.FileOf("k.col"));
            using var k = ck.Load("k.col", ScalarType.Float32, CPU);
            Assert.True(Compare.SameBits(tensors[^1].Tensor, k));
        }
        map.Remove("a.f32");
        File.WriteAllText(Path.Combine(folder, TorchBinCheckpoint.IndexFileName), JsonSerializer.Serialize(new { weight_map = map }));
        var e = Assert.Throws<InputException>(() => TensorCheckpoint.Open(folder));
        Assert.Contains("a.f32", e.Message);
        Assert.Contains("not listed in weight_map", e.Message);
    }

    // ---- the unpickler refuses everything that is not a tensor record ------------------------------------------------

    private static byte[] Pkl(params object[] parts)
    {
        var ms = new MemoryStream();
        foreach (var p in parts)
        {
            if (p is string s) ms.Write(Encoding.Latin1.GetBytes(s));
            else if (p is byte b) ms.WriteByte(b);
            else if (p is byte[] bs) ms.Write(bs);
        }
        return ms.ToArray();
    }

    private static byte[] BinUnicode(string s)
    {
        var b = Encoding.UTF8.GetBytes(s);
        return [(byte)'X', .. BitConverter.GetBytes(b.Length), .. b];
    }

    public static TheoryData<string, string, string> Malicious => new()
    {
        // GLOBAL os.system + REDUCE: the classic payload.
        { "os.system", Convert.ToBase64String(Pkl((byte)0x80, (byte)2, "cos\nsystem\n", BinUnicode("touch PWNED"), (byte)0x85, "R.")), "pickle global 'os.system'" },
        // builtins.eval via MARK … TUPLE, REDUCE.
        { "builtins.eval", Convert.ToBase64String(Pkl((byte)0x80, (byte)2, "cbuiltins\neval\n(", BinUnicode("open('PWNED','w')"), "tR.")), "pickle global 'builtins.eval'" },
        // protocol 4 STACK_GLOBAL spelling of os.system.
        { "stack global", Convert.ToBase64String(Pkl((byte)0x80, (byte)4, BinUnicode("os"), BinUnicode("system"), (byte)0x93, BinUnicode("touch PWNED"), (byte)0x85, "R.")), "pickle global 'os.system'" },
        // torch.load's own escape hatch in old files: INST (class instantiation) is not an opcode torch.save emits.
        { "INST", Convert.ToBase64String(Pkl((byte)0x80, (byte)2, "(ios\nsystem\n.")), "opcode 0x69 (INST)" },
        // A storage type is a tag, not a callable.
        { "REDUCE on a storage type", Convert.ToBase64String(Pkl((byte)0x80, (byte)2, "ctorch\nFloatStorage\n)R.")), "is a storage type, not a function" },
        // An allowed name used with a different module.
        { "look-alike module", Convert.ToBase64String(Pkl((byte)0x80, (byte)2, "cposix\n_rebuild_tensor_v2\n)R.")), "pickle global 'posix._rebuild_tensor_v2'" },
        // A list (EMPTY_LIST) is not part of a state dict.
        { "list", Convert.ToBase64String(Pkl((byte)0x80, (byte)2, "].")), "EMPTY_LIST" },
        // The state dict must be a dict of tensors.
        { "non-tensor value", Convert.ToBase64String(Pkl((byte)0x80, (byte)2, "}", BinUnicode("x"), "K\u0005s.")), "x: holds the integer 5; expected a tensor" },
    };

    [SharedTheory]
    [MemberData(nameof(Malicious))]
    public void Original_Bin_With_A_Disallowed_Pickle_Is_Rejected_And_Executes_Nothing(string what, string pickleBase64, string expected)
    {
        var path = P("evil.bin");
        TorchSaveWriter.WriteArchive(path, Convert.FromBase64String(pickleBase64), []);
        var cwd = Environment.CurrentDirectory;
        var e = Assert.Throws<InputException>(() => TensorCheckpoint.Open(path));
        Assert.Contains(path, e.Message);
        Assert.Contains(expected, e.Message);
        if (what.Contains("global", StringComparison.Ordinal) || what.Contains('.'))
            Assert.Contains("expected only torch.save tensor records", e.Message);
        Assert.False(File.Exists(Path.Combine(cwd, "PWNED")), "the payload ran");
        Assert.False(File.Exists(Path.Combine(_dir.FullName, "PWNED")), "the payload ran");
    }

    // ---- damaged archives ------------------------------------------------------------------------------------------

    private (List<TorchSaveStorage> Storages, List<TorchSaveRecord> Records) Planned() =>
        TorchSaveWriter.Plan([("w", arange(12f).reshape(3, 4)), ("v", arange(3f))], TorchSaveLayout.Contiguous);

    [SharedFact]
    public void Original_Bin_Truncated_Zip_Gets_A_Clear_Error()
    {
        TorchSaveWriter.Write(P("m.bin"), Sample());
        var bytes = File.ReadAllBytes(P("m.bin"));
        File.WriteAllBytes(P("cut.bin"), bytes[..(bytes.Length * 2 / 3)]);
        var e = Assert.Throws<InputException>(() => TorchBinFile.Open(P("cut.bin")));
        Assert.Contains("truncated or corrupt", e.Message);
        Assert.Contains(P("cut.bin"), e.Message);
    }

    [SharedFact]
    public void Original_Bin_Without_Data_Pkl_Gets_A_Clear_Error()
    {
        var (s, r) = Planned();
        TorchSaveWriter.WriteArchive(P("m.bin"), TorchSaveWriter.Pickle(r, s), s, skip: "data.pkl");
        var e = Assert.Throws<InputException>(() => TorchBinFile.Open(P("m.bin")));
        Assert.Contains("data.pkl: missing", e.Message);
    }

    [SharedFact]
    public void Original_Bin_Missing_Storage_Record_Gets_A_Clear_Error()
    {
        var (s, r) = Planned();
        TorchSaveWriter.WriteArchive(P("m.bin"), TorchSaveWriter.Pickle(r, s), s, skip: "data/1");
        var e = Assert.Throws<InputException>(() => TorchBinFile.Open(P("m.bin")));
        Assert.Contains("v: its storage record 'm/data/1' is missing", e.Message);
    }

    [SharedFact]
    public void Original_Bin_Storage_Size_And_View_Mismatches_Get_Clear_Errors()
    {
        var (s, r) = Planned();
        // The storage record is shorter than the persistent id's element count says.
        var shortStorage = new List<TorchSaveStorage> { s[0] with { Bytes = s[0].Bytes[..40] }, s[1] };
        TorchSaveWriter.WriteArchive(P("size.bin"), TorchSaveWriter.Pickle(r, s), shortStorage);
        var e = Assert.Throws<InputException>(() => TorchBinFile.Open(P("size.bin")));
        Assert.Contains("storage 'size/data/0' holds 40 bytes; the record says 12 × F32 = 48 bytes", e.Message);

        // A view reaching past its storage: shape [3, 5] on 12 elements.
        var wide = r.Select(x => x.Name == "w" ? x with { Shape = [3, 5], Stride = [5, 1] } : x).ToList();
        TorchSaveWriter.WriteArchive(P("view.bin"), TorchSaveWriter.Pickle(wide, s), s);
        e = Assert.Throws<InputException>(() => TorchBinFile.Open(P("view.bin")));
        Assert.Contains("w: shape [3, 5], stride [5, 1] at offset 0 reaches element 14 of a storage of 12 elements", e.Message);

        // An offset past the end.
        var shifted = r.Select(x => x.Name == "v" ? x with { Offset = 1 } : x).ToList();
        TorchSaveWriter.WriteArchive(P("off.bin"), TorchSaveWriter.Pickle(shifted, s), s);
        e = Assert.Throws<InputException>(() => TorchBinFile.Open(P("off.bin")));
        Assert.Contains("v: shape [3], stride [1] at offset 1", e.Message);

        // Sizes whose product overflows int64 (LONG1 in the pickle) are refused, not wrapped around.
        var overflow = r.Select(x => x.Name == "w" ? x with { Shape = [1L << 40, 1L << 40], Stride = [1, 1] } : x).ToList();
        TorchSaveWriter.WriteArchive(P("overflow.bin"), TorchSaveWriter.Pickle(overflow, s), s);
        e = Assert.Throws<InputException>(() => TorchBinFile.Open(P("overflow.bin")));
        Assert.Contains("w: shape [1099511627776, 1099511627776], stride [1, 1] overflows", e.Message);

        // numel beyond 2^31 is pickled as LONG1 and read back exactly.
        var pkl = TorchSaveWriter.Pickle(r, s);
        var patched = Encoding.Latin1.GetString(pkl).Replace("K\u000ct", "\u008a\u0005\u0000\u0000\u0000\u0000\u0001t", StringComparison.Ordinal);
        TorchSaveWriter.WriteArchive(P("long.bin"), Encoding.Latin1.GetBytes(patched), s);
        e = Assert.Throws<InputException>(() => TorchBinFile.Open(P("long.bin")));
        Assert.Contains("the record says 4294967296 × F32", e.Message);
    }

    [SharedFact]
    public void Original_Bin_Legacy_And_Non_Zip_Files_Get_Clear_Errors()
    {
        File.WriteAllBytes(P("legacy.bin"), [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e]);
        var e = Assert.Throws<InputException>(() => TorchBinFile.Open(P("legacy.bin")));
        Assert.Contains("legacy torch.save file", e.Message);
        File.WriteAllText(P("text.bin"), "hello");
        e = Assert.Throws<InputException>(() => TorchBinFile.Open(P("text.bin")));
        Assert.Contains("does not start with a zip header", e.Message);
        using (var zip = ZipFile.Open(P("empty.bin"), ZipArchiveMode.Create)) zip.CreateEntry("readme.txt");
        e = Assert.Throws<InputException>(() => TorchBinFile.Open(P("empty.bin")));
        Assert.Contains("data.pkl: missing", e.Message);
    }

    [SharedFact]
    public void Original_Bin_Truncated_Pickle_Gets_A_Clear_Error()
    {
        var (s, r) = Planned();
        var pkl = TorchSaveWriter.Pickle(r, s);
        TorchSaveWriter.WriteArchive(P("m.bin"), pkl[..(pkl.Length / 2)], s);
        var e = Assert.Throws<InputException>(() => TorchBinFile.Open(P("m.bin")));
        Assert.Contains("data.pkl", e.Message);
        Assert.Contains("truncated", e.Message);
    }

    [SharedFact]
    public void Original_Bin_Many_Tensors_Use_SetItems_Batches_And_Long_Memo()
    {
        var tensors = Enumerable.Range(0, 1100).Select(i => ($"t.{i}", full(new long[] { 2 }, (float)i))).ToList();
        TorchSaveWriter.Write(P("many.bin"), tensors, TorchSaveLayout.SharedStorage);
        using var f = TorchBinFile.Open(P("many.bin"));
        Assert.Equal(1100, f.Names.Count);
        using var last = f.Load("t.1099", ScalarType.Float32, CPU);
        Assert.Equal([1099f, 1099f], last.data<float>().ToArray());
    }
}

using System.Runtime.InteropServices;
using ModalFlow.Checkpoints;
using ModalFlow.Platform;
using ModalFlow.Tests.Support;
using TorchSharp;
using Xunit;

namespace ModalFlow.Tests.Checkpoints;

/// <summary>Values written by the test writer come back exactly, for every dtype and conversion path.</summary>
public sealed class SafetensorsFileTests : IDisposable
{
    private readonly TempDir _dir = new();

    public SafetensorsFileTests() => TorchRuntime.Initialize();

    public void Dispose() => _dir.Dispose();

    private static ushort[] AllBitPatterns() => Enumerable.Range(0, 65536).Select(i => (ushort)i).ToArray();

    private static uint[] Bits(torch.Tensor t) => MemoryMarshal.Cast<byte, uint>(t.bytes).ToArray();

    [SharedFact]
    public void F16_AllBitPatterns_UpcastToF32_Equal_SystemHalf()
    {
        var bits = AllBitPatterns();
        var path = new SafetensorsTestWriter().Add("h", "F16", [256, 256], bits).Write(_dir.File("f16.safetensors"));
        using var f = SafetensorsFile.Open(path);
        Assert.Equal(TensorDType.F16, f.Info("h").DType);

        using var native = f.Load("h");
        Assert.Equal(torch.ScalarType.Float16, native.dtype);
        Assert.Equal(MemoryMarshal.AsBytes(bits.AsSpan()).ToArray(), native.bytes.ToArray());

        using var up = f.Load("h", torch.ScalarType.Float32, torch.CPU);
        Assert.Equal([256L, 256L], up.shape);
        var got = Bits(up);
        var mismatches = new List<string>();
        for (var i = 0; i < bits.Length; i++)
        {
            var expected = (float)BitConverter.UInt16BitsToHalf(bits[i]);
            var actual = BitConverter.UInt32BitsToSingle(got[i]);
            var ok = float.IsNaN(expected) ? float.IsNaN(actual) : BitConverter.SingleToUInt32Bits(expected) == got[i];
            if (!ok && mismatches.Count < 5) mismatches.Add($"[0x{bits[i]:X4}] expected {expected:R} got {actual:R}");
        }
        Assert.True(mismatches.Count == 0, string.Join("\n", mismatches));
    }

    [SharedFact]
    public void BF16_AllBitPatterns_UpcastToF32_Are_Bits_Shifted_Left_16()
    {
        var bits = AllBitPatterns();
        var path = new SafetensorsTestWriter().Add("b", "BF16", [65536], bits).Write(_dir.File("bf16.safetensors"));
        using var f = SafetensorsFile.Open(path);
        using var up = f.Load("b", torch.ScalarType.Float32, torch.CPU);
        var got = Bits(up);
        for (var i = 0; i < bits.Length; i++)
        {
            var expected = (uint)bits[i] << 16;
            if (float.IsNaN(BitConverter.UInt32BitsToSingle(expected)))
            {
                Assert.True(float.IsNaN(BitConverter.UInt32BitsToSingle(got[i])), $"[0x{bits[i]:X4}] NaN lost: 0x{got[i]:X8}");
            }
            else
            {
                Assert.True(expected == got[i], $"[0x{bits[i]:X4}] expected 0x{expected:X8} got 0x{got[i]:X8}");
            }
        }
        using var f64 = f.Load("b", torch.ScalarType.Float64, torch.CPU);
        Assert.Equal(torch.ScalarType.Float64, f64.dtype);
        using var one = f64[0x3F80];                        // BF16 0x3F80 = 1.0
        Assert.Equal(1.0, one.item<double>());
    }

    [SharedFact]
    public void Integers_Bool_And_F64_Load_Exactly_And_Widen()
    {
        long[] i64 = [long.MinValue, -1, 0, 42, long.MaxValue];
        int[] i32 = [int.MinValue, -7, 0, 7, int.MaxValue];
        short[] i16 = [short.MinValue, -3, 0, 3, short.MaxValue];
        sbyte[] i8 = [sbyte.MinValue, -1, 0, 1, sbyte.MaxValue];
        byte[] u8 = [0, 1, 127, 128, 255];
        bool[] flags = [true, false, false, true, true];
        double[] f64 = [Math.PI, -0.0, 1e-300, double.MaxValue, double.NegativeInfinity];
        var path = new SafetensorsTestWriter()
            .Add("i64", "I64", [5], i64).Add("i32", "I32", [5], i32).Add("i16", "I16", [5], i16)
            .Add("i8", "I8", [5], i8).Add("u8", "U8", [5], u8).Add("flags", "BOOL", [5], flags).Add("f64", "F64", [5], f64)
            .Write(_dir.File("ints.safetensors"));
        using var f = SafetensorsFile.Open(path);

        using (var t = f.Load("i64")) Assert.Equal(i64, t.data<long>().ToArray());
        using (var t = f.Load("i32")) Assert.Equal(i32, t.data<int>().ToArray());
        using (var t = f.Load("i16")) Assert.Equal(i16, t.data<short>().ToArray());
        using (var t = f.Load("i8")) Assert.Equal(i8, t.data<sbyte>().ToArray());
        using (var t = f.Load("u8")) Assert.Equal(u8, t.data<byte>().ToArray());
        using (var t = f.Load("flags")) Assert.Equal(flags, t.data<bool>().ToArray());
        using (var t = f.Load("f64")) Assert.Equal(f64, t.data<double>().ToArray());

        using (var t = f.Load("i32", torch.ScalarType.Int64, torch.CPU)) Assert.Equal(i32.Select(v => (long)v), t.data<long>().ToArray());
        using (var t = f.Load("u8", torch.ScalarType.Int16, torch.CPU)) Assert.Equal(u8.Select(v => (short)v), t.data<short>().ToArray());
        using (var t = f.Load("flags", torch.ScalarType.Float32, torch.CPU)) Assert.Equal([1f, 0, 0, 1, 1], t.data<float>().ToArray());
        using (var t = f.Load("i8", torch.ScalarType.Float64, torch.CPU)) Assert.Equal(i8.Select(v => (double)v), t.data<double>().ToArray());

        Assert.Equal(["i64", "i32", "i16", "i8", "u8", "flags", "f64"], f.Names);
        Assert.Equal(TensorDType.BOOL, f.Info("flags").DType);
    }

    [SharedFact]
    public void Scalar_ZeroSize_Unordered_Header_Unknown_Fields_And_Metadata_Are_Read()
    {
        // Entries listed out of offset order, an extra field, leading/trailing whitespace, a zero-size tensor.
        var header = """
              {"__metadata__": {"format": "pt", "note": "x"},
               "second": {"dtype": "F32", "shape": [2, 1], "data_offsets": [4, 12], "extra": [1, 2]},
               "empty": {"dtype": "I64", "shape": [2, 0], "data_offsets": [12, 12]},
               "scalar": {"dtype": "F32", "shape": [], "data_offsets": [0, 4]}}
            """;
        var data = MemoryMarshal.AsBytes(new float[] { 0.5f, 1.5f, -2.5f }.AsSpan()).ToArray();
        var path = SafetensorsTestWriter.WriteRaw(_dir.File("misc.safetensors"), header, data);
        using var f = SafetensorsFile.Open(path);
        Assert.Equal(new Dictionary<string, string> { ["format"] = "pt", ["note"] = "x" }, f.Metadata);
        Assert.Equal(["scalar", "second", "empty"], f.Names);                 // file (offset) order
        Assert.Equal(new TensorInfo("second", TensorDType.F32, [2, 1], 4, 12), f.Info("second"));

        using var scalar = f.Load("scalar", torch.ScalarType.Float32, torch.CPU);
        Assert.Empty(scalar.shape);
        Assert.Equal(0.5f, scalar.item<float>());
        using var second = f.Load("second", torch.ScalarType.Float64, torch.CPU);
        Assert.Equal([1.5, -2.5], second.data<double>().ToArray());
        using var empty = f.Load("empty");
        Assert.Equal([2L, 0L], empty.shape);
        Assert.Equal(torch.ScalarType.Int64, empty.dtype);
    }

    [SharedFact]
    public void Empty_Header_Is_A_Valid_File_Without_Tensors()
    {
        var path = SafetensorsTestWriter.WriteRaw(_dir.File("none.safetensors"), "{}", []);
        using var f = SafetensorsFile.Open(path);
        Assert.Empty(f.Names);
        Assert.Empty(f.Metadata);
    }

    [SharedFact]
    public void Tensors_Larger_Than_A_Chunk_Load_Exactly_Direct_And_Converting()
    {
        // 10M BF16 (20 MB) and 5M F32 (20 MB): both cross the 16 MB copy chunk.
        const int n16 = 10_000_000, n32 = 5_000_000;
        var bf = new ushort[n16];
        for (var i = 0; i < n16; i++) bf[i] = (ushort)((i % 0x7F80) | ((i & 1) << 15)); // finite values, both signs
        var f32 = new float[n32];
        for (var i = 0; i < n32; i++) f32[i] = i * 0.25f - 1000;
        var path = new SafetensorsTestWriter().Add("bf", "BF16", [n16], bf).Add("f", "F32", [n32 / 100, 100], f32)
            .Write(_dir.File("big.safetensors"));
        Assert.True(n16 * 2L > SafetensorsFile.ChunkBytes && n32 * 4L > SafetensorsFile.ChunkBytes);

        using var f = SafetensorsFile.Open(path);
        using (var t = f.Load("bf", torch.ScalarType.Float32, torch.CPU))
        {
            var got = Bits(t);
            for (var i = 0; i < n16; i++)
            {
                if (got[i] != (uint)bf[i] << 16) Assert.Fail($"[{i}] expected 0x{(uint)bf[i] << 16:X8} got 0x{got[i]:X8}");
            }
        }
        using (var t = f.Load("bf"))
        {
            Assert.True(MemoryMarshal.AsBytes(bf.AsSpan()).SequenceEqual(t.bytes), "native BF16 bytes differ");
        }
        using (var t = f.Load("f"))
        {
            Assert.True(MemoryMarshal.AsBytes(f32.AsSpan()).SequenceEqual(t.bytes), "native F32 bytes differ");
        }
    }

    [SharedFact]
    public void Loaded_Tensors_Outlive_Dispose_And_The_File_Is_Released()
    {
        var values = Enumerable.Range(0, 1000).Select(i => i * 0.5f).ToArray();
        var path = new SafetensorsTestWriter().Add("w", "F32", [10, 100], values).Add("b", "BF16", [4], new ushort[] { 0x3F80, 0x4000, 0xBF80, 0 })
            .Write(_dir.File("owned.safetensors"));
        var before = LiveTensors.Count();

        var f = SafetensorsFile.Open(path);
        Assert.True(ProcFiles.Mentions(path));
        var w = f.Load("w", torch.ScalarType.Float32, torch.CPU);
        var b = f.Load("b", torch.ScalarType.Float32, torch.CPU);
        Assert.Equal(before + 2, LiveTensors.Count());  // the results only: no temporaries left behind
        f.Dispose();
        f.Dispose();                                         // idempotent
        Assert.Throws<ObjectDisposedException>(() => f.Load("w", torch.ScalarType.Float32, torch.CPU));

        // No descriptor and no mapping left: the file can be overwritten and deleted, the tensors keep their values.
        Assert.False(ProcFiles.Mentions(path), "file still open or mapped after Dispose");
        File.WriteAllBytes(path, new byte[16]);
        File.Delete(path);
        Assert.Equal(values, w.data<float>().ToArray());
        Assert.Equal([1f, 2f, -1f, 0f], b.data<float>().ToArray());

        w.Dispose();
        b.Dispose();
        Assert.Equal(before, LiveTensors.Count());
    }

    [SharedFact]
    public void Load_Inside_A_Caller_DisposeScope_Is_Owned_By_That_Scope()
    {
        var path = new SafetensorsTestWriter().Add("w", "F16", [3], new Half[] { (Half)1, (Half)2, (Half)3 }).Write(_dir.File("scope.safetensors"));
        using var f = SafetensorsFile.Open(path);
        var before = LiveTensors.Count();
        torch.Tensor kept;
        using (var scope = torch.NewDisposeScope())
        {
            using var t = f.Load("w", torch.ScalarType.Float32, torch.CPU);
            kept = f.Load("w", torch.ScalarType.Float32, torch.CPU).MoveToOuterDisposeScope();
            _ = f.Load("w", torch.ScalarType.Float32, torch.CPU);   // left to the scope
        }
        Assert.Equal(before + 1, LiveTensors.Count());
        Assert.Equal([1f, 2f, 3f], kept.data<float>().ToArray());
        kept.Dispose();
        Assert.Equal(before, LiveTensors.Count());
    }
}

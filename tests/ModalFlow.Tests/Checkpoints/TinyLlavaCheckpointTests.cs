using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.Json;
using ModalFlow.Checkpoints;
using ModalFlow.Platform;
using ModalFlow.Tests.Support;
using TorchSharp;
using Xunit;

namespace ModalFlow.Tests.Checkpoints;

/// <summary>The golden tiny-llava-1.5 weight files against manifest.json and an independent read of the bytes.</summary>
public sealed class TinyLlavaCheckpointTests
{
    private static string F32Path => SharedData.Fixture("tiny-llava-1.5", "model.safetensors");
    private static string Bf16Path => SharedData.Fixture("tiny-llava-1.5", "model.bf16.safetensors");

    public TinyLlavaCheckpointTests() => TorchRuntime.Initialize();

    private static JsonElement ManifestEntry(string file)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(SharedData.Fixture("manifest.json")));
        return doc.RootElement.GetProperty("models").GetProperty("tiny-llava-1.5").GetProperty("safetensors")
            .GetProperty(file).Clone();
    }

    [SharedTheory]
    [InlineData("model.safetensors", TensorDType.F32)]
    [InlineData("model.bf16.safetensors", TensorDType.BF16)]
    public void Names_Shapes_And_Dtypes_Match_The_Manifest(string file, TensorDType dtype)
    {
        var manifest = ManifestEntry(file);
        using var f = SafetensorsFile.Open(SharedData.Fixture("tiny-llava-1.5", file));
        var index = manifest.GetProperty("tensor_index");
        Assert.Equal(index.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal), f.Names.Order(StringComparer.Ordinal));
        Assert.Equal(manifest.GetProperty("tensors").GetInt32(), f.Names.Count);
        Assert.Equal(manifest.GetProperty("header_bytes").GetInt64(), f.HeaderLength);
        Assert.Equal("pt", f.Metadata["format"]);
        long parameters = 0;
        foreach (var p in index.EnumerateObject())
        {
            var info = f.Info(p.Name);
            Assert.Equal(p.Value.GetProperty("dtype").GetString(), info.DType.ToString());
            Assert.Equal(dtype, info.DType);
            Assert.Equal(p.Value.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()), info.Shape);
            parameters += info.ElementCount;
        }
        Assert.Equal(manifest.GetProperty("parameters").GetInt64(), parameters);
    }

    /// <summary>Each tensor's bytes, read with a FileStream and System.Text.Json only (not through the reader).</summary>
    private static Dictionary<string, byte[]> ReadIndependently(string path)
    {
        using var fs = File.OpenRead(path);
        var prefix = new byte[8];
        fs.ReadExactly(prefix);
        var n = (int)BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        var header = new byte[n];
        fs.ReadExactly(header);
        using var doc = JsonDocument.Parse(header);
        var result = new Dictionary<string, byte[]>();
        foreach (var p in doc.RootElement.EnumerateObject().Where(p => p.Name != "__metadata__"))
        {
            var offsets = p.Value.GetProperty("data_offsets");
            long begin = offsets[0].GetInt64(), end = offsets[1].GetInt64();
            var bytes = new byte[end - begin];
            fs.Position = 8 + n + begin;
            fs.ReadExactly(bytes);
            result[p.Name] = bytes;
        }
        return result;
    }

    [SharedTheory]
    [InlineData("model.safetensors")]
    [InlineData("model.bf16.safetensors")]
    public void Native_Loads_Equal_The_Bytes_In_The_File(string file)
    {
        var path = SharedData.Fixture("tiny-llava-1.5", file);
        var expected = ReadIndependently(path);
        using var f = SafetensorsFile.Open(path);
        Assert.Equal(expected.Count, f.Names.Count);
        foreach (var (name, bytes) in expected)
        {
            using var t = f.Load(name);
            Assert.Equal(f.Info(name).DType.ToScalarType(), t.dtype);
            Assert.Equal(f.Info(name).ShapeArray(), t.shape);
            Assert.True(bytes.AsSpan().SequenceEqual(t.bytes), $"{name}: bytes differ from the file");
        }
    }

    /// <summary>f32 → bf16 round-to-nearest-even (as torch's .to(bfloat16)), returned as the f32 bits of the upcast.</summary>
    private static uint RoundToBf16ThenUpcast(uint f)
    {
        if ((f & 0x7FFF_FFFF) > 0x7F80_0000) return (f | 0x0040_0000) & 0xFFFF_0000;   // NaN stays (quiet) NaN
        var lsb = (f >> 16) & 1;
        return (f + 0x7FFF + lsb) & 0xFFFF_0000;
    }

    [SharedFact]
    public void Bf16_Upcast_Equals_F32_Rounded_To_Nearest_Even()
    {
        using var f32 = SafetensorsFile.Open(F32Path);
        using var bf16 = SafetensorsFile.Open(Bf16Path);
        Assert.Equal(f32.Names.Order(StringComparer.Ordinal), bf16.Names.Order(StringComparer.Ordinal));
        long checkedValues = 0, changedByRounding = 0;
        foreach (var name in f32.Names)
        {
            using var exact = f32.Load(name, torch.ScalarType.Float32, torch.CPU);
            using var up = bf16.Load(name, torch.ScalarType.Float32, torch.CPU);
            Assert.Equal(exact.shape, up.shape);
            Assert.Equal(torch.ScalarType.Float32, up.dtype);
            var src = MemoryMarshal.Cast<byte, uint>(exact.bytes);
            var got = MemoryMarshal.Cast<byte, uint>(up.bytes);
            for (var i = 0; i < src.Length; i++)
            {
                var want = RoundToBf16ThenUpcast(src[i]);
                if (want != got[i])
                {
                    Assert.Fail($"{name}[{i}]: f32 0x{src[i]:X8} ({BitConverter.UInt32BitsToSingle(src[i]):R}) should upcast to 0x{want:X8}, got 0x{got[i]:X8}");
                }
                if (want != src[i]) changedByRounding++;
            }
            checkedValues += src.Length;
        }
        Assert.Equal(4_561_344, checkedValues);
        Assert.True(changedByRounding > checkedValues / 2, "the BF16 file should differ from the F32 one almost everywhere");
    }
}

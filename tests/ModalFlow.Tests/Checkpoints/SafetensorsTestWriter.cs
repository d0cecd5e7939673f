using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace ModalFlow.Tests.Checkpoints;

/// <summary>
/// Test-only safetensors writer, written from the format description (fixtures/README.md, "Consuming from C#"), not
/// from the reader: u64 LE header length N, N bytes of JSON (space-padded to a multiple of 8), then the data with
/// tensors laid out back to back in the order added. <see cref="WriteRaw"/> writes arbitrary (bad) headers.
/// </summary>
internal sealed class SafetensorsTestWriter
{
    private readonly List<(string Name, string DType, long[] Shape, byte[] Data)> _tensors = [];

    public Dictionary<string, string>? Metadata { get; set; }

    public SafetensorsTestWriter Add(string name, string dtype, long[] shape, byte[] data)
    {
        _tensors.Add((name, dtype, shape, data));
        return this;
    }

    public SafetensorsTestWriter Add<T>(string name, string dtype, long[] shape, T[] values) where T : unmanaged =>
        Add(name, dtype, shape, MemoryMarshal.AsBytes(values.AsSpan()).ToArray());

    public string HeaderJson()
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            if (Metadata != null)
            {
                w.WriteStartObject("__metadata__");
                foreach (var (k, v) in Metadata) w.WriteString(k, v);
                w.WriteEndObject();
            }
            long offset = 0;
            foreach (var (name, dtype, shape, data) in _tensors)
            {
                w.WriteStartObject(name);
                w.WriteString("dtype", dtype);
                w.WriteStartArray("shape");
                foreach (var d in shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                w.WriteNumberValue(offset + data.Length);
                w.WriteEndArray();
                w.WriteEndObject();
                offset += data.Length;
            }
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    public byte[] Data() => _tensors.SelectMany(t => t.Data).ToArray();

    public string Write(string path)
    {
        WriteRaw(path, HeaderJson(), Data());
        return path;
    }

    /// <summary>Header JSON padded with spaces to a multiple of 8, its length as u64 LE in front, then <paramref name="data"/>.</summary>
    public static string WriteRaw(string path, string headerJson, byte[] data) =>
        WriteRaw(path, Encoding.UTF8.GetBytes(headerJson), data);

    public static string WriteRaw(string path, byte[] header, byte[] data)
    {
        var padded = header.Length % 8 == 0 ? header : [.. header, .. Enumerable.Repeat((byte)' ', 8 - header.Length % 8)];
        var prefix = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)padded.Length);
        File.WriteAllBytes(path, [.. prefix, .. padded, .. data]);
        return path;
    }

    /// <summary>A header length prefix that says <paramref name="declared"/> followed by <paramref name="rest"/>.</summary>
    public static string WriteWithDeclaredLength(string path, ulong declared, byte[] rest)
    {
        var prefix = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(prefix, declared);
        File.WriteAllBytes(path, [.. prefix, .. rest]);
        return path;
    }
}

/// <summary>A fresh folder under the temp directory, deleted on dispose.</summary>
internal sealed class TempDir : IDisposable
{
    public string Path { get; } = Directory.CreateDirectory(
        System.IO.Path.Combine(System.IO.Path.GetTempPath(), "modalflow-st-" + Guid.NewGuid().ToString("N")[..12])).FullName;

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public string Sub(string name) => Directory.CreateDirectory(System.IO.Path.Combine(Path, name)).FullName;

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}

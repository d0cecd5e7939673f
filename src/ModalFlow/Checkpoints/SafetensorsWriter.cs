using System.Text;
using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace ModalFlow.Checkpoints;

/// <summary>
/// Writes a .safetensors file (u64 LE header length, JSON header padded with spaces to 8 bytes, contiguous data)
/// that our reader, the Rust reference and Hugging Face load. Tensors are written in name order.
/// </summary>
public static class SafetensorsWriter
{
    public static void Write(string path, IEnumerable<(string Name, Tensor Tensor)> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var items = tensors.OrderBy(t => t.Name, StringComparer.Ordinal).ToList();
        var dup = items.GroupBy(t => t.Name).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null) throw new ArgumentException($"tensor '{dup.Key}' given twice");
        var header = new Dictionary<string, object>();
        if (metadata is not null) header["__metadata__"] = metadata;
        long offset = 0;
        var blobs = new List<byte[]>();
        foreach (var (name, t) in items)
        {
            using var cpu = t.detach().cpu().contiguous();
            var (code, size) = cpu.dtype switch
            {
                ScalarType.Float32 => ("F32", 4),
                ScalarType.Float16 => ("F16", 2),
                ScalarType.BFloat16 => ("BF16", 2),
                ScalarType.Float64 => ("F64", 8),
                ScalarType.Int64 => ("I64", 8),
                ScalarType.Int32 => ("I32", 4),
                ScalarType.Bool => ("BOOL", 1),
                ScalarType.Byte => ("U8", 1),
                _ => throw new ArgumentException($"tensor '{name}': dtype {cpu.dtype} cannot be written"),
            };
            var bytes = new byte[cpu.numel() * size];
            if (bytes.Length > 0) cpu.bytes.CopyTo(bytes);
            header[name] = new { dtype = code, shape = cpu.shape, data_offsets = new[] { offset, offset + bytes.Length } };
            offset += bytes.Length;
            blobs.Add(bytes);
        }
        var json = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(header));
        int padded = (json.Length + 7) / 8 * 8;
        var tmp = path + ".tmp";
        using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write))
        {
            fs.Write(BitConverter.GetBytes((ulong)padded));
            fs.Write(json);
            for (int i = json.Length; i < padded; i++) fs.WriteByte((byte)' ');
            foreach (var b in blobs) fs.Write(b);
        }
        File.Move(tmp, path, overwrite: true);   // never leave a half-written checkpoint behind
    }
}

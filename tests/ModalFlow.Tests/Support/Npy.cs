using System.Buffers.Binary;
using System.Text;
using System.Text.RegularExpressions;

namespace ModalFlow.Tests.Support;

/// <summary>A NumPy .npy array (format 1.0/2.0, little-endian, C order): shape and data as float or long.</summary>
public sealed partial class NpyArray
{
    public required long[] Shape { get; init; }
    public required string Descr { get; init; }
    public float[]? Floats { get; init; }
    public long[]? Longs { get; init; }

    public long Count => Shape.Aggregate(1L, (a, b) => a * b);

    public float[] AsFloats() => Floats ?? Longs!.Select(v => (float)v).ToArray();
    public long[] AsLongs() => Longs ?? throw new InvalidOperationException($"array is {Descr}, not an integer array");

    public static NpyArray Load(string path)
    {
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length < 10 || bytes[0] != 0x93 || Encoding.ASCII.GetString(bytes, 1, 5) != "NUMPY")
            throw new InvalidDataException($"{path}: not a .npy file");
        int major = bytes[6];
        int headerLen, offset;
        if (major == 1) { headerLen = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(8)); offset = 10; }
        else { headerLen = (int)BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(8)); offset = 12; }
        var header = Encoding.ASCII.GetString(bytes, offset, headerLen);
        var descr = DescrRe().Match(header).Groups[1].Value;
        if (FortranRe().Match(header).Groups[1].Value != "False") throw new InvalidDataException($"{path}: fortran order unsupported");
        var shapeText = ShapeRe().Match(header).Groups[1].Value;
        var shape = shapeText.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(long.Parse).ToArray();
        var data = bytes.AsSpan(offset + headerLen);
        long n = shape.Aggregate(1L, (a, b) => a * b);
        switch (descr)
        {
            case "<f4":
                {
                    var f = new float[n];
                    data[..(int)(n * 4)].CopyTo(System.Runtime.InteropServices.MemoryMarshal.AsBytes(f.AsSpan()));
                    return new NpyArray { Shape = shape, Descr = descr, Floats = f };
                }
            case "<i8":
                {
                    var l = new long[n];
                    data[..(int)(n * 8)].CopyTo(System.Runtime.InteropServices.MemoryMarshal.AsBytes(l.AsSpan()));
                    return new NpyArray { Shape = shape, Descr = descr, Longs = l };
                }
            case "<i4":
                {
                    var l = new long[n];
                    for (int i = 0; i < n; i++) l[i] = BinaryPrimitives.ReadInt32LittleEndian(data[(i * 4)..]);
                    return new NpyArray { Shape = shape, Descr = descr, Longs = l };
                }
            default:
                throw new InvalidDataException($"{path}: unsupported dtype {descr}");
        }
    }

    [GeneratedRegex(@"'descr':\s*'([^']+)'")] private static partial Regex DescrRe();
    [GeneratedRegex(@"'fortran_order':\s*(\w+)")] private static partial Regex FortranRe();
    [GeneratedRegex(@"'shape':\s*\(([^)]*)\)")] private static partial Regex ShapeRe();
}

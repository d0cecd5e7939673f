using System.Collections.Immutable;

namespace ModalFlow.Checkpoints;

/// <summary>
/// One tensor entry of a safetensors header: name, element type, shape (C order) and its byte range
/// [<see cref="Begin"/>, <see cref="End"/>) relative to the start of the data section (the byte after the header).
/// </summary>
public sealed record TensorInfo(string Name, TensorDType DType, ImmutableArray<long> Shape, long Begin, long End)
{
    /// <summary>Number of elements (1 for a scalar, shape []).</summary>
    public long ElementCount
    {
        get
        {
            long n = 1;
            foreach (var d in Shape) n *= d;
            return n;
        }
    }

    public long ByteLength => End - Begin;

    /// <summary>The shape as a fresh array (TorchSharp factories take <c>long[]</c>).</summary>
    public long[] ShapeArray() => Shape.ToArray();

    /// <summary>"[32064, 64]".</summary>
    public string ShapeText => "[" + string.Join(", ", Shape) + "]";

    public override string ToString() => $"{Name}: {DType} {ShapeText} bytes [{Begin}, {End})";
}

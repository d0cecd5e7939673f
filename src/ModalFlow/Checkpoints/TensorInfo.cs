namespace ModalFlow.Checkpoints;

/// <summary>
/// One tensor entry of a safetensors header: name, element type, shape (C order) and its byte range
/// [<see cref="Begin"/>, <see cref="End"/>) relative to the start of the data section (the byte after the header).
/// Immutable, with value equality (the shape compared element by element).
/// </summary>
public sealed class TensorInfo : IEquatable<TensorInfo>
{
    private readonly long[] _shape;

    public TensorInfo(string name, TensorDType dtype, IEnumerable<long> shape, long begin, long end)
    {
        Name = name;
        DType = dtype;
        _shape = shape.ToArray();
        Shape = Array.AsReadOnly(_shape);
        Begin = begin;
        End = end;
    }

    public string Name { get; }

    public TensorDType DType { get; }

    /// <summary>Dimensions, outermost first; empty for a scalar.</summary>
    public IReadOnlyList<long> Shape { get; }

    /// <summary>First byte, relative to the data section.</summary>
    public long Begin { get; }

    /// <summary>One past the last byte, relative to the data section.</summary>
    public long End { get; }

    /// <summary>Number of elements (1 for a scalar, shape []).</summary>
    public long ElementCount
    {
        get
        {
            long n = 1;
            foreach (var d in _shape) n *= d;
            return n;
        }
    }

    public long ByteLength => End - Begin;

    /// <summary>The shape as a fresh array (TorchSharp factories take <c>long[]</c>).</summary>
    public long[] ShapeArray() => (long[])_shape.Clone();

    /// <summary>"[32064, 64]".</summary>
    public string ShapeText => "[" + string.Join(", ", _shape) + "]";

    public bool Equals(TensorInfo? other) =>
        other is not null && Name == other.Name && DType == other.DType && _shape.AsSpan().SequenceEqual(other._shape)
        && Begin == other.Begin && End == other.End;

    public override bool Equals(object? obj) => Equals(obj as TensorInfo);

    public override int GetHashCode()
    {
        var h = new HashCode();
        h.Add(Name);
        h.Add(DType);
        foreach (var d in _shape) h.Add(d);
        h.Add(Begin);
        h.Add(End);
        return h.ToHashCode();
    }

    public override string ToString() => $"{Name}: {DType} {ShapeText} bytes [{Begin}, {End})";
}

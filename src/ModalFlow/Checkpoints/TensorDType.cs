using TorchSharp;

namespace ModalFlow.Checkpoints;

/// <summary>The safetensors element types ModalFlow reads (the header's <c>dtype</c> strings, same spelling).</summary>
public enum TensorDType
{
    F64,
    F32,
    F16,
    BF16,
    I64,
    I32,
    I16,
    I8,
    U8,
    BOOL,
}

/// <summary>Sizes, names and the <see cref="torch.ScalarType"/> of each <see cref="TensorDType"/>.</summary>
public static class TensorDTypes
{
    /// <summary>
    /// dtype strings the safetensors format defines (safetensors/src/tensor.rs, enum Dtype) that ModalFlow does not
    /// read, with their size in bits: they are recognised so that the error says "not supported" rather than "unknown".
    /// </summary>
    private static readonly Dictionary<string, int> UnsupportedBits = new(StringComparer.Ordinal)
    {
        ["F4"] = 4,
        ["F6_E2M3"] = 6,
        ["F6_E3M2"] = 6,
        ["F8_E5M2"] = 8,
        ["F8_E4M3"] = 8,
        ["F8_E8M0"] = 8,
        ["F8_E4M3FNUZ"] = 8,
        ["F8_E5M2FNUZ"] = 8,
        ["U16"] = 16,
        ["U32"] = 32,
        ["U64"] = 64,
        ["C64"] = 64,
    };

    /// <summary>The dtype strings <see cref="TryParse"/> accepts, for error messages.</summary>
    public static string SupportedList { get; } = string.Join(", ", Enum.GetNames<TensorDType>());

    /// <summary>Parses a header dtype string (case-sensitive, as the format spells it).</summary>
    public static bool TryParse(string text, out TensorDType dtype)
    {
        switch (text)
        {
            case "F64": dtype = TensorDType.F64; return true;
            case "F32": dtype = TensorDType.F32; return true;
            case "F16": dtype = TensorDType.F16; return true;
            case "BF16": dtype = TensorDType.BF16; return true;
            case "I64": dtype = TensorDType.I64; return true;
            case "I32": dtype = TensorDType.I32; return true;
            case "I16": dtype = TensorDType.I16; return true;
            case "I8": dtype = TensorDType.I8; return true;
            case "U8": dtype = TensorDType.U8; return true;
            case "BOOL": dtype = TensorDType.BOOL; return true;
            default: dtype = default; return false;
        }
    }

    /// <summary>True for a dtype string the safetensors format defines but ModalFlow does not read (F8_E4M3, U16, …).</summary>
    public static bool IsKnownUnsupported(string text) => UnsupportedBits.ContainsKey(text);

    /// <summary>Bytes per element (BOOL is one byte, as in the format and in libtorch).</summary>
    public static int ElementSize(this TensorDType dtype) => dtype switch
    {
        TensorDType.F64 or TensorDType.I64 => 8,
        TensorDType.F32 or TensorDType.I32 => 4,
        TensorDType.F16 or TensorDType.BF16 or TensorDType.I16 => 2,
        TensorDType.I8 or TensorDType.U8 or TensorDType.BOOL => 1,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, null),
    };

    public static torch.ScalarType ToScalarType(this TensorDType dtype) => dtype switch
    {
        TensorDType.F64 => torch.ScalarType.Float64,
        TensorDType.F32 => torch.ScalarType.Float32,
        TensorDType.F16 => torch.ScalarType.Float16,
        TensorDType.BF16 => torch.ScalarType.BFloat16,
        TensorDType.I64 => torch.ScalarType.Int64,
        TensorDType.I32 => torch.ScalarType.Int32,
        TensorDType.I16 => torch.ScalarType.Int16,
        TensorDType.I8 => torch.ScalarType.Int8,
        TensorDType.U8 => torch.ScalarType.Byte,
        TensorDType.BOOL => torch.ScalarType.Bool,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, null),
    };

    public static bool IsFloatingPoint(this TensorDType dtype) =>
        dtype is TensorDType.F64 or TensorDType.F32 or TensorDType.F16 or TensorDType.BF16;

    /// <summary>
    /// Whether loading a tensor stored as <paramref name="stored"/> into <paramref name="target"/> is allowed:
    /// the same type; any type into a floating-point type (float narrowing such as F32 → BF16 rounds, as asked);
    /// or an integer/BOOL into an integer type that holds all its values. Refused: floating point into an integer or
    /// BOOL (truncation), and integer narrowing (wrap-around), which would change numbers silently.
    /// </summary>
    public static bool CanConvert(TensorDType stored, torch.ScalarType target)
    {
        if (stored.ToScalarType() == target) return true;
        if (torch.is_floating_point(target)) return true;
        if (stored.IsFloatingPoint()) return false;
        return (stored, target) switch
        {
            (TensorDType.BOOL, torch.ScalarType.Byte or torch.ScalarType.Int8 or torch.ScalarType.Int16
                or torch.ScalarType.Int32 or torch.ScalarType.Int64) => true,
            (TensorDType.U8, torch.ScalarType.Int16 or torch.ScalarType.Int32 or torch.ScalarType.Int64) => true,
            (TensorDType.I8, torch.ScalarType.Int16 or torch.ScalarType.Int32 or torch.ScalarType.Int64) => true,
            (TensorDType.I16, torch.ScalarType.Int32 or torch.ScalarType.Int64) => true,
            (TensorDType.I32, torch.ScalarType.Int64) => true,
            _ => false,
        };
    }
}

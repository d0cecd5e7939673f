using TorchSharp;
using static TorchSharp.torch;

namespace ModalFlow.Inference;

/// <summary>The compute dtypes a model can be loaded in, by their CLI names (weights are converted once on load).</summary>
public static class ComputeDTypes
{
    /// <summary>f32 (parity), bf16, f16 (the paper's precision). Softmax, RMSNorm statistics and the lens stay in float32.</summary>
    public static IReadOnlyList<string> Names { get; } = ["f32", "bf16", "f16"];

    public static ScalarType Parse(string name, string field = "--dtype") => name switch
    {
        "f32" => ScalarType.Float32,
        "bf16" => ScalarType.BFloat16,
        "f16" => ScalarType.Float16,
        _ => throw new InputException(null, field, $"'{name}'; expected one of {string.Join(", ", Names)}"),
    };

    public static string Name(ScalarType dtype) => dtype switch
    {
        ScalarType.Float32 => "f32",
        ScalarType.BFloat16 => "bf16",
        ScalarType.Float16 => "f16",
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "not a compute dtype"),
    };
}

/// <summary>
/// Devices by their CLI names: cpu, cuda, cuda:N. Every tensor is created on the model's device, so the CUDA build
/// (TorchSharp-cuda-linux, README "GPU users") needs no code change; this build refuses cuda with a clear message.
/// </summary>
public static class ComputeDevices
{
    public static Device Parse(string name, string field = "--device")
    {
        var text = name.Trim().ToLowerInvariant();
        if (text == "cpu") return CPU;
        if (text != "cuda" && !text.StartsWith("cuda:", StringComparison.Ordinal))
            throw new InputException(null, field, $"'{name}'; expected cpu, cuda or cuda:N");
        int index = 0;
        if (text.Length > 4 && (!int.TryParse(text[5..], out index) || index < 0))
            throw new InputException(null, field, $"'{name}'; expected cuda:N with N a device index (0, 1, …)");
        if (!cuda.is_available())
            throw new InputException(null, field,
                $"'{name}': no CUDA device is available to this build (it uses the CPU libtorch package); build with -p:ModalFlowCuda=true on a machine with NVIDIA drivers (README, GPU users)");
        if (index >= cuda.device_count())
            throw new InputException(null, field, $"'{name}': only {cuda.device_count()} CUDA device(s) are visible");
        return new Device(DeviceType.CUDA, index);
    }
}

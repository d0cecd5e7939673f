using System.Runtime.InteropServices;
using ModalFlow.Platform;
using ModalFlow.Tests.Support;
using TorchSharp;
using Xunit;

namespace ModalFlow.Tests.Platform;

public class TorchRuntimeTests
{
    [SharedFact]
    public void Torch_Loads_And_Multiplies()
    {
        TorchRuntime.Initialize();
        using var a = torch.arange(6, dtype: torch.float32).reshape(2, 3);
        using var b = torch.mm(a, a.t());
        Assert.Equal(new float[] { 5, 14, 14, 50 }, b.data<float>().ToArray());
    }

    [DllImport("libc.so.6", EntryPoint = "getenv")]
    private static extern IntPtr NativeGetEnv(string name);

    [Fact]
    public void OpenMp_Spinning_Is_Limited_In_The_Native_Environment_Unless_The_User_Chose()
    {
        if (!OperatingSystem.IsLinux()) return;
        TorchRuntime.Initialize();
        // libgomp reads its settings from the C environment (.NET's Environment.SetEnvironmentVariable does not write it).
        string? native = Marshal.PtrToStringAnsi(NativeGetEnv("GOMP_SPINCOUNT"));
        string? users = Environment.GetEnvironmentVariable("GOMP_SPINCOUNT");
        if (users is not null) Assert.Equal(users, native);
        else if (Environment.GetEnvironmentVariable("OMP_WAIT_POLICY") is null) Assert.Equal(TorchRuntime.OpenMpSpinCount, native);
        else Assert.Null(native);
    }
}

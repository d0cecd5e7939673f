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
}

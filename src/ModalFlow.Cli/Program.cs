using ModalFlow.Platform;
using TorchSharp;
TorchRuntime.Initialize();
var a = torch.randn(512, 512);
Console.WriteLine($"torch ok {torch.mm(a, a).shape[0]} shim={TorchRuntime.MklShimLoaded}");

using ModalFlow.Checkpoints;
using ModalFlow.Platform;
using ModalFlow.Tests.Support;
using Xunit;
using static TorchSharp.torch;

namespace ModalFlow.Tests.Checkpoints;

public class SafetensorsWriterTests
{
    [SharedFact]
    public void Written_File_Reads_Back_Exactly_With_Metadata()
    {
        TorchRuntime.Initialize();
        var dir = Directory.CreateTempSubdirectory("mf-stw-");
        try
        {
            var path = Path.Combine(dir.FullName, "m.safetensors");
            using var a = randn(3, 5);
            using var b = arange(7, dtype: ScalarType.Int64);
            using var c = randn(4).to(ScalarType.BFloat16);
            using var empty = zeros(0, 3);
            SafetensorsWriter.Write(path, [("b", b), ("a.weight", a), ("c", c), ("e", empty)], new Dictionary<string, string> { ["format"] = "pt" });
            using var f = SafetensorsFile.Open(path);
            Assert.Equal("pt", f.Metadata["format"]);
            Assert.Equal(["a.weight", "b", "c", "e"], f.Names.Order());
            using var a2 = f.Load("a.weight");
            using var b2 = f.Load("b");
            using var c2 = f.Load("c");
            Assert.True(a.equal(a2).all().item<bool>());
            Assert.True(b.equal(b2).all().item<bool>());
            Assert.True(c.equal(c2).all().item<bool>());
            Assert.Equal([0L, 3], f.Info("e").Shape);
            Assert.Throws<ArgumentException>(() => SafetensorsWriter.Write(path, [("x", a), ("x", a)]));
        }
        finally { dir.Delete(true); }
    }
}

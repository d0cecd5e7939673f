using ModalFlow.Models;
using ModalFlow.Platform;
using Xunit;
using static TorchSharp.torch;

namespace ModalFlow.Tests.Models;

public sealed class KvCacheTests
{
    private static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    [Fact]
    public void Appends_In_Place_Past_Its_Spare_Room_And_A_Fork_Leaves_Its_Parent_Intact()
    {
        TorchRuntime.Initialize();
        using var scope = NewDisposeScope();
        var gen = new Generator(5);
        var k0 = normal(0, 1, [1, 2, 5, 4], generator: gen);
        var v0 = normal(0, 1, [1, 2, 5, 4], generator: gen);
        var original = k0.clone();
        using var parent = new KvCache(1);
        parent.Append(0, k0, v0);
        Assert.Equal(5, parent.Length);
        Assert.True(Same(parent.Keys[0]!, k0));

        var keys = new List<Tensor> { k0 };
        var values = new List<Tensor> { v0 };
        using (var fork = parent.Fork())
        {
            for (int step = 0; step < 150; step++)                       // more than the first spare room: the buffer regrows
            {
                var k = normal(0, 1, [1, 2, 1, 4], generator: gen);
                var v = normal(0, 1, [1, 2, 1, 4], generator: gen);
                fork.Append(0, k, v);
                keys.Add(k);
                values.Add(v);
                Assert.Equal(6 + step, fork.Length);
            }
            Assert.True(Same(fork.Keys[0]!, cat(keys, 2)));
            Assert.True(Same(fork.Values[0]!, cat(values, 2)));
            k0.add_(1);                                                  // the cache holds copies, not the caller's tensors
            Assert.False(Same(fork.Keys[0]!.narrow(2, 0, 5), k0));
        }
        Assert.Equal(5, parent.Length);                                  // the fork wrote nothing into its parent
        Assert.True(Same(parent.Keys[0]!, original));
        Assert.True(Same(parent.Values[0]!, v0));
    }
}

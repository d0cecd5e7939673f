using ModalFlow.Platform;
using Xunit;

namespace ModalFlow.Tests.Platform;

public sealed class NativeHeapTrimmerTests
{
    [Fact]
    public void Trims_Only_When_The_Process_Outgrew_Its_Size_After_The_First_Sample_Or_The_Last_Trim()
    {
        double rss = 1000;
        int trims = 0;
        var trimmer = new NativeHeapTrimmer(minGrowthMb: 100, growthFraction: 0.2, rssMb: () => rss, trim: () => { trims++; rss -= 300; });
        Assert.False(trimmer.AfterSample());                  // first: reference 1000 MB, its working set kept for the next sample
        rss = 1000;                                           // the next sample reuses it: no trim
        Assert.False(trimmer.AfterSample());
        rss = 1200;                                           // = 1000 + max(100, 20 %): still within
        Assert.False(trimmer.AfterSample());
        rss = 1201;
        Assert.True(trimmer.AfterSample());                   // grew: trims, reference 1201 MB
        rss = 1300;
        Assert.False(trimmer.AfterSample());
        Assert.Equal(1, trims);
    }

    [Fact]
    public void The_Default_Reads_This_Process()
    {
        TorchRuntime.Initialize();
        var trimmer = new NativeHeapTrimmer(minGrowthMb: 1, growthFraction: 0);
        Assert.False(trimmer.AfterSample());
        Assert.True(ProcessMemory.RssMb() > 0);
        using var grown = TorchSharp.torch.ones(64L << 20, TorchSharp.torch.ScalarType.Byte);   // 64 MB written: the process grew
        Assert.True(trimmer.AfterSample());
    }
}

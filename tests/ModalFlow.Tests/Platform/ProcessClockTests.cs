using System.Diagnostics;
using ModalFlow.Platform;
using Xunit;

namespace ModalFlow.Tests.Platform;

public sealed class ProcessClockTests
{
    [Fact]
    public void Seconds_Since_Start_Advance_With_A_Stopwatch_And_Start_After_Boot()
    {
        double a = ProcessClock.SecondsSinceStart();
        var sw = Stopwatch.StartNew();
        Thread.Sleep(300);
        double b = ProcessClock.SecondsSinceStart();
        double elapsed = sw.Elapsed.TotalSeconds;
        Assert.True(a > 0, $"{a}");
        // /proc's clock ticks are 10 ms; allow two of them either side.
        Assert.InRange(b - a, elapsed - 0.02, elapsed + 0.03);
        Assert.True(b <= Environment.TickCount64 / 1000.0 + 0.02, $"process age {b} s exceeds the time since boot {Environment.TickCount64 / 1000.0} s");
    }
}

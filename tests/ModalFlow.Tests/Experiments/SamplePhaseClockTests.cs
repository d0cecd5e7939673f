using ModalFlow.Experiments;
using Xunit;

namespace ModalFlow.Tests.Experiments;

/// <summary>The cost planner's per-sample clock, on a hand-driven time source.</summary>
public sealed class SamplePhaseClockTests
{
    [Fact]
    public void A_Phase_Shared_By_A_Group_Counts_Its_Share_In_The_Phase_And_The_Total()
    {
        double now = 100;
        var clock = new SamplePhaseClock(() => now);
        now += 2;
        clock.End(SamplePhase.Prepare);
        now += 3;
        clock.End(SamplePhase.Clean);
        now += 8;                                         // four samples' answers decoded together
        clock.End(SamplePhase.Answer, sharedBy: 4);
        now += 1;
        clock.End(SamplePhase.Measure);
        Assert.Equal(2, clock[SamplePhase.Prepare]);
        Assert.Equal(3, clock[SamplePhase.Clean]);
        Assert.Equal(2, clock[SamplePhase.Answer]);
        Assert.Equal(1, clock[SamplePhase.Measure]);
        Assert.False(clock.Reached(SamplePhase.Commit));
        Assert.Equal(2 + 3 + 2 + 1, clock.Total);        // 14 s of wall time, 6 of them the other three samples' answers
        now += 0.5;                                       // time since the last mark counts in the total
        Assert.Equal(8.5, clock.Total);
    }
}

using ModalFlow.Results;
using ModalFlow.Tests.Support;
using Xunit;

namespace ModalFlow.Tests.Results;

public class RunManifestTests
{
    private static RunManifest Manifest(string experiment) => new()
    {
        Model = "m", CheckpointFingerprint = "f", DType = "f32", Task = "ChooseAttr", DataFile = "d.csv", DataFingerprint = "g", Images = "i",
        Experiment = experiment, Window = 9, Subword = "first", Filter = "correct", Preprocessing = "pad", Engine = "fast", ShardIndex = 1, ShardCount = 1,
        CodeVersion = "v",
    };

    [SharedFact]
    public void Block_Names_Are_Stored_And_Reported_With_Their_Arrow()
    {
        var a = Manifest("2:Image->Question");
        Assert.Contains("\"2:Image->Question\"", a.ToJson());
        Assert.DoesNotContain("\\u003E", a.ToJson());
        Assert.Equal(a, RunManifest.FromJson(a.ToJson()));
        // A manifest stored by an older version (escaped) still reads and compares equal.
        Assert.Empty(RunManifest.FromJson(a.ToJson().Replace("->", "-\\u003E", StringComparison.Ordinal)).Differences(a));
        var diff = Assert.Single(a.Differences(Manifest("custom:Image->Last")));
        Assert.Equal("Experiment (stored \"2:Image->Question\", now \"custom:Image->Last\")", diff);
    }

    [SharedFact]
    public void The_Self_Check_Share_Is_Recorded_But_A_Resume_May_Change_It()
    {
        var a = Manifest("2") with { Verify = 0.01 };
        Assert.Equal(0.01, RunManifest.FromJson(a.ToJson()).Verify);
        Assert.Empty(a.Differences(a with { Verify = 0.5 }));
        Assert.Empty(a.Differences(a with { Verify = null }));   // a store from before self-checks
        Assert.Single(a.Differences(a with { Window = 1, Verify = 0 }));
    }
}

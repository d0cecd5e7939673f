using System.Text.RegularExpressions;
using ModalFlow.Tests.Support;
using Xunit;

namespace ModalFlow.Tests.Cli;

/// <summary>`modalflow trace` without --json: lines a person reads, no record dumps.</summary>
public class TraceTextTests
{
    [SharedFact]
    public void Trace_Text_Is_Readable_Lines_Without_Record_Dumps()
    {
        var c = FixtureCase.Load("tiny-llava-1.5", "ironing_rel");
        var (code, stdout, stderr) = CliTests.Run("trace", "--model", SharedData.Fixture("tiny-llava-1.5"), "--image", c.ImagePath, "--question", c.Question,
            "--block", "Image->Question", "--window", "3", "--max-new-tokens", "2");
        Assert.True(code == 0, stderr);
        Assert.DoesNotContain("SequenceLayout(", stdout);
        Assert.DoesNotContain(" { ", stdout);          // C# record ToString: "Name { A = 1, … }"
        Assert.DoesNotContain("\\u003E", stdout);
        Assert.Matches(@"layout: \d+ positions: system \[0, \d+\), image \[\d+, \d+\) \(\d+ tokens\), question \[\d+, \d+\), instruction \[\d+, \d+\), last \d+", stdout);
        Assert.Contains("Image->Question, window 3:", stdout);
        Assert.True(Regex.Matches(stdout, @"^\s+\d+\s+\d\.\d{6}\s+-?\d+\.\d\d\s*$", RegexOptions.Multiline).Count >= 2, stdout);
    }
}

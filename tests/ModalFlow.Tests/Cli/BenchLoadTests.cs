using System.Text.Json;
using ModalFlow.Tests.Support;
using Xunit;

namespace ModalFlow.Tests.Cli;

/// <summary>`bench load`: the fields it reports are consistent with the folder it timed (its timings are not asserted).</summary>
public sealed class BenchLoadTests
{
    [SharedFact]
    public void Bench_Load_Json_Counts_The_Weight_Files_And_Times_Every_Repeat()
    {
        var folder = SharedData.Fixture("tiny-llava-1.5");
        var (code, stdout, stderr) = CliTests.Run("bench", "load", "--model", folder, "--repeats", "2", "--json");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var r = doc.RootElement;
        long expected = Directory.GetFiles(folder, "*.safetensors").Concat(Directory.GetFiles(folder, "*.bin")).Sum(f => new FileInfo(f).Length);
        Assert.Equal(expected, r.GetProperty("weight_bytes").GetInt64());
        Assert.Equal(2, r.GetProperty("warm_load_s").GetArrayLength());
        Assert.Equal(2, r.GetProperty("floor_s").GetArrayLength());
        Assert.Equal(2, r.GetProperty("warm_ready_s").GetArrayLength());
        Assert.All(r.GetProperty("warm_ready_s").EnumerateArray().Zip(r.GetProperty("warm_load_s").EnumerateArray()),
            e => Assert.True(e.First.GetDouble() >= e.Second.GetDouble(), "ready before loaded"));
        Assert.All(r.GetProperty("warm_load_s").EnumerateArray(), e => Assert.True(e.GetDouble() > 0));
        double ratio = r.GetProperty("ratio").GetDouble();
        Assert.True(double.IsFinite(ratio) && ratio > 0, $"ratio {ratio}");
        Assert.Equal(r.GetProperty("best_warm_load_s").GetDouble() / r.GetProperty("best_floor_s").GetDouble(), ratio, 1e-9);
    }

    [Fact]
    public void Bench_Load_Of_A_Folder_Without_Weights_Names_The_Folder()
    {
        var dir = Directory.CreateTempSubdirectory("mf-benchload-");
        try
        {
            var (code, _, stderr) = CliTests.Run("bench", "load", "--model", dir.FullName);
            Assert.NotEqual(0, code);
            Assert.Contains(dir.FullName, stderr);
        }
        finally { dir.Delete(true); }
    }
}

using System.Security.Cryptography;
using Xunit;
using Xunit.Abstractions;

namespace ModalFlow.Tests.Support;

/// <summary>
/// tests/fixtures, the golden subset every clone carries: intact (SHA256SUMS), small, the copy tests read first, and
/// byte-identical to ../shared/fixtures where that exists.
/// </summary>
public class InRepoFixtureTests(ITestOutputHelper output)
{
    private const long MaxBytes = 25_000_000;

    private static string SumsFile => Path.Combine(SharedData.InRepoFixtures, "SHA256SUMS");

    /// <summary>SHA256SUMS: "&lt;hex&gt;  &lt;path&gt;" per file, paths relative to tests/fixtures with '/'.</summary>
    private static (string Sha, string Path)[] Listed() => File.ReadAllLines(SumsFile)
        .Where(l => l.Length > 0)
        .Select(l => (l[..64], l[66..]))
        .ToArray();

    private static string Sha256(string file)
    {
        using var stream = File.OpenRead(file);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    [Fact]
    public void Every_In_Repo_Fixture_File_Is_Listed_With_Its_Sha256_And_The_Subset_Stays_Under_25_MB()
    {
        var listed = Listed();
        var onDisk = Directory.GetFiles(SharedData.InRepoFixtures, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(SharedData.InRepoFixtures, f).Replace('\\', '/'))
            .Where(f => f is not "README.md" and not "SHA256SUMS")
            .Order(StringComparer.Ordinal)
            .ToArray();
        Assert.Equal(listed.Select(l => l.Path).Order(StringComparer.Ordinal).ToArray(), onDisk);
        long bytes = 0;
        foreach (var (sha, path) in listed)
        {
            var file = Path.Combine(SharedData.InRepoFixtures, path);
            Assert.True(sha == Sha256(file), $"tests/fixtures/{path}: sha256 {Sha256(file)}, SHA256SUMS says {sha} (line endings converted by git?)");
            bytes += new FileInfo(file).Length;
        }
        output.WriteLine($"tests/fixtures: {listed.Length} files, {bytes:N0} bytes");
        Assert.InRange(bytes, 1, MaxBytes);
    }

    [SharedFact]
    public void In_Repo_Fixtures_Are_Byte_Identical_To_Shared()
    {
        var shared = Path.Combine(SharedData.RequireRoot("fixtures"), "fixtures");
        foreach (var (sha, path) in Listed())
        {
            var original = Path.Combine(shared, path);
            Assert.True(File.Exists(original), $"tests/fixtures/{path} has no original in {shared}");
            Assert.True(sha == Sha256(original), $"tests/fixtures/{path} differs from {original}: refresh the copy (tests/fixtures/README.md)");
        }
    }

    [Fact]
    public void Fixture_Paths_Resolve_To_The_In_Repo_Copy_First_And_Missing_Material_Only_Without_Shared()
    {
        var model = SharedData.Fixture("tiny-llava-1.5", "model.safetensors");
        Assert.StartsWith(SharedData.InRepoFixtures, model);
        Assert.StartsWith(SharedData.InRepoFixtures, FixtureCase.Load("tiny-llava-1.5", "ironing_rel").PixelValuesPath);
        if (SharedData.Available)
        {
            Assert.StartsWith(SharedData.Root!, SharedData.Fixture("tiny-llava-next", "config.json"));
            Assert.Equal(FixtureCase.DocumentedIds, FixtureCase.CaseIds("tiny-llava-1.5"));
        }
        else
        {
            var e = Assert.Throws<SharedDataMissingException>(() => SharedData.Fixture("tiny-llava-next", "config.json"));
            Assert.Contains("../shared/fixtures/tiny-llava-next/config.json", e.Message);
            Assert.Throws<SharedDataMissingException>(() => SharedData.DataFile("paper-gqa"));
            Assert.Equal(FixtureCase.DocumentedIds, FixtureCase.CaseIds("tiny-llava-next"));
        }
    }
}

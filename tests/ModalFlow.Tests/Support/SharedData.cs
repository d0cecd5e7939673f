namespace ModalFlow.Tests.Support;

/// <summary>
/// The test material: the golden fixtures, data and platform notes of ../shared (beside the repository root;
/// MODALFLOW_SHARED overrides the search), and the small golden subset every clone carries in tests/fixtures (its
/// README says what it holds and where it came from). A fixture path is read from tests/fixtures when it holds it,
/// wherever the clone is, else from ../shared; when neither has it, <see cref="SharedDataMissingException"/> makes a
/// <see cref="SharedFactAttribute"/> / <see cref="SharedTheoryAttribute"/> test skip and name the file.
/// </summary>
public static class SharedData
{
    private static readonly Lazy<string> RepoRootLazy = new(FindRepoRoot);
    private static readonly Lazy<string?> RootLazy = new(FindRoot);

    /// <summary>The repository root (the folder with ModalFlow.slnx).</summary>
    public static string RepoRoot => RepoRootLazy.Value;

    /// <summary>The in-repo subset of ../shared/fixtures, same layout.</summary>
    public static string InRepoFixtures => Path.Combine(RepoRoot, "tests", "fixtures");

    /// <summary>The shared folder, or null on a clone without it (MODALFLOW_SHARED naming a missing folder is an error).</summary>
    public static string? Root => RootLazy.Value;

    /// <summary>True when ../shared (or MODALFLOW_SHARED) exists: then no test may skip for missing material.</summary>
    public static bool Available => Root is not null;

    /// <summary>The shared folder itself; throws <see cref="SharedDataMissingException"/> when there is none.</summary>
    public static string RequireRoot(string what) => Root ?? throw new SharedDataMissingException(what);

    /// <summary>A file or folder of the fixtures: tests/fixtures when it holds it, else ../shared/fixtures.</summary>
    /// <exception cref="SharedDataMissingException">Neither holds it (no ../shared).</exception>
    public static string Fixture(params string[] parts)
    {
        var inRepo = Path.Combine([InRepoFixtures, .. parts]);
        if (File.Exists(inRepo) || Directory.Exists(inRepo)) return inRepo;
        var relative = Path.Combine(["fixtures", .. parts]);
        return Path.Combine(RequireRoot(relative), relative);
    }

    /// <summary>The ../shared/fixtures copy even where tests/fixtures holds one (a test about the folder's full contents).</summary>
    /// <exception cref="SharedDataMissingException">No ../shared.</exception>
    public static string SharedFixture(params string[] parts)
    {
        var relative = Path.Combine(["fixtures", .. parts]);
        return Path.Combine(RequireRoot(relative), relative);
    }

    /// <summary>A file or folder of ../shared/data (never in the repository: the paper's CSVs, GQA images, real configs).</summary>
    /// <exception cref="SharedDataMissingException">No ../shared.</exception>
    public static string DataFile(params string[] parts)
    {
        var relative = Path.Combine(["data", .. parts]);
        return Path.Combine(RequireRoot(relative), relative);
    }

    private static string? FindRoot()
    {
        var env = Environment.GetEnvironmentVariable("MODALFLOW_SHARED");
        if (!string.IsNullOrEmpty(env))
        {
            return Directory.Exists(env) ? env : throw new DirectoryNotFoundException($"MODALFLOW_SHARED={env} does not exist");
        }
        var shared = Path.Combine(Path.GetDirectoryName(RepoRoot)!, "shared");
        return Directory.Exists(shared) ? shared : null;
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "ModalFlow.slnx"))) return dir.FullName;
        }
        throw new DirectoryNotFoundException("could not find the repository root (ModalFlow.slnx) above " + AppContext.BaseDirectory);
    }
}

namespace ModalFlow.Tests.Support;

/// <summary>Locates ../shared (fixtures, data, platform notes) beside the repository root.</summary>
public static class SharedData
{
    private static readonly Lazy<string> RootLazy = new(FindRoot);

    /// <summary>The shared folder; MODALFLOW_SHARED overrides the search.</summary>
    public static string Root => RootLazy.Value;

    public static string Fixtures => Path.Combine(Root, "fixtures");
    public static string Data => Path.Combine(Root, "data");

    public static string Fixture(params string[] parts) => Path.Combine([Fixtures, .. parts]);
    public static string DataFile(params string[] parts) => Path.Combine([Data, .. parts]);

    private static string FindRoot()
    {
        var env = Environment.GetEnvironmentVariable("MODALFLOW_SHARED");
        if (!string.IsNullOrEmpty(env))
        {
            return Directory.Exists(env) ? env : throw new DirectoryNotFoundException($"MODALFLOW_SHARED={env} does not exist");
        }
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "ModalFlow.slnx")))
            {
                var shared = Path.Combine(dir.Parent!.FullName, "shared");
                if (Directory.Exists(shared)) return shared;
                throw new DirectoryNotFoundException($"expected the shared test material at {shared} (beside the repository)");
            }
        }
        throw new DirectoryNotFoundException("could not find the repository root (ModalFlow.slnx) above " + AppContext.BaseDirectory);
    }
}

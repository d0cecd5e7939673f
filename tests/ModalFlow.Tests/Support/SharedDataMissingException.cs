namespace ModalFlow.Tests.Support;

/// <summary>
/// A test needs material that only ../shared holds, and this clone has no ../shared. Tests marked
/// <see cref="SharedFactAttribute"/> / <see cref="SharedTheoryAttribute"/> report it as skipped (with this message);
/// any other test fails with it.
/// </summary>
public sealed class SharedDataMissingException(string relativePath)
    : Exception($"needs ../shared/{relativePath.Replace('\\', '/')} (not in tests/fixtures; put the shared test material "
        + "beside the repository as ../shared, or set MODALFLOW_SHARED)")
{
    /// <summary>The missing path relative to the shared folder (e.g. fixtures/tiny-llava-next/config.json).</summary>
    public string RelativePath { get; } = relativePath;
}

using System.Security.Cryptography;

namespace ModalFlow.Tests.Vision;

/// <summary>The small synthetic test images committed beside these tests (see TestImages/README.md).</summary>
internal static class VisionTestFiles
{
    private static readonly Lazy<string> DirLazy = new(FindDir);

    public static string TestImage(string name) => Path.Combine(DirLazy.Value, name);

    public static string Sha256(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    /// <summary>A fresh temporary folder, deleted on dispose.</summary>
    public static TempDir NewTempDir() => new();

    public sealed class TempDir : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("modalflow-vision-").FullName;
        public string File(string name) => System.IO.Path.Combine(Path, name);
        public void Dispose()
        {
            try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
        }
    }

    private static string FindDir()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
        {
            if (System.IO.File.Exists(Path.Combine(dir.FullName, "ModalFlow.slnx")))
            {
                var images = Path.Combine(dir.FullName, "tests", "ModalFlow.Tests", "Vision", "TestImages");
                return Directory.Exists(images) ? images : throw new DirectoryNotFoundException($"expected the vision test images at {images}");
            }
        }
        throw new DirectoryNotFoundException("could not find the repository root (ModalFlow.slnx) above " + AppContext.BaseDirectory);
    }
}

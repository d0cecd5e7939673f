using ModalFlow.Tests.Support;

namespace ModalFlow.Tests.Families;

/// <summary>
/// The Qwen2-family fixtures as a hub folder looks when downloaded: the fixture's files plus the Qwen2 tokenizer
/// (vocab.json, merges.txt), which the fixtures keep once in tokenizers/qwen2 instead of in every model folder.
/// </summary>
public static class FamilyFolders
{
    public const string Qwen2Vl = "tiny-qwen2-vl";
    public const string Onevision = "tiny-llava-onevision";

    private static readonly Lazy<string> Root = new(() => Directory.CreateTempSubdirectory("mf-family-folders-").FullName);

    /// <summary>A folder with symbolic links to the fixture model's files and the real Qwen2 tokenizer files.</summary>
    public static string AsDownloaded(string model)
    {
        var dir = Path.Combine(Root.Value, model);
        lock (Root)
        {
            if (Directory.Exists(dir)) return dir;
            var staging = dir + ".staging";
            Directory.CreateDirectory(staging);
            foreach (var file in Directory.GetFiles(SharedData.Fixture(model)))
                File.CreateSymbolicLink(Path.Combine(staging, Path.GetFileName(file)), file);
            foreach (var name in new[] { "vocab.json", "merges.txt" })
                File.CreateSymbolicLink(Path.Combine(staging, name), SharedData.Fixture("tokenizers", "qwen2", name));
            Directory.Move(staging, dir);
            return dir;
        }
    }
}

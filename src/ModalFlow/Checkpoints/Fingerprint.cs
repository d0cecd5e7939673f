using System.Security.Cryptography;

namespace ModalFlow.Checkpoints;

/// <summary>
/// Cheap, stable identities of inputs for run manifests: a checkpoint is identified by its config, tokenizer and
/// every weight file's size and safetensors header (names, dtypes, shapes, offsets), or .bin file names and sizes —
/// not by hashing 14 GB.
/// </summary>
public static class Fingerprint
{
    public static string OfFile(string path)
    {
        using var fs = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(fs));
    }

    public static string OfCheckpoint(string dir)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var name in new[] { "config.json", "tokenizer.model", "added_tokens.json", PreprocessorConfig.FileName, SafetensorsCheckpoint.IndexFileName, TorchBinCheckpoint.IndexFileName })
        {
            var p = Path.Combine(dir, name);
            if (!File.Exists(p)) continue;
            sha.AppendData(System.Text.Encoding.UTF8.GetBytes(name));
            sha.AppendData(File.ReadAllBytes(p));
        }
        foreach (var file in Directory.GetFiles(dir, "*.safetensors").Order(StringComparer.Ordinal))
        {
            using var fs = File.OpenRead(file);
            var lenBytes = new byte[8];
            fs.ReadExactly(lenBytes);
            long headerLength = Math.Min(BitConverter.ToInt64(lenBytes), 100_000_000);
            var header = new byte[Math.Max(0, Math.Min(headerLength, fs.Length - 8))];
            fs.ReadExactly(header);
            sha.AppendData(System.Text.Encoding.UTF8.GetBytes(Path.GetFileName(file) + ":" + fs.Length));
            sha.AppendData(header);
        }
        // PyTorch .bin shards (original LLaVA): name and size (their records are inside a zip; the index is hashed above).
        // Only when no safetensors are there, which the loader would prefer (keeps llava-hf fingerprints unchanged).
        if (Directory.GetFiles(dir, "*.safetensors").Length == 0)
            foreach (var file in Directory.GetFiles(dir, "*.bin").Order(StringComparer.Ordinal))
                sha.AppendData(System.Text.Encoding.UTF8.GetBytes(Path.GetFileName(file) + ":" + new FileInfo(file).Length));
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }
}

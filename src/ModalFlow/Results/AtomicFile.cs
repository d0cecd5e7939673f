using System.Text;

namespace ModalFlow.Results;

/// <summary>
/// Writes a file as a whole or not at all: the content goes to a temporary file beside the target (same folder, so
/// the same file system), is flushed to disk, and is then renamed over the target. A crash or an exception leaves
/// either the old file or the new one, never half of one; the temporary file is removed on failure.
/// </summary>
internal static class AtomicFile
{
    /// <summary>UTF-8 without a byte-order mark, the encoding of every text file we write.</summary>
    public static readonly Encoding Utf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false);

    public static void Write(string path, Action<Stream> write)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full) ?? throw new ArgumentException($"'{path}' has no folder", nameof(path));
        Directory.CreateDirectory(dir);
        var tmp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                write(fs);
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        catch
        {
            TryDelete(tmp);
            throw;
        }
    }

    /// <summary>Text with "\n" line endings, UTF-8 without BOM.</summary>
    public static void WriteText(string path, Action<TextWriter> write) =>
        Write(path, stream =>
        {
            using var w = new StreamWriter(stream, Utf8, bufferSize: 1 << 16, leaveOpen: true) { NewLine = "\n" };
            write(w);
            w.Flush();
        });

    public static void WriteAllText(string path, string text) => WriteText(path, w => w.Write(text));

    public static void WriteAllBytes(string path, byte[] bytes) => Write(path, s => s.Write(bytes));

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
            // the original exception matters more; a stray .tmp file is harmless
        }
        catch (UnauthorizedAccessException)
        {
            // same
        }
    }
}

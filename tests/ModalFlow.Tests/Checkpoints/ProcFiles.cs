namespace ModalFlow.Tests.Checkpoints;

/// <summary>Linux /proc views of this process: open file descriptors, mappings and resident memory.</summary>
internal static class ProcFiles
{
    /// <summary>True when <paramref name="path"/> is among this process's open descriptors or mappings.</summary>
    public static bool Mentions(string path)
    {
        path = Path.GetFullPath(path);
        foreach (var fd in Directory.EnumerateFileSystemEntries("/proc/self/fd"))
        {
            string? target;
            try { target = new FileInfo(fd).LinkTarget; }
            catch (IOException) { continue; }   // the descriptor closed while we looked
            catch (UnauthorizedAccessException) { continue; }
            if (target != null && (target == path || target == path + " (deleted)")) return true;
        }
        return File.ReadLines("/proc/self/maps").Any(l => l.EndsWith(" " + path, StringComparison.Ordinal) ||
                                                          l.EndsWith(" " + path + " (deleted)", StringComparison.Ordinal));
    }

    /// <summary>Resident memory from /proc/self/status, in bytes: total, anonymous, file-backed.</summary>
    public readonly record struct Rss(long Total, long Anon, long File)
    {
        public static Rss Now()
        {
            long total = 0, anon = 0, file = 0;
            foreach (var line in System.IO.File.ReadLines("/proc/self/status"))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal)) total = Kb(line);
                else if (line.StartsWith("RssAnon:", StringComparison.Ordinal)) anon = Kb(line);
                else if (line.StartsWith("RssFile:", StringComparison.Ordinal)) file = Kb(line);
            }
            return new Rss(total, anon, file);
        }

        public static Rss operator -(Rss a, Rss b) => new(a.Total - b.Total, a.Anon - b.Anon, a.File - b.File);

        public override string ToString() => $"VmRSS {Mb(Total)} RssAnon {Mb(Anon)} RssFile {Mb(File)}";

        private static string Mb(long bytes) => $"{bytes / 1048576.0,8:F1} MiB";

        private static long Kb(string line) =>
            long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
    }
}

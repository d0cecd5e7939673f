using ModalFlow.Results;

namespace ModalFlow.Cli;

/// <summary>
/// Puts a partial merge's notice (<see cref="PartialMerge.Notice"/>) under report.md's title, once: if the report
/// already has it (ReportWriter may write it itself), the file is left as it is.
/// </summary>
public static class PartialNotice
{
    public static void Ensure(string reportPath, PartialMerge partial)
    {
        var text = File.ReadAllText(reportPath);
        if (text.Contains(partial.Notice, StringComparison.Ordinal)) return;
        int title = text.StartsWith('#') ? text.IndexOf("\n\n", StringComparison.Ordinal) : -1;
        var updated = title < 0 ? partial.Notice + "\n\n" + text : text[..(title + 2)] + partial.Notice + "\n\n" + text[(title + 2)..];
        var tmp = reportPath + $".{Environment.ProcessId}.tmp";
        File.WriteAllText(tmp, updated);
        File.Move(tmp, reportPath, overwrite: true);
    }
}

using ModalFlow.Results;
using ModalFlow.Results.Html;

namespace ModalFlow.Cli;

/// <summary>Writes a run folder's report.html after its exports and figures (report --html, run, demo).</summary>
public static class HtmlReportStep
{
    /// <summary>report.html in <paramref name="runDir"/> from its store, with the figures the results step just drew.</summary>
    public static HtmlReportOutput Write(CliContext ctx, string runDir, ResultsOutput output, ResultsOptions options)
    {
        var source = HtmlRunSource.Read(runDir);
        var written = HtmlReport.Write(Path.Combine(runDir, HtmlReport.FileName), [source], new HtmlReportOptions
        {
            Ci = options.Ci,
            Figures = output.Figures,
        });
        Print(ctx, written);
        return written;
    }

    /// <summary>One line on stderr (size, samples, pictures), then why any picture is missing.</summary>
    public static void Print(CliContext ctx, HtmlReportOutput written)
    {
        ctx.Err.WriteLine($"report: {written.Path} ({written.Bytes / 1024.0:F0} KB, {written.Samples} samples, {written.DetailedSamples} with the picture the model saw)");
        foreach (var note in written.Notes) ctx.Err.WriteLine("  note: " + note);
    }
}

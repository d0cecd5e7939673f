using System.Globalization;
using System.Reflection;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace ModalFlow.Results.Html;

/// <summary>
/// One self-contained <c>report.html</c> for one or more run stores: no network, scripts, styles, figures, thumbnails
/// and data inline, opens from a file:// URL. Overview (settings, counts, exclusions, checks, figures), one section
/// per task (mean curves with 95% bands and, on demand, every sample's curve), a sortable, filterable table of
/// samples, and a page per sample (the picture the model saw with its token grid and patch sets, the prompt's tokens
/// by position set, the clean answer and p1, its knockout curves and lens). The page is hand-written vanilla JS and
/// inline SVG (Page/report.js, report.css, report.html, embedded in this assembly).
/// </summary>
public static class HtmlReport
{
    public const string FileName = "report.html";

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        // The default encoder escapes <, >, & and non-ASCII: the JSON can sit inside a <script> element as it is.
        Encoder = JavaScriptEncoder.Default,
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>Writes <paramref name="path"/> (atomically) for <paramref name="runs"/>.</summary>
    public static HtmlReportOutput Write(string path, IReadOnlyList<HtmlRunSource> runs, HtmlReportOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(runs);
        options ??= HtmlReportOptions.Default;
        var data = HtmlReportData.Build(runs, options);
        var html = Render(data);
        var bytes = Encoding.UTF8.GetBytes(html);
        AtomicFile.WriteAllBytes(path, bytes);
        return new HtmlReportOutput(Path.GetFullPath(path), bytes.LongLength, data.Samples.Count, data.Samples.Count(s => s.View is not null), data.Notes);
    }

    /// <summary>The page: the template with its style, script and data put in place.</summary>
    internal static string Render(PageData data)
    {
        var template = Resource("report.html");
        var json = JsonSerializer.Serialize(data, Json);
        var sb = new StringBuilder(template.Length + json.Length + 65536);
        foreach (var part in Parts(template))
        {
            sb.Append(part switch
            {
                "{{TITLE}}" => WebUtility(data.Title),
                "{{CSS}}" => Resource("report.css"),
                "{{JS}}" => Resource("report.js"),
                "{{DATA}}" => json,
                _ => part,
            });
        }
        return sb.ToString();
    }

    private static IEnumerable<string> Parts(string template)
    {
        int at = 0;
        while (true)
        {
            int open = template.IndexOf("{{", at, StringComparison.Ordinal);
            if (open < 0) { yield return template[at..]; yield break; }
            int close = template.IndexOf("}}", open, StringComparison.Ordinal) + 2;
            yield return template[at..open];
            yield return template[open..close];
            at = close;
        }
    }

    private static string WebUtility(string text) => System.Net.WebUtility.HtmlEncode(text);

    internal static string Resource(string name)
    {
        var assembly = typeof(HtmlReport).Assembly;
        using var stream = assembly.GetManifestResourceStream("ModalFlow.Results.Html.Page." + name)
            ?? throw new InvalidOperationException($"embedded page resource {name} is missing from {assembly.GetName().Name}");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd();
    }

    /// <summary>A number rounded to 5 significant digits (the page shows 3-4; the file stays small).</summary>
    internal static double Round(double v) => double.IsFinite(v) && v != 0
        ? Math.Round(v, Math.Clamp(4 - (int)Math.Floor(Math.Log10(Math.Abs(v))), 0, 15))
        : v;

    internal static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    internal static Assembly Assembly => typeof(HtmlReport).Assembly;
}

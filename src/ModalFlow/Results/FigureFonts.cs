using System.Collections.Concurrent;
using SkiaSharp;

namespace ModalFlow.Results;

/// <summary>The font family the figures use and where it came from.</summary>
/// <param name="Family">The family name given to ScottPlot (and written into SVG text elements).</param>
/// <param name="Source">"system" (found by SkiaSharp's font manager), the path of a font file we registered, or
/// "none" when no font could be found at all (figures are then drawn without readable text).</param>
public sealed record FigureFont(string Family, string Source)
{
    public bool HasText => Source != "none";
}

/// <summary>
/// Finds a font for the figures, headless and without fontconfig. SkiaSharp's NoDependencies build (the one this
/// project ships) has no fontconfig: its font manager scans the standard font folders (/usr/share/fonts …) itself.
/// Order: (1) a font file the caller names (<see cref="FigureOptions.FontFile"/>); (2) "DejaVu Sans" — matplotlib's
/// default, so the figures look like the paper's — or another common sans family the font manager knows;
/// (3) any family the font manager knows; (4) a .ttf/.otf found by scanning the usual font folders ourselves and
/// registered with ScottPlot by file; (5) nothing: <see cref="FigureFont.HasText"/> is false and the report says so
/// (install fonts-dejavu-core, or pass a font file).
/// </summary>
public static class FigureFonts
{
    private static readonly string[] PreferredFamilies = ["DejaVu Sans", "Liberation Sans", "Arial", "Helvetica", "Noto Sans", "FreeSans", "Open Sans"];

    private static readonly string[] FontFolders =
    [
        "/usr/share/fonts", "/usr/local/share/fonts", "/usr/share/fonts/truetype",
        Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".fonts"),
        Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".local", "share", "fonts"),
        "/System/Library/Fonts", "/Library/Fonts", Environment.GetFolderPath(Environment.SpecialFolder.Fonts),
    ];

    private static readonly ConcurrentDictionary<string, FigureFont> Cache = new(StringComparer.Ordinal);

    /// <summary>Resolves (once per argument) the font the figures will use.</summary>
    public static FigureFont Resolve(string? fontFile = null) => Cache.GetOrAdd(fontFile ?? "", f => ResolveUncached(f.Length == 0 ? null : f));

    private static FigureFont ResolveUncached(string? fontFile)
    {
        if (fontFile != null)
        {
            if (!File.Exists(fontFile)) throw new InputException(fontFile, "font", "font file not found; expected a .ttf or .otf file");
            return RegisterFile(fontFile) ?? throw new InputException(fontFile, "font", "SkiaSharp cannot load this font file; expected a .ttf or .otf file");
        }
        var known = SKFontManager.Default.FontFamilies.ToHashSet(StringComparer.OrdinalIgnoreCase);
        foreach (var family in PreferredFamilies)
            if (known.Contains(family)) return new FigureFont(known.First(k => string.Equals(k, family, StringComparison.OrdinalIgnoreCase)), "system");
        if (known.Count > 0) return new FigureFont(known.Order(StringComparer.Ordinal).First(), "system");
        foreach (var file in CandidateFiles())
            if (RegisterFile(file) is { } font) return font;
        return new FigureFont(ScottPlot.Fonts.Default, "none");
    }

    private static IEnumerable<string> CandidateFiles()
    {
        var files = new List<string>();
        foreach (var dir in FontFolders.Where(d => d.Length > 0 && Directory.Exists(d)).Distinct())
        {
            try
            {
                files.AddRange(Directory.EnumerateFiles(dir, "*.*", SearchOption.AllDirectories)
                    .Where(f => f.EndsWith(".ttf", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".otf", StringComparison.OrdinalIgnoreCase)));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // an unreadable folder is just not a candidate
            }
        }
        // Regular sans faces first (DejaVuSans.ttf, LiberationSans-Regular.ttf), then anything, each ordinally.
        static int Rank(string f)
        {
            var n = Path.GetFileNameWithoutExtension(f);
            bool styled = n.Contains("Bold", StringComparison.OrdinalIgnoreCase) || n.Contains("Italic", StringComparison.OrdinalIgnoreCase)
                || n.Contains("Oblique", StringComparison.OrdinalIgnoreCase) || n.Contains("Mono", StringComparison.OrdinalIgnoreCase);
            bool sans = n.Contains("Sans", StringComparison.OrdinalIgnoreCase) || n.Contains("Arial", StringComparison.OrdinalIgnoreCase);
            return (styled ? 2 : 0) + (sans ? 0 : 1);
        }
        return files.Distinct().OrderBy(Rank).ThenBy(f => f, StringComparer.Ordinal);
    }

    private static FigureFont? RegisterFile(string path)
    {
        using var typeface = SKTypeface.FromFile(path);
        if (typeface == null || typeface.GlyphCount == 0) return null;
        var family = typeface.FamilyName;
        ScottPlot.Fonts.AddFontFile(family, path, bold: false, italic: false);
        // A bold face beside it ("DejaVuSans-Bold.ttf") for titles, else the regular one stands in.
        var dir = Path.GetDirectoryName(path) ?? "";
        var stem = Path.GetFileNameWithoutExtension(path).Replace("-Regular", "", StringComparison.OrdinalIgnoreCase);
        var bold = new[] { "-Bold", "Bold", "-bold", "bd" }.Select(s => Path.Combine(dir, stem + s + Path.GetExtension(path))).FirstOrDefault(File.Exists);
        ScottPlot.Fonts.AddFontFile(family, bold ?? path, bold: true, italic: false);
        return new FigureFont(family, path);
    }
}

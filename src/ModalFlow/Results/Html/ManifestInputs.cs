using System.Globalization;
using System.Text.RegularExpressions;
using ModalFlow.Data;
using ModalFlow.Inference;
using ModalFlow.Vision;

namespace ModalFlow.Results.Html;

/// <summary>
/// The inputs a run's manifest names (model folder, data file, images), reopened at report time to recompute what the
/// store does not hold: the picture the model saw, its token grid, the prompt's tokens and the position sets. Only small
/// files are read (no weights). Folders and data files are read once per report.
/// </summary>
internal sealed partial class ManifestInputs
{
    private readonly Dictionary<string, (ModelFolder? Folder, string? Problem)> _folders = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (TaskReadResult? Data, string? Problem)> _data = new(StringComparer.Ordinal);

    /// <summary>The image mode a recorded preprocessing name stands for (pad / crop; null: the family decides).</summary>
    public static ImageMode? ImageModeOf(string preprocessing) => preprocessing switch
    {
        "pad" => ImageMode.Pad,
        "crop" => ImageMode.Crop,
        _ => null,
    };

    /// <summary>The model folder as the run read it: its anyres arithmetic and smart_resize bounds come back from the manifest's preprocessing name.</summary>
    public (ModelFolder? Folder, string? Problem) Folder(RunManifest m)
    {
        var key = m.Model + "\u0001" + m.Preprocessing;
        if (_folders.TryGetValue(key, out var known)) return known;
        (ModelFolder?, string?) result;
        try
        {
            var options = new LoadOptions
            {
                Anyres = m.Preprocessing switch
                {
                    "anyres/transformers" => AnyresArithmetic.Transformers,
                    "anyres/llava-next" => AnyresArithmetic.LlavaNext,
                    _ => null,
                },
            };
            if (SmartResize().Match(m.Preprocessing) is { Success: true } s)
                options = options with { MinPixels = int.Parse(s.Groups[1].Value, CultureInfo.InvariantCulture), MaxPixels = int.Parse(s.Groups[2].Value, CultureInfo.InvariantCulture) };
            var folder = ModelFolder.Read(m.Model, options);
            var now = folder.Preprocessing(ImageModeOf(m.Preprocessing));
            result = now == m.Preprocessing ? (folder, null)
                : (null, $"{m.Model}: the folder now preprocesses as '{now}', the run recorded '{m.Preprocessing}'");
        }
        catch (Exception e) when (e is InputException or IOException or UnauthorizedAccessException)
        {
            result = (null, $"model folder {m.Model} cannot be read now ({e.Message}); a run with an explicit --tokenizer or --vision-tower is shown without per-sample pictures and prompts");
        }
        _folders[key] = result;
        return result;
    }

    /// <summary>The task file the run read.</summary>
    public (TaskReadResult? Data, string? Problem) Data(RunManifest m)
    {
        if (_data.TryGetValue(m.DataFile, out var known)) return known;
        (TaskReadResult?, string?) result;
        try
        {
            var data = GqaTaskReader.ReadFile(m.DataFile);
            result = Checkpoints.Fingerprint.OfFile(m.DataFile) == m.DataFingerprint ? (data, null)
                : (null, $"data file {m.DataFile} changed since the run (fingerprint differs)");
        }
        catch (Exception e) when (e is InputException or IOException or UnauthorizedAccessException)
        {
            result = (null, $"data file {m.DataFile} cannot be read now ({e.Message})");
        }
        _data[m.DataFile] = result;
        return result;
    }

    /// <summary>The image file of a row, as the runner looks for it (<c>img_id.jpg</c>, else <c>img_id.png</c>).</summary>
    public static string ImagePath(RunManifest m, GqaTaskRow row)
    {
        var path = Path.Combine(m.Images, row.ImageFileName);
        var png = Path.Combine(m.Images, row.ImgId + ".png");
        return !File.Exists(path) && File.Exists(png) ? png : path;
    }

    [GeneratedRegex(@"^smart_resize\[(\d+),(\d+)\]$")]
    private static partial Regex SmartResize();
}

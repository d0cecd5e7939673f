using System.Text;
using ModalFlow.Data;
using ModalFlow.Inference;
using ModalFlow.Text;
using ModalFlow.Vision;

namespace ModalFlow.Results.Html;

/// <summary>
/// Recomputes, per sample, what the store does not hold: the crop(s) the model saw (<see cref="ModelFolder.View"/>) as
/// thumbnails, each image token's pixel rectangle (shared between samples with the same geometry), Experiment 3's
/// related and random patch sets (the run's own mapper and seed 0, as the runner resolves them) and the prompt's tokens
/// with their position set (the layout the run built).
/// </summary>
internal sealed class SampleViews(HtmlReportOptions options)
{
    private readonly ManifestInputs _inputs = new();
    private readonly Dictionary<string, int> _geometryIndex = new(StringComparer.Ordinal);

    public List<IReadOnlyList<int>> Geometries { get; } = [];

    /// <summary>Problems met once per input (a model folder that cannot be read), for the page's notes.</summary>
    public SortedSet<string> Notes { get; } = new(StringComparer.Ordinal);

    /// <summary>Fills the view of <paramref name="sample"/> from the run <paramref name="m"/>, or says why it cannot.</summary>
    public void Fill(PageSample sample, RunManifest m)
    {
        var (folder, folderProblem) = _inputs.Folder(m);
        if (folder is null) { Fail(sample, folderProblem!); return; }
        var (data, dataProblem) = _inputs.Data(m);
        if (data is null) { Fail(sample, dataProblem!); return; }
        var row = data.Find(sample.Qid);
        if (row is null) { sample.ViewProblem = $"question id {sample.Qid} is not in {m.DataFile}"; return; }
        if (sample.Question.Length == 0) sample.Question = row.Question;
        if (sample.Answer.Length == 0) sample.Answer = row.Answer;
        if (sample.Image.Length == 0) sample.Image = row.ImgId;
        var imagePath = ManifestInputs.ImagePath(m, row);
        var mode = ManifestInputs.ImageModeOf(m.Preprocessing);
        try
        {
            var image = ImageDecoder.Decode(imagePath);
            var view = folder.View(image, mode);
            var (_, layout) = folder.BuildLayout(row.Question, image.Width, image.Height, mode, data.File);
            if (layout.ImageTokenCount != view.Tokens.Count)
                throw new InvalidOperationException($"the layout has {layout.ImageTokenCount} image tokens, the view {view.Tokens.Count}");
            var crops = view.Crops.Select(c => new PageCrop(c.Name, c.Image.Width, c.Image.Height,
                Thumbnail.JpegDataUri(c.Image, options.ThumbnailMaxSide, options.ThumbnailQuality))).ToList();

            IReadOnlyList<int>? related = null, random = null;
            string? patchProblem = null;
            try
            {
                var sets = folder.PatchMapper(mode).Map(row);
                if (sets.ImageTokenCount != view.Tokens.Count)
                    patchProblem = $"the patch sets are for {sets.ImageTokenCount} image tokens (image_w x image_h = {row.ImageWidth}x{row.ImageHeight} in the CSV), the image has {view.Tokens.Count}";
                else
                {
                    related = sets.Related;
                    random = sets.RandomControl(row.QuestionId);
                }
            }
            catch (InputException e) { patchProblem = e.Message; }

            var (promptText, promptSets) = Tokens(folder, row, layout);
            sample.View = new PageView(crops, GeometryOf(view), view.Tokens.Count, layout.Image.Start, layout.SeqLen, m.Preprocessing,
                related, random, patchProblem, promptText, promptSets, image.Width, image.Height);
        }
        catch (InputException e) { sample.ViewProblem = e.Message; }
    }

    private static void Fail(PageSample sample, string problem) => sample.ViewProblem = problem;

    /// <summary>The token rectangles as a flat list (crop, x, y, w, h per token; crop −1 for none), shared by identical geometries.</summary>
    private int GeometryOf(ModelView view)
    {
        var flat = new List<int>(view.Tokens.Count * 5);
        foreach (var t in view.Tokens)
        {
            if (t is { } r) flat.AddRange([r.Crop, r.Rect.X, r.Rect.Y, r.Rect.Width, r.Rect.Height]);
            else flat.AddRange([-1, 0, 0, 0, 0]);
        }
        var key = string.Join(',', flat);
        if (_geometryIndex.TryGetValue(key, out int index)) return index;
        Geometries.Add(flat);
        return _geometryIndex[key] = Geometries.Count - 1;
    }

    /// <summary>The prompt's tokens in order with their position set; the image block is one entry.</summary>
    private static (List<string> Text, string Sets) Tokens(ModelFolder folder, GqaTaskRow row, SequenceLayout layout)
    {
        var resolver = new TaskPositionResolver();
        TokenSpan? trueOption = null, falseOption = null;
        if (row.HasOptions)
        {
            try { trueOption = resolver.TrueOptionSpan(row, layout); } catch (InputException) { }
            try { falseOption = resolver.FalseOptionSpan(row, layout); } catch (InputException) { }
        }
        var text = new List<string>(layout.PromptIds.Length);
        var sets = new StringBuilder(layout.PromptIds.Length);
        for (int i = 0; i < layout.PromptIds.Length; i++)
        {
            if (i == layout.PlaceholderIndex)
            {
                text.Add($"image × {layout.ImageTokenCount}");
                sets.Append(PromptSet.Image);
                continue;
            }
            int pos = i < layout.PlaceholderIndex ? i : i - 1 + layout.ImageTokenCount;
            sets.Append(
                pos == layout.Last ? PromptSet.Last
                : trueOption is { } t && t.Contains(pos) ? PromptSet.TrueOption
                : falseOption is { } f && f.Contains(pos) ? PromptSet.FalseOption
                : layout.Question.Contains(pos) ? PromptSet.Question
                : layout.Instruction.Contains(pos) ? PromptSet.Instruction
                : layout.System.Contains(pos) ? PromptSet.System
                : PromptSet.Template);
            text.Add(Text(folder.Tokenizer, layout.PromptIds[i]));
        }
        return (text, sets.ToString());
    }

    /// <summary>What a token stands for in the prompt text (special tokens as their own string).</summary>
    private static string Text(ITextTokenizer tokenizer, int id)
    {
        if (!tokenizer.IsKnownId(id)) return $"<{id}>";
        var bytes = tokenizer.TokenTextBytes(id);
        return Encoding.UTF8.GetString(bytes);
    }
}

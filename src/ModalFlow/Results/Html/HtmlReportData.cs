using System.Globalization;

namespace ModalFlow.Results.Html;

/// <summary>Turns run stores into the page's data (<see cref="PageData"/>): settings, counts, curves, samples, views.</summary>
internal static class HtmlReportData
{
    /// <summary>Manifest fields shown as settings, in this order, with their label.</summary>
    private static readonly (string Label, Func<RunManifest, string> Value)[] SettingFields =
    [
        ("model", m => m.Model),
        ("family", m => m.Family),
        ("preprocessing", m => m.Preprocessing),
        ("dtype", m => m.DType),
        ("device", m => m.Device),
        ("experiment", m => m.Experiment),
        ("task", m => m.Task),
        ("window", m => m.Window.ToString(CultureInfo.InvariantCulture)),
        ("sub-word", m => m.Subword),
        ("filter", m => m.Filter),
        ("empty sets", m => m.EmptySets),
        ("engine", m => m.Engine),
        ("max new tokens", m => m.MaxNewTokens.ToString(CultureInfo.InvariantCulture)),
        ("preset", m => m.Preset.Length == 0 ? "none" : m.Preset),
        ("limit", m => m.Limit?.ToString(CultureInfo.InvariantCulture) ?? "none"),
        ("shard", m => $"{m.ShardIndex}/{m.ShardCount}"),
        ("data file", m => m.DataFile),
        ("images", m => m.Images),
        ("checkpoint", m => m.CheckpointFingerprint),
        ("tokenizer", m => m.Tokenizer.Length == 0 ? "the folder's own" : m.Tokenizer),
        ("code version", m => m.CodeVersion),
    ];

    public static PageData Build(IReadOnlyList<HtmlRunSource> runs, HtmlReportOptions options)
    {
        var knockout = runs.SelectMany(r => r.Results.Knockout).ToList();
        var lensRows = runs.SelectMany(r => r.Results.Lens).ToList();
        var aggregates = Aggregator.Aggregate(knockout, ci: options.Ci);
        var lensAggregates = Aggregator.AggregateLens(lensRows, ci: options.Ci);
        var notes = new List<string>();

        // Settings: the ones every run shares once, the ones that differ per run.
        var manifests = runs.Select(r => r.Manifest).ToList();
        var known = manifests.OfType<RunManifest>().ToList();
        var settings = new List<KeyValuePair<string, string>>();
        var differing = new List<int>();
        for (int f = 0; f < SettingFields.Length; f++)
        {
            var values = known.Select(SettingFields[f].Value).Distinct(StringComparer.Ordinal).ToList();
            if (values.Count == 1) settings.Add(new(SettingFields[f].Label, values[0]));
            else if (values.Count > 1) differing.Add(f);
        }
        foreach (var partial in runs.Select(r => r.Results.Partial).OfType<PartialMerge>())
            notes.Add($"Partial results: {partial.Merged.Count} of {partial.ShardCount} shards merged; missing {string.Join(", ", partial.Missing)}. Every number covers only the merged shards.");
        if (known.Count < runs.Count) notes.Add($"{runs.Count - known.Count} run store(s) have no manifest; their settings are unknown");
        var runRows = runs.Select(r =>
        {
            int used = r.Results.Knockout.Select(k => (k.Task, k.QuestionId)).Concat(r.Results.Lens.Select(l => (l.Task, l.QuestionId))).Distinct().Count();
            return new RunRow(r.Directory, differing.Select(f => r.Manifest is { } m ? SettingFields[f].Value(m) : "?").ToList(), used, r.Results.Excluded.Count);
        }).ToList();

        var experiments = Experiments(aggregates, lensAggregates, knockout);
        var styles = new Dictionary<string, PageStyle>(StringComparer.Ordinal);
        foreach (var block in knockout.Select(k => k.BlockDesc).Distinct())
        {
            var s = ResultNames.ConditionStyle(block);
            styles[block] = new PageStyle(ResultNames.ConditionLabel(block), s.Color, DashOf(s));
        }
        foreach (var kind in lensRows.Select(l => l.TokenKind).Distinct())
        {
            var s = ResultNames.TokenKindStyle(kind);
            styles[kind] = new PageStyle(ResultNames.TokenKindLabel(kind), s.Color, DashOf(s));
        }

        var samples = Samples(runs);
        var views = new SampleViews(options);
        int detailed = 0;
        foreach (var (sample, manifest) in samples)
        {
            if (manifest is null) { sample.ViewProblem = "the run store has no manifest"; continue; }
            if (detailed >= options.MaxDetailedSamples) { sample.ViewProblem = $"only the first {options.MaxDetailedSamples} samples carry pictures (HtmlReportOptions.MaxDetailedSamples)"; continue; }
            views.Fill(sample, manifest);
            detailed++;
        }
        notes.AddRange(views.Notes);
        var distinctProblems = samples.Select(s => s.Sample.ViewProblem).OfType<string>().GroupBy(p => p, StringComparer.Ordinal).ToList();
        foreach (var g in distinctProblems.Take(5)) notes.Add($"{g.Count()} sample(s) without picture: {g.Key}");

        var tasks = samples.Select(s => s.Sample.Task).Distinct().Order(Comparer<string>.Create(ResultNames.CompareTasks)).ToList();
        var checks = options.Checks.Concat(runs.SelectMany(r => r.Checks)).ToList();
        var figures = Figures(options, aggregates);
        var model = known.Select(m => ModelName(m.Model)).Distinct().ToList();
        var title = options.Title ?? "ModalFlow report" + (model.Count == 1 ? ": " + model[0] : "");

        return new PageData(title, DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture), options.Ci.Description,
            settings, runRows, differing.Select(f => SettingFields[f].Label).ToList(), checks, figures, tasks, experiments, styles,
            Series(aggregates), LensSeries(lensAggregates), samples.Select(s => s.Sample).ToList(), views.Geometries, notes,
            runs.Sum(r => r.Results.Malformed.Count), Aggregator.CountNonFinite(knockout));
    }

    /// <summary>A model folder's name ("llava-1.5-7b-hf"; with its parent when the folder is just called "model").</summary>
    private static string ModelName(string dir)
    {
        var trimmed = Path.TrimEndingDirectorySeparator(dir);
        var name = Path.GetFileName(trimmed);
        return name is "model" or "weights" or "checkpoint" && Path.GetFileName(Path.GetDirectoryName(trimmed)) is { Length: > 0 } parent ? parent + "/" + name : name;
    }

    /// <summary>
    /// The figures report.md embeds, one per experiment (and sub-word / lens variant): its six-task panel, or, for a run of
    /// one task, that task's figure. The page draws every task's curves itself, so the per-task figures stay in files.
    /// </summary>
    private static List<PageFigure> Figures(HtmlReportOptions options, IReadOnlyList<LayerAggregate> aggregates)
    {
        var list = new List<PageFigure>();
        foreach (var set in options.Figures.Where(f => f.Path.EndsWith(".png", StringComparison.OrdinalIgnoreCase) && File.Exists(f.Path))
            .GroupBy(f => (Lens: f.Kind.StartsWith("lens", StringComparison.Ordinal), f.Experiment, f.Variant)))
        {
            var panel = set.FirstOrDefault(f => f.Kind.EndsWith("panel", StringComparison.Ordinal));
            var chosen = panel is not null ? [panel] : set.Where(f => f.Task != ResultNames.AllTasks).OrderBy(f => f.Task, Comparer<string>.Create(ResultNames.CompareTasks)).ToList();
            var name = set.Key.Lens
                ? $"Logit lens ({set.Key.Variant})"
                : ResultNames.ExperimentTitle(set.Key.Experiment, aggregates.Where(a => a.Experiment == set.Key.Experiment).Select(a => a.BlockDesc).Distinct())
                    + (set.Key.Variant == ResultNames.FirstSubword ? "" : $" ({set.Key.Variant} sub-word)");
            foreach (var f in chosen)
                list.Add(new PageFigure(Path.GetFileNameWithoutExtension(f.Path), f.Task.Length > 0 ? $"{name} — {f.Task}" : name,
                    Thumbnail.FigureDataUri(f.Path, options.FigureMaxWidth)));
        }
        return list;
    }

    private static string DashOf(SeriesStyle s) => string.Join(' ', s.DashIntervals().Select(v => v.ToString(CultureInfo.InvariantCulture)));

    /// <summary>Knockout experiments (per sub-word) with their conditions in legend order; then the lens.</summary>
    private static List<PageExperiment> Experiments(IReadOnlyList<LayerAggregate> aggregates, IReadOnlyList<LensAggregate> lens, IReadOnlyList<KnockoutRow> rows)
    {
        var list = new List<PageExperiment>();
        foreach (var g in aggregates.GroupBy(a => (a.Experiment, a.Subword)))
        {
            var blocks = g.Select(a => a.BlockDesc).Distinct().Order(Comparer<string>.Create(ResultNames.CompareConditions)).ToList();
            var title = ResultNames.ExperimentTitle(g.Key.Experiment, blocks) + (g.Key.Subword == ResultNames.FirstSubword ? "" : $" ({g.Key.Subword} sub-word)");
            int layers = rows.Where(r => r.Experiment == g.Key.Experiment).Select(r => r.Layer).DefaultIfEmpty(-1).Max() + 1;
            list.Add(new PageExperiment($"{g.Key.Experiment}|{g.Key.Subword}", title, "knockout", blocks, g.First().Window, layers));
        }
        list.Sort((a, b) => string.CompareOrdinal(a.Key, b.Key));
        if (lens.Count > 0)
        {
            var kinds = lens.Select(a => a.TokenKind).Distinct().Order(Comparer<string>.Create(ResultNames.CompareTokenKinds)).ToList();
            list.Add(new PageExperiment("lens", "Logit lens at the last position", "lens", kinds, 0, lens.Max(a => a.Layer) + 1));
        }
        return list;
    }

    private static Dictionary<string, PageSeries> Series(IReadOnlyList<LayerAggregate> aggregates) =>
        aggregates.GroupBy(a => $"{a.Task}|{a.Experiment}|{a.Subword}|{a.BlockDesc}", StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => Series(g.OrderBy(a => a.Layer).Select(a => (a.Layer, a.N, a.Mean, a.Ci95Low, a.Ci95High))), StringComparer.Ordinal);

    private static Dictionary<string, PageLensSeries> LensSeries(IReadOnlyList<LensAggregate> lens) =>
        lens.GroupBy(a => $"{a.Task}|{a.TokenKind}", StringComparer.Ordinal).ToDictionary(g => g.Key, g =>
        {
            var ordered = g.OrderBy(a => a.Layer).ToList();
            return new PageLensSeries(
                Series(ordered.Select(a => (a.Layer, a.N, a.MeanRaw, a.Ci95LowRaw, a.Ci95HighRaw))),
                Series(ordered.Select(a => (a.Layer, a.N, a.MeanNorm, a.Ci95LowNorm, a.Ci95HighNorm))));
        }, StringComparer.Ordinal);

    private static PageSeries Series(IEnumerable<(int Layer, int N, double Mean, double Lo, double Hi)> points)
    {
        var p = points.ToList();
        return new PageSeries(p.Select(x => x.Layer).ToList(), p.Select(x => x.N).ToList(), p.Select(x => HtmlReport.Round(x.Mean)).ToList(),
            p.Select(x => HtmlReport.Round(x.Lo)).ToList(), p.Select(x => HtmlReport.Round(x.Hi)).ToList());
    }

    /// <summary>Every (task, question id) the stores hold, used or excluded, with its rows; the manifest of its first run.</summary>
    private static List<(PageSample Sample, RunManifest? Manifest)> Samples(IReadOnlyList<HtmlRunSource> runs)
    {
        var byKey = new Dictionary<(string, string), (PageSample Sample, RunManifest? Manifest)>();
        PageSample Used(string task, string qid, string answer, string predicted, RunManifest? m)
        {
            if (!byKey.TryGetValue((task, qid), out var known))
            {
                known = (new PageSample { Task = task, Qid = qid, Status = "used", Answer = answer }, m);
                byKey[(task, qid)] = known;
            }
            var s = known.Sample;
            if (s.Predicted.Length == 0) s.Predicted = predicted;
            s.Correct ??= string.Equals(predicted.Trim(), answer.Trim(), StringComparison.OrdinalIgnoreCase);
            return s;
        }

        foreach (var run in runs)
        {
            foreach (var g in run.Results.Knockout.GroupBy(k => (k.Task, k.QuestionId)))
            {
                var first = g.First();
                var s = Used(first.Task, first.QuestionId, first.Answer, first.Predicted, run.Manifest);
                if (s.Question.Length == 0) s.Question = first.Question;
                if (s.Image.Length == 0) s.Image = first.ImageId;
                if (s.P1 is null && g.FirstOrDefault(k => k.Subword == ResultNames.FirstSubword) is { } firstSubword && double.IsFinite(firstSubword.BaseScore))
                    s.P1 = HtmlReport.Round(firstSubword.BaseScore);
                foreach (var c in g.GroupBy(k => $"{k.Experiment}|{k.Subword}|{k.BlockDesc}", StringComparer.Ordinal))
                {
                    var values = new double?[c.Max(k => k.Layer) + 1];
                    foreach (var k in c) values[k.Layer] = double.IsFinite(k.RelativeDiff) ? HtmlReport.Round(k.RelativeDiff) : null;
                    s.Curves[c.Key] = values;
                }
            }
            foreach (var g in run.Results.Lens.GroupBy(l => (l.Task, l.QuestionId)))
            {
                var first = g.First();
                var s = Used(first.Task, first.QuestionId, first.Answer, first.Predicted, run.Manifest);
                foreach (var k in g.GroupBy(l => l.TokenKind, StringComparer.Ordinal))
                {
                    int layers = k.Max(l => l.Layer) + 1;
                    var raw = new double?[layers];
                    var norm = new double?[layers];
                    foreach (var l in k)
                    {
                        raw[l.Layer] = double.IsFinite(l.ProbRaw) ? HtmlReport.Round(l.ProbRaw) : null;
                        norm[l.Layer] = double.IsFinite(l.ProbNorm) ? HtmlReport.Round(l.ProbNorm) : null;
                    }
                    s.Lens[k.Key + "|raw"] = raw;
                    s.Lens[k.Key + "|norm"] = norm;
                }
            }
        }
        foreach (var run in runs)
        {
            foreach (var n in run.Results.Noted)
                if (byKey.TryGetValue((n.Task, n.QuestionId), out var noted) && noted.Sample.Note.Length == 0)
                    noted.Sample.Note = n.Detail.Length > 0 ? $"{n.Reason}: {n.Detail}" : n.Reason;
            foreach (var e in run.Results.Excluded)
            {
                if (byKey.ContainsKey((e.Task, e.QuestionId))) continue;   // used by another run of the page
                byKey[(e.Task, e.QuestionId)] = (new PageSample
                {
                    Task = e.Task, Qid = e.QuestionId, Status = "excluded", Reason = e.Reason, Detail = e.Detail,
                    Correct = e.Reason == "incorrect" ? false : null,
                    Predicted = e.Reason == "incorrect" ? PredictedFrom(e.Detail) : "",
                }, run.Manifest);
            }
        }
        var list = byKey.Values.ToList();
        list.Sort((a, b) =>
        {
            int c = ResultNames.CompareTasks(a.Sample.Task, b.Sample.Task);
            return c != 0 ? c : CompareIds(a.Sample.Qid, b.Sample.Qid);
        });
        return list;
    }

    /// <summary>The predicted answer of an "incorrect" exclusion ("predicted 'x', gold 'y'").</summary>
    private static string PredictedFrom(string detail)
    {
        const string Prefix = "predicted '";
        if (!detail.StartsWith(Prefix, StringComparison.Ordinal)) return "";
        int end = detail.IndexOf("', gold '", StringComparison.Ordinal);
        return end > Prefix.Length - 1 ? detail[Prefix.Length..end] : "";
    }

    /// <summary>Question ids in numeric order when both are numbers (leading zeros kept apart), else ordinal.</summary>
    private static int CompareIds(string a, string b)
    {
        if (a.Length != b.Length && a.All(char.IsAsciiDigit) && b.All(char.IsAsciiDigit)) return a.Length.CompareTo(b.Length);
        return string.CompareOrdinal(a, b);
    }
}

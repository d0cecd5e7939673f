using System.CommandLine;
using System.Globalization;
using ModalFlow.Results;

namespace ModalFlow.Cli.Commands;

/// <summary>
/// `modalflow compare`: a run's per-sample knockout rows against per-sample CSVs someone already has (the paper's own
/// files as its InformationFlow.py writes them, or our knockout_*.csv), joined by question id, condition and layer.
/// </summary>
public static class CompareCommand
{
    /// <summary>How many one-sided rows are listed per side (all are counted).</summary>
    public const int ListedUnmatched = 10;

    public static Command Create(CliContext ctx)
    {
        var run = new Option<string>("--run") { Description = "Run folder (run.sqlite, or a knockout_first.csv in it)", Required = true };
        var paper = new Option<string[]>("--paper-csv")
        {
            Description = "Per-sample CSV(s) to compare with: the paper's files (goden answer, image = <img_id>.jpg, its block names) or ours; repeatable",
            Required = true, AllowMultipleArgumentsPerToken = true,
        };
        var task = new Option<string?>("--task") { Description = "Task of the CSV rows when their file name does not say it (the paper's do)" };
        var figure = new Option<string?>("--figure") { Description = "Figure path without extension (default: <run>/compare/compare); .png and .svg are written" };
        var json = CommonOptions.Json();
        var cmd = new Command("compare", "Compare a run's relative changes with per-sample CSVs you already have (e.g. the paper's): per-condition max/mean |Δ|, one-sided rows, a figure of both")
        {
            run, paper, task, figure, json,
        };
        cmd.SetAction(parse => ctx.Guard(parse, () =>
        {
            var runDir = parse.GetValue(run)!;
            var ours = ReadRun(runDir);
            var theirs = new List<KnockoutRow>();
            foreach (var file in parse.GetValue(paper)!) theirs.AddRange(ResultReader.ReadKnockoutCsv(file, parse.GetValue(task)));
            // The paper's files hold the first sub-word only; compare like with like.
            var subwords = theirs.Select(r => r.Subword).Distinct().ToHashSet();
            ours = ours.Where(r => subwords.Contains(r.Subword)).ToList();
            var result = Comparison.Of(ours, theirs);

            var stem = parse.GetValue(figure) ?? Path.Combine(runDir, "compare", "compare");
            var modelName = ModelName(runDir);
            int nFiles = parse.GetValue(paper)!.Length;
            var title = $"Run vs {(nFiles == 1 ? "1 CSV file" : $"{nFiles} CSV files")} (dashed)\n"
                + $"{result.Matched} rows matched \u00b7 max |\u0394| {Pp(result.MaxAbsDelta)} pp" + (modelName is null ? "" : $" \u00b7 {modelName}");
            var figures = Figures.Save(Figures.ComparisonPlot(ours, theirs, title), stem);

            if (parse.GetValue(json))
            {
                ctx.WriteJson(new
                {
                    Run = Path.GetFullPath(runDir),
                    Files = parse.GetValue(paper)!.Select(Path.GetFullPath),
                    result.Matched,
                    MaxAbsDeltaPp = result.MaxAbsDelta,
                    Conditions = result.Conditions,
                    OnlyInRun = result.OnlyOurs.Count,
                    OnlyInFiles = result.OnlyTheirs.Count,
                    FirstOnlyInRun = result.OnlyOurs.Take(ListedUnmatched),
                    FirstOnlyInFiles = result.OnlyTheirs.Take(ListedUnmatched),
                    Figures = figures,
                });
                return CliContext.ExitOk;
            }
            Print(ctx.Out, result, ours.Count, theirs.Count, figures);
            return CliContext.ExitOk;
        }));
        return cmd;
    }

    /// <summary>The run's rows: from its store, else from its knockout_first.csv.</summary>
    public static List<KnockoutRow> ReadRun(string runDir)
    {
        var store = Path.Combine(runDir, RunStore.FileName);
        if (File.Exists(store))
        {
            using var s = RunStore.Open(store);
            return [.. s.KnockoutRows()];
        }
        var csv = Path.Combine(runDir, Exporter.KnockoutFileStem(ResultNames.FirstSubword) + ".csv");
        if (File.Exists(csv)) return [.. ResultReader.ReadKnockoutCsv(csv)];
        throw new InputException(runDir, "--run", $"neither {RunStore.FileName} nor {Path.GetFileName(csv)} found; expected a run folder written by `modalflow run`");
    }

    private static string? ModelName(string runDir)
    {
        var store = Path.Combine(runDir, RunStore.FileName);
        if (!File.Exists(store)) return null;
        using var s = RunStore.Open(store);
        return s.Manifest is { } m ? Path.GetFileName(Path.TrimEndingDirectorySeparator(m.Model)) : null;
    }

    private static string Pp(double v) => double.IsPositiveInfinity(v) ? "inf" : v.ToString("G4", CultureInfo.InvariantCulture);

    public static void Print(TextWriter w, Comparison c, int oursRows, int theirsRows, IReadOnlyList<string> figures)
    {
        w.WriteLine($"compare: {c.Matched} rows matched ({oursRows} in the run, {theirsRows} in the files); max |\u0394 relative change| = {Pp(c.MaxAbsDelta)} pp");
        w.WriteLine($"  {"condition",-34} {"matched",8} {"max |\u0394| pp",12} {"mean |\u0394| pp",13} {"max |\u0394p1|",11} {"max |\u0394p2|",11} {"only run",9} {"only files",11}  worst at");
        foreach (var k in c.Conditions)
            w.WriteLine($"  {k.BlockDesc,-34} {k.Matched,8} {Pp(k.MaxAbsDelta),12} {Pp(k.MeanAbsDelta),13} {Pp(k.MaxAbsDeltaBase),11} {Pp(k.MaxAbsDeltaNew),11} {k.OnlyOurs,9} {k.OnlyTheirs,11}  "
                + (k.WorstQuestionId is null ? "-" : $"question {k.WorstQuestionId}, layer {k.WorstLayer}"));
        // A condition one side lacks altogether is named once, not row by row.
        var runOnly = c.Conditions.Where(k => k.Matched == 0 && k.OnlyTheirs == 0).ToList();
        var filesOnly = c.Conditions.Where(k => k.Matched == 0 && k.OnlyOurs == 0).ToList();
        if (runOnly.Count > 0) w.WriteLine("conditions only in the run: " + string.Join(", ", runOnly.Select(k => $"{k.BlockDesc} ({k.OnlyOurs} rows)")));
        if (filesOnly.Count > 0) w.WriteLine("conditions only in the files: " + string.Join(", ", filesOnly.Select(k => $"{k.BlockDesc} ({k.OnlyTheirs} rows)")));
        void List(string side, IEnumerable<UnmatchedRow> all, List<ComparedCondition> whole)
        {
            var rows = all.Where(r => whole.All(k => k.BlockDesc != r.BlockDesc)).ToList();
            if (rows.Count == 0) return;
            w.WriteLine($"rows only in {side}: {rows.Count}{(rows.Count > ListedUnmatched ? $" (first {ListedUnmatched})" : "")}");
            foreach (var r in rows.Take(ListedUnmatched)) w.WriteLine($"  question {r.QuestionId}  {r.BlockDesc}  layer {r.Layer}");
        }
        List("the run", c.OnlyOurs, runOnly);
        List("the files", c.OnlyTheirs, filesOnly);
        foreach (var f in figures) w.WriteLine($"figure: {f}");
    }
}

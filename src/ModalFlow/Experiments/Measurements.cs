using ModalFlow.Data;
using ModalFlow.Inference;
using ModalFlow.Results;
using ModalFlow.Text;
using ModalFlow.Tracing;

namespace ModalFlow.Experiments;

/// <summary>
/// Everything a measurement reads for one sample, made once by the runner: the prepared input (vision ran once), the
/// clean run (one forward), the tracked run (the clean one, or the final-sub-word run), the greedy answer and the
/// position-set resolver (names → positions, memoised per sample).
/// </summary>
/// <param name="Clean">The clean run of the prompt (the lens reads it).</param>
/// <param name="Tracked">The run whose target probability knockouts track (= Clean for the first sub-word).</param>
/// <param name="Target">The tracked token id (the clean greedy answer's first or final sub-word).</param>
public sealed record SampleContext(RunOptions Options, LoadedModel Model, GqaTaskRow Row, PreparedInput Input, CleanRun Clean, CleanRun Tracked,
    string Predicted, long Target, IKnockoutEngine Engine, IReadOnlyList<BlockDescriptor> Blocks, Func<string, SequenceLayout, PositionSet> Resolve)
{
    /// <summary>A knockout row of this sample (the paper's per-sample CSV columns, then ours).</summary>
    public KnockoutRow KnockoutRow(string block, int window, int layer, IEnumerable<int> windowLayers, double p2, double logP2, long top1New) =>
        new(Row.Task, Row.QuestionId, Row.ImgId, Row.Answer, Predicted, Row.Question, Options.Experiment.Name, block, window, layer,
            string.Join(" ", windowLayers), Options.Subword, Target, Tracked.P1, p2, logP2, Tracer.RelativeChange(Tracked.P1, p2), top1New);
}

/// <summary>What one sample contributes to the run store.</summary>
public sealed record SampleRows(IReadOnlyList<KnockoutRow> Knockout, IReadOnlyList<LensRow> Lens);

/// <summary>The per-sample code of each <see cref="ExperimentKind"/>: a new measurement is one method plus its line here.</summary>
public static class Measurements
{
    public static Func<SampleContext, SampleRows> For(ExperimentKind kind) => kind switch
    {
        ExperimentKind.Sweep => WindowSweeps,
        ExperimentKind.Lens => s => new SampleRows([], Lens(s)),
        ExperimentKind.Heads => HeadMaps.Measure,
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "no measurement registered for this experiment kind"),
    };

    /// <summary>The paper's window sweep of every block (Experiments 1–3, custom blocks): one engine call per sample.</summary>
    public static SampleRows WindowSweeps(SampleContext s)
    {
        var sweeps = Tracer.Sweep(s.Tracked, s.Input.Layout, s.Blocks, s.Options.Window, s.Engine, s.Resolve);
        var rows = sweeps.SelectMany(c => c.Layers.Select(l => s.KnockoutRow(c.Block, c.Window, l.Layer, l.WindowLayers, l.P2, l.LogProb2, l.Top1New))).ToList();
        return new SampleRows(rows, []);
    }

    /// <summary>
    /// Exp 4 as the paper's last_position_answer_prob.py: the answer (for Choose* tasks the true option) and the false
    /// option, each non-capitalised and capitalised (Python's str.capitalize), token = the first id of encoding the word.
    /// Kinds: answer_lower / answer_capital / false_option_lower / false_option_capital (labels: ResultNames).
    /// </summary>
    public static IReadOnlyList<LensRow> Lens(SampleContext s)
    {
        var row = s.Row;
        var words = new List<(string Kind, string Text)>();
        var answer = (row.HasOptions ? row.TrueOption! : row.Answer).ToLowerInvariant();
        words.Add(("answer_lower", answer));
        words.Add(("answer_capital", Capitalize(answer)));
        if (row.HasOptions && row.FalseOption is { } f)
        {
            words.Add(("false_option_lower", f.ToLowerInvariant()));
            words.Add(("false_option_capital", Capitalize(f)));
        }
        var ids = words.Select(w => (long)s.Model.Tokenizer.EncodeToIds(w.Text)[0]).ToList();
        var lens = LogitLens.Compute(s.Clean, s.Input.Layout.Last, ids);
        var rows = new List<LensRow>();
        for (int k = 0; k < words.Count; k++)
            for (int l = 0; l < lens.Rows; l++)
                rows.Add(new LensRow(row.Task, row.QuestionId, row.Answer, s.Predicted, words[k].Kind, words[k].Text, ids[k], l, lens.ProbRaw[l, k], lens.ProbNorm[l, k]));
        return rows;
    }

    private static string Capitalize(string s) => s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..].ToLowerInvariant();
}

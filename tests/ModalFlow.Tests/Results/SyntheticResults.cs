using ModalFlow.Results;

namespace ModalFlow.Tests.Results;

/// <summary>
/// Paper-shaped synthetic result rows (deterministic): six tasks, 40 layers, the Exp 1–3 conditions with drops where
/// the paper reports them, and logit-lens curves where lowercase rises mid-model and capitalised overtakes it late.
/// </summary>
internal static class SyntheticResults
{
    public const int Layers = 40;

    public static readonly (string Experiment, string Block, (double Centre, double Depth, double Width)[] Drops)[] Conditions =
    [
        ("exp1", "Question->Last", [(16, -30, 3.5)]),
        ("exp1", "Image->Last", [(18, -6, 3)]),
        ("exp1", "Last->Last", []),
        ("exp2", "Image->Question", [(2, -60, 2.2), (10, -21, 2)]),
        ("exp3", "Related Image Patches->Question", [(10, -20, 2)]),
        ("exp3", "Other Image Patches->Question", [(2, -50, 2.2)]),
    ];

    public static List<KnockoutRow> Knockout(int samplesPerTask = 12, int seed = 1, string subword = "first", IReadOnlyList<string>? tasks = null)
    {
        var rng = new Random(seed);
        var rows = new List<KnockoutRow>();
        tasks ??= ResultNames.PaperTasks;
        for (int ti = 0; ti < tasks.Count; ti++)
        {
            var task = tasks[ti];
            double scale = 0.7 + 0.1 * ti;
            for (int s = 0; s < samplesPerTask; s++)
            {
                string qid = (ti * 1000 + s).ToString("D8", System.Globalization.CultureInfo.InvariantCulture);
                double p1 = 0.3 + 0.6 * rng.NextDouble();
                foreach (var (exp, block, drops) in Conditions)
                    for (int layer = 0; layer < Layers; layer++)
                    {
                        double rel = 0;
                        foreach (var (c, d, w) in drops) rel += scale * d * Math.Exp(-(layer - c) * (layer - c) / (2 * w * w));
                        rel += (rng.NextDouble() - 0.5) * 8 * (0.3 + Math.Abs(rel) / 30);
                        double p2 = p1 * (1 + rel / 100);
                        rows.Add(new KnockoutRow(task, qid, "23" + qid, "left", "left", $"Is the cup on the left or right, \"{task}\"?",
                            exp, block, 9, layer, $"{Math.Max(0, layer - 4)}-{Math.Min(Layers, layer + 5) - 1}", subword,
                            2175, p1, p2, Math.Log(p2), (p2 - p1) / p1 * 100, 2175));
                    }
            }
        }
        return rows;
    }

    public static List<LensRow> Lens(int samplesPerTask = 10, int seed = 2, IReadOnlyList<string>? tasks = null)
    {
        var rng = new Random(seed);
        var rows = new List<LensRow>();
        tasks ??= ResultNames.PaperTasks;
        for (int ti = 0; ti < tasks.Count; ti++)
        {
            var task = tasks[ti];
            bool choose = task.StartsWith("Choose", StringComparison.Ordinal);
            for (int s = 0; s < samplesPerTask; s++)
            {
                string qid = (ti * 1000 + s).ToString("D8", System.Globalization.CultureInfo.InvariantCulture);
                double peak = 0.2 + 0.5 * rng.NextDouble();
                for (int layer = 0; layer <= Layers; layer++)
                {
                    double lower = peak * Sigmoid((layer - 19) * 1.2) * (1 - 0.95 * Sigmoid((layer - 31) * 0.7));
                    double capital = 0.7 * Sigmoid((layer - 33) * 0.8) + 0.002;
                    double noise() => 1 + (rng.NextDouble() - 0.5) * 0.4;
                    rows.Add(new LensRow(task, qid, "left", "left", "answer_lower", "left", 2175, layer, lower * noise(), Math.Min(1, lower * 1.1 * noise())));
                    rows.Add(new LensRow(task, qid, "left", "left", "answer_capital", "Left", 19941, layer, capital * noise(), Math.Min(1, capital * 1.1 * noise())));
                    if (choose)
                    {
                        double f = 0.06 * Sigmoid((layer - 19) * 1.2) * (1 - Sigmoid((layer - 28) * 0.8));
                        rows.Add(new LensRow(task, qid, "left", "left", "false_option_lower", "right", 1492, layer, f * noise(), f * noise()));
                    }
                }
            }
        }
        return rows;
    }

    private static double Sigmoid(double x) => 1 / (1 + Math.Exp(-x));
}

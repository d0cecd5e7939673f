namespace ModalFlow.Cli;

/// <summary>"Did you mean …": the closest known names to a mistyped one (edit distance with transpositions, or a prefix).</summary>
public static class Suggest
{
    /// <summary>The candidates close to <paramref name="typed"/>, best first (at most three).</summary>
    public static IReadOnlyList<string> Closest(string typed, IEnumerable<string> candidates)
    {
        var t = Normalize(typed);
        if (t.Length == 0) return [];
        var scored = new List<(string Name, int Distance)>();
        foreach (var c in candidates.Distinct(StringComparer.Ordinal))
        {
            var n = Normalize(c);
            int d = Distance(t, n);
            if (d <= Math.Max(1, t.Length / 3) && d < t.Length) scored.Add((c, d));
            else if (t.Length >= 3 && (n.StartsWith(t, StringComparison.Ordinal) || t.StartsWith(n, StringComparison.Ordinal))) scored.Add((c, d + 100));
        }
        if (scored.Count == 0) return [];
        int best = scored.Min(s => s.Distance);
        return scored.Where(s => s.Distance == best).Select(s => s.Name).Order(StringComparer.Ordinal).Take(3).ToList();
    }

    /// <summary>" (did you mean 'x'?)" or "".</summary>
    public static string Hint(string typed, IEnumerable<string> candidates)
    {
        var c = Closest(typed, candidates);
        return c.Count == 0 ? "" : $" (did you mean {string.Join(" or ", c.Select(x => $"'{x}'"))}?)";
    }

    private static string Normalize(string s) => s.TrimStart('-', '/').ToLowerInvariant();

    /// <summary>Optimal string alignment distance: insertions, deletions, substitutions and adjacent transpositions.</summary>
    private static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (int j = 0; j <= b.Length; j++) d[0, j] = j;
        for (int i = 1; i <= a.Length; i++)
            for (int j = 1; j <= b.Length; j++)
            {
                int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
            }
        return d[a.Length, b.Length];
    }
}

using System.Text;

namespace ModalFlow.Results;

/// <summary>The report's self-check line (issue 13): loud when the check failed, one line when it passed.</summary>
public static class SelfCheckReport
{
    /// <summary>Appends the line; nothing for a store without self-check records (written before self-checks).</summary>
    public static void Append(StringBuilder sb, VerificationSummary? v)
    {
        if (v is null) return;
        if (!v.Passed)
        {
            sb.Append("> **SELF-CHECK FAILED.** A knockout cell recomputed with the naive engine differs from the run's value by ")
              .Append(v.MaxAbsDeltaP2.ToString("0.0##e0", System.Globalization.CultureInfo.InvariantCulture))
              .Append(" in p(answer) (tolerance ").Append(VerificationSummary.Scientific(v.Tolerance))
              .Append("): ").Append(Escape(v.WorstCell)).Append(". **Do not trust the knockout numbers below.**\n\n");
        }
        sb.Append(char.ToUpperInvariant(v.Describe()[0])).Append(Escape(v.Describe()[1..])).Append(".\n\n");
    }

    private static string Escape(string text) => text.Replace("|", "\\|", StringComparison.Ordinal);
}

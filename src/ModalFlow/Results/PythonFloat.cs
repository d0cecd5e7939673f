using System.Globalization;
using System.Text;

namespace ModalFlow.Results;

/// <summary>
/// A double spelled as Python's <c>repr(float)</c> — which is also what numpy's <c>astype(str)</c> and therefore
/// pandas' <c>DataFrame.to_csv</c> write for a float64 column without <c>float_format</c>: the shortest digits that
/// round-trip, in fixed notation when 1e-4 ≤ |x| &lt; 1e16 (always with a fractional part: <c>100.0</c>, <c>-0.0</c>),
/// otherwise <c>d[.ddd]e±XX</c> with at least two exponent digits (<c>1e-05</c>, <c>1.5e+16</c>). NaN and the
/// infinities are Python's <c>nan</c>, <c>inf</c>, <c>-inf</c> (pandas writes NaN as its na_rep, "" by default:
/// callers decide).
/// </summary>
public static class PythonFloat
{
    public static string Repr(double v)
    {
        if (double.IsNaN(v)) return "nan";
        if (double.IsPositiveInfinity(v)) return "inf";
        if (double.IsNegativeInfinity(v)) return "-inf";
        bool negative = double.IsNegative(v);
        if (v == 0) return negative ? "-0.0" : "0.0";

        // .NET's "E16" is not shortest; "R" is (since .NET Core 3.0) but picks its own notation: take its digits
        // and decimal exponent and lay them out as Python does.
        var (digits, exponent) = ShortestDigits(Math.Abs(v));
        int decpt = exponent + 1;   // value = 0.d1d2… × 10^decpt
        var sb = new StringBuilder(32);
        if (negative) sb.Append('-');
        if (decpt > -4 && decpt <= 16)
        {
            if (decpt <= 0)
                sb.Append("0.").Append('0', -decpt).Append(digits);
            else if (decpt < digits.Length)
                sb.Append(digits, 0, decpt).Append('.').Append(digits, decpt, digits.Length - decpt);
            else
                sb.Append(digits).Append('0', decpt - digits.Length).Append(".0");
        }
        else
        {
            sb.Append(digits[0]);
            if (digits.Length > 1) sb.Append('.').Append(digits, 1, digits.Length - 1);
            sb.Append('e').Append(exponent < 0 ? '-' : '+');
            sb.Append(Math.Abs(exponent).ToString("00", CultureInfo.InvariantCulture));
        }
        return sb.ToString();
    }

    /// <summary>The shortest round-trip significant digits of a finite positive double and the exponent of the first digit.</summary>
    internal static (string Digits, int Exponent) ShortestDigits(double v)
    {
        var r = v.ToString("R", CultureInfo.InvariantCulture);   // e.g. "123.45", "1E-05", "1.5E+20", "0.0001"
        int e = r.IndexOfAny(['E', 'e']);
        int exp10 = e >= 0 ? int.Parse(r.AsSpan(e + 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture) : 0;
        var mantissa = e >= 0 ? r[..e] : r;
        int dot = mantissa.IndexOf('.', StringComparison.Ordinal);
        string intPart = dot >= 0 ? mantissa[..dot] : mantissa;
        string fracPart = dot >= 0 ? mantissa[(dot + 1)..] : "";
        string all = intPart + fracPart;
        int firstNonZero = 0;
        while (firstNonZero < all.Length && all[firstNonZero] == '0') firstNonZero++;
        // Exponent of the first significant digit: its position relative to the decimal point, plus the E part.
        int exponent = intPart.Length - 1 - firstNonZero + exp10;
        string digits = all[firstNonZero..].TrimEnd('0');
        return (digits.Length == 0 ? "0" : digits, exponent);
    }
}

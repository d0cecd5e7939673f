using System.Globalization;
using ModalFlow.Tracing;

namespace ModalFlow.Cli;

/// <summary>`trace --per-head` as text: per condition two layer × head tables of the relative change (%).</summary>
public static class HeadTable
{
    public static void Write(TextWriter o, HeadConditionResult c)
    {
        Table(o, c, complement: false, $"{c.Block}, window {c.Window}: change % with ONE head knocked out (columns: head; 'all' = every head)");
        Table(o, c, complement: true, $"{c.Block}, window {c.Window}: change % with EVERY head BUT ONE knocked out (columns: the head spared)");
    }

    private static void Table(TextWriter o, HeadConditionResult c, bool complement, string title)
    {
        o.WriteLine(title);
        var m = c.Matrix(complement);
        o.WriteLine("  layer " + Cell("all") + string.Concat(Enumerable.Range(0, c.NumHeads).Select(h => Cell("h" + h))));
        foreach (var l in c.Layers)
            o.WriteLine($"  {l.Layer,5} " + Cell(Number(l.RelativeChange)) + string.Concat(Enumerable.Range(0, c.NumHeads).Select(h => Cell(Number(m[l.Layer, h])))));
    }

    private static string Number(double v) => v.ToString("F2", CultureInfo.InvariantCulture);

    private static string Cell(string text) => text.PadLeft(9);
}

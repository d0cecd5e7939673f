namespace ModalFlow.Results;

/// <summary>Dash pattern of a figure line.</summary>
public enum LineDash { Solid, Dashed, Dotted, DashDot }

/// <summary>Marker drawn at every layer of a figure line.</summary>
public enum MarkerKind { None, Circle, Square, TriangleUp, TriangleDown, Diamond }

/// <summary>How one series (a condition or a lens token kind) is drawn in every figure.</summary>
/// <param name="Color">"#rrggbb".</param>
/// <param name="Dash">Line pattern.</param>
/// <param name="Marker">Marker at each layer.</param>
/// <param name="ColorSource">Where the colour comes from (the paper's palette or ours), for the report.</param>
public sealed record SeriesStyle(string Color, LineDash Dash, MarkerKind Marker, string ColorSource)
{
    /// <summary>Dash and gap lengths in pixels (SkiaSharp's dash intervals); empty for a solid line.</summary>
    public float[] DashIntervals() => Dash switch
    {
        LineDash.Dashed => [8, 4],
        LineDash.Dotted => [2, 3],
        LineDash.DashDot => [8, 3, 2, 3],
        _ => [],
    };
}

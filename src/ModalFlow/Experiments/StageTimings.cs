using System.Diagnostics;
using System.Text.Json;

namespace ModalFlow.Experiments;

/// <summary>
/// Where a command's wall-clock time went, in seconds: loading the weights, preparing the input (image preprocessing,
/// vision tower, embedding merge), clean passes, knockouts (and lens), the greedy answer's generation, and the total
/// since the timer was made. `trace --json` and `run`'s summary report it.
/// </summary>
public sealed class StageTimings
{
    private readonly Stopwatch _total = Stopwatch.StartNew();

    public double LoadS { get; private set; }
    public double VisionS { get; private set; }
    public double CleanS { get; private set; }
    public double KnockoutsS { get; private set; }
    public double GenerationS { get; private set; }
    public double TotalS => _total.Elapsed.TotalSeconds;

    public T Load<T>(Func<T> work) => Measure(work, s => LoadS += s);
    public T Vision<T>(Func<T> work) => Measure(work, s => VisionS += s);
    public T Clean<T>(Func<T> work) => Measure(work, s => CleanS += s);
    public T Knockouts<T>(Func<T> work) => Measure(work, s => KnockoutsS += s);
    public T Generation<T>(Func<T> work) => Measure(work, s => GenerationS += s);

    /// <summary>{"load_s": …, "vision_s": …, "clean_s": …, "knockouts_s": …, "generation_s": …, "total_s": …}.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    private static readonly JsonSerializerOptions JsonOptions = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    private static T Measure<T>(Func<T> work, Action<double> add)
    {
        long start = Stopwatch.GetTimestamp();
        try { return work(); }
        finally { add(Stopwatch.GetElapsedTime(start).TotalSeconds); }
    }
}

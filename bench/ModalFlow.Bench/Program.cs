using System.Diagnostics;
using ModalFlow.Checkpoints;
using ModalFlow.Models;
using ModalFlow.Platform;
using ModalFlow.Tracing;
using static TorchSharp.torch;

// Profiling host: component timings of the knockout engines on the benchmark geometry.
// The reported benchmark is `modalflow bench knockout`; this program is for finding where time goes.
TorchRuntime.Initialize();
int hidden = args.Length > 0 ? int.Parse(args[0]) : 512, layers = args.Length > 1 ? int.Parse(args[1]) : 16;
var cfg = new LlamaTextConfig { VocabSize = 32064, HiddenSize = hidden, IntermediateSize = (int)(hidden * 2.6875), NumHiddenLayers = layers, NumAttentionHeads = hidden / 64, RmsNormEps = 1e-5 };
using var decoder = new LlamaDecoder(cfg, new RandomWeightSource(7, ScalarType.Float32, CPU, 0.05, 0.1), "language_model.", false);
int n = 637;
var embeds = normal(0, 1, [1, n, hidden]);
var image = PositionSet.Range("Image", 35, 611);
var question = PositionSet.Range("Question", 613, 620);
var last = PositionSet.Of("Last", [n - 1]);
List<KnockoutSpec> Sweep(PositionSet s, PositionSet t) => Enumerable.Range(0, layers).Select(l => new KnockoutSpec(s, t, LayerWindow.Around(l, 9, layers))).ToList();
void Time(string what, Action a, int reps = 3)
{
    a();
    var best = double.MaxValue;
    for (int i = 0; i < reps; i++)
    {
        var sw = Stopwatch.StartNew();
        a();
        best = Math.Min(best, sw.Elapsed.TotalMilliseconds);
    }
    Console.WriteLine($"{what,-40} best {best,9:F1} ms   RSS {ProcessMemory.RssMb():F0} MB  live {Tensor.TotalCount}");
}
Time("forward (no cache)", () => { using var s = NewDisposeScope(); using var o = decoder.Forward(embeds); });
Time("clean run", () => { using var c = CleanRun.Create(decoder, embeds); });
using var clean = CleanRun.Create(decoder, embeds);
var fast = new FastKnockoutEngine();
Time("fast Question->Last sweep", () => fast.Run(clean, Sweep(question, last)));
Time("fast Image->Question sweep", () => fast.Run(clean, Sweep(image, question)));
Time("naive 1 knockout", () => new NaiveKnockoutEngine().Run(clean, Sweep(image, question).Take(1).ToList()));

using System.Collections.Immutable;
using ModalFlow.Data;
using ModalFlow.Experiments;
using ModalFlow.Inference;
using ModalFlow.Models;
using ModalFlow.Results;
using ModalFlow.Tests.Families;
using ModalFlow.Tests.Support;
using ModalFlow.Tracing;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace ModalFlow.Tests.Experiments;

/// <summary>
/// Withdrawal and pruning on every fixture family, through the measurement the runner calls (fast engine), against two
/// plain references written here: a full forward in which the withdrawn image positions are blocked from every later
/// position in layers ≥ K (a column mask from layer K on), and — the papers' own procedure — a forward in which the
/// withdrawn positions are physically removed from layer K on (the kept positions keep their position ids).
/// </summary>
public sealed class WithdrawalExactnessTests(ITestOutputHelper log)
{
    private const double Tolerance = 1e-5;

    public static TheoryData<string> Models => new("tiny-llava-1.5", "tiny-llava-next", "tiny-llama3-llava-next", FamilyFolders.Qwen2Vl, FamilyFolders.Onevision);

    private static string Folder(string model) => model is FamilyFolders.Qwen2Vl or FamilyFolders.Onevision ? FamilyFolders.AsDownloaded(model) : SharedData.Fixture(model);

    /// <summary>The Llama-3 fixture has no tokenizer of its own (as llava-hf's Llama-3 folders): the fixtures keep Meta's once.</summary>
    private static LoadOptions Load(string model) => new()
    {
        DType = ScalarType.Float64,
        TokenizerFile = model == "tiny-llama3-llava-next" ? SharedData.Fixture("tokenizers", "llama3", "tokenizer.model") : null,
    };

    /// <summary>A sample context as the runner makes it, on the fixture's ironing_rel case (fast engine).</summary>
    private static SampleContext Context(LoadedModel m, PreparedInput input, CleanRun clean, FixtureCase c, ExperimentDefinition experiment, PruneGrid? grid = null)
    {
        var options = new RunOptions { Model = m.Directory, Task = "fixture", Images = ".", Experiment = experiment, Out = ".", Filter = "correct", Prune = grid ?? PruneGrid.Default };
        var row = new GqaTaskRow("fixture", GqaSchema.B, "fixture.csv", 2, c.Id, c.Id, c.Question, "x", null, null, null, null, null, null, null, null, 1, 1);
        return new SampleContext(options, m, row, input, clean, clean, "x", clean.TargetTokenId, KnockoutEngine.Create(KnockoutEngineKind.Fast), [],
            (name, _) => throw new InvalidOperationException($"no position set {name} here"));
    }

    [SharedTheory]
    [MemberData(nameof(Models))]
    public void Withdrawal_At_Every_K_Equals_A_Forward_With_The_Image_Blocked_From_Later_Positions_And_K_Equals_L_Is_The_Clean_Run(string model)
    {
        var c = FixtureCase.Load(model, "ironing_rel");
        using var m = LoadedModel.Load(Folder(model), Load(model));
        using var input = PreparedInput.Create(m, c.ImagePath, c.Question);
        using var clean = CleanRun.Create(m.Decoder, input.Embeds, input.Positions);
        var rows = ImageWithdrawal.Withdraw(Context(m, input, clean, c, ExperimentDefinition.Withdrawal)).Knockout;
        int layers = m.Decoder.NumLayers;
        Assert.Equal(Enumerable.Range(0, layers + 1), rows.Select(r => r.Layer));
        Assert.All(rows, r => Assert.Equal(WithdrawalCondition.AllImageTokens, r.BlockDesc));

        var image = input.Layout.Image.Positions();
        double worst = 0;
        // The masked reference is a full float64 forward per K: on the ~2,200-position NeXT sequences one K (0: every layer masked) keeps the test short.
        var checkedK = clean.SeqLen > 1500 ? [0] : Enumerable.Range(0, layers).ToArray();
        foreach (var r in rows.Where(r => checkedK.Contains(r.Layer)))
        {
            Assert.Equal(string.Join(" ", Enumerable.Range(r.Layer, layers - r.Layer)), r.WindowLayers);
            var (logP, top1) = Masked(clean, image, r.Layer);
            double rel = Math.Abs(r.NewScore - Math.Exp(logP)) / Math.Exp(logP);
            worst = Math.Max(worst, rel);
            Assert.True(rel <= Tolerance, $"{model} K={r.Layer}: fast p2 {r.NewScore:R}, masked forward {Math.Exp(logP):R} (rel {rel:E2})");
            Assert.Equal(top1, r.Top1New);
        }
        var atL = rows.Single(r => r.Layer == layers);
        Assert.Equal(clean.P1, atL.NewScore);          // exactly: nothing is withdrawn
        Assert.Equal(atL.BaseScore, atL.NewScore);
        Assert.Equal(0.0, atL.RelativeDiff);
        Assert.Equal(clean.Top1Id, atL.Top1New);
        Assert.Equal("", atL.WindowLayers);
        log.WriteLine($"{model}: N = {clean.SeqLen}, {image.Length} image tokens, L = {layers}: max rel |Δp2| fast vs masked forward {worst:E2} over K = {string.Join(", ", checkedK)}; K = L equals the clean run");
    }

    [SharedTheory]
    [MemberData(nameof(Models))]
    public void Pruning_Equals_Physically_Removing_The_Tokens_From_Layer_K_On_With_Their_Position_Ids_Kept(string model)
    {
        var c = FixtureCase.Load(model, "ironing_rel");
        using var m = LoadedModel.Load(Folder(model), Load(model));
        using var input = PreparedInput.Create(m, c.ImagePath, c.Question);
        using var clean = CleanRun.Create(m.Decoder, input.Embeds, input.Positions, keepLastRowAttention: true);
        int k = Math.Min(2, m.Decoder.NumLayers - 1);
        var grid = new PruneGrid(clean.SeqLen > 1500 ? [0.25] : [0.5, 0.25], [k]);   // each FastV cell recomputes most of the sequence
        var rows = ImageWithdrawal.Prune(Context(m, input, clean, c, ExperimentDefinition.Prune, grid)).Knockout;
        Assert.Equal(2 * grid.Keep.Count, rows.Count);
        var image = input.Layout.Image;
        double worst = 0;
        foreach (var r in rows)
        {
            var cond = WithdrawalCondition.TryParse(r.BlockDesc)!;
            var withdrawn = cond.Rule == WithdrawalRule.FastV
                ? Pruning.FastVWithdrawn(clean, image, k, cond.Keep)
                : Pruning.RandomWithdrawn(image, c.Id, cond.Keep);
            Assert.Equal(image.Length - Pruning.KeepCount(image.Length, cond.Keep), withdrawn.Length);
            var (logP, top1) = Removed(clean, withdrawn, k);
            double rel = Math.Abs(r.NewScore - Math.Exp(logP)) / Math.Exp(logP);
            worst = Math.Max(worst, rel);
            Assert.True(rel <= Tolerance, $"{model} {r.BlockDesc} K={k}: knockout p2 {r.NewScore:R}, removal {Math.Exp(logP):R} (rel {rel:E2})");
            Assert.Equal(top1, r.Top1New);
        }
        log.WriteLine($"{model}: FastV / random keep {string.Join(" / ", grid.Keep.Select(WithdrawalCondition.Percent))}% at K = {k}: max rel |Δp2| knockout vs physical removal {worst:E2}");
    }

    [SharedTheory]
    [InlineData("tiny-llava-1.5")]
    [InlineData(FamilyFolders.Qwen2Vl)]
    public void FastV_Ranking_Equals_A_Plain_Recomputation_From_The_Attention_Pattern(string model)
    {
        var c = FixtureCase.Load(model, "ironing_rel");
        using var m = LoadedModel.Load(Folder(model), Load(model));
        using var input = PreparedInput.Create(m, c.ImagePath, c.Question);
        using var clean = CleanRun.Create(m.Decoder, input.Embeds, input.Positions, keepLastRowAttention: true);
        var image = input.Layout.Image;
        for (int k = 1; k < m.Decoder.NumLayers; k++)
        {
            // FastV: layer K−1's attention probabilities, mean over heads of batch 0, the last query row, the image slice, top-k.
            using var scope = NewDisposeScope();
            Tensor? pattern = null;
            var hooks = new DecoderHooks { AttentionPattern = (l, p) => { if (l == k - 1) pattern = p.clone().DetachFromDisposeScope(); } };
            using (m.Decoder.Forward(input.Embeds, input.Positions, hooks)) { }
            using var pat = pattern!;
            var scores = pat.to(ScalarType.Float32).mean([1])[0][-1][image.Start..image.End];           // [B, H, N, N] → [n]
            foreach (var keep in new[] { 0.5, 0.25, 0.1 })
            {
                int count = Pruning.KeepCount(image.Length, keep);
                var expectedKept = scores.topk(count).indexes.data<long>().Select(i => image.Start + (int)i).Order().ToArray();
                var withdrawn = Pruning.FastVWithdrawn(clean, image, k, keep).ToHashSet();
                var kept = image.Positions().Where(p => !withdrawn.Contains(p)).ToArray();
                Assert.Equal(expectedKept, kept);
            }
        }
    }

    [SharedFact]
    public void FastV_Ranking_Without_The_Attention_Says_How_To_Get_It()
    {
        var c = FixtureCase.Load("tiny-llava-1.5", "ironing_rel");
        using var m = LoadedModel.Load(Folder("tiny-llava-1.5"));
        using var input = PreparedInput.Create(m, c.ImagePath, c.Question);
        using var clean = CleanRun.Create(m.Decoder, input.Embeds, input.Positions);
        Assert.Null(clean.LastRowAttention);
        var e = Assert.Throws<InvalidOperationException>(() => Pruning.FastVWithdrawn(clean, input.Layout.Image, 2, 0.5));
        Assert.Contains("keepLastRowAttention", e.Message);
    }

    /// <summary>log p(target) and top-1 of a full forward whose columns <paramref name="withdrawn"/> are masked for every row in layers ≥ k.</summary>
    private static (double LogP, long Top1) Masked(CleanRun clean, IReadOnlyList<int> withdrawn, int k)
    {
        var d = clean.Decoder;
        using var scope = NewDisposeScope();
        var cols = new bool[clean.SeqLen];
        foreach (var w in withdrawn) cols[w] = true;
        var blocked = tensor(cols, device: d.Device).reshape(1, 1, 1, clean.SeqLen);
        var hooks = new DecoderHooks { AttentionMask = (l, causal) => l >= k ? causal.masked_fill(blocked, Masks.MinValue(d.DType)) : null };
        using var output = d.Forward(clean.Embeds, clean.Positions, hooks);
        return Score(output.LastLogits[0], clean.TargetTokenId);
    }

    /// <summary>
    /// log p(target) and top-1 when <paramref name="withdrawn"/> are removed from layer k on: the residual entering layer k at
    /// the kept positions (layers below k ran on the whole sequence), then layers k … L−1 on the shortened sequence with the
    /// kept positions' own (1-D or M-RoPE) ids and a plain causal mask.
    /// </summary>
    private static (double LogP, long Top1) Removed(CleanRun clean, IReadOnlyList<int> withdrawn, int k)
    {
        var d = clean.Decoder;
        using var scope = NewDisposeScope();
        var gone = withdrawn.ToHashSet();
        var kept = Enumerable.Range(0, (int)clean.SeqLen).Where(p => !gone.Contains(p)).ToArray();
        var h = clean.LayerInputs[k].index_select(1, tensor(kept.Select(p => (long)p).ToArray(), device: d.Device));   // [1, q, D]
        var axes = Enumerable.Range(0, clean.Positions.Axes).Select(a => kept.Select(p => clean.Positions.Axis(a)[p]).ToArray()).ToList();
        var rot = d.RotaryFor(PositionIds.FromAxes(axes), 0, kept.Length);
        var mask = Masks.Causal(kept.Length, 0, d.DType, d.Device);
        for (int l = k; l < d.NumLayers; l++)
        {
            var none = clean.Cache.Keys[l]![.., .., ..0, ..];                                                            // no prefix: [1, kv, 0, hd]
            h = d.ForwardSuffix(l, h, rot, mask, none, clean.Cache.Values[l]![.., .., ..0, ..]);
        }
        return Score(d.Unembed(d.FinalNorm(h[.., -1, ..]))[0], clean.TargetTokenId);
    }

    /// <summary>log softmax in float64 (a float32 one over a 152k vocabulary is itself off by ~1e-6), and the argmax.</summary>
    private static (double LogP, long Top1) Score(Tensor logits, long target)
    {
        var lp = logits.to(ScalarType.Float64).log_softmax(-1).cpu();
        return (lp[target].item<double>(), lp.argmax().item<long>());
    }
}

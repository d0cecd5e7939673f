using ModalFlow.Models;
using ModalFlow.Tests.Support;
using Xunit;
using static TorchSharp.torch;

namespace ModalFlow.Tests.Models;

/// <summary>Native memory discipline: repeated forwards leave no tensor alive.</summary>
public sealed class MemoryTests(TinyLlava15 fx) : IClassFixture<TinyLlava15>
{
    private void OneSample(FixtureCase c)
    {
        using var scope = NewDisposeScope();
        var npy = NpyArray.Load(c.PixelValuesPath);
        var features = fx.F32.EncodeImages(tensor(npy.AsFloats(), npy.Shape))[0];
        var embeds = fx.F32.EmbedSequence(c.Array("input_ids").AsLongs(), c.PlaceholderIndex, features);
        using var output = fx.F32.LanguageModel.Forward(embeds, keepResiduals: true);
        _ = Generation.Greedy(fx.F32.LanguageModel, embeds, 3, [2]);
    }

    [SharedFact]
    public void Repeated_Forwards_And_Generation_Leave_The_Live_Tensor_Count_Unchanged()
    {
        var c = FixtureCase.Load(TinyLlava15.Name, "dog_jar");
        OneSample(c); // warm-up: lazily created state is not a leak
        long before = LiveTensors.Count();
        for (int i = 0; i < 5; i++) OneSample(c);
        Assert.Equal(before, LiveTensors.Count());
    }

    [SharedFact]
    public void Greedy_First_Token_Is_The_Clean_Top1_And_Kv_Extension_Equals_A_Full_Forward()
    {
        var c = FixtureCase.Load(TinyLlava15.Name, "ironing_rel");
        using var scope = NewDisposeScope();
        var npy = NpyArray.Load(c.PixelValuesPath);
        var lm = fx.F32.LanguageModel;
        var embeds = fx.F32.EmbedSequence(c.Array("input_ids").AsLongs(), c.PlaceholderIndex, fx.F32.EncodeImages(tensor(npy.AsFloats(), npy.Shape))[0]);
        var result = Generation.Greedy(lm, embeds, 4, []);
        Assert.Equal(4, result.TokenIds.Count);
        Assert.Equal(c.Top1Id, result.FirstTokenId);
        // Teacher-force the generated tokens in one full pass: its last logits must pick the same 4th token.
        var ids = tensor(result.TokenIds.Take(3).ToArray(), dtype: ScalarType.Int64).unsqueeze(0);
        var full = cat([embeds, lm.Embed(ids)], 1);
        using var output = lm.Forward(full);
        Assert.Equal(result.TokenIds[3], output.LastLogits[0].argmax().item<long>());
        // And the cached path's logits equal the full pass's numerically.
        using var cache = new KvCache(lm.NumLayers);
        using var prompt = lm.Forward(embeds, fillCache: cache);
        var extended = lm.Extend(lm.Embed(ids), cache);
        Assert.Equal(embeds.shape[1] + 3, cache.Length);
        Compare.AllClose(output.LastLogits[0].data<float>().ToArray(), extended[0].data<float>().ToArray(), 1e-4, "extend vs full logits");
    }
}

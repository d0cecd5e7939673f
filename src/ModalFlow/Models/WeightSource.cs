using ModalFlow.Platform;
using TorchSharp;
using static TorchSharp.torch;

namespace ModalFlow.Models;

/// <summary>
/// Where a module gets its tensors while the tree is built: each module asks for its own keys (canonical
/// llava-hf names) with the shape it expects. Building from a source means one copy of the weights, no
/// random initialisation first. Sources record every problem and <see cref="Finish"/> reports them together.
/// </summary>
public abstract class WeightSource
{
    private readonly List<string> _missing = [];
    private readonly List<string> _shapeErrors = [];
    private readonly HashSet<string> _taken = [];

    protected WeightSource(ScalarType dtype, Device device)
    {
        DType = dtype;
        Device = device;
    }

    public ScalarType DType { get; }
    public Device Device { get; }

    /// <summary>Parameters require gradients (training a toy model); false for inference, the default.</summary>
    public bool Trainable { get; init; }

    /// <summary>Keys handed out so far (canonical names).</summary>
    public IReadOnlyCollection<string> Taken => _taken;

    /// <summary>A tensor for <paramref name="key"/> with exactly <paramref name="shape"/>, in this source's dtype and device.</summary>
    public Tensor Take(string key, params long[] shape)
    {
        if (!_taken.Add(key)) throw new InvalidOperationException($"weight '{key}' requested twice while building the model");
        var t = TryLoad(key, shape, out var actualShape);
        if (t is null)
        {
            if (actualShape is null) _missing.Add(key);
            else _shapeErrors.Add($"{key}: checkpoint has [{string.Join(", ", actualShape)}], {ConfigName} implies [{string.Join(", ", shape)}]");
            // A placeholder keeps the build going so that every problem is reported at once.
            return empty(shape, dtype: DType, device: META);
        }
        return t;
    }

    /// <summary>Returns the tensor, or null with <paramref name="actualShape"/> set when the shape differs (null when absent).</summary>
    protected abstract Tensor? TryLoad(string key, long[] shape, out long[]? actualShape);

    /// <summary>Keys present in the source that no module asked for and that are not known to be unused.</summary>
    protected virtual IEnumerable<string> Unexpected() => [];

    /// <summary>Describes the source in error messages (a folder or file name).</summary>
    public virtual string Describe => GetType().Name;

    /// <summary>Where the shapes the modules ask for come from, in error messages ("config.json" for a checkpoint folder).</summary>
    public virtual string ConfigName => "the config";

    /// <summary>Throws one <see cref="InputException"/> listing missing, mis-shaped and unexpected tensors.</summary>
    public void Finish()
    {
        var unexpected = Unexpected().ToList();
        if (_missing.Count == 0 && _shapeErrors.Count == 0 && unexpected.Count == 0) return;
        var parts = new List<string>();
        if (_shapeErrors.Count > 0) parts.Add($"{_shapeErrors.Count} tensor(s) with the wrong shape: " + Sample(_shapeErrors, "; "));
        if (_missing.Count > 0) parts.Add($"{_missing.Count} missing tensor(s): " + Sample(_missing, ", "));
        if (unexpected.Count > 0) parts.Add($"{unexpected.Count} unexpected tensor(s): " + Sample(unexpected, ", "));
        throw new InputException(Describe, "weights", $"does not match {ConfigName}: " + string.Join(". ", parts));
    }

    private static string Sample(List<string> items, string sep) =>
        string.Join(sep, items.Take(8)) + (items.Count > 8 ? $"{sep}… ({items.Count - 8} more)" : "");
}

/// <summary>Shapes only, on the meta device: builds the module tree of a real 7B config without memory.</summary>
public sealed class MetaWeightSource() : WeightSource(ScalarType.Float32, META)
{
    protected override Tensor? TryLoad(string key, long[] shape, out long[]? actualShape)
    {
        actualShape = shape;
        return empty(shape, dtype: DType, device: META);
    }
}

/// <summary>
/// Seeded random weights for tests and benchmarks (models whose numbers only need to be deterministic).
/// Norm gains ≈ 1, biases small, other matrices N(0, std²); the scale keeps logits peaked like the fixtures'.
/// </summary>
public sealed class RandomWeightSource(long seed, ScalarType dtype, Device device, double std = 0.2, double headStd = 0.6)
    : WeightSource(dtype, device)
{
    private readonly Generator _gen = new Generator((ulong)seed, device: CPU);

    protected override Tensor? TryLoad(string key, long[] shape, out long[]? actualShape)
    {
        actualShape = shape;
        using var scope = NewDisposeScope();
        Tensor t;
        if (key.EndsWith("norm.weight", StringComparison.Ordinal) || key.Contains("layer_norm") || key.Contains("layrnorm"))
            t = key.EndsWith(".bias", StringComparison.Ordinal) ? TensorFactories.Normal(0, 0.02, shape, _gen) : TensorFactories.Normal(1, 0.1, shape, _gen);
        else if (key.EndsWith(".bias", StringComparison.Ordinal))
            t = TensorFactories.Normal(0, 0.02, shape, _gen);
        else if (key.Contains("embed_tokens") || key.EndsWith("image_newline", StringComparison.Ordinal))
            t = TensorFactories.Normal(0, 1.0, shape, _gen);
        else if (key.Contains("embeddings."))
            t = TensorFactories.Normal(0, 0.5, shape, _gen);
        else if (key.Contains("lm_head"))
            t = TensorFactories.Normal(0, headStd, shape, _gen);
        else
            t = TensorFactories.Normal(0, std, shape, _gen);
        return t.to(DType, Device).MoveToOuterDisposeScope();
    }
}

using System.Text.Json;
using ModalFlow.Inference;

namespace ModalFlow.Families;

/// <summary>What config.json says a checkpoint is, before any family parses it.</summary>
/// <param name="File">The config.json path (named in errors).</param>
/// <param name="Architectures">Its <c>architectures</c> list (may be empty).</param>
/// <param name="ModelType">Its top-level <c>model_type</c>, if any.</param>
/// <param name="Keys">Its top-level keys (original LLaVA configs are recognised by <c>mm_vision_tower</c>).</param>
public sealed record ConfigIdentity(string File, IReadOnlyList<string> Architectures, string? ModelType, IReadOnlySet<string> Keys);

/// <summary>
/// A model family: everything that differs between VLMs (config, weight names, vision encoder and projector, decoder,
/// tokenizer and chat template, image preprocessing, which image token covers which pixels, position ids) behind
/// <see cref="ModelFolder"/> (no weights) and <see cref="LoadedModel"/> (weights). Tracing, the runner and the CLI use
/// only those two. A new family is one folder under Families/ plus its line in <see cref="ModelFamilies.All"/>.
/// </summary>
public interface IModelFamily
{
    /// <summary>Short name, as printed and recorded in run manifests (e.g. "llava", "qwen2-vl").</summary>
    string Name { get; }

    /// <summary>The config.json architectures it opens (listed in the error for an unsupported checkpoint).</summary>
    IReadOnlyList<string> Architectures { get; }

    /// <summary>Whether this family is the one to parse <paramref name="config"/> (it may still refuse it, with a precise error).</summary>
    bool Claims(ConfigIdentity config);

    /// <summary>Reads and validates the folder's small files (config, tokenizer, preprocessing): no weights.</summary>
    ModelFolder Open(string directory, LoadOptions options);
}

/// <summary>The registered families, and the one place a folder's family is decided.</summary>
public static class ModelFamilies
{
    /// <summary>Registration: one line per family, most specific first (LLaVA claims every other Llava* architecture).</summary>
    public static IReadOnlyList<IModelFamily> All { get; } =
    [
        Qwen2Vl.Qwen2VlFamily.Instance,
        LlavaOnevision.LlavaOnevisionFamily.Instance,
        Llava.LlavaFamily.Instance,
    ];

    /// <summary>The family of a checkpoint folder, from its config.json.</summary>
    /// <exception cref="InputException">No folder, no config.json, invalid JSON, or an architecture no family supports.</exception>
    public static IModelFamily Detect(string directory) => Detect(Identify(directory));

    public static IModelFamily Detect(ConfigIdentity config) =>
        All.FirstOrDefault(f => f.Claims(config))
        ?? throw new InputException(config.File, config.Architectures.Count > 0 ? "architectures" : "model_type",
            $"{Describe(config)} is not supported; expected one of {string.Join(", ", All.SelectMany(f => f.Architectures.Select(a => $"{a} ({f.Name})")))}");

    /// <summary>Opens a checkpoint folder with its family (<see cref="ModelFolder.Read"/>).</summary>
    public static ModelFolder Open(string directory, LoadOptions options) => Detect(directory).Open(directory, options);

    /// <summary>Reads config.json's identifying fields.</summary>
    public static ConfigIdentity Identify(string directory)
    {
        if (!System.IO.Directory.Exists(directory))
            throw new InputException(directory, null, "model folder not found; expected a folder with config.json, weights (*.safetensors or pytorch_model*.bin) and tokenizer files");
        var file = Path.Combine(directory, "config.json");
        if (!File.Exists(file))
            throw new InputException(file, null, "config.json not found; expected a Hugging Face checkpoint folder with config.json");
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(file), new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new InputException(file, null, "expected a JSON object at the top level");
            var archs = root.TryGetProperty("architectures", out var a) && a.ValueKind == JsonValueKind.Array
                ? a.EnumerateArray().Where(x => x.ValueKind == JsonValueKind.String).Select(x => x.GetString()!).ToArray()
                : [];
            var modelType = root.TryGetProperty("model_type", out var mt) && mt.ValueKind == JsonValueKind.String ? mt.GetString() : null;
            return new ConfigIdentity(file, archs, modelType, root.EnumerateObject().Select(p => p.Name).ToHashSet(StringComparer.Ordinal));
        }
        catch (JsonException e) { throw new InputException(file, null, $"is not valid JSON (line {e.LineNumber + 1}): {e.Message}", e); }
        catch (IOException e) { throw new InputException(file, null, "could not be read: " + e.Message, e); }
    }

    private static string Describe(ConfigIdentity c) => c.Architectures.Count > 0
        ? $"[{string.Join(", ", c.Architectures)}]" + (c.ModelType is null ? "" : $" (model_type '{c.ModelType}')")
        : c.ModelType is null ? "a config without architectures or model_type" : $"model_type '{c.ModelType}'";
}

namespace ModalFlow.Toy;

/// <summary>
/// The trained toy LLaVA and its held-out questions that ship with ModalFlow (repository folder assets/toy, copied
/// next to every build output as toy/): the default model of `modalflow demo`, needing no network and no ../shared.
/// </summary>
public static class EmbeddedToy
{
    public const string FolderName = "toy";

    /// <summary>The embedded folder beside the running assembly.</summary>
    public static string Root => Path.Combine(AppContext.BaseDirectory, FolderName);

    /// <summary>llava-hf checkpoint folder (config, safetensors, tokenizer, preprocessor config, README with its recipe).</summary>
    public static string ModelDir => Path.Combine(Root, "model");

    /// <summary>Held-out toy questions: toy_&lt;Task&gt;.csv (the paper's schemas) and images/.</summary>
    public static string EvalDir => Path.Combine(Root, "eval");

    /// <summary>Throws a clear error when the build output lacks the embedded files (a build without assets/toy).</summary>
    public static void EnsurePresent()
    {
        foreach (var path in new[] { Path.Combine(ModelDir, "config.json"), Path.Combine(ModelDir, "model.safetensors"), Path.Combine(EvalDir, "images") })
            if (!File.Exists(path) && !Directory.Exists(path))
                throw new InputException(path, "embedded toy model", "not found; expected the build to copy the repository's assets/toy next to the program (rebuild, or pass --model)");
    }
}

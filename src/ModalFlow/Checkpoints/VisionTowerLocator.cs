namespace ModalFlow.Checkpoints;

/// <summary>
/// Finds the CLIP folder that an original LLaVA config's <c>mm_vision_tower</c> names (a hub id such as
/// <c>openai/clip-vit-large-patch14-336</c>; LLaVA-1.5 checkpoints do not contain the tower). Looked for, in order:
/// <list type="number">
/// <item>an explicit folder (<c>--vision-tower DIR</c> / <c>LoadOptions.VisionTowerPath</c>), which must exist;</item>
/// <item><c>mm_vision_tower</c> itself when it is an existing absolute path (LLaVA accepts local paths);</item>
/// <item>a sibling of the model folder named like the id's last component (<c>../clip-vit-large-patch14-336</c>),
/// or like the whole id with "/" written "__" (<c>../openai__clip-vit-large-patch14-336</c>).</item>
/// </list>
/// Nothing is downloaded.
/// </summary>
public static class VisionTowerLocator
{
    /// <summary>"openai/clip-vit-large-patch14-336" → "clip-vit-large-patch14-336" (also for paths, trailing "/" ignored).</summary>
    public static string LastComponent(string id)
    {
        var trimmed = id.TrimEnd('/', '\\');
        int i = trimmed.LastIndexOfAny(['/', '\\']);
        return i >= 0 ? trimmed[(i + 1)..] : trimmed;
    }

    /// <summary>The folders that would be tried for <paramref name="towerId"/> beside <paramref name="modelDir"/>, in order.</summary>
    public static IReadOnlyList<string> Candidates(string modelDir, string towerId)
    {
        var list = new List<string>();
        if (Path.IsPathRooted(towerId)) list.Add(Path.GetFullPath(towerId));
        var parent = Path.GetDirectoryName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(modelDir)));
        if (parent is not null)
        {
            var last = LastComponent(towerId);
            if (last.Length > 0 && last != "." && last != "..") list.Add(Path.Combine(parent, last));
            var flat = towerId.Trim('/').Replace("/", "__", StringComparison.Ordinal);
            if (!Path.IsPathRooted(towerId) && flat != last && !flat.Contains("..", StringComparison.Ordinal)) list.Add(Path.Combine(parent, flat));
        }
        return list.Distinct(StringComparer.Ordinal).ToList();
    }

    /// <summary>
    /// The tower folder, or null when none of the candidates exists (the model may hold the tower itself: LLaVA-NeXT
    /// originals). An explicit folder that does not exist is an error.
    /// </summary>
    public static string? Locate(string modelDir, string towerId, string? explicitDir)
    {
        if (explicitDir is not null)
        {
            var full = Path.GetFullPath(explicitDir);
            if (!Directory.Exists(full))
                throw new InputException(full, "--vision-tower", $"folder not found; expected the CLIP model folder for mm_vision_tower '{towerId}' (config.json and model.safetensors or pytorch_model.bin)");
            return full;
        }
        return Candidates(modelDir, towerId).FirstOrDefault(Directory.Exists);
    }

    /// <summary>The error when the tower is needed and was not found.</summary>
    public static InputException NotFound(string modelDir, string towerId) => new(modelDir, "mm_vision_tower",
        $"the checkpoint holds no CLIP tower (model.vision_tower.vision_tower.vision_model.*) and no folder for '{towerId}' was found; looked for " +
        string.Join(", ", Candidates(modelDir, towerId)) +
        ". Download that model (config.json and its weights) beside the model folder, or pass --vision-tower DIR (LoadOptions.VisionTowerPath)");
}

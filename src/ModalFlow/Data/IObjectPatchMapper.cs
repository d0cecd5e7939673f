namespace ModalFlow.Data;

/// <summary>
/// Experiment 3's object patches for one model family: the paper's exact-red rule (a box mask sent through the family's
/// own image geometry) mapped onto the family's image-token block. Each family has one (LLaVA pad/crop and NeXT anyres:
/// <see cref="ObjectPatchMapper"/>; Qwen2-VL and OneVision in their family folders).
/// </summary>
public interface IObjectPatchMapper
{
    /// <summary>Related / other (and newline) token indices, relative to the image block, of <paramref name="boxes"/> on a
    /// <paramref name="width"/> x <paramref name="height"/> image.</summary>
    ObjectPatchSets Map(int width, int height, IReadOnlyList<Box> boxes);
}

public static class ObjectPatchMapperExtensions
{
    /// <summary>The patch sets of a task row (its <see cref="GqaTaskRow.PatchBoxes"/> on its image size).</summary>
    public static ObjectPatchSets Map(this IObjectPatchMapper mapper, GqaTaskRow row)
    {
        ArgumentNullException.ThrowIfNull(mapper);
        ArgumentNullException.ThrowIfNull(row);
        return mapper.Map(row.ImageWidth, row.ImageHeight, row.PatchBoxes);
    }
}

using ModalFlow.Models;
using ModalFlow.Text;
using ModalFlow.Vision;
using static TorchSharp.torch;

namespace ModalFlow.Inference;

/// <summary>
/// One (image, question) pair made ready for the decoder: the paper's prompt, its sequence layout, the merged input
/// embeddings [1, N, D] and their position ids. The vision encoder runs once here, never again per knockout.
/// Owns <see cref="Embeds"/>.
/// </summary>
public sealed class PreparedInput : IDisposable
{
    public PreparedInput(SequenceLayout layout, Tensor embeds, PositionIds positions, ImagePlan image, string prompt, string? imageSource)
    {
        if (embeds.dim() != 3 || embeds.shape[0] != 1 || embeds.shape[1] != layout.SeqLen)
            throw new ArgumentException($"embeds must be [1, {layout.SeqLen}, D], got [{string.Join(", ", embeds.shape)}]", nameof(embeds));
        if (positions.Length != layout.SeqLen)
            throw new ArgumentException($"{positions.Length} position ids for a sequence of {layout.SeqLen}", nameof(positions));
        Layout = layout;
        Embeds = embeds;
        Positions = positions;
        Image = image;
        Prompt = prompt;
        ImageSource = imageSource;
    }

    public SequenceLayout Layout { get; }

    /// <summary>[1, N, D] in the model dtype, on the model's device.</summary>
    public Tensor Embeds { get; }

    /// <summary>The decoder's position ids (1-D, or Qwen2-VL's 3-D M-RoPE ids).</summary>
    public PositionIds Positions { get; }

    /// <summary>How the image became tokens (preprocessing, geometry, token count).</summary>
    public ImagePlan Image { get; }
    public string Prompt { get; }

    /// <summary>The image file, when known.</summary>
    public string? ImageSource { get; }

    /// <summary>Decodes <paramref name="imagePath"/> (JPEG/PNG, Pillow-exact) and prepares it with <paramref name="question"/>.</summary>
    /// <param name="mode">Null: the folder's own (<see cref="ModelFolder.Preprocessing"/>).</param>
    public static PreparedInput Create(LoadedModel m, string imagePath, string question, ImageMode? mode = null) =>
        m.Prepare(ImageDecoder.Decode(imagePath), question, mode, imagePath);

    public void Dispose() => Embeds.Dispose();
}

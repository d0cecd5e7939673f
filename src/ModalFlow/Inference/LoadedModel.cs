using ModalFlow.Models;
using ModalFlow.Platform;
using ModalFlow.Text;
using ModalFlow.Vision;

namespace ModalFlow.Inference;

/// <summary>
/// A model folder with its weights loaded: the one entry point the CLI and experiments use, whatever the family.
/// It turns an (image, question) into a <see cref="PreparedInput"/> (vision tower once) and exposes the decoder.
/// </summary>
public abstract class LoadedModel : IDisposable
{
    protected LoadedModel(ModelFolder folder) => Folder = folder;

    public ModelFolder Folder { get; }
    public string Directory => Folder.Directory;
    public ITextTokenizer Tokenizer => Folder.Tokenizer;
    public ConversationTemplate Template => Folder.Template;

    /// <summary>The language model every tracing path runs on.</summary>
    public abstract ITextDecoder Decoder { get; }

    /// <summary>Tokens that end a greedy answer: config.json's eos ids and the tokenizer's.</summary>
    public IReadOnlyList<long> EosTokenIds => Folder.Decoder.EosTokenIds.Select(i => (long)i).Append(Tokenizer.EosId).Distinct().ToArray();

    /// <summary>
    /// The paper's prompt for <paramref name="question"/> with <paramref name="image"/>: preprocessing (mode null = the
    /// folder's own), the vision encoder once, the merged input embeddings and their position ids.
    /// </summary>
    public abstract PreparedInput Prepare(RgbImage image, string question, ImageMode? mode = null, string? source = null);

    /// <summary>Reads <paramref name="directory"/> with its family and loads its weights.</summary>
    public static LoadedModel Load(string directory, LoadOptions? options = null)
    {
        options ??= new LoadOptions();
        TorchRuntime.Initialize();
        return ModelFolder.Read(directory, options).Load(options);
    }

    public abstract void Dispose();
}

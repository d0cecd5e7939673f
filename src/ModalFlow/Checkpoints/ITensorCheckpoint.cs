using TorchSharp;

namespace ModalFlow.Checkpoints;

/// <summary>
/// One weight file addressed by tensor name: a .safetensors file (<see cref="SafetensorsFile"/>) or a PyTorch
/// <c>torch.save</c> zip archive (<see cref="TorchBinFile"/>).
/// </summary>
public interface ITensorFile : IDisposable
{
    /// <summary>Full path of the file.</summary>
    string Path { get; }

    IReadOnlyCollection<string> Names { get; }

    bool Contains(string name);

    /// <summary>
    /// dtype and shape of <paramref name="name"/>; <see cref="InputException"/> when absent. <see cref="TensorInfo.Begin"/> /
    /// <see cref="TensorInfo.End"/> are the bytes the tensor spans: in the data section (safetensors) or in its storage
    /// record <c>data/&lt;key&gt;</c> (.bin, where views of one storage may overlap).
    /// </summary>
    TensorInfo Info(string name);

    /// <summary>A new tensor (never aliasing the file) of <paramref name="dtype"/> on <paramref name="device"/>.</summary>
    torch.Tensor Load(string name, torch.ScalarType dtype, torch.Device device);
}

/// <summary>
/// A model's weights, one file or several shards, addressed by tensor name: what <see cref="CheckpointWeightSource"/>
/// reads. <see cref="TensorCheckpoint.Open"/> picks the implementation (<see cref="SafetensorsCheckpoint"/>,
/// <see cref="TorchBinCheckpoint"/>) from the folder's files.
/// </summary>
public interface ITensorCheckpoint : IDisposable
{
    /// <summary>The folder or file opened, as a full path.</summary>
    string Path { get; }

    /// <summary>"safetensors" or "pytorch .bin", for logs.</summary>
    string FormatName { get; }

    /// <summary>All tensor names, sorted (ordinal).</summary>
    IReadOnlyCollection<string> Names { get; }

    bool Contains(string name);

    /// <summary>dtype and shape of <paramref name="name"/> (see <see cref="ITensorFile.Info"/>); <see cref="InputException"/> when absent.</summary>
    TensorInfo Info(string name);

    /// <summary>The file that holds <paramref name="name"/>.</summary>
    string FileOf(string name);

    /// <summary>Copies tensor <paramref name="name"/> into a new tensor of <paramref name="dtype"/> on <paramref name="device"/>.</summary>
    torch.Tensor Load(string name, torch.ScalarType dtype, torch.Device device);
}

/// <summary>Opens a checkpoint folder or file in whichever format it holds.</summary>
public static class TensorCheckpoint
{
    /// <summary>
    /// A folder: <c>model.safetensors.index.json</c>, else <c>model.safetensors</c>, else
    /// <c>pytorch_model.bin.index.json</c>, else <c>pytorch_model.bin</c>, else every *.safetensors, else every *.bin
    /// (except <c>training_args.bin</c>). A file: by its name (<c>*.safetensors</c>, <c>*.bin</c>/<c>*.pt</c>/<c>*.pth</c>,
    /// <c>*.safetensors.index.json</c>, <c>*.bin.index.json</c>), else by its first bytes (a zip archive is a .bin).
    /// </summary>
    public static ITensorCheckpoint Open(string path)
    {
        var full = System.IO.Path.GetFullPath(path);
        if (Directory.Exists(full))
        {
            bool Has(string name) => File.Exists(System.IO.Path.Combine(full, name));
            if (Has(SafetensorsCheckpoint.IndexFileName) || Has(SafetensorsCheckpoint.SingleFileName)) return SafetensorsCheckpoint.Open(full);
            if (Has(TorchBinCheckpoint.IndexFileName) || Has(TorchBinCheckpoint.SingleFileName)) return TorchBinCheckpoint.Open(full);
            if (Directory.GetFiles(full, "*.safetensors").Length > 0) return SafetensorsCheckpoint.Open(full);
            if (TorchBinCheckpoint.WeightFilesIn(full).Count > 0) return TorchBinCheckpoint.Open(full);
            throw new InputException(full, null,
                $"no checkpoint here; expected {SafetensorsCheckpoint.IndexFileName}, {SafetensorsCheckpoint.SingleFileName}, " +
                $"{TorchBinCheckpoint.IndexFileName}, {TorchBinCheckpoint.SingleFileName}, or *.safetensors / *.bin files");
        }
        if (!File.Exists(full))
            throw new InputException(full, null, "not found; expected a checkpoint folder, a .safetensors / .bin file or an index file");
        if (full.EndsWith(".safetensors.index.json", StringComparison.Ordinal) || full.EndsWith(".safetensors", StringComparison.Ordinal))
            return SafetensorsCheckpoint.Open(full);
        if (full.EndsWith(".bin.index.json", StringComparison.Ordinal) || TorchBinFile.HasTorchExtension(full) || TorchBinFile.LooksLikeZip(full))
            return TorchBinCheckpoint.Open(full);
        return SafetensorsCheckpoint.Open(full);
    }
}

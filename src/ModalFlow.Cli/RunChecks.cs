using ModalFlow.Data;

namespace ModalFlow.Cli;

/// <summary>Checks of a command's inputs that need the file system, made before any model loads or any sample runs.</summary>
public static class RunChecks
{
    /// <summary>
    /// <c>--task NAME</c> must be one of the paper's tasks with its CSV (<c>*_NAME.csv</c>) in the data folder; otherwise
    /// the error names the folder searched and the tasks found there.
    /// </summary>
    public static void Task(string task, string dataDir)
    {
        var folder = Path.GetFullPath(dataDir);
        if (!Directory.Exists(folder))
            throw new InputException(folder, "--data-dir", "folder not found; expected the folder with the paper's task CSVs (<prefix>_<Task>.csv), " +
                "e.g. --data-dir ~/paper/datasets (or give a CSV file with --data instead of --task)");
        var found = GqaTasks.All.Where(t => Directory.EnumerateFiles(folder, "*_" + t + ".csv").Any()).ToList();
        if (found.Contains(task, StringComparer.Ordinal)) return;
        var foundText = found.Count > 0 ? "tasks found there: " + string.Join(", ", found) : "no task CSVs (*_<Task>.csv) found there";
        if (!GqaTasks.All.Contains(task, StringComparer.Ordinal))
            throw new InputException(null, "--task", $"unknown task '{task}'{Suggest.Hint(task, GqaTasks.All)}; the paper's tasks are " +
                $"{string.Join(", ", GqaTasks.All)}. Searched {folder}: {foundText}. For another CSV file use --data FILE.");
        throw new InputException(folder, "--task", $"no file for task {task} (*_{task}.csv) in this folder; {foundText}");
    }

    /// <summary>A model folder and an image file exist (before anything loads).</summary>
    public static void ModelAndImage(string modelDir, string image)
    {
        if (!Directory.Exists(modelDir)) throw new InputException(modelDir, "--model", "folder not found; expected a checkpoint folder with config.json");
        if (!File.Exists(image)) throw new InputException(image, "--image", "file not found; expected a JPEG or PNG image");
    }

    /// <summary>
    /// A one-line note when the window is wider than the model's decoder (depth from config.json, no weights loaded):
    /// the windows are then clipped at the first and last layer, and from ⌈k/2⌉ ≥ L on every window is every layer.
    /// </summary>
    public static string? WindowNote(int window, ModalFlow.Inference.ModelFolder folder)
    {
        int layers = folder.Decoder.Layers;
        if (window <= layers) return null;
        bool flat = (window + 1) / 2 >= layers;
        return $"note: window {window} is wider than the model's {layers} decoder layers (config.json): windows are clipped at the first and last layer" +
            (flat ? $", so every window covers all {layers} layers and the curves are flat; a window of at most {layers} shows where it matters" : "");
    }
}

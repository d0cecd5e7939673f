using ModalFlow.Checkpoints;
using ModalFlow.Data;
using ModalFlow.Experiments;
using ModalFlow.Results;

namespace ModalFlow.Cli;

/// <summary>A shard run folder that can be merged now.</summary>
public sealed record ReadyShard(string Dir, string StorePath, RunManifest Manifest);

/// <summary>
/// Whether shard folders are ready to merge. Merging marks a shard as merged for good, so a shard merged half-done
/// would lose its other samples: one that a process still writes, or that has fewer finished samples than its slice of
/// the data file (when that file is readable here and unchanged), is not ready.
/// </summary>
public static class ShardCheck
{
    public static (IReadOnlyList<ReadyShard> Ready, IReadOnlyList<string> NotReady) Inspect(IEnumerable<string> dirs)
    {
        var ready = new List<ReadyShard>();
        var notReady = new List<string>();
        foreach (var arg in dirs)
        {
            var path = Path.GetFullPath(File.Exists(arg) ? arg : Path.Combine(arg, RunStore.FileName));
            var dir = Path.GetDirectoryName(path)!;
            if (!File.Exists(path)) { notReady.Add($"{arg}: no {RunStore.FileName} (the shard has not run, or this is not a run folder)"); continue; }
            using var store = RunStore.Open(path);
            var m = store.Manifest ?? throw new InputException(path, "manifest", "has no manifest; expected a run store written by `modalflow run`");
            var name = $"shard {m.ShardIndex}/{m.ShardCount} ({dir})";
            if (store.MergedShards().Count > 0) throw new InputException(path, "shard", "is itself a merged store; expected the shard folders written by `modalflow run --shard i/n`");
            if (RunFolderLock.ActiveWriter(dir) is { } writer) { notReady.Add($"{name}: still being written by {writer}"); continue; }
            var (done, excluded) = store.Counts();
            if (SliceSize(m) is { } size && done + excluded < size)
            {
                notReady.Add($"{name}: unfinished, {done + excluded} of {size} samples (resume it with its `modalflow run` command)");
                continue;
            }
            ready.Add(new ReadyShard(dir, path, m));
        }
        return (ready, notReady);
    }

    /// <summary>The number of samples in the shard's slice, or null when its data file cannot be read here or has changed.</summary>
    private static int? SliceSize(RunManifest m)
    {
        try
        {
            if (!File.Exists(m.DataFile) || Fingerprint.OfFile(m.DataFile) != m.DataFingerprint) return null;
            var data = GqaTaskReader.ReadFile(m.DataFile, m.Task);
            return ExperimentRunner.Slice(data.Rows, m.Limit, m.ShardIndex, m.ShardCount).Count;
        }
        catch (InputException) { return null; }
    }
}

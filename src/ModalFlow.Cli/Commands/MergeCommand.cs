using System.CommandLine;
using ModalFlow.Results;

namespace ModalFlow.Cli.Commands;

/// <summary>
/// `modalflow merge`: combines shard run folders into one run folder, each shard exactly once, then reports. Every
/// shard is checked before anything is written: one still being written, or (where its data file can be read) not
/// finished, counts as missing, and a merge with shards missing is refused unless --allow-partial (the store then
/// knows which are missing and the report says so at the top).
/// </summary>
public static class MergeCommand
{
    public static Command Create(CliContext ctx)
    {
        var outDir = CommonOptions.Out("The merged run folder (one writer at a time)");
        var allowPartial = new Option<bool>("--allow-partial")
        {
            Description = "Merge the shards that are ready even when others are missing or unfinished; the report says it is partial, and the rest can be merged later",
        };
        var shards = new Argument<string[]>("shards") { Description = "Shard run folders (each written by `modalflow run --shard i/n`)", Arity = ArgumentArity.OneOrMore, HelpName = "SHARD_DIR" };
        var cmd = new Command("merge", "Merge shard runs into one run (each shard at most once)") { outDir, allowPartial, shards };
        cmd.SetAction(parse => ctx.Guard(parse, () =>
        {
            var target = Path.GetFullPath(parse.GetValue(outDir)!);
            var targetPath = Path.Combine(target, RunStore.FileName);
            var (ready, notReady) = ShardCheck.Inspect(parse.GetValue(shards)!);

            // What the merged store will hold, decided before anything is written.
            IReadOnlyList<int> already = [];
            int? count = null;
            if (File.Exists(targetPath))
            {
                using var existing = RunStore.Open(targetPath);
                already = existing.MergedShards();
                count = existing.Manifest?.ShardCount;
            }
            count ??= ready.FirstOrDefault()?.Manifest.ShardCount;
            foreach (var s in ready)
            {
                if (s.Manifest.ShardCount != count)
                    throw new InputException(s.StorePath, "shard", $"is shard {s.Manifest.ShardIndex}/{s.Manifest.ShardCount}, but this merge has {count} shards; expected shards of one run");
                if (already.Contains(s.Manifest.ShardIndex))
                    throw new InputException(s.StorePath, "shard", $"shard {s.Manifest.ShardIndex}/{count} was already merged into {targetPath}; merging it twice would duplicate its rows. Nothing was merged.");
                if (ready.Count(r => r.Manifest.ShardIndex == s.Manifest.ShardIndex) > 1)
                    throw new InputException(s.StorePath, "shard", $"shard {s.Manifest.ShardIndex}/{count} is given twice ({string.Join(", ", ready.Where(r => r.Manifest.ShardIndex == s.Manifest.ShardIndex).Select(r => r.Dir))}). Nothing was merged.");
            }
            if (count is null)
                throw new InputException(null, "shards", "no shard is ready to merge: " + string.Join("; ", notReady));
            var missing = Enumerable.Range(1, count.Value).Except(already).Except(ready.Select(r => r.Manifest.ShardIndex)).ToList();
            var mergedAfter = count.Value - missing.Count;
            if (missing.Count > 0 && !parse.GetValue(allowPartial))
                throw new InputException(target, "shards", $"{missing.Count} of {count} shards missing ({string.Join(", ", missing)})" +
                    (notReady.Count > 0 ? ": " + string.Join("; ", notReady) : "") +
                    $". Nothing was merged. Merge when every shard has finished, or add --allow-partial to merge the {mergedAfter} ready now " +
                    "(the report then says it is partial; merge the others into the same --out later).");

            using (var store = RunStore.OpenWriter(targetPath))
            {
                foreach (var s in ready)
                {
                    using var shard = RunStore.Open(s.StorePath);
                    store.MergeShard(shard);
                    ctx.Err.WriteLine($"merged shard {s.Manifest.ShardIndex}/{s.Manifest.ShardCount} from {s.StorePath}");
                }
            }
            foreach (var n in notReady) ctx.Err.WriteLine("not merged: " + n);
            ctx.Out.WriteLine(missing.Count == 0
                ? $"all {count} shards merged into {target}"
                : $"{mergedAfter} of {count} shards merged into {target}; still missing: {string.Join(", ", missing)} (partial: the report says so)");
            return ReportCommand.Generate(ctx, target) is { Passed: false } ? CliContext.ExitSelfCheckFailed : CliContext.ExitOk;
        }));
        return cmd;
    }
}

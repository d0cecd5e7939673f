using System.CommandLine;
using ModalFlow.Results;

namespace ModalFlow.Cli.Commands;

/// <summary>`modalflow merge`: combines shard run folders into one run folder exactly once, then reports.</summary>
public static class MergeCommand
{
    public static Command Create(CliContext ctx)
    {
        var outDir = new Option<string>("--out") { Description = "The merged run folder", Required = true };
        var shards = new Argument<string[]>("shards") { Description = "Shard run folders (each written by `modalflow run --shard i/n`)", Arity = ArgumentArity.OneOrMore };
        var cmd = new Command("merge", "Merge shard runs into one run (each shard at most once)") { outDir, shards };
        cmd.SetAction(parse => ctx.Guard(parse, () =>
        {
            var target = parse.GetValue(outDir)!;
            Directory.CreateDirectory(target);
            using var store = RunStore.Open(Path.Combine(target, RunStore.FileName));
            foreach (var dir in parse.GetValue(shards)!)
            {
                var path = File.Exists(dir) ? dir : Path.Combine(dir, RunStore.FileName);
                if (!File.Exists(path)) throw new InputException(path, "shard", "not found; expected a run folder with run.sqlite");
                using var shard = RunStore.Open(path);
                store.MergeShard(shard);
                var m = shard.Manifest!;
                ctx.Err.WriteLine($"merged shard {m.ShardIndex}/{m.ShardCount} from {path}");
            }
            var merged = store.MergedShards();
            int count = store.Manifest!.ShardCount;
            var missing = Enumerable.Range(1, count).Except(merged).ToList();
            ctx.Out.WriteLine(missing.Count == 0
                ? $"all {count} shards merged into {Path.GetFullPath(target)}"
                : $"{merged.Count} of {count} shards merged; still missing: {string.Join(", ", missing)}");
            ReportCommand.Generate(ctx, target);
            return CliContext.ExitOk;
        }));
        return cmd;
    }
}

using ModalFlow.Data;
using ModalFlow.Experiments;
using ModalFlow.Results;
using ModalFlow.Tests.Support;
using ModalFlow.Tracing;
using ModalFlow.Vision;
using Xunit;
using Xunit.Abstractions;

namespace ModalFlow.Tests.Experiments;

/// <summary>
/// Experiment 3 with empty patch sets, as the paper runs it: a box covering the whole image leaves no "other" patch
/// (and a tiny box can leave no "related" one); the paper's knockout then blocks nothing and the sample adds p2 = p1 to
/// that curve, while its other curves are computed normally. ModalFlow keeps such samples by default.
/// </summary>
public sealed class EmptyPositionSetTests(ITestOutputHelper log) : IDisposable
{
    private readonly DirectoryInfo _tmp = Directory.CreateTempSubdirectory("mf-empty-");
    private static string PaperGqa => SharedData.DataFile("paper-gqa");

    public void Dispose() => _tmp.Delete(true);

    /// <summary>Rows of the paper's six CSVs whose related or other set is empty under a geometry.</summary>
    private static List<(GqaTaskRow Row, ObjectPatchSets Sets)> EmptyRows(IObjectPatchMapper mapper) =>
        GqaTasks.All.SelectMany(t => GqaTaskReader.ReadTask(PaperGqa, t).Rows)
            .Select(r => (Row: r, Sets: mapper.Map(r)))
            .Where(x => x.Sets.Related.Length == 0 || x.Sets.Other.Length == 0)
            .ToList();

    [SharedFact]
    public void Paper_Rows_With_An_Empty_Patch_Set_Are_9_For_LLaVA15_And_97_For_LLaVA_NeXT()
    {
        // The counts stated in issue 11 (computed there with the paper's own code on its CSVs).
        var pad = EmptyRows(ObjectPatchMapper.Llava15Pad());
        var next = EmptyRows(ObjectPatchMapper.LlavaNextAnyres(AnyresArithmetic.LlavaNext));
        log.WriteLine($"LLaVA-1.5 pad: {pad.Count} rows ({pad.Count(x => x.Sets.Related.Length == 0)} without related, {pad.Count(x => x.Sets.Other.Length == 0)} without other)");
        log.WriteLine($"LLaVA-NeXT anyres: {next.Count} rows ({next.Count(x => x.Sets.Related.Length == 0)} without related, {next.Count(x => x.Sets.Other.Length == 0)} without other)");
        Assert.Equal(9, pad.Count);
        Assert.Equal(97, next.Count);
    }

    [SharedFact]
    public void Exp3_Keeps_A_Sample_With_An_Empty_Set_Where_Nothing_Is_Blocked_And_P2_Equals_P1()
    {
        var empty = EmptyRows(ObjectPatchMapper.Llava15Pad()).First(x => x.Sets.Other.Length == 0).Row;
        var normal = GqaTaskReader.ReadTask(PaperGqa, empty.Task).Rows.First(r =>
        {
            var s = ObjectPatchMapper.Llava15Pad().Map(r);
            return s.Related.Length > 0 && s.Other.Length > 0;
        });
        var csv = SubsetCsv(empty.File, [normal, empty]);
        var images = TaskImages.Create([normal, empty], Path.Combine(_tmp.FullName, "images"));
        RunOptions Options(string outDir, string emptySets) => new()
        {
            Model = SharedData.Fixture("tiny-llava-1.5"), Task = csv, Images = images, Experiment = ExperimentDefinition.Exp3,
            Out = Path.Combine(_tmp.FullName, outDir), Window = 3, Filter = "none", EmptySets = emptySets, ImageMode = ImageMode.Pad,
        };

        ExperimentRunner.Run(Options("keep", "keep"));
        using (var store = RunStore.Open(Path.Combine(_tmp.FullName, "keep", RunStore.FileName)))
        {
            Assert.Equal((2, 0), store.Counts());
            var rows = store.KnockoutRows().Where(r => r.QuestionId == empty.QuestionId).ToList();
            Assert.Equal(ExperimentDefinition.Exp3.Blocks.Order(), rows.Select(r => r.BlockDesc).Distinct().Order());
            var other = rows.Where(r => r.BlockDesc.StartsWith(ObjectPatchSets.OtherName, StringComparison.Ordinal)).ToList();
            Assert.Equal(8, other.Count);                                   // every window centre of the 8-layer model
            Assert.All(other, r => Assert.True(r.NewScore == r.BaseScore && r.RelativeDiff == 0, $"layer {r.Layer}: {r.NewScore:R} vs {r.BaseScore:R}"));
            // The related set is not empty: its knockouts really ran.
            Assert.Contains(rows, r => r.BlockDesc.StartsWith(ObjectPatchSets.RelatedName, StringComparison.Ordinal) && r.NewScore != r.BaseScore);
            // Recorded as such: the kept sample carries a "nothing blocked" note naming the empty set; the other has none.
            var note = Assert.Single(store.NotedSamples());
            Assert.Equal((empty.QuestionId, SampleNote.NothingBlockedReason), (note.QuestionId, note.Reason));
            Assert.Contains(ObjectPatchSets.OtherName, note.Detail);
        }
        Assert.Contains("1 kept with nothing blocked", Report("keep"));

        ExperimentRunner.Run(Options("exclude", "exclude"));
        using (var store = RunStore.Open(Path.Combine(_tmp.FullName, "exclude", RunStore.FileName)))
        {
            Assert.Equal((1, 1), store.Counts());
            var e = Assert.Single(store.Excluded());
            Assert.Equal((empty.QuestionId, "empty position set"), (e.QuestionId, e.Reason));
            Assert.Contains(ObjectPatchSets.OtherName, e.Detail);
            Assert.Empty(store.NotedSamples());
        }
        Assert.Contains("0 kept with nothing blocked", Report("exclude"));
    }

    /// <summary>The report of a finished run folder, written as <c>modalflow report</c> writes it (no figures).</summary>
    private string Report(string outDir)
    {
        var dir = Path.Combine(_tmp.FullName, outDir);
        using var store = RunStore.Open(Path.Combine(dir, RunStore.FileName));
        return File.ReadAllText(ResultsPipeline.Run(dir, store.Results(), figures: false).Report);
    }

    [SharedFact]
    public void A_Knockout_That_Blocks_Nothing_Equals_A_Full_Forward_Without_Edits()
    {
        // The engines answer an empty set with the clean distribution; a naive forward whose every edit is a causal
        // no-op (sources after all targets) computes it: the two agree, so the shortcut is what the paper's code gets.
        using var m = ModalFlow.Families.Llava.LlavaLoadedModel.Load(SharedData.Fixture("tiny-llava-1.5"));
        var c = FixtureCase.Load("tiny-llava-1.5", "dog_jar");
        using var input = ModalFlow.Inference.PreparedInput.Create(m, c.ImagePath, c.Question);
        using var clean = CleanRun.Create(m.Decoder, input.Embeds, input.Positions);
        var layers = Enumerable.Range(0, clean.NumLayers).ToArray();
        var nothing = new KnockoutSpec(PositionSet.Of("empty", []), PositionSet.Of("Last", [input.Layout.Last]), layers, "empty");
        var noOp = new KnockoutSpec(PositionSet.Of("Last", [input.Layout.Last]), PositionSet.Range("before", 0, input.Layout.Last), layers, "no-op");
        foreach (var kind in new[] { KnockoutEngineKind.Fast, KnockoutEngineKind.Naive })
        {
            var o = KnockoutEngine.Create(kind).Run(clean, [nothing, noOp]);
            Assert.True(nothing.BlocksNothing);
            Assert.Equal(clean.LogP1, o[0].LogP2);
            Assert.Equal(clean.Top1Id, o[0].Top1New);
            // The no-op runs through the engine's attention kernels, which round differently from the clean forward: the
            // engines' parity tolerance (1e-5 relative) applies.
            Assert.True(Math.Abs(o[0].P2 - o[1].P2) <= 1e-5 * o[0].P2, $"{kind}: nothing blocked {o[0].P2:R} vs causal no-op {o[1].P2:R}");
        }
    }

    /// <summary>The header and the given rows' lines of a paper CSV, under the same file name (the task comes from it).</summary>
    private string SubsetCsv(string source, IReadOnlyList<GqaTaskRow> rows)
    {
        var lines = File.ReadAllLines(source);
        var dir = Directory.CreateDirectory(Path.Combine(_tmp.FullName, "data"));
        var path = Path.Combine(dir.FullName, Path.GetFileName(source));
        File.WriteAllLines(path, [lines[0], .. rows.Select(r => lines[r.Line - 1])]);
        return path;
    }
}

using System.Diagnostics;
using ModalFlow.Checkpoints;
using ModalFlow.Data;
using ModalFlow.Tests.Support;
using ModalFlow.Vision;
using Xunit;
using Xunit.Abstractions;

namespace ModalFlow.Tests.Data;

public class ObjectPatchMapperTests(ITestOutputHelper output)
{
    private static readonly ObjectPatchMapper Pad = ObjectPatchMapper.Llava15Pad();
    private static readonly ObjectPatchMapper Next = ObjectPatchMapper.LlavaNextAnyres(AnyresArithmetic.LlavaNext);

    /// <summary>Random image sizes and boxes (inside, past the edge, starting outside, zero-size, tiny, covering).</summary>
    private static (int W, int H, Box[] Boxes) RandomCase(Random rng)
    {
        int Side() => rng.Next(10) switch
        {
            0 => rng.Next(1, 20),
            1 => 336,
            2 => rng.Next(320, 350),
            _ => rng.Next(20, 1000),
        };
        int w = Side(), h = rng.Next(6) == 0 ? w : Side();
        var boxes = new Box[rng.Next(0, 4)];
        for (int i = 0; i < boxes.Length; i++)
        {
            boxes[i] = rng.Next(8) switch
            {
                0 => new Box(0, 0, w, h),                                             // covers the image (one past each edge)
                1 => new Box(rng.Next(w, w + 20), rng.Next(h), rng.Next(50), rng.Next(50)), // starts past the right edge
                2 => new Box(rng.Next(w), rng.Next(h), rng.Next(3), rng.Next(3)),   // tiny / zero size
                3 => new Box(rng.Next(w), rng.Next(h), rng.Next(w + 200), rng.Next(h + 200)), // may run far past the edge
                _ => RandomInside(rng, w, h),
            };
        }
        return (w, h, boxes);
    }

    private static Box RandomInside(Random rng, int w, int h)
    {
        int x = rng.Next(w), y = rng.Next(h);
        return new Box(x, y, rng.Next(w - x), rng.Next(h - y));
    }

    public static IEnumerable<object[]> Mappers() =>
    [
        ["llava15 pad"], ["llava-hf crop"], ["pad, 16px patches (21x21)"], ["pad, 224 input (16x16 of 14)"],
        ["next anyres"], ["next anyres, transformers"], ["next anyres, 224 crops, own pinpoints"],
    ];

    private static ObjectPatchMapper MapperFor(string name) => name switch
    {
        "llava15 pad" => Pad,
        "llava-hf crop" => new ObjectPatchMapper(new LlavaImagePreprocessor(ImageProcessingOptions.LlavaHf, ImageMode.Crop), PatchGrid.Clip336),
        "pad, 16px patches (21x21)" => new ObjectPatchMapper(LlavaImagePreprocessor.Llava15Pad(), new PatchGrid(16, 21)),
        "pad, 224 input (16x16 of 14)" => ObjectPatchMapper.Create(PatchSetMode.Llava15Pad,
            new ImageProcessingOptions { ShortestEdge = 224, CropHeight = 224, CropWidth = 224 },
            ClipVisionConfig.LlavaDefault with { ImageSize = 224 }),
        "next anyres" => ObjectPatchMapper.LlavaNextAnyres(AnyresArithmetic.LlavaNext),
        "next anyres, transformers" => ObjectPatchMapper.LlavaNextAnyres(AnyresArithmetic.Transformers),
        "next anyres, 224 crops, own pinpoints" => ObjectPatchMapper.LlavaNextAnyres(AnyresArithmetic.LlavaNext,
            [(224, 448), (448, 224), (448, 448), (224, 224), (896, 224)], new PatchGrid(14, 16)),
        _ => throw new ArgumentException(name),
    };

    [SharedTheory]
    [MemberData(nameof(Mappers))]
    public void Fast_Path_Equals_Reference_On_Random_Sizes_And_Boxes(string mapperName)
    {
        var mapper = MapperFor(mapperName);
        var rng = new Random(1234 + mapperName.Length);
        for (int i = 0; i < 60; i++)
        {
            var (w, h, boxes) = RandomCase(rng);
            var fast = mapper.Map(w, h, boxes);
            var reference = mapper.MapReference(w, h, boxes);
            if (!fast.Related.SequenceEqual(reference.Related))
                Assert.Fail($"{mapperName} case {i}: {w}x{h} boxes [{string.Join(", ", boxes)}]: fast-only "
                    + $"[{string.Join(",", fast.Related.Except(reference.Related).Take(10))}], reference-only "
                    + $"[{string.Join(",", reference.Related.Except(fast.Related).Take(10))}]");
            Assert.Equal(reference.Other.ToArray(), fast.Other.ToArray());
            Assert.Equal(reference.Newlines.ToArray(), fast.Newlines.ToArray());
            Assert.Equal(mapper.ImageTokenCount(w, h), fast.Related.Length + fast.Other.Length + fast.Newlines.Length);
        }
    }

    [SharedFact]
    public void Fast_Path_Equals_Reference_On_Every_20th_Csv_Row()
    {
        var rows = GqaTaskReaderTests.All.Values.SelectMany(t => t.Rows).Where((_, i) => i % 20 == 0).ToList();
        Assert.True(rows.Count > 250);
        foreach (var row in rows)
        {
            var reference = Pad.MapReference(row.ImageWidth, row.ImageHeight, row.PatchBoxes);
            Assert.True(reference.Related.SequenceEqual(Pad.Map(row).Related), row.ToString());
        }
    }

    [SharedFact]
    public void Next_Fast_Path_Equals_Reference_On_Every_40th_Csv_Row()
    {
        var rows = GqaTaskReaderTests.All.Values.SelectMany(t => t.Rows).Where((_, i) => i % 40 == 0).ToList();
        Assert.True(rows.Count > 125);
        foreach (var row in rows)
        {
            var reference = Next.MapReference(row.ImageWidth, row.ImageHeight, row.PatchBoxes);
            var fast = Next.Map(row);
            Assert.True(reference.Related.SequenceEqual(fast.Related), row.ToString());
            Assert.Equal(reference.Other.ToArray(), fast.Other.ToArray());
        }
    }

    [SharedFact]
    public void Time_Per_Row_Fast_Path_Over_All_Six_Files()
    {
        var rows = GqaTaskReaderTests.All.Values.SelectMany(t => t.Rows).ToList();
        foreach (var row in rows.Take(50)) Pad.Map(row); // warm up
        var sw = Stopwatch.StartNew();
        long related = 0;
        foreach (var row in rows) related += Pad.Map(row).Related.Length;
        sw.Stop();
        var fastMs = sw.Elapsed.TotalMilliseconds / rows.Count;

        var sample = rows.Where((_, i) => i % 50 == 0).ToList();
        sw.Restart();
        foreach (var row in sample) Pad.MapReference(row.ImageWidth, row.ImageHeight, row.PatchBoxes);
        var referenceMs = sw.Elapsed.TotalMilliseconds / sample.Count;
        output.WriteLine($"llava15_pad fast path: {rows.Count} rows, {fastMs:F3} ms/row (mean related {related / (double)rows.Count:F1}); "
            + $"reference path: {sample.Count} rows, {referenceMs:F2} ms/row");
        Assert.True(related > 0);

        sw.Restart();
        long nextRelated = 0;
        foreach (var row in rows) nextRelated += Next.Map(row).Related.Length;
        var nextFastMs = sw.Elapsed.TotalMilliseconds / rows.Count;
        sw.Restart();
        foreach (var row in sample) Next.MapReference(row.ImageWidth, row.ImageHeight, row.PatchBoxes);
        output.WriteLine($"llava_next_anyres fast path: {nextFastMs:F3} ms/row (mean related {nextRelated / (double)rows.Count:F1}); "
            + $"reference path: {sw.Elapsed.TotalMilliseconds / sample.Count:F2} ms/row");
    }

    [SharedFact]
    public void A_Box_Starting_Past_The_Edge_Draws_Nothing_So_No_Patch_Is_Related()
    {
        var row = GqaTaskReaderTests.All["QueryAttr"].Get("1594913"); // x = 503 on a 500-wide image
        var s = Pad.Map(row);
        Assert.Empty(s.Related);
        Assert.Equal(Enumerable.Range(0, 576), s.Other);
    }

    [SharedFact]
    public void DrawMask_Follows_Pil_Rectangle_Inclusive_Ends_And_Clipping()
    {
        var m = ObjectPatchMapper.DrawMask(10, 8, [new Box(2, 3, 4, 2), new Box(8, 6, 5, 5), new Box(10, 0, 3, 3)]);
        var red = Enumerable.Range(0, 8).SelectMany(y => Enumerable.Range(0, 10).Select(x => (x, y)))
            .Where(p => m.GetPixel(p.x, p.y) == ObjectPatchMapper.ObjectColor).ToHashSet();
        var expected = new HashSet<(int, int)>();
        for (int y = 3; y <= 5; y++) for (int x = 2; x <= 6; x++) expected.Add((x, y)); // (w+1) x (h+1)
        for (int y = 6; y <= 7; y++) for (int x = 8; x <= 9; x++) expected.Add((x, y)); // clipped at the corner
        Assert.Equal(expected, red);                                                    // x = 10 = width: nothing
        Assert.Equal(ObjectPatchMapper.Background, m.GetPixel(0, 0));
    }

    [SharedFact]
    public void Random_Control_Is_Deterministic_Sized_Like_Related_And_Drawn_From_Other()
    {
        var s = Pad.Map(500, 375, [new Box(100, 100, 120, 80)]);
        Assert.InRange(s.Related.Length, 20, 200);
        var a = s.RandomControl("02452198", seed: 0);
        Assert.Equal(a.ToArray(), s.RandomControl("02452198", seed: 0).ToArray());
        Assert.Equal(s.Related.Length, a.Length);
        Assert.Subset(s.Other.ToHashSet(), a.ToHashSet());
        Assert.Equal(a.Order().ToArray(), a.ToArray());
        Assert.NotEqual(a.ToArray(), s.RandomControl("02452198", seed: 1).ToArray());
        Assert.NotEqual(a.ToArray(), s.RandomControl("2452198", seed: 0).ToArray());
        // Pinned so that the draw never changes silently across platforms or versions.
        Assert.True(PinnedFirst10.SequenceEqual(a.Take(10)), string.Join(",", a.Take(10)));

        var all = Pad.Map(336, 336, [new Box(0, 0, 336, 336)]);
        Assert.Empty(all.Other);
        Assert.Empty(all.RandomControl("x"));  // min(|related|, |other|) = 0
        var positions = s.RandomPositions(35, "02452198");
        Assert.Equal(a.Select(i => i + 35), positions.Positions);
        Assert.Equal(ObjectPatchSets.RandomName, positions.Name);
    }

    private static readonly int[] PinnedFirst10 = [3, 4, 7, 9, 26, 49, 51, 93, 96, 128];

    [SharedFact]
    public void Absolute_Positions_Add_The_Image_Start()
    {
        var s = Pad.Map(500, 375, [new Box(0, 0, 10, 10)]);
        Assert.Equal(s.Related.Select(i => i + 5), s.RelatedPositions(5).Positions);
        Assert.Equal(s.Other.Select(i => i + 5), s.OtherPositions(5).Positions);
        Assert.Equal(ObjectPatchSets.RelatedName, s.RelatedPositions(5).Name);
        Assert.Equal(ObjectPatchSets.OtherName, s.OtherPositions(0).Name);
    }

    [SharedFact]
    public void Create_Next_Mode_Uses_The_Original_Arithmetic_And_Checks_Its_Inputs()
    {
        var next = ObjectPatchMapper.Create(PatchSetMode.LlavaNextAnyres, ImageProcessingOptions.LlavaHf, ClipVisionConfig.LlavaDefault);
        Assert.Equal((PatchSetMode.LlavaNextAnyres, AnyresArithmetic.LlavaNext), (next.Mode, next.Arithmetic));
        Assert.Null(next.Preprocessor);
        Assert.Equal(Anyres.LlavaNextPinpoints, next.Pinpoints);
        Assert.Equal(1026, next.ImageTokenCount(320, 240));
        Assert.Equal(1368, ObjectPatchMapper.LlavaNextAnyres(AnyresArithmetic.Transformers).ImageTokenCount(320, 240));
        Assert.Equal(576, Pad.ImageTokenCount(320, 240));
        Assert.Equal((PatchSetMode.Llava15Pad, (AnyresArithmetic?)null), (Pad.Mode, Pad.Arithmetic));
        Assert.Throws<InvalidOperationException>(() => Pad.PlanAnyres(320, 240));
        Assert.Throws<InvalidOperationException>(() => next.ProcessedMask(320, 240, []));
        Assert.Equal(3, next.ProcessedMaskCrops(320, 240, []).Length);
        Assert.Equal("crop_size", Assert.Throws<InputException>(() => ObjectPatchMapper.Create(PatchSetMode.LlavaNextAnyres,
            new ImageProcessingOptions { CropHeight = 224, CropWidth = 224 }, ClipVisionConfig.LlavaDefault)).Field);
        Assert.Equal("image_grid_pinpoints", Assert.Throws<InputException>(() => ObjectPatchMapper.Create(PatchSetMode.LlavaNextAnyres,
            ImageProcessingOptions.LlavaHf, ClipVisionConfig.LlavaDefault, [(336, 500)])).Field);
        Assert.Equal(PatchSetMode.LlavaNextAnyres, PatchSetModes.Parse("llava_next_anyres"));
    }

    /// <summary>Newlines are in neither set; cut rows and black padding that survives unpad are "other".</summary>
    [SharedFact]
    public void Next_Sets_Split_Base_Tiles_And_Newlines()
    {
        var s = Next.Map(500, 375, [new Box(0, 0, 500, 375)]); // covers the image: every base and kept tile patch
        Assert.Equal(2340, s.ImageTokenCount);
        Assert.Equal(36, s.Newlines.Length);
        Assert.Equal(Next.PlanAnyres(500, 375).NewlineOffsets().ToArray(), s.Newlines.ToArray());
        Assert.Empty(s.Other);
        var none = Next.Map(500, 375, []);
        Assert.Empty(none.Related);
        Assert.Equal(2340 - 36, none.Other.Length);
    }

    [SharedFact]
    public void Mismatched_Grid_Is_An_Input_Error()
    {
        Assert.Equal("crop_size", Assert.Throws<InputException>(() =>
            new ObjectPatchMapper(LlavaImagePreprocessor.Llava15Pad(), new PatchGrid(14, 16))).Field);
        Assert.Equal(PatchSetMode.Llava15Pad, PatchSetModes.Parse("llava15_pad"));
        Assert.Equal("mode", Assert.Throws<InputException>(() => PatchSetModes.Parse("llava16")).Field);
    }
}

using ModalFlow.Families.Qwen2Vl;
using ModalFlow.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace ModalFlow.Tests.Families.Qwen2Vl;

public class Qwen2VlRopeIndexTests(ITestOutputHelper log)
{
    private static readonly Qwen2VlConfig Config = Qwen2VlConfig.Load(TinyQwen2Vl.Dir);

    /// <summary>position_ids.npy ([3, seq_len], from transformers' get_rope_index) and case.json's rope_deltas, exactly.</summary>
    [SharedTheory]
    [MemberData(nameof(TinyQwen2Vl.Cases), MemberType = typeof(TinyQwen2Vl))]
    public void Position_Ids_And_Rope_Delta_Equal_Transformers(string id)
    {
        var c = TinyQwen2Vl.Case(id);
        var expected = c.Array("position_ids");
        var grid = TinyQwen2Vl.Grid(c);
        var (imageStart, imageEnd) = c.Range("image");
        Assert.Equal(new long[] { 3, c.SeqLen }, expected.Shape);

        var fromLayout = Qwen2VlRopeIndex.ForOneImage(c.SeqLen, imageStart, grid, 2);
        var fromIds = Qwen2VlRopeIndex.FromInputIds(c.Array("input_ids").AsLongs(), Config, [grid]);
        foreach (var (name, ids) in new[] { ("ForOneImage", fromLayout), ("FromInputIds", fromIds) })
        {
            var ours = ids.ToArray();
            for (int i = 0; i < ours.Length; i++)
            {
                if (ours[i] != expected.AsLongs()[i])
                    Assert.Fail($"{c} {name}: position_ids[{i / c.SeqLen}, {i % c.SeqLen}] = {ours[i]}, expected {expected.AsLongs()[i]}");
            }
            Assert.Equal(c.Json.GetProperty("rope_deltas").GetInt64(), ids.RopeDelta);
            var last = c.Json.GetProperty("position_ids_last").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            Assert.Equal(last, new[] { ids[0, c.SeqLen - 1], ids[1, c.SeqLen - 1], ids[2, c.SeqLen - 1] });
            Assert.Equal(last.Max() + 1, ids.NextPosition);
            Assert.Equal(last.Max() + 1, ids.GeneratedPosition(c.SeqLen));
            Assert.Equal(last.Max() + 3, ids.GeneratedPosition(c.SeqLen + 2));
        }
        Assert.Equal(imageEnd - imageStart, grid.TokenCount(2));
        log.WriteLine($"{c}: {c.SeqLen} positions, image [{imageStart}, {imageEnd}) grid {grid}, rope delta {fromLayout.RopeDelta}");
    }

    /// <summary>Several images, a video-like t &gt; 1 grid and text between: equal to a plain transcription of the reference's chunk loop.</summary>
    [SharedFact]
    public void Several_Blocks_Equal_A_Plain_Transcription_Of_The_Reference_Loop()
    {
        var cases = new[]
        {
            (20, new[] { (3, new Qwen2VlImageGrid(1, 4, 6)) }),
            (40, new[] { (2, new Qwen2VlImageGrid(1, 6, 2)), (10, new Qwen2VlImageGrid(1, 2, 2)), (11, new Qwen2VlImageGrid(2, 4, 4)) }),
            (12, new[] { (0, new Qwen2VlImageGrid(1, 4, 4)), (4, new Qwen2VlImageGrid(1, 4, 4)), (8, new Qwen2VlImageGrid(1, 2, 8)) }),
            (5, Array.Empty<(int, Qwen2VlImageGrid)>()),
        };
        foreach (var (n, blocks) in cases)
        {
            var ours = Qwen2VlRopeIndex.ForImages(n, blocks, 2);
            var (expected, delta) = Reference(n, blocks, 2);
            Assert.Equal(expected, ours.ToArray());
            Assert.Equal(delta, ours.RopeDelta);
        }
        Assert.Equal(Enumerable.Range(0, 7).Select(i => (long)i).Concat(Enumerable.Range(0, 7).Select(i => (long)i)).Concat(Enumerable.Range(0, 7).Select(i => (long)i)),
            Qwen2VlRopeIndex.TextOnly(7).ToArray());
    }

    [SharedFact]
    public void Blocks_That_Do_Not_Fit_Or_Do_Not_Match_The_Grid_Are_Refused()
    {
        var grid = new Qwen2VlImageGrid(1, 4, 4);
        Assert.Throws<ArgumentException>(() => Qwen2VlRopeIndex.ForOneImage(6, 3, grid, 2));
        Assert.Throws<ArgumentException>(() => Qwen2VlRopeIndex.ForImages(20, [(5, grid), (7, grid)], 2));
        Assert.Throws<ArgumentException>(() => Qwen2VlRopeIndex.ForOneImage(20, 0, new Qwen2VlImageGrid(1, 3, 4), 2));

        long s = Config.VisionStartTokenId, img = Config.ImageTokenId;
        long[] ids = [1, s, img, img, img, 2];
        Assert.Equal("input ids", Assert.Throws<InputException>(() => Qwen2VlRopeIndex.FromInputIds(ids, Config, [grid])).Field);
        Assert.Throws<InputException>(() => Qwen2VlRopeIndex.FromInputIds(ids, Config, []));
        long[] video = [1, s, Config.VideoTokenId, 2];
        Assert.Throws<InputException>(() => Qwen2VlRopeIndex.FromInputIds(video, Config, []));
        long[] four = [1, s, img, img, img, img, 2];
        Assert.Equal(new long[] { 0, 1, 2, 2, 2, 2, 4 }, Qwen2VlRopeIndex.FromInputIds(four, Config, [grid]).Axis(0).ToArray());
    }

    /// <summary>
    /// get_rope_index's loop as written in transformers: chunks of text (arange + st_idx) and image blocks (stacked t/h/w
    /// grids + text_len + st_idx), st_idx = previous chunk's max + 1.
    /// </summary>
    private static (long[] Ids, long Delta) Reference(int n, (int Start, Qwen2VlImageGrid Grid)[] blocks, int merge)
    {
        var chunks = new List<long[][]>();
        long StIdx() => chunks.Count == 0 ? 0 : chunks[^1].SelectMany(r => r).DefaultIfEmpty(-1).Max() + 1;
        long[][] Text(int len, long st) => [.. Enumerable.Range(0, 3).Select(_ => Enumerable.Range(0, len).Select(i => i + st).ToArray())];
        int st = 0;
        foreach (var (ed, g) in blocks)
        {
            int textLen = ed - st;
            long stIdx = StIdx();
            chunks.Add(Text(textLen, stIdx));
            int lt = g.T, lh = g.H / merge, lw = g.W / merge;
            var t = new List<long>();
            var h = new List<long>();
            var w = new List<long>();
            for (int a = 0; a < lt; a++)
                for (int b = 0; b < lh; b++)
                    for (int d = 0; d < lw; d++) { t.Add(a + textLen + stIdx); h.Add(b + textLen + stIdx); w.Add(d + textLen + stIdx); }
            chunks.Add([t.ToArray(), h.ToArray(), w.ToArray()]);
            st = ed + lt * lh * lw;
        }
        if (st < n) chunks.Add(Text(n - st, StIdx()));
        var rows = Enumerable.Range(0, 3).Select(r => chunks.SelectMany(ch => ch[r]).ToArray()).ToArray();
        return ([.. rows[0], .. rows[1], .. rows[2]], rows.SelectMany(r => r).Max() + 1 - n);
    }
}

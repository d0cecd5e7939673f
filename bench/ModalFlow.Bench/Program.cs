using System.Diagnostics;
using ModalFlow.Checkpoints;
using ModalFlow.Models;
using ModalFlow.Platform;
using ModalFlow.Tracing;
using static TorchSharp.torch;

// Profiling host: component timings of the knockout engines on the benchmark geometry.
// The reported benchmark is `modalflow bench knockout`; this program is for finding where time goes.
// Usage: ModalFlow.Bench [hidden] [layers] [what: all|last|question|parts|decode|fewrow|…]
TorchRuntime.Initialize();
if (args.Length > 2 && args[2] == "firstcall")
{
    // Each warmed-up elementwise function's first multi-threaded call in this process against its second, bit for bit
    // (TorchRuntime warms MKL's vector math up; without that, about 1 in 20 first calls came out wrong on one thread's
    // share). One line per function and dtype; the exit code is the number that differed.
    int differed = 0;
    foreach (var dtype in new[] { ScalarType.Float32, ScalarType.Float64 })
        foreach (var name in args.Length > 3 ? args[3..] : TorchRuntime.WarmedUpFunctions)
        {
            using var scope = NewDisposeScope();
            var x = linspace(0.1, 0.9, 637 * 16, dtype).reshape(637, 16);                 // large enough for ATen to split
            var first = TorchRuntime.Apply(name, x);
            var second = TorchRuntime.Apply(name, x);
            bool equal = first.Equals(second);                                              // torch.equal
            if (!equal) differed++;
            Console.WriteLine($"{name} {dtype}: {(equal ? "equal" : $"DIFFERS, max |d| {(first - second).abs().max().to(ScalarType.Float64).item<double>():G3}")}");
        }
    Environment.ExitCode = differed;
    return;
}
int hidden = args.Length > 0 ? int.Parse(args[0]) : 512, layers = args.Length > 1 ? int.Parse(args[1]) : 16;
string what = args.Length > 2 ? args[2] : "all";
bool WallClock = Environment.GetEnvironmentVariable("MF_WALL") == "1";
var cfg = new LlamaTextConfig { VocabSize = 32064, HiddenSize = hidden, IntermediateSize = (int)(hidden * 2.6875), NumHiddenLayers = layers, NumAttentionHeads = hidden / 64, RmsNormEps = 1e-5 };
using var decoder = new LlamaDecoder(cfg, new RandomWeightSource(7, ScalarType.Float32, CPU, 0.05, 0.1), "language_model.", false);
int n = 637;
var embeds = normal(0, 1, [1, n, hidden]);
var image = PositionSet.Range("Image", 35, 611);
var question = PositionSet.Range("Question", 613, 620);
var last = PositionSet.Of("Last", [n - 1]);
List<KnockoutSpec> Sweep(PositionSet s, PositionSet t) => Enumerable.Range(0, layers).Select(l => new KnockoutSpec(s, t, LayerWindow.Around(l, 9, layers))).ToList();
Console.WriteLine($"threads {get_num_threads()}, MKL shim {TorchRuntime.MklShimLoaded}, hidden {hidden}, layers {layers}");
void Time(string label, Action a, int reps = 5)
{
    a();
    var best = double.MaxValue;
    var all = new List<double>();
    for (int i = 0; i < reps; i++)
    {
        var c0 = WallClock ? Stopwatch.GetTimestamp() / (double)Stopwatch.Frequency * 1e3 : Process.GetCurrentProcess().TotalProcessorTime.TotalMilliseconds;
        a();
        var ms = (WallClock ? Stopwatch.GetTimestamp() / (double)Stopwatch.Frequency * 1e3 : Process.GetCurrentProcess().TotalProcessorTime.TotalMilliseconds) - c0;
        all.Add(ms);
        best = Math.Min(best, ms);
    }
    all.Sort();
    Console.WriteLine($"{label,-48} best {best,9:F2} {(WallClock ? "wall" : "cpu")}-ms  median {all[all.Count / 2],9:F2}   RSS {ProcessMemory.RssMb():F0} MB  live {Tensor.TotalCount}");
}
using var clean = CleanRun.Create(decoder, embeds);
var fast = new FastKnockoutEngine();
if (what is "all" or "last")
    Time("fast Question->Last sweep", () => fast.Run(clean, Sweep(question, last)), 9);
if (what is "all" or "question")
    Time("fast Image->Question sweep", () => fast.Run(clean, Sweep(image, question)), 5);
if (what is "seq")
{
    // The benchmark's order per sample: clean pass, fast →Last sweep (timed, then again), 16 naive forwards.
    var naiveEngine = new NaiveKnockoutEngine();
    var trimmer = new NativeHeapTrimmer();
    for (int s = 0; s < 4; s++)
    {
        using var scope = NewDisposeScope();
        using var c = CleanRun.Create(decoder, normal(0, 1, [1, n, hidden]));
        var sw = Stopwatch.StartNew();
        long f0 = MinFlt();
        fast.Run(c, Sweep(question, last));
        double a = sw.Elapsed.TotalMilliseconds;
        long f1 = MinFlt();
        sw.Restart();
        fast.Run(c, Sweep(question, last));
        double b2 = sw.Elapsed.TotalMilliseconds;
        Console.Write($"faults {f1 - f0} / {MinFlt() - f1}; ");
        sw.Restart();
        var between = Environment.GetEnvironmentVariable("MF_SEQ") ?? "naive";      // what runs between samples' sweeps
        if (between == "naive") naiveEngine.Run(c, Sweep(question, last));
        else if (between is "fused" or "eager")
            for (int i = 0; i < 16; i++) { using var s3 = NewDisposeScope(); using var o = decoder.Forward(c.Embeds, c.Positions, attention: between == "fused" ? AttentionKernel.Fused : AttentionKernel.Eager); }
        Console.WriteLine($"sample {s}: fast first {a:F1} ms, second {b2:F1} ms, naive {sw.Elapsed.TotalSeconds:F2} s, trimmed {trimmer.AfterSample()}");
    }
}
if (what is "check")
{
    var specs = Sweep(image, question).Take(4).Concat(Sweep(question, last).Take(4)).ToList();
    var f = fast.Run(clean, specs);
    var nv = new NaiveKnockoutEngine().Run(clean, specs);
    using var d64 = new LlamaDecoder(cfg, new RandomWeightSource(7, ScalarType.Float64, CPU, 0.05, 0.1), "language_model.", false);
    using var clean64 = CleanRun.Create(d64, embeds.to(ScalarType.Float64));
    var t = new NaiveKnockoutEngine().Run(clean64, specs);
    for (int i = 0; i < specs.Count; i++)
        Console.WriteLine($"{i}: p1 {Math.Exp(clean.LogP1):E6} fast {f[i].P2:E9} naive {nv[i].P2:E9} f64 {t[i].P2:E9} rel fast-naive {(f[i].P2 - nv[i].P2) / nv[i].P2:E2}  fast-f64 {(f[i].P2 - t[i].P2) / t[i].P2:E2}  naive-f64 {(nv[i].P2 - t[i].P2) / t[i].P2:E2}");
}
if (what is "heads")
{
    var map = Enumerable.Range(0, layers).SelectMany(l => Enumerable.Range(0, hidden / 64)
        .Select(h => new KnockoutSpec(image, question, [l]) { Heads = [h] })).ToList();
    Time($"fast per-head map ({map.Count} knockouts)", () => fast.Run(clean, map), 3);
}
if (what is "all" or "parts")
{
    // The pieces of a →Last sweep at a fixed batch of 16 windows, q = 1.
    foreach (var (b, q) in new[] { (16, 1), (16, 24) })
    {
        using var scope = NewDisposeScope();
        int t0 = n - q;
        var h = normal(0, 1, [b, q, hidden]);
        var rot = decoder.RotaryFor(PositionIds.Sequential(n), t0, q);
        var mask = Masks.Causal(q, t0, decoder.DType, decoder.Device).expand(b, 1, q, n).contiguous();
        var layer = decoder.Layer(4);
        var pk = clean.Cache.Keys[4]![.., .., ..t0, ..];
        var pv = clean.Cache.Values[4]![.., .., ..t0, ..];
        Time($"B={b} q={q}: ForwardSuffix x {layers}", () => { using var s = NewDisposeScope(); for (int l = 0; l < layers; l++) decoder.ForwardSuffix(l, h, rot, mask, clean.Cache.Keys[l]![.., .., ..t0, ..], clean.Cache.Values[l]![.., .., ..t0, ..]); }, 9);
        var ws = decoder.named_parameters().Where(p => p.name.Contains("layers.4.") && p.parameter.dim() == 2).Select(p => p.parameter).ToList();
        var hi = normal(0, 1, [b, q, cfg.IntermediateSize]);
        Time($"B={b} q={q}: the 7 linears x {layers}", () =>
        {
            using var s = NewDisposeScope();
            for (int l = 0; l < layers; l++) foreach (var w in ws) nn.functional.linear(w.shape[1] == hidden ? h : hi, w);
        }, 9);
        Time($"B={b} q={q}: the 7 Linear.Apply x {layers}", () =>
        {
            using var s = NewDisposeScope();
            for (int l = 0; l < layers; l++) foreach (var w in ws) Linear.Apply(w.shape[1] == hidden ? h : hi, w);
        }, 9);
        var lay = decoder.Layer(4);
        var norm = lay.named_modules().Select(m => m.module).OfType<RmsNormLayer>().First();
        Time($"B={b} q={q}: 2 rmsnorm + silu*up x {layers}", () =>
        {
            using var s = NewDisposeScope();
            for (int l = 0; l < layers; l++) { norm.Forward(h); norm.Forward(h); var gg = nn.functional.silu(hi) * hi; h.add(h, Scalars.One); h.add(h, Scalars.One); }
        }, 9);
        var x = h.reshape(b * q, hidden);
        Time($"B={b} q={q}: unembed of {b} rows", () => { using var s = NewDisposeScope(); decoder.Unembed(h[.., -1, ..]); }, 9);
        Time($"B={b} q={q}: 1000 tiny ops (add)", () => { using var s = NewDisposeScope(); var t = zeros(4); for (int i = 0; i < 1000; i++) t = t.add(Scalars.One, Scalars.One); }, 5);
    }
}
if (what is "all" || what is "naive-all")
{
    Time("forward (no cache)", () => { using var s = NewDisposeScope(); using var o = decoder.Forward(embeds); }, 2);
    Time("naive 1 knockout", () => new NaiveKnockoutEngine().Run(clean, Sweep(image, question).Take(1).ToList()), 2);
}
if (what is "steps")
{
    foreach (var (b, q) in new[] { (16, 1), (16, 24) })
    {
        using var scope = NewDisposeScope();
        int t0 = n - q, heads = hidden / 64, hd = 64, kvh = heads, rep = 1;
        var h = normal(0, 1, [b, q, hidden]);
        var rot = decoder.RotaryFor(PositionIds.Sequential(n), t0, q);
        var mask = Masks.Causal(q, t0, decoder.DType, decoder.Device).expand(b, 1, q, n).contiguous();
        var pk = clean.Cache.Keys[4]![.., .., ..t0, ..];
        var pv = clean.Cache.Values[4]![.., .., ..t0, ..];
        var W = decoder.named_parameters().Where(p => p.name.Contains("layers.4.")).ToDictionary(p => p.name.Split("layers.4.")[1], p => p.parameter);
        var acc = new Dictionary<string, double>();
        var sw = new Stopwatch();
        Tensor T(string name, Func<Tensor> f) { var c0 = ThreadCpu.Ms(); var r = f(); acc[name] = acc.GetValueOrDefault(name) + ThreadCpu.Ms() - c0; return r; }
        for (int rep2 = 0; rep2 < 40; rep2++)
        {
            using var s2 = NewDisposeScope();
            var x = T("rmsnorm", () => decoder.Layer(4).named_modules().Count() > 0 ? h.square().mean([-1], keepdim: true).add(Scalars.One).rsqrt().mul(h) : h);
            var qs = T("q_proj", () => nn.functional.linear(x, W["self_attn.q_proj.weight"]).view(b, q, heads, hd).transpose(1, 2));
            qs = T("rotary q", () => Rotary.Apply(qs, rot));
            var ks = T("k_proj", () => nn.functional.linear(x, W["self_attn.k_proj.weight"]).view(b, q, heads, hd).transpose(1, 2));
            ks = T("rotary k", () => Rotary.Apply(ks, rot));
            var vs = T("v_proj", () => nn.functional.linear(x, W["self_attn.v_proj.weight"]).view(b, q, heads, hd).transpose(1, 2));
            var qg = T("qGrouped permute", () => qs.view(b, kvh, rep, q, hd).permute(1, 0, 2, 3, 4).reshape(1, kvh, b * rep * q, hd));
            var ps = T("prefix scores matmul", () => matmul(qg, pk.transpose(2, 3)).div(Scalars.Of(8.0)));
            ps = T("prefix scores permute", () => ps.view(kvh, b, rep, q, t0).permute(1, 0, 2, 3, 4).reshape(b, heads, q, t0));
            var ss = T("suffix scores", () => matmul(qs, ks.transpose(2, 3)).div(Scalars.Of(8.0)));
            var sc = T("cat + mask", () => cat([ps, ss], 3).add(mask, Scalars.One));
            var pr = T("softmax", () => sc.softmax(-1, ScalarType.Float32).to(qs.dtype));
            var pg = T("pPrefix permute", () => pr[TensorIndex.Ellipsis, ..t0].reshape(b, kvh, rep, q, t0).permute(1, 0, 2, 3, 4).reshape(1, kvh, b * rep * q, t0));
            var fp = T("prefix PV matmul", () => matmul(pg, pv));
            fp = T("prefix PV permute", () => fp.view(kvh, b, rep, q, hd).permute(1, 0, 2, 3, 4).reshape(b, heads, q, hd));
            var at = T("suffix PV + add", () => fp.add(matmul(pr[TensorIndex.Ellipsis, t0..], vs), Scalars.One));
            var hh = T("o_proj + add", () => h.add(nn.functional.linear(at.transpose(1, 2).reshape(b, q, hidden), W["self_attn.o_proj.weight"]), Scalars.One));
            var m = T("rmsnorm2", () => hh.square().mean([-1], keepdim: true).add(Scalars.One).rsqrt().mul(hh));
            var g = T("gate", () => nn.functional.linear(m, W["mlp.gate_proj.weight"]));
            var u = T("up", () => nn.functional.linear(m, W["mlp.up_proj.weight"]));
            var su = T("silu*up", () => nn.functional.silu(g) * u);
            T("down + add", () => hh.add(nn.functional.linear(su, W["mlp.down_proj.weight"]), Scalars.One));
        }
        Console.WriteLine($"B={b} q={q}: per layer, ms (mean of 40):");
        foreach (var kv in acc) Console.WriteLine($"  {kv.Key,-24} {kv.Value / 40,8:F3}");
        Console.WriteLine($"  {"total",-24} {acc.Values.Sum() / 40,8:F3}");
    }
}

if (what is "naive")
{
    Time("forward (no cache)", () => { using var s = NewDisposeScope(); using var o = decoder.Forward(embeds); }, 3);
    Time("naive 1 knockout", () => new NaiveKnockoutEngine().Run(clean, Sweep(image, question).Take(1).ToList()), 3);
    Time("clean run", () => { using var c = CleanRun.Create(decoder, embeds); }, 3);
}

if (what is "attn")
{
    foreach (var (b, q) in new[] { (16, 1), (16, 24) })
    {
        using var scope = NewDisposeScope();
        int t0 = n - q, heads = hidden / 64, hd = 64, kvh = heads, rep = 1;
        float scale = (float)(1.0 / Math.Sqrt(hd));
        var qs = normal(0, 1, [b, heads, q, hd]).mul(Scalars.Of(0.05));
        var ks = normal(0, 1, [b, kvh, q, hd]).mul(Scalars.Of(0.05));
        var vs = normal(0, 1, [b, kvh, q, hd]);
        var pk = clean.Cache.Keys[4]![.., .., ..t0, ..];
        var pv = clean.Cache.Values[4]![.., .., ..t0, ..];
        var mask = Masks.Causal(q, t0, decoder.DType, decoder.Device).expand(b, 1, q, n).contiguous();
        var sc = Scalars.Of(Math.Sqrt(hd));
        Tensor Current()
        {
            var qGrouped = qs.view(b, kvh, rep, q, hd).permute(1, 0, 2, 3, 4).reshape(1, kvh, b * rep * q, hd);
            var prefixScores = matmul(qGrouped, pk.transpose(2, 3)).div(sc);
            prefixScores = prefixScores.view(kvh, b, rep, q, t0).permute(1, 0, 2, 3, 4).reshape(b, heads, q, t0);
            var suffixScores = matmul(qs, ks.transpose(2, 3)).div(sc);
            var scores = cat([prefixScores, suffixScores], 3).add(mask, Scalars.One);
            var probs = scores.softmax(-1, ScalarType.Float32).to(qs.dtype);
            var pPrefix = probs[TensorIndex.Ellipsis, ..t0];
            var pSuffix = probs[TensorIndex.Ellipsis, t0..];
            var pGrouped = pPrefix.reshape(b, kvh, rep, q, t0).permute(1, 0, 2, 3, 4).reshape(1, kvh, b * rep * q, t0);
            var fromPrefix = matmul(pGrouped, pv).view(kvh, b, rep, q, hd).permute(1, 0, 2, 3, 4).reshape(b, heads, q, hd);
            return fromPrefix.add(matmul(pSuffix, vs), Scalars.One);       // [B, H, q, hd]
        }
        // Folded: rows (b, i, j) per kv head.
        var qf = qs.view(b, kvh, rep, q, hd).permute(1, 0, 3, 2, 4).contiguous();           // [KVH, B, q, rep, hd]
        var ksf = ks.permute(1, 0, 2, 3).contiguous();                                        // [KVH, B, q, hd]
        var vsf = vs.permute(1, 0, 2, 3).contiguous();
        var mask5 = mask.view(1, b, q, 1, n);
        var kp3 = pk[0]; var vp3 = pv[0];                                                     // [KVH, t0, hd]
        Tensor Folded()
        {
            int r = b * q * rep;
            var q3 = qf.view(kvh, r, hd);
            var sp = q3.baddbmm(kp3.transpose(1, 2), mask5[.., .., .., .., ..t0].expand(kvh, b, q, rep, t0).reshape(kvh, r, t0), 1, scale);   // [KVH, R, t0]
            var ss = qf.view(kvh * b, q * rep, hd).baddbmm(ksf.view(kvh * b, q, hd).transpose(1, 2), mask5[.., .., .., .., t0..].expand(kvh, b, q, rep, q).reshape(kvh * b, q * rep, q), 1, scale);
            var s5 = cat([sp.view(kvh, b, q * rep, t0), ss.view(kvh, b, q * rep, q)], 3);                                                 // [KVH, B, q·rep, N]
            var p = s5.softmax(-1, ScalarType.Float32).to(qs.dtype);
            var o = matmul(p.view(kvh, r, n)[.., .., ..t0], vp3);                                                                           // [KVH, R, hd]
            var o2 = p.view(kvh * b, q * rep, n)[.., .., t0..].baddbmm(vsf.view(kvh * b, q, hd), o.view(kvh * b, q * rep, hd), 1, 1);
            return o2.view(kvh, b, q, rep, hd).permute(1, 0, 3, 2, 4).reshape(b, heads, q, hd);
        }
        // SDPA over [prefix ; every variant's suffix keys], cross-variant suffix keys masked.
        var crossBlock = ones(b, b, dtype: ScalarType.Bool).logical_xor(eye(b, dtype: ScalarType.Bool));      // [B, B] true off-diagonal
        Tensor Sdpa()
        {
            int r = b * q * rep;
            var kAll = cat([kp3, ksf.view(kvh, b * q, hd)], 1).unsqueeze(0);                    // [1, KVH, t0 + B·q, hd]
            var vAll = cat([vp3, vsf.view(kvh, b * q, hd)], 1).unsqueeze(0);
            var mp = mask5[.., .., .., .., ..t0].expand(1, b, q, rep, t0).reshape(1, 1, r, t0);
            // suffix part [B(rows), q, rep, B(cols), q]: own variant → the causal/blocked mask, others → min
            var own = mask5[.., .., .., .., t0..].reshape(b, q, 1, 1, q).expand(b, q, rep, b, q);
            var ms = own.masked_fill(crossBlock.view(b, 1, 1, b, 1), Scalars.Of(float.MinValue)).reshape(1, 1, r, b * q);
            var m = cat([mp, ms], 3);
            var o = nn.functional.scaled_dot_product_attention(qf.view(1, kvh, r, hd), kAll, vAll, m);     // [1, KVH, R, hd]
            return o.view(kvh, b, q, rep, hd).permute(1, 0, 3, 2, 4).reshape(b, heads, q, hd);
        }
        using (var s2 = NewDisposeScope())
        {
            var a = Current(); var f = Folded(); var d = Sdpa();
            Console.WriteLine($"B={b} q={q}: max |folded - current| {f.sub(a).abs().max().item<float>():E2}, max |sdpa - current| {d.sub(a).abs().max().item<float>():E2}");
        }
        Time($"B={b} q={q}: attention current x16", () => { using var s3 = NewDisposeScope(); for (int l = 0; l < 16; l++) Current(); }, 7);
        Time($"B={b} q={q}: attention folded x16", () => { using var s3 = NewDisposeScope(); for (int l = 0; l < 16; l++) Folded(); }, 7);
        Time($"B={b} q={q}: attention sdpa x16", () => { using var s3 = NewDisposeScope(); for (int l = 0; l < 16; l++) Sdpa(); }, 7);
    }
}

if (what is "attn")
{
    // The attention pieces of a →Last step (B = 16 variants, q = 1) on one layer's real prefix, x layers.
    int b = 16, t0 = n - 1, kvh = hidden / 64;
    var pk = clean.Cache.Keys[4]![.., .., ..t0, ..];
    var pv = clean.Cache.Values[4]![.., .., ..t0, ..];
    var qf = normal(0, 1, [1, kvh, b, 64]);
    var ks = normal(0, 1, [kvh, b, 64]);
    var mask = zeros([1, kvh, b, t0 + b]);
    Time($"cat prefix+suffix K,V x {layers}", () => { using var s = NewDisposeScope(); for (int l = 0; l < layers; l++) { cat([pk[0], ks], 1); cat([pv[0], ks], 1); } }, 9);
    var keys = cat([pk[0], ks], 1).unsqueeze(0);
    Time($"sdpa [1,{kvh},{b},{t0 + b}] masked x {layers}", () => { using var s = NewDisposeScope(); for (int l = 0; l < layers; l++) nn.functional.scaled_dot_product_attention(qf, keys, keys, mask); }, 9);
    Time($"sdpa unmasked x {layers}", () => { using var s = NewDisposeScope(); for (int l = 0; l < layers; l++) nn.functional.scaled_dot_product_attention(qf, keys, keys); }, 9);
    Time($"matmul-softmax-matmul x {layers}", () => { using var s = NewDisposeScope(); for (int l = 0; l < layers; l++) matmul(matmul(qf, keys.transpose(2, 3)).add(mask).softmax(-1), keys); }, 9);
    var h1 = normal(0, 1, [b, 1, hidden]);
    var rot = decoder.RotaryFor(PositionIds.Sequential(n), t0, 1);
    var cm = Masks.Causal(1, t0, decoder.DType, decoder.Device).expand(b, 1, 1, n).contiguous();
    Time($"ForwardSuffix B={b} q=1 x {layers}", () => { using var s = NewDisposeScope(); for (int l = 0; l < layers; l++) decoder.ForwardSuffix(l, h1, rot, cm, clean.Cache.Keys[l]![.., .., ..t0, ..], clean.Cache.Values[l]![.., .., ..t0, ..]); }, 9);
}
if (what is "race")
{
    // TorchSharp implicit Scalar temporaries vs the finalizer: square() (= pow(2) with a temporary Scalar) against x*x,
    // while one thread forces collections and another churns native allocations of the Scalar's size.
    var x = normal(0, 1, [8, 8]);
    var expected = x.mul(x);
    bool stop = false;
    var gc = new Thread(() => { while (!Volatile.Read(ref stop)) { GC.Collect(); GC.WaitForPendingFinalizers(); } });
    var churn = new Thread(() => { var r = new Random(1); while (!Volatile.Read(ref stop)) { using var s = TorchSharp.ScalarExtensionMethods.ToScalar(r.NextDouble() * 10); } });
    gc.Start(); churn.Start();
    foreach (var (label, op) in new (string, Func<Tensor>)[] { ("square()", () => x.square()), ("pow(cached 2)", () => x.pow(Scalars.Of(2))), ("square()", () => x.square()) })
    {
        long calls = 0, wrong = 0, errors = 0;
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed.TotalSeconds < 15)
        {
            using var scope = NewDisposeScope();
            calls++;
            try { if (!op().equal(expected).all().item<bool>()) wrong++; } catch (Exception e) { if (errors++ == 0) Console.WriteLine(e.Message); }
        }
        Console.WriteLine($"{label}: {calls} calls, {wrong} wrong, {errors} errors");
    }
    Volatile.Write(ref stop, true);
    gc.Join(); churn.Join();
}
if (what is "bw")
{
    // Memory bandwidth vs the linears of a →Last sweep: every layer's 7 weights once, at several batch sizes and dtypes.
    var ws = decoder.named_parameters().Where(p => p.name.Contains("layers.") && p.parameter.dim() == 2).Select(p => p.parameter).ToList();
    double mb = ws.Sum(w => w.numel()) * 4 / 1e6;
    Time($"sum of all layer weights ({mb:F0} MB f32)", () => { using var s = NewDisposeScope(); foreach (var w in ws) w.sum(); }, 9);
    var wsT = ws.Select(w => w.t().contiguous()).ToList();
    var wsB = ws.Select(w => w.to(ScalarType.BFloat16)).ToList();
    foreach (int m in new[] { 1, 8, 16, 32, 64, 160, 637 })
    {
        var xs0 = ws.Select(w => normal(0, 1, [m, w.shape[1]])).ToList();
        Time($"M={m} linear f32", () => { using var s = NewDisposeScope(); for (int i = 0; i < ws.Count; i++) nn.functional.linear(xs0[i], ws[i]); }, 7);
        Time($"M={m} (W x^T)^T f32", () => { using var s = NewDisposeScope(); for (int i = 0; i < ws.Count; i++) matmul(ws[i], xs0[i].t()).t(); }, 7);
        Time($"M={m} (W x^T)^T f32 contiguous", () => { using var s = NewDisposeScope(); for (int i = 0; i < ws.Count; i++) matmul(ws[i], xs0[i].t()).t().contiguous(); }, 7);
        Time($"M={m} x W^T(contig) f32", () => { using var s = NewDisposeScope(); for (int i = 0; i < ws.Count; i++) matmul(xs0[i], wsT[i]); }, 7);
    }
    foreach (int m in new int[0])
    {
        var xs = ws.Select(w => normal(0, 1, [m, w.shape[1]])).ToList();
        var xb = xs.Select(x => x.to(ScalarType.BFloat16)).ToList();
        Time($"linear M={m} f32", () => { using var s = NewDisposeScope(); for (int i = 0; i < ws.Count; i++) nn.functional.linear(xs[i], ws[i]); }, 9);
        Time($"matmul M={m} f32 (W^T contiguous)", () => { using var s = NewDisposeScope(); for (int i = 0; i < ws.Count; i++) matmul(xs[i], wsT[i]); }, 9);
        Time($"linear M={m} bf16", () => { using var s = NewDisposeScope(); for (int i = 0; i < ws.Count; i++) nn.functional.linear(xb[i], wsB[i]); }, 9);
        Time($"linear M={m} f32 x bf16->f32 upcast", () => { using var s = NewDisposeScope(); for (int i = 0; i < ws.Count; i++) nn.functional.linear(xs[i], wsB[i].to(ScalarType.Float32)); }, 5);
    }
}

if (what is "fresh")
{
    // The →Last sweep as the benchmark times it: once per fresh clean run, with and without trimming the native heap.
    foreach (bool trim in new[] { false, true, false, true })
    {
        var ms = new List<double>();
        for (int s = 0; s < 6; s++)
        {
            using var scope = NewDisposeScope();
            using var c = CleanRun.Create(decoder, normal(0, 1, [1, n, hidden]));
            if (trim) TorchRuntime.TrimNativeHeap();
            long f0 = Program.MinFlt();
            var sw = Stopwatch.StartNew();
            fast.Run(c, Sweep(question, last));
            ms.Add(sw.Elapsed.TotalMilliseconds);
            if (s == 0) Console.WriteLine($"  minor faults in the first sweep: {Program.MinFlt() - f0}");
            var sw2 = Stopwatch.StartNew();
            fast.Run(c, Sweep(question, last));
            ms.Add(sw2.Elapsed.TotalMilliseconds);
        }
        Console.WriteLine($"trim {trim}: first/second per clean run: {string.Join("  ", ms.Select(x => x.ToString("F1")))}");
    }
}

if (what is "load")
{
    // Load time of the decoder's weights from a safetensors file in the page cache (warm), f32 and bf16 on disk.
    string dir = Path.Combine(Path.GetTempPath(), $"mf-load-{hidden}x{layers}");
    Directory.CreateDirectory(dir);
    foreach (var (file, dt) in new[] { ("f32.safetensors", ScalarType.Float32), ("bf16.safetensors", ScalarType.BFloat16), ("f16.safetensors", ScalarType.Float16) })
    {
        var path = Path.Combine(dir, file);
        if (!File.Exists(path))
            SafetensorsWriter.Write(path, decoder.named_parameters().Select(p => ("language_model." + p.name, p.parameter.to(dt))));
        long bytes = new FileInfo(path).Length;
        for (int rep = 0; rep < 3; rep++)
        {
            var sw = Stopwatch.StartNew();
            using (var c = SafetensorsCheckpoint.Open(path))
                foreach (var name in c.Names) using (var t = c.Load(name, ScalarType.Float32, CPU)) { }
            Console.WriteLine($"{file}: raw loads {sw.Elapsed.TotalSeconds:F3} s");
            sw.Restart();
            using (var c = SafetensorsCheckpoint.Open(path))
                foreach (var name in c.Names) using (var t = empty(c.Info(name).ShapeArray(), ScalarType.Float32)) { }
            Console.WriteLine($"{file}: empties only {sw.Elapsed.TotalSeconds:F3} s");
            sw.Restart();
            using var ckpt = SafetensorsCheckpoint.Open(path);
            var source = new CheckpointWeightSource(ckpt, KeyMap.LlavaHf, ScalarType.Float32, CPU);
            using var loaded = new LlamaDecoder(cfg, source, "language_model.", false);
            source.Finish();
            var s = sw.Elapsed.TotalSeconds;
            Console.WriteLine($"{file}: {bytes / 1e9:F3} GB on disk -> f32: {s:F3} s ({bytes / 1e9 / s:F2} GB/s of file)");
        }
    }
}

if (what is "copy")
{
    // Raw copy speed into fresh tensors: managed span copy vs. native memcpy, 1 GB in 16 MB or 64 MB tensors.
    long total = 1L << 30;
    var src = new byte[64 << 20];
    new Random(1).NextBytes(src);
    foreach (long each in new[] { 16L << 20, 64L << 20 })
        for (int rep = 0; rep < 3; rep++)
        {
            var sw = Stopwatch.StartNew();
            for (long done = 0; done < total; done += each)
                using (var t = empty([each / 4], ScalarType.Float32)) src.AsSpan(0, (int)each).CopyTo(t.bytes);
            var a = sw.Elapsed.TotalSeconds;
            sw.Restart();
            for (long done = 0; done < total; done += each)
                using (var t = empty([each / 4], ScalarType.Float32)) unsafe { fixed (byte* s0 = src) fixed (byte* d0 = t.bytes) Buffer.MemoryCopy(s0, d0, each, each); }
            var b = sw.Elapsed.TotalSeconds;
            sw.Restart();
            using (var big = empty([total / 4], ScalarType.Float32)) { }
            Console.WriteLine($"{each >> 20} MB tensors: span copy {a:F3} s, memcpy {b:F3} s per GB");
        }
}

if (what is "copy2")
{
    string path = Path.Combine(Path.GetTempPath(), "mf-load-1024x16", "f32.safetensors");
    long len = new FileInfo(path).Length / (64L << 20) * (64L << 20);
    long each = 64L << 20;
    using var mmf = System.IO.MemoryMappedFiles.MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, System.IO.MemoryMappedFiles.MemoryMappedFileAccess.Read);
    using var view = mmf.CreateViewAccessor(0, 0, System.IO.MemoryMappedFiles.MemoryMappedFileAccess.Read);
    using var fh = File.OpenHandle(path);
    for (int rep = 0; rep < 3; rep++)
    {
        foreach (var mode in new[] { "mmap", "mmap+huge", "read", "read+huge", "mmap+populate" })
        {
            var keep = new List<Tensor>();
            var sw = Stopwatch.StartNew();
            unsafe
            {
                byte* b0 = null;
                view.SafeMemoryMappedViewHandle.AcquirePointer(ref b0);
                for (long done = 0; done < len; done += each)
                {
                    var t = empty([each / 4], ScalarType.Float32);
                    keep.Add(t);
                    var dst = t.bytes;
                    fixed (byte* d0 = dst)
                    {
                        if (mode.Contains("huge")) Madvise.Advise(d0, each, 14);
                        if (mode.Contains("populate")) Madvise.Advise(d0, each, 23);
                        if (mode.StartsWith("read")) RandomAccess.Read(fh, dst, done);
                        else Buffer.MemoryCopy(b0 + done, d0, each, each);
                    }
                }
                view.SafeMemoryMappedViewHandle.ReleasePointer();
            }
            var a = sw.Elapsed.TotalSeconds;
            foreach (var t in keep) t.Dispose();
            Console.WriteLine($"{mode,-14}: {a / (len / 1e9):F3} s per GB");
        }
    }
}

if (what is "reflect")
    foreach (var m in typeof(TorchSharp.torch).GetMethods().Where(m => m.GetParameters().Any(p => p.ParameterType == typeof(IntPtr))))
        Console.WriteLine($"{m.Name}({string.Join(", ", m.GetParameters().Select(p => p.ParameterType.Name + " " + p.Name))})");

if (what is "decode")
{
    // Greedy decoding's cost: the products of a step (1 and 4 rows) against the floor of one read of every weight a step
    // touches (decoder layers and the unembedding), then 31 steps for 1, 4 and 8 prompts in lockstep (MF_B=1,4: others).
    using var cache = new KvCache(layers);
    using (var o = decoder.Forward(embeds, PositionIds.Sequential(n), fillCache: cache)) { }
    var ws = decoder.named_parameters().Where(p => p.parameter.dim() == 2 && !p.name.Contains("embed_tokens")).Select(p => p.parameter).ToList();
    double mb = ws.Sum(w => w.numel()) * 4 / 1e6;
    Time($"sum of the weights a step reads ({mb:F0} MB f32)", () => { using var s = NewDisposeScope(); foreach (var w in ws) w.sum(); }, 5);
    var xs = ws.Select(w => normal(0, 1, [1, w.shape[1]])).ToList();
    var x4 = ws.Select(w => normal(0, 1, [4, w.shape[1]])).ToList();
    Time("1 row: libtorch linear of each (x W^T)", () => { using var s = NewDisposeScope(); for (int i = 0; i < ws.Count; i++) nn.functional.linear(xs[i], ws[i]); }, 5);
    Time("1 row: FewRowProduct of each", () => { using var s = NewDisposeScope(); for (int i = 0; i < ws.Count; i++) FewRowProduct.Apply(xs[i], ws[i]); }, 5);
    Time("4 rows: libtorch (W x^T)^T of each", () => { using var s = NewDisposeScope(); for (int i = 0; i < ws.Count; i++) matmul(ws[i], x4[i].t()).t(); }, 5);
    Time("4 rows: FewRowProduct of each", () => { using var s = NewDisposeScope(); for (int i = 0; i < ws.Count; i++) FewRowProduct.Apply(x4[i], ws[i]); }, 5);
    foreach (int b in (Environment.GetEnvironmentVariable("MF_B") is { } bs ? bs.Split(',').Select(int.Parse).ToArray() : new[] { 1, 4, 8 }))
        Time($"31 decode steps, {b} prompt(s) in lockstep", () =>
        {
            using var s = NewDisposeScope();
            var forks = Enumerable.Range(0, b).Select(_ => cache.Fork()).ToList();
            Generation.ContinueMany(decoder, forks.Select(f => new Continuation(f, PositionIds.Sequential(n), 5)).ToList(), 32, []);
            foreach (var f in forks) f.Dispose();
        }, 3);
}

if (what is "group")
{
    // `run`'s order per group of 4 samples: 4 clean passes (kept), their answers decoded in lockstep (31 steps), then per sample
    // the fast sweeps (Image->Question and Question->Last) and one naive knockout (the self-check's cell); each phase timed.
    var trimmer = new NativeHeapTrimmer();
    var naiveEngine = new NaiveKnockoutEngine();
    for (int g = 0; g < 3; g++)
    {
        var sw = Stopwatch.StartNew();
        var cleans = new List<CleanRun>();
        var t = new List<string>();
        for (int s = 0; s < 4; s++)
        {
            using var scope = NewDisposeScope();
            sw.Restart();
            cleans.Add(CleanRun.Create(decoder, normal(0, 1, [1, n, hidden])));
            t.Add($"clean {sw.Elapsed.TotalSeconds:F2}");
        }
        sw.Restart();
        using (var scope = NewDisposeScope())
        {
            var forks = cleans.Select(c => c.Cache.Fork()).ToList();
            Generation.ContinueMany(decoder, forks.Select(f => new Continuation(f, PositionIds.Sequential(n), 5)).ToList(), 32, []);
            foreach (var f in forks) f.Dispose();
        }
        t.Add($"answers {sw.Elapsed.TotalSeconds:F2}");
        foreach (var c in cleans)
        {
            sw.Restart();
            fast.Run(c, Sweep(image, question).Concat(Sweep(question, last)).ToList());
            t.Add($"fast {sw.Elapsed.TotalSeconds:F2}");
            sw.Restart();
            naiveEngine.Run(c, Sweep(image, question).Skip(7).Take(1).ToList());
            t.Add($"naive {sw.Elapsed.TotalSeconds:F2}");
            c.Dispose();
            t.Add($"trim {trimmer.AfterSample()}");
        }
        Console.WriteLine($"group {g}: {string.Join(", ", t)}");
    }
}

if (what is "gemm")
{
    // GFLOP/s of the clean pass's products (637 rows) and of a whole forward, to see how far the forward is from its GEMMs.
    foreach (var (o, k) in new[] { (hidden, hidden), ((int)(hidden * 2.6875), hidden), (hidden, (int)(hidden * 2.6875)) })
    {
        var w = normal(0, 1, [o, k]);
        var x = normal(0, 1, [n, k]);
        double gf = 2.0 * n * o * k / 1e9;
        Time($"linear [{n},{k}] x [{o},{k}]^T ({gf:F2} GFLOP)", () => { using var s = NewDisposeScope(); for (int i = 0; i < 10; i++) nn.functional.linear(x, w); }, 5);
    }
}

if (what is "fwdparts")
{
    // One layer of the clean pass (all 637 rows), piece by piece (wall ms, mean of 10), eager attention against SDPA.
    int heads = hidden / 64, hd = 64;
    var h = normal(0, 1, [1, n, hidden]);
    var rot = decoder.RotaryFor(PositionIds.Sequential(n), 0, n);
    var mask = Masks.Causal(n, 0, decoder.DType, decoder.Device);
    var W = decoder.named_parameters().Where(p => p.name.Contains("layers.4.")).ToDictionary(p => p.name.Split("layers.4.")[1], p => p.parameter);
    var norm = decoder.Layer(4).named_modules().Select(m => m.module).OfType<RmsNormLayer>().First();
    var acc = new Dictionary<string, double>();
    Tensor T(string name, Func<Tensor> f) { var c0 = Stopwatch.GetTimestamp(); var r = f(); acc[name] = acc.GetValueOrDefault(name) + Stopwatch.GetElapsedTime(c0).TotalMilliseconds; return r; }
    for (int rep2 = 0; rep2 < 12; rep2++)
    {
        if (rep2 == 2) acc.Clear();
        using var s2 = NewDisposeScope();
        var x = T("rmsnorm", () => norm.Forward(h));
        var qs = T("q_proj", () => nn.functional.linear(x, W["self_attn.q_proj.weight"]).view(1, n, heads, hd).transpose(1, 2));
        qs = T("rotary q", () => Rotary.Apply(qs, rot));
        var ks = T("k_proj", () => nn.functional.linear(x, W["self_attn.k_proj.weight"]).view(1, n, heads, hd).transpose(1, 2));
        ks = T("rotary k", () => Rotary.Apply(ks, rot));
        var vs = T("v_proj", () => nn.functional.linear(x, W["self_attn.v_proj.weight"]).view(1, n, heads, hd).transpose(1, 2));
        var kc = T("cache copies (k, v)", () => { ks.clone(); return vs.clone(); });
        var sc = T("QK^T / sqrt(d) + mask", () => matmul(qs, ks.transpose(2, 3)).div(Scalars.Of(8.0)).add(mask, Scalars.One));
        var pr = T("softmax f32", () => sc.softmax(-1, ScalarType.Float32).to(qs.dtype));
        var at = T("PV", () => matmul(pr, vs));
        T("sdpa (instead of the three above)", () => nn.functional.scaled_dot_product_attention(qs, ks, vs, mask));
        var hh = T("o_proj + add", () => h.add(nn.functional.linear(at.transpose(1, 2).reshape(1, n, hidden), W["self_attn.o_proj.weight"]), Scalars.One));
        var m = T("rmsnorm2", () => norm.Forward(hh));
        var g = T("gate", () => nn.functional.linear(m, W["mlp.gate_proj.weight"]));
        var u = T("up", () => nn.functional.linear(m, W["mlp.up_proj.weight"]));
        var su = T("silu*up", () => nn.functional.silu(g) * u);
        var o = T("down + add", () => hh.add(nn.functional.linear(su, W["mlp.down_proj.weight"]), Scalars.One));
        T("residual clone", () => o.clone());
    }
    foreach (var kv in acc) Console.WriteLine($"  {kv.Key,-36} {kv.Value / 10,8:F3}");
    Console.WriteLine($"  {"total",-36} {acc.Values.Sum() / 10,8:F3}  (x {layers} layers)");
}

if (what is "fewrow")
{
    // FewRowProduct against libtorch's product for 1, 2 and 4 rows on weights that fit in L3 (GB/s of weight read).
    foreach (var (o, k) in new[] { (256, 1024), (4096, 1024), (2752, 1024), (1024, 2752) })
    {
        var w = normal(0, 1, [o, k]);
        foreach (int r in new[] { 1, 2, 4 })
        {
            var x = normal(0, 1, [r, k]);
            int reps = (int)Math.Max(10, 2e9 / ((long)o * k * 4));
            for (int i = 0; i < 5; i++) { using var s0 = NewDisposeScope(); FewRowProduct.Apply(x, w); }
            var sw = Stopwatch.StartNew();
            for (int i = 0; i < reps; i++) { using var s0 = NewDisposeScope(); FewRowProduct.Apply(x, w); }
            double sec = sw.Elapsed.TotalSeconds;
            sw.Restart();
            for (int i = 0; i < reps; i++) { using var s0 = NewDisposeScope(); if (r == 1) nn.functional.linear(x, w); else matmul(w, x.t()); }
            double sec2 = sw.Elapsed.TotalSeconds;
            Console.WriteLine($"W [{o}, {k}] ({o * k * 4 / 1e6:F0} MB), {r} rows: FewRowProduct {reps * (double)o * k * 4 / sec / 1e9:F1} GB/s of weight, libtorch {reps * (double)o * k * 4 / sec2 / 1e9:F1} GB/s");
        }
    }
}

static class Madvise
{
    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "madvise")]
    private static extern int madvise(nint addr, nuint len, int advice);
    public static unsafe void Advise(byte* p, long len, int advice)
    {
        long a = ((long)p + 4095) & ~4095L, e = ((long)p + len) & ~4095L;
        if (e > a) madvise((nint)a, (nuint)(e - a), advice);
    }
}

static class ThreadCpu
{
    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern int ClockGetTime(int clk, out Timespec ts);
    private struct Timespec { public long Sec; public long Nsec; }
    /// <summary>CPU time of the calling thread (CLOCK_THREAD_CPUTIME_ID = 3), ms.</summary>
    public static double Ms() { ClockGetTime(3, out var t); return t.Sec * 1e3 + t.Nsec / 1e6; }
}

static partial class Program
{
    static long MinFlt() => long.Parse(File.ReadAllText("/proc/self/stat").Split(')')[1].Split(' ', StringSplitOptions.RemoveEmptyEntries)[7]);
}


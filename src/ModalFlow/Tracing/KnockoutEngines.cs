using ModalFlow.Models;
using ModalFlow.Platform;
using TorchSharp;
using static TorchSharp.torch;

namespace ModalFlow.Tracing;

public enum KnockoutEngineKind { Fast, Naive }

/// <summary>Runs knockout specs against a sample's <see cref="CleanRun"/>; results come back in spec order.</summary>
public interface IKnockoutEngine
{
    IReadOnlyList<KnockoutOutcome> Run(CleanRun clean, IReadOnlyList<KnockoutSpec> specs);

    /// <summary>The full last-position logits of each knockout (float32, [vocab] each).</summary>
    IReadOnlyList<float[]> RunLogits(CleanRun clean, IReadOnlyList<KnockoutSpec> specs);
}

/// <summary>Shared plumbing: an engine produces last-position logits for batches of specs; scoring is common.</summary>
public abstract class KnockoutEngineBase : IKnockoutEngine
{
    /// <summary>Calls <paramref name="sink"/> with spec indices and their logits [count, vocab] (valid during the call).</summary>
    protected abstract void Execute(CleanRun clean, IReadOnlyList<KnockoutSpec> specs, Action<IReadOnlyList<int>, Tensor> sink);

    public IReadOnlyList<KnockoutOutcome> Run(CleanRun clean, IReadOnlyList<KnockoutSpec> specs)
    {
        var results = new KnockoutOutcome[specs.Count];
        foreach (var i in ValidateAndFindNothingBlocked(clean, specs))
            results[i] = new KnockoutOutcome(specs[i], clean.LogP1, clean.Top1Id, clean.Top1Prob);   // nothing blocked: p2 = p1
        ExecuteWork(clean, specs, (indices, logits) =>
        {
            var outcomes = KnockoutEngine.Outcomes(indices.Select(i => specs[i]).ToList(), logits, clean.TargetTokenId);
            for (int j = 0; j < indices.Count; j++) results[indices[j]] = outcomes[j];
        });
        return results;
    }

    public IReadOnlyList<float[]> RunLogits(CleanRun clean, IReadOnlyList<KnockoutSpec> specs)
    {
        var results = new float[specs.Count][];
        var nothing = ValidateAndFindNothingBlocked(clean, specs);
        if (nothing.Count > 0)
        {
            using var f = clean.LastLogits.cpu();
            var logits = f.data<float>().ToArray();
            foreach (var i in nothing) results[i] = (float[])logits.Clone();
        }
        ExecuteWork(clean, specs, (indices, logits) =>
        {
            using var f = logits.to(ScalarType.Float32).cpu();
            for (int j = 0; j < indices.Count; j++) results[indices[j]] = f[j].data<float>().ToArray();
        });
        return results;
    }

    /// <summary>Checks every spec against the sequence and model; returns the indices of those that block nothing.</summary>
    private static List<int> ValidateAndFindNothingBlocked(CleanRun clean, IReadOnlyList<KnockoutSpec> specs)
    {
        foreach (var spec in specs) spec.Validate((int)clean.SeqLen, clean.NumLayers, clean.Decoder.NumHeads);
        return Enumerable.Range(0, specs.Count).Where(i => specs[i].BlocksNothing).ToList();
    }

    /// <summary>Executes the specs that block something; the sink gets their indices in <paramref name="specs"/>.</summary>
    private void ExecuteWork(CleanRun clean, IReadOnlyList<KnockoutSpec> specs, Action<IReadOnlyList<int>, Tensor> sink)
    {
        var work = Enumerable.Range(0, specs.Count).Where(i => !specs[i].BlocksNothing).ToList();
        if (work.Count == 0) return;
        Execute(clean, work.Select(i => specs[i]).ToList(), (indices, logits) => sink(indices.Select(j => work[j]).ToList(), logits));
    }
}

public static class KnockoutEngine
{
    public static IKnockoutEngine Create(KnockoutEngineKind kind) => kind switch
    {
        KnockoutEngineKind.Fast => new FastKnockoutEngine(),
        KnockoutEngineKind.Naive => new NaiveKnockoutEngine(),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    /// <summary>
    /// The heads each spec edits, or null when every spec edits every head (no head axis needed). A spec that names all
    /// heads is the paper's knockout: it takes the same path as one that names none, so its numbers are the same bits.
    /// </summary>
    internal static bool[][]? EditedHeads(IReadOnlyList<KnockoutSpec> specs, int numHeads)
    {
        if (specs.All(s => !s.IsPerHead || s.Heads.Length == numHeads)) return null;
        return specs.Select(s => HeadFlags(s, numHeads)).ToArray();
    }

    /// <summary>True for each head the spec edits (all when it names none).</summary>
    internal static bool[] HeadFlags(KnockoutSpec spec, int numHeads)
    {
        var flags = new bool[numHeads];
        if (!spec.IsPerHead) Array.Fill(flags, true);
        else foreach (var h in spec.Heads) flags[h] = true;
        return flags;
    }

    /// <summary>Bool [B, H, 1, 1], true where spec b edits head h.</summary>
    internal static Tensor HeadMask(bool[][] heads, int numHeads, Device device)
    {
        var flags = new bool[heads.Length * numHeads];
        for (int i = 0; i < heads.Length; i++) Array.Copy(heads[i], 0, flags, i * numHeads, numHeads);
        using var t = tensor(flags, device: device);
        return t.view(heads.Length, numHeads, 1, 1);
    }

    /// <summary>
    /// The rows of the suffix [t0, N) (offsets from t0, ascending) that some spec still needs, or null when every row is. For
    /// a spec that edits every head from its first layer to the last, a source row is needed only when a later needed row
    /// that is not a target reads it; the last position and every other row are needed. The rest (e.g. the tokens a pruning
    /// cell withdraws) feed nothing the last position depends on. A batch computes the rows some spec needs.
    /// </summary>
    internal static long[]? RowsNeeded(IReadOnlyList<KnockoutSpec> specs, int t0, int n, int numLayers, int numHeads)
    {
        var dead = new bool[n - t0];
        Array.Fill(dead, true);
        foreach (var spec in specs)
        {
            bool toTheEnd = spec.Layers.Length == numLayers - spec.FirstLayer && spec.Layers[^1] == numLayers - 1;   // layers ℓ₀ … L−1
            if (!toTheEnd || (spec.IsPerHead && spec.Heads.Length < numHeads)) return null;
            var isSource = new bool[n - t0];
            var isTarget = new bool[n - t0];
            foreach (var p in spec.Sources.Positions) if (p >= t0 && p < n) isSource[p - t0] = true;
            foreach (var p in spec.Targets.Positions) if (p >= t0 && p < n) isTarget[p - t0] = true;
            bool readLater = false;                                         // a later needed row reads sources (is not a target)
            for (int r = n - 1 - t0; r >= 0; r--)
            {
                bool need = r == n - 1 - t0 || !isSource[r] || readLater;       // the last position is the output
                if (need) dead[r] = false;
                if (need && !isTarget[r]) readLater = true;
            }
        }
        if (!dead.Contains(true)) return null;
        return Enumerable.Range(0, n - t0).Where(r => !dead[r]).Select(r => (long)r).ToArray();
    }

    /// <summary>Bool [rows, N]: true where row (absolute position firstRow + i) ∈ targets and column ∈ sources.</summary>
    internal static Tensor BlockedPairs(KnockoutSpec spec, long firstRow, long rows, long n, Device device)
    {
        var isTarget = new bool[rows];
        foreach (var t in spec.Targets.Positions) if (t >= firstRow && t < firstRow + rows) isTarget[t - firstRow] = true;
        var isSource = new bool[n];
        foreach (var s in spec.Sources.Positions) if (s < n) isSource[s] = true;
        using var tt = tensor(isTarget, device: device);
        using var ss = tensor(isSource, device: device);
        return tt.unsqueeze(1).logical_and(ss.unsqueeze(0));
    }

    internal static IReadOnlyList<KnockoutOutcome> Outcomes(IReadOnlyList<KnockoutSpec> specs, Tensor lastLogits, long target)
    {
        using var scope = NewDisposeScope();
        var logProbs = lastLogits.to(ScalarType.Float32).log_softmax(-1).cpu();     // [B, vocab]
        var lp = logProbs[.., target].data<float>().ToArray();
        var (maxLp, argmax) = logProbs.max(-1);
        var top = argmax.data<long>().ToArray();
        var topLp = maxLp.data<float>().ToArray();
        return specs.Select((s, i) => new KnockoutOutcome(s, lp[i], top[i], Math.Exp(topLp[i]))).ToList();
    }
}

/// <summary>
/// The reference: a full forward of the whole sequence for every spec, with the edited mask in every layer of
/// the spec (DESIGN §3 keeps it as the oracle the fast path is tested against).
/// </summary>
public sealed class NaiveKnockoutEngine : KnockoutEngineBase
{
    protected override void Execute(CleanRun clean, IReadOnlyList<KnockoutSpec> specs, Action<IReadOnlyList<int>, Tensor> sink)
    {
        var decoder = clean.Decoder;
        long n = clean.SeqLen;
        for (int i = 0; i < specs.Count; i++)
        {
            var spec = specs[i];
            using var scope = NewDisposeScope();
            var blocked = KnockoutEngine.BlockedPairs(spec, 0, n, n, decoder.Device).reshape(1, 1, n, n);
            if (spec.IsPerHead) blocked = blocked.logical_and(KnockoutEngine.HeadMask([KnockoutEngine.HeadFlags(spec, decoder.NumHeads)], decoder.NumHeads, decoder.Device));   // [1, H, n, n]
            var layers = spec.Layers.ToHashSet();
            double min = Masks.MinValue(decoder.DType);
            var hooks = new DecoderHooks
            {
                AttentionMask = (l, causal) => layers.Contains(l) ? causal.masked_fill(blocked, Scalars.Of(min)) : null,
            };
            using var output = decoder.Forward(clean.Embeds, clean.Positions, hooks, attention: AttentionKernel.Eager);   // the reference, as transformers' eager
            sink([i], output.LastLogits);
        }
    }
}

/// <summary>
/// The fast exact path (DESIGN §3). Specs are grouped by t₀ = min T; a group recomputes only positions [t₀, N),
/// reading the clean prefix keys/values from the cache, as one batch that each spec joins at its own ℓ₀ with
/// the clean residual stream entering that layer. Cost (N−t₀)·(L−ℓ₀) token-layers per spec instead of N·L, and one
/// read of each layer's weights per batch: every window, block and head variant of a sample that shares t₀ rides in it.
/// The last layer computes only the last position (its other rows feed nothing).
/// </summary>
/// <param name="maxRows">Bound on variants × recomputed positions per batch (memory); a batch always holds one variant.</param>
public sealed class FastKnockoutEngine(int maxRows = 1536) : KnockoutEngineBase
{
    /// <summary>Query rows × layers this engine has recomputed so far (a batch row per state, not per variant: RunGroup).</summary>
    public long RowLayersComputed { get; private set; }

    protected override void Execute(CleanRun clean, IReadOnlyList<KnockoutSpec> specs, Action<IReadOnlyList<int>, Tensor> sink)
    {
        var groups = specs.Select((s, i) => (Spec: s, Index: i)).GroupBy(x => x.Spec.FirstTarget);
        foreach (var group in groups)
        {
            // Sorted by ℓ₀ so that joining specs append to the end of the running batch.
            var ordered = group.OrderBy(x => x.Spec.FirstLayer).ToList();
            long q = clean.SeqLen - group.Key;
            int perBatch = (int)Math.Clamp(maxRows / q, 1, int.MaxValue);
            foreach (var chunk in ordered.Chunk(perBatch))
            {
                using var scope = NewDisposeScope();
                sink(chunk.Select(x => x.Index).ToList(), RunGroup(clean, chunk.Select(x => x.Spec).ToList(), group.Key));
            }
        }
    }

    /// <summary>
    /// Last-position logits [B, vocab] of a group of specs sharing t₀, sorted by ℓ₀. Variants whose computation is the
    /// same so far share one row of the batch (a state): the same ℓ₀, the same blocked pairs and heads, and the same
    /// in-window flag at every layer since (e.g. the windows a sweep clamps at layer 0 stay one state until the narrowest
    /// ends); a state splits when its variants' flags part. Each state's row is exactly what each of its variants computes.
    /// </summary>
    private Tensor RunGroup(CleanRun clean, IReadOnlyList<KnockoutSpec> specs, int t0)
    {
        var decoder = clean.Decoder;
        long n = clean.SeqLen, q = n - t0;
        int layersCount = decoder.NumLayers, b = specs.Count;
        using var scope = NewDisposeScope();
        var rot = decoder.RotaryFor(clean.Positions, t0, (int)q);                                      // absolute (M-RoPE: 3-D) ids of the suffix
        var causal = Masks.Causal(q, t0, decoder.DType, decoder.Device);                               // [1, 1, q, N]
        var (blocked, maskKey) = SuffixBlocks(specs, t0, q, n, decoder.Device);                       // [B, 1, q, N], equal keys = equal masks
        var heads = KnockoutEngine.EditedHeads(specs, decoder.NumHeads);
        if (heads is not null)
        {
            blocked = blocked.logical_and(KnockoutEngine.HeadMask(heads, decoder.NumHeads, decoder.Device));        // [B, H, q, N]
            maskKey = maskKey.Select((k, i) => $"{k}|{string.Concat(heads[i].Select(f => f ? '1' : '0'))}").ToArray();
        }
        // Rows no spec needs (sources blocked to the end, e.g. withdrawn tokens) are left out of the batch altogether.
        var needed = KnockoutEngine.RowsNeeded(specs, t0, (int)n, layersCount, decoder.NumHeads);
        Tensor? rowIdx = null;
        if (needed is not null)
        {
            rowIdx = tensor(needed, device: decoder.Device);
            var cols = tensor(Enumerable.Range(0, t0).Select(i => (long)i).Concat(needed.Select(r => t0 + r)).ToArray(), device: decoder.Device);
            rot = new RotaryTables(rot.Cos.index_select(0, rowIdx), rot.Sin.index_select(0, rowIdx));
            causal = causal.index_select(2, rowIdx).index_select(3, cols);
            blocked = blocked.index_select(2, rowIdx).index_select(3, cols);
            q = needed.Length;
        }
        Tensor CleanRows(int layer)                                         // the clean stream entering layer, at the batch's rows [1, q, D]
        {
            var suffix = clean.LayerInputs[layer][.., t0.., ..];
            return rowIdx is null ? suffix : suffix.index_select(1, rowIdx);
        }
        var inLayer = new bool[layersCount, b];
        for (int i = 0; i < b; i++) foreach (var l in specs[i].Layers) inLayer[l, i] = true;

        var stateOf = Enumerable.Repeat(-1, b).ToArray();                  // variant → row of h (−1: not started yet)
        var representative = new List<int>();                              // state → one of its variants
        Tensor? h = null;                                                   // [states, q, D], owned here (no scope)
        try
        {
            for (int l = specs[0].FirstLayer; l < layersCount; l++)
            {
                using var layerScope = NewDisposeScope();
                // This layer's states: the previous ones, split where their variants' flags part, then the newcomers.
                var key = new Dictionary<(int Parent, string Mask, bool In), int>();
                var parents = new List<int>();
                var nextRep = new List<int>();
                var nextStateOf = (int[])stateOf.Clone();
                foreach (bool newcomers in new[] { false, true })
                    for (int i = 0; i < b; i++)
                    {
                        bool started = stateOf[i] >= 0;
                        if (newcomers ? started || specs[i].FirstLayer > l : !started) continue;
                        var k = (stateOf[i], maskKey[i], inLayer[l, i]);
                        if (!key.TryGetValue(k, out int state))
                        {
                            key[k] = state = nextRep.Count;
                            parents.Add(stateOf[i]);
                            nextRep.Add(i);
                        }
                        nextStateOf[i] = state;
                    }
                bool unchanged = IsIdentity(parents, representative.Count);
                var carried = parents.Where(p => p >= 0).ToArray();
                int firstNew = carried.Length;                                  // newcomers sit at the end of the batch
                if (!unchanged)
                {
                    int joining = parents.Count - carried.Length;
                    var fromOld = h is null || carried.Length == 0 ? null
                        : IsIdentity(carried, representative.Count) ? h
                        : h.index_select(0, tensor(carried.Select(p => (long)p).ToArray(), device: decoder.Device));
                    var fresh = joining == 0 ? null : CleanRows(l).expand(joining, q, -1);                              // clean stream entering l
                    var grown = (fromOld is null ? fresh!.contiguous() : fresh is null ? fromOld.alias() : cat([fromOld, fresh], 0)).DetachFromDisposeScope();
                    h?.Dispose();
                    h = grown;
                }
                stateOf = nextStateOf;
                representative = nextRep;
                var prefixK = clean.Cache.Keys[l]![.., .., ..t0, ..];
                var prefixV = clean.Cache.Values[l]![.., .., ..t0, ..];
                bool lastLayer = l == layersCount - 1 && q > 1;
                var inWindow = representative.Select(i => inLayer[l, i]).ToArray();
                // A newcomer's first layer sees clean keys and values everywhere, so only rows up to its last target can
                // differ from the clean stream: compute those and take the rest from the clean run. Done where that needs no
                // extra call (the whole batch is new, or per-head masks already run the edited states apart; with windows wider
                // than a layer, the running edited states then make a third call, far cheaper than the rows it saves).
                int joiners = representative.Count - firstNew;
                long qHead = q;
                if (joiners > 0 && !lastLayer)
                {
                    long lastTarget = Enumerable.Range(firstNew, joiners).Max(s => specs[representative[s]].Targets.Positions[^1]) - t0;
                    qHead = needed is null ? lastTarget + 1 : needed.Count(r => r <= lastTarget);
                }
                Tensor next;
                if (qHead < q && (firstNew == 0 || heads is not null))
                {
                    RowLayersComputed += firstNew * q + joiners * qHead;
                    next = StepNewcomers(decoder, l, h!, CleanRows(l + 1), firstNew, qHead, inWindow, representative, rot, causal, blocked, prefixK, prefixV)
                        .DetachFromDisposeScope();
                }
                else
                {
                    RowLayersComputed += representative.Count * q;
                    next = StepActive(decoder, l, h!, inWindow, representative, rot, causal, blocked, prefixK, prefixV, lastLayer).DetachFromDisposeScope();
                }
                h!.Dispose();
                h = next;
            }
            var logits = decoder.Unembed(decoder.FinalNorm(h![.., -1, ..]));                                // [states, vocab]
            bool oneToOne = IsIdentity(stateOf, b);
            return (oneToOne ? logits : logits.index_select(0, tensor(stateOf.Select(st => (long)st).ToArray(), device: decoder.Device)))
                .MoveToOuterDisposeScope();                                                              // [B, vocab]
        }
        finally
        {
            h?.Dispose();
        }
    }

    /// <summary>True when <paramref name="xs"/> is 0, 1, …, count − 1 (a batch that needs no reindexing).</summary>
    private static bool IsIdentity(IReadOnlyList<int> xs, int count) => xs.Count == count && Enumerable.Range(0, count).All(j => xs[j] == j);

    /// <summary>
    /// One layer (not the last) for states [0, firstNew) running since earlier layers and states [firstNew, S) joining
    /// here: the joiners compute only their first <paramref name="qHead"/> rows (up to their targets'), the rest of theirs
    /// is <paramref name="cleanOut"/> [1, q, D], the clean stream leaving the layer at the batch's rows. Returns [S, q, D].
    /// </summary>
    private static Tensor StepNewcomers(ITextDecoder decoder, int l, Tensor h, Tensor cleanOut, int firstNew, long qHead, bool[] inWindow,
        IReadOnlyList<int> representative, RotaryTables rot, Tensor causal, Tensor blocked, Tensor prefixK, Tensor prefixV)
    {
        int s = inWindow.Length, t0 = (int)prefixK.shape[2];
        int qh = (int)qHead, cols = t0 + qh;
        var rotHead = new RotaryTables(rot.Cos[..qh], rot.Sin[..qh]);
        var head = StepActive(decoder, l, h[firstNew.., ..qh], inWindow[firstNew..], representative.Skip(firstNew).ToList(), rotHead,
            causal[.., .., ..qh, ..cols], blocked[.., .., ..qh, ..cols], prefixK, prefixV, lastLayer: false);       // [S − firstNew, qHead, D]
        var tail = cleanOut[.., qh.., ..].expand(s - firstNew, -1, -1);
        var joined = cat([head, tail], 1);
        if (firstNew == 0) return joined;
        var running = StepActive(decoder, l, h[..firstNew], inWindow[..firstNew], representative.Take(firstNew).ToList(), rot,
            causal, blocked, prefixK, prefixV, lastLayer: false);
        return cat([running, joined], 0);
    }

    /// <summary>
    /// One layer for the states h [S, q, D] → [S, q or 1, D]: state s edits this layer when <paramref name="inWindow"/>[s],
    /// with the blocked pairs of its representative variant (rows of <paramref name="blocked"/> [B, 1 or H, q, N]).
    /// </summary>
    private static Tensor StepActive(ITextDecoder decoder, int l, Tensor h, bool[] inWindow, IReadOnlyList<int> representative, RotaryTables rot,
        Tensor causal, Tensor blocked, Tensor prefixK, Tensor prefixV, bool lastLayer)
    {
        bool perHead = blocked.shape[1] > 1;                                // [B, H, q, N] when specs edit single heads
        var min = Scalars.Of(Masks.MinValue(decoder.DType));
        var edited = Enumerable.Range(0, inWindow.Length).Where(s => inWindow[s]).ToArray();
        if (edited.Length == 0)                                             // outside every window: the causal mask, broadcast
            return decoder.ForwardSuffix(l, h, rot, causal, prefixK, prefixV, lastLayer);
        Tensor Rows(IEnumerable<int> states) => tensor(states.Select(s => (long)s).ToArray(), device: decoder.Device);
        Tensor BlockedOf(IEnumerable<int> states)                           // the states' representatives' rows of blocked
        {
            var reps = states.Select(s => representative[s]).ToArray();
            return IsIdentity(reps, reps.Length) ? blocked[..reps.Length]
                : blocked.index_select(0, Rows(reps));
        }
        if (edited.Length == inWindow.Length || !perHead)
        {
            var flags = tensor(inWindow, device: decoder.Device).view(inWindow.Length, 1, 1, 1);
            var all = Enumerable.Range(0, inWindow.Length);
            var mask = causal.masked_fill(BlockedOf(all).logical_and(flags), min);                       // [S, 1 or H, q, N]
            return decoder.ForwardSuffix(l, h, rot, mask, prefixK, prefixV, lastLayer);
        }
        // Per-head masks are H times a window mask, and most variants of a map are past their layer: only the states in
        // their window get one; the rest run as a second batch on the broadcast causal mask.
        var plainStates = Enumerable.Range(0, inWindow.Length).Where(s => !inWindow[s]).ToArray();
        var inIdx = Rows(edited);
        var outIdx = Rows(plainStates);
        var withMask = decoder.ForwardSuffix(l, h.index_select(0, inIdx), rot, causal.masked_fill(BlockedOf(edited), min), prefixK, prefixV, lastLayer);
        var plain = decoder.ForwardSuffix(l, h.index_select(0, outIdx), rot, causal, prefixK, prefixV, lastLayer);
        return empty([inWindow.Length, withMask.shape[1], withMask.shape[2]], withMask.dtype, withMask.device)
            .index_copy_(0, inIdx, withMask).index_copy_(0, outIdx, plain);
    }

    /// <summary>
    /// Bool [B, 1, q, N]: variant b blocks (row t₀+i, column j), built once per distinct (sources, targets) pair; and each
    /// variant's pair as a key (equal keys, equal masks).
    /// </summary>
    private static (Tensor Blocked, string[] Keys) SuffixBlocks(IReadOnlyList<KnockoutSpec> specs, int t0, long q, long n, Device device)
    {
        using var scope = NewDisposeScope();
        var pairs = new Dictionary<(PositionSet, PositionSet), int>();
        var index = new long[specs.Count];
        var distinct = new List<KnockoutSpec>();
        for (int i = 0; i < specs.Count; i++)
        {
            var key = (specs[i].Sources, specs[i].Targets);
            if (!pairs.TryGetValue(key, out int p))
            {
                pairs[key] = p = distinct.Count;
                distinct.Add(specs[i]);
            }
            index[i] = p;
        }
        var table = stack(distinct.Select(s => KnockoutEngine.BlockedPairs(s, t0, q, n, device)));     // [P, q, N]
        var picked = distinct.Count == specs.Count ? table : table.index_select(0, tensor(index, device: device));
        return (picked.unsqueeze(1).MoveToOuterDisposeScope(), index.Select(p => p.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray());
    }
}

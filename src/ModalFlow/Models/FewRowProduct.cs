using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using TorchSharp;
using static TorchSharp.torch;

namespace ModalFlow.Models;

/// <summary>
/// x·Wᵀ for 1–8 rows of float32 on the CPU, for two things libtorch's products do not give here:
/// <list type="bullet">
/// <item>Every output element is summed in one fixed order, whatever the number of rows: decoding several samples in
/// lockstep gives each sample the bits it gets alone (Generation.ContinueMany).</item>
/// <item>The weight is read once for all rows, split by rows over libtorch's intra-op threads: MKL's one-row GEMV read it
/// at about 60% of the rate a plain sum of the same bytes reaches (bench/ModalFlow.Bench "gemv").</item>
/// </list>
/// Each element is the dot product of a weight row and an input row: two 8-wide FMA accumulators over alternating 8-float
/// chunks, a last odd chunk into the first, their sum reduced horizontally, then the remainder element by element.
/// Input rows go in blocks of 4 against each weight row while it is in L1 (a block's unused rows repeat its first: computed,
/// not stored); one row has its own loop with the same arithmetic.
/// </summary>
public static unsafe partial class FewRowProduct
{
    public const int MaxRows = 8;

    /// <summary>Weight elements per thread below which splitting costs more than it saves.</summary>
    private const long MinElementsPerThread = 1 << 16;

    /// <summary>
    /// The kernels prefetch the weight this many rows ahead, one cache line per 16 floats read. A row of a 1024-wide layer is
    /// exactly one 4 KB page, where the hardware prefetcher stops and restarts: with the prefetch the products of a decoding
    /// step (941 MB of weights, 4 rows) took 42–45 ms instead of 83 (bench/ModalFlow.Bench 1024 16 decode; 1 row 38 vs 44 ms).
    /// </summary>
    private const int PrefetchRows = 2;

    [LibraryImport("LibTorchSharp")]
    private static partial nint THSTensor_data(nint handle);

    /// <summary>Whether this processor has the instructions the kernel is written in (AVX, FMA).</summary>
    public static bool HardwareSupported => Fma.IsSupported && Avx.IsSupported;

    /// <summary>Whether <see cref="Apply"/> serves this product (CPU, float32, no autograd, 1–8 rows, FMA hardware).</summary>
    public static bool Serves(Tensor x, Tensor weight, long rows) =>
        rows is >= 1 and <= MaxRows && HardwareSupported
        && x.device_type == DeviceType.CPU && weight.device_type == DeviceType.CPU
        && x.dtype == ScalarType.Float32 && weight.dtype == ScalarType.Float32 && weight.dim() == 2
        && !(weight.requires_grad && is_grad_enabled()) && !(x.requires_grad && is_grad_enabled());

    /// <summary>x [R, K] (R ≤ 8) times weight [O, K] transposed → [R, O], float32 on the CPU.</summary>
    public static Tensor Apply(Tensor x, Tensor weight)
    {
        long rows = x.shape[0], k = x.shape[1], outFeatures = weight.shape[0];
        if (x.dim() != 2 || weight.shape[1] != k || rows is < 1 or > MaxRows)
            throw new ArgumentException($"expected x [1..{MaxRows}, {weight.shape[1]}], got [{string.Join(", ", x.shape)}]", nameof(x));
        using var scope = NewDisposeScope();
        var xc = x.contiguous();
        var w = weight.contiguous();
        var y = empty([rows, outFeatures], ScalarType.Float32, x.device);
        nint wp = THSTensor_data(w.Handle), xp = THSTensor_data(xc.Handle), yp = THSTensor_data(y.Handle);
        int parts = (int)Math.Clamp(outFeatures * k / MinElementsPerThread, 1, Math.Max(1, get_num_threads()));
        if (parts == 1) Block((float*)wp, (float*)xp, (float*)yp, (int)rows, (int)k, (int)outFeatures, 0, (int)outFeatures);
        else
            Parallel.For(0, parts, p => Block((float*)wp, (float*)xp, (float*)yp, (int)rows, (int)k, (int)outFeatures,
                (int)(outFeatures * p / parts), (int)(outFeatures * (p + 1) / parts)));
        GC.KeepAlive(w);
        GC.KeepAlive(xc);
        return y.MoveToOuterDisposeScope();
    }

    /// <summary>Output columns [from, to) of y [R, O]: each weight row against every input row (blocks of 4) while it is in L1.</summary>
    private static void Block(float* w, float* x, float* y, int rows, int k, int outFeatures, int from, int to)
    {
        if (rows == 1)
        {
            OneRow(w, x, y, k, from, to);
            return;
        }
        for (int o = from; o < to; o++)
            for (int r = 0; r < rows; r += 4)
                FourRows(w + (long)o * k, x + (long)r * k, y + (long)r * outFeatures + o, Math.Min(4, rows - r), k, outFeatures);
    }

    /// <summary>One weight row against up to 4 input rows; y[j · outFeatures] for row j.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void FourRows(float* row, float* x, float* y, int rows, int k, int outFeatures)
    {
        float* x0 = x, x1 = rows > 1 ? x + k : x, x2 = rows > 2 ? x + 2L * k : x, x3 = rows > 3 ? x + 3L * k : x;
        var a0 = Vector256<float>.Zero; var b0 = a0; var a1 = a0; var b1 = a0; var a2 = a0; var b2 = a0; var a3 = a0; var b3 = a0;
        int i = 0;
        float* ahead = row + PrefetchRows * (long)k;
        for (; i + 16 <= k; i += 16)
        {
            Sse.Prefetch0(ahead + i);
            var wa = Avx.LoadVector256(row + i);
            var wb = Avx.LoadVector256(row + i + 8);
            a0 = Fma.MultiplyAdd(wa, Avx.LoadVector256(x0 + i), a0);
            b0 = Fma.MultiplyAdd(wb, Avx.LoadVector256(x0 + i + 8), b0);
            a1 = Fma.MultiplyAdd(wa, Avx.LoadVector256(x1 + i), a1);
            b1 = Fma.MultiplyAdd(wb, Avx.LoadVector256(x1 + i + 8), b1);
            a2 = Fma.MultiplyAdd(wa, Avx.LoadVector256(x2 + i), a2);
            b2 = Fma.MultiplyAdd(wb, Avx.LoadVector256(x2 + i + 8), b2);
            a3 = Fma.MultiplyAdd(wa, Avx.LoadVector256(x3 + i), a3);
            b3 = Fma.MultiplyAdd(wb, Avx.LoadVector256(x3 + i + 8), b3);
        }
        if (i + 8 <= k)
        {
            var wa = Avx.LoadVector256(row + i);
            a0 = Fma.MultiplyAdd(wa, Avx.LoadVector256(x0 + i), a0);
            a1 = Fma.MultiplyAdd(wa, Avx.LoadVector256(x1 + i), a1);
            a2 = Fma.MultiplyAdd(wa, Avx.LoadVector256(x2 + i), a2);
            a3 = Fma.MultiplyAdd(wa, Avx.LoadVector256(x3 + i), a3);
            i += 8;
        }
        y[0] = Finish(a0, b0, row, x0, i, k);
        if (rows > 1) y[outFeatures] = Finish(a1, b1, row, x1, i, k);
        if (rows > 2) y[2L * outFeatures] = Finish(a2, b2, row, x2, i, k);
        if (rows > 3) y[3L * outFeatures] = Finish(a3, b3, row, x3, i, k);
    }

    /// <summary>The same arithmetic as <see cref="Block"/> for one row, without the repeated rows' work (decoding's case).</summary>
    private static void OneRow(float* w, float* x, float* y, int k, int from, int to)
    {
        for (int o = from; o < to; o++)
        {
            float* row = w + (long)o * k;
            var a = Vector256<float>.Zero; var b = a;
            float* ahead = row + PrefetchRows * (long)k;
            int i = 0;
            for (; i + 16 <= k; i += 16)
            {
                Sse.Prefetch0(ahead + i);
                a = Fma.MultiplyAdd(Avx.LoadVector256(row + i), Avx.LoadVector256(x + i), a);
                b = Fma.MultiplyAdd(Avx.LoadVector256(row + i + 8), Avx.LoadVector256(x + i + 8), b);
            }
            if (i + 8 <= k)
            {
                a = Fma.MultiplyAdd(Avx.LoadVector256(row + i), Avx.LoadVector256(x + i), a);
                i += 8;
            }
            y[o] = Finish(a, b, row, x, i, k);
        }
    }

    private static float Finish(Vector256<float> a, Vector256<float> b, float* w, float* x, int i, int k)
    {
        float s = Vector256.Sum(Avx.Add(a, b));
        for (; i < k; i++) s = MathF.FusedMultiplyAdd(w[i], x[i], s);
        return s;
    }
}

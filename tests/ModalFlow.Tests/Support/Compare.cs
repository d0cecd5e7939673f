using System.Text;
using Xunit;

namespace ModalFlow.Tests.Support;

/// <summary>Array comparisons that report the worst and first mismatches with indices and values.</summary>
public static class Compare
{
    public static double MaxAbsDiff(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        double max = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double d = Math.Abs((double)expected[i] - actual[i]);
            if (double.IsNaN(d)) return double.PositiveInfinity;
            if (d > max) max = d;
        }
        return max;
    }

    /// <summary>Asserts |expected - actual| ≤ atol element-wise; returns the max abs diff for reporting.</summary>
    public static double AllClose(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, double atol, string what)
    {
        Assert.True(expected.Length == actual.Length, $"{what}: length {actual.Length}, expected {expected.Length}");
        double max = 0;
        int bad = 0;
        var sb = new StringBuilder();
        for (int i = 0; i < expected.Length; i++)
        {
            double d = Math.Abs((double)expected[i] - actual[i]);
            if (double.IsNaN(d)) d = double.PositiveInfinity;
            if (d > max) max = d;
            if (d > atol)
            {
                if (bad < 5) sb.Append($"\n  [{i}] expected {expected[i]:R} actual {actual[i]:R} (diff {d:E2})");
                bad++;
            }
        }
        Assert.True(bad == 0, $"{what}: {bad} of {expected.Length} elements differ by more than {atol:E1} (max {max:E3}):{sb}");
        return max;
    }

    /// <summary>Same dtype, same shape and the same bytes (bit-identical, -0.0 and NaN payloads included).</summary>
    public static bool SameBits(TorchSharp.torch.Tensor expected, TorchSharp.torch.Tensor actual)
    {
        if (expected.dtype != actual.dtype || !expected.shape.SequenceEqual(actual.shape)) return false;
        using var a = expected.cpu().contiguous();
        using var b = actual.cpu().contiguous();
        return a.numel() == 0 || a.bytes.SequenceEqual(b.bytes);
    }
}

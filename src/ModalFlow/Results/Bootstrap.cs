namespace ModalFlow.Results;

/// <summary>
/// Seeded percentile bootstrap of the mean (see <see cref="CiMethod.Bootstrap"/>). The random stream is our own
/// (SplitMix64-seeded xoshiro256**), so the same values, seed and key give the same interval on every machine and
/// .NET version; it is not numpy's stream, so the bounds match seaborn's only up to Monte-Carlo noise.
/// </summary>
public static class Bootstrap
{
    /// <summary>
    /// The central <paramref name="level"/> percentile interval of <paramref name="resamples"/> bootstrap means of
    /// <paramref name="values"/>. Callers that want results independent of row order pass the values sorted.
    /// </summary>
    public static (double Low, double High) MeanInterval(IReadOnlyList<double> values, int resamples, ulong seed, double level = 0.95)
    {
        int n = values.Count;
        if (n == 0) throw new ArgumentException("no values to resample", nameof(values));
        if (resamples < 1) throw new ArgumentOutOfRangeException(nameof(resamples), resamples, "expected at least one resample");
        if (!(level > 0 && level < 1)) throw new ArgumentOutOfRangeException(nameof(level), level, "expected a level in (0, 1)");
        var rng = new Xoshiro256(seed);
        var means = new double[resamples];
        for (int b = 0; b < resamples; b++)
        {
            double sum = 0;
            for (int i = 0; i < n; i++) sum += values[rng.NextBelow((uint)n)];
            means[b] = sum / n;
        }
        Array.Sort(means);
        double edge = (1 - level) / 2 * 100;
        return (Percentile(means, edge), Percentile(means, 100 - edge));
    }

    /// <summary>
    /// numpy.percentile's default ("linear") of sorted values: position q/100·(n − 1), interpolated between its two
    /// neighbours with numpy's two-sided lerp (so the upper neighbour is hit exactly at t = 1).
    /// </summary>
    public static double Percentile(IReadOnlyList<double> sorted, double q)
    {
        if (sorted.Count == 0) throw new ArgumentException("no values", nameof(sorted));
        double pos = q / 100 * (sorted.Count - 1);
        int lo = (int)Math.Floor(pos);
        if (lo >= sorted.Count - 1) return sorted[^1];
        if (lo < 0) return sorted[0];
        double t = pos - lo, a = sorted[lo], b = sorted[lo + 1], diff = b - a;
        return t >= 0.5 ? b - diff * (1 - t) : a + diff * t;
    }

    /// <summary>A stable 64-bit key of a group name (FNV-1a over UTF-16 code units), to give each group its own stream.</summary>
    public static ulong StreamKey(string name)
    {
        ulong h = 14695981039346656037;
        foreach (char c in name) { h ^= c; h *= 1099511628211; }
        return h;
    }

    /// <summary>xoshiro256** seeded through SplitMix64 (Blackman &amp; Vigna).</summary>
    private struct Xoshiro256
    {
        private ulong _s0, _s1, _s2, _s3;

        public Xoshiro256(ulong seed)
        {
            _s0 = SplitMix(ref seed);
            _s1 = SplitMix(ref seed);
            _s2 = SplitMix(ref seed);
            _s3 = SplitMix(ref seed);
        }

        private static ulong SplitMix(ref ulong x)
        {
            ulong z = x += 0x9E3779B97F4A7C15;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
            return z ^ (z >> 31);
        }

        public ulong Next()
        {
            ulong result = ulong.RotateLeft(_s1 * 5, 7) * 9;
            ulong t = _s1 << 17;
            _s2 ^= _s0;
            _s3 ^= _s1;
            _s1 ^= _s2;
            _s0 ^= _s3;
            _s2 ^= t;
            _s3 = ulong.RotateLeft(_s3, 45);
            return result;
        }

        /// <summary>Uniform in [0, n) without modulo bias (Lemire's multiply-and-reject).</summary>
        public int NextBelow(uint n)
        {
            uint threshold = (uint)(-n) % n;
            while (true)
            {
                ulong m = (Next() >> 32) * n;
                if ((uint)m >= threshold) return (int)(m >> 32);
            }
        }
    }
}

using System.Text;

namespace ModalFlow.Platform;

/// <summary>
/// A seeded shuffle that gives the same order on every machine and process (System.Random and string hashes do not):
/// state = FNV-1a-64 of the key's UTF-8 bytes XOR (seed · 0x9E3779B97F4A7C15); draws are SplitMix64 outputs; step i of a
/// Fisher–Yates shuffle swaps in j = i + (draw mod (n − i)), rejecting draws in the biased top range. Exp 3's random
/// patches and the pruning control both use it, so either can be reproduced elsewhere from this description.
/// </summary>
internal static class StableShuffle
{
    /// <summary>Runs the first <paramref name="steps"/> steps in place: items[0 .. steps) are then the draw.</summary>
    public static void Shuffle<T>(T[] items, int steps, string key, int seed)
    {
        ArgumentNullException.ThrowIfNull(key);
        var rng = new SplitMix64(Fnv1a64(key) ^ unchecked((ulong)seed * 0x9E3779B97F4A7C15UL));
        for (int i = 0; i < steps; i++)
        {
            int j = i + (int)rng.NextBelow((ulong)(items.Length - i));
            (items[i], items[j]) = (items[j], items[i]);
        }
    }

    private static ulong Fnv1a64(string s)
    {
        ulong h = 0xCBF29CE484222325UL;
        foreach (var b in Encoding.UTF8.GetBytes(s))
        {
            h ^= b;
            h = unchecked(h * 0x100000001B3UL);
        }
        return h;
    }

    private struct SplitMix64(ulong state)
    {
        private ulong _state = state;

        public ulong Next()
        {
            unchecked
            {
                ulong z = _state += 0x9E3779B97F4A7C15UL;
                z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
                z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
                return z ^ (z >> 31);
            }
        }

        /// <summary>Uniform in [0, bound) by rejection: draws in the top partial range are discarded.</summary>
        public ulong NextBelow(ulong bound)
        {
            ulong limit = ulong.MaxValue - ulong.MaxValue % bound;
            ulong r;
            do r = Next(); while (r >= limit);
            return r % bound;
        }
    }
}

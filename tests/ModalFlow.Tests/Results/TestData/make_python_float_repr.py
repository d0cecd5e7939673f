"""Writes python_float_repr.json: doubles (as IEEE-754 bit patterns, hex) and the text numpy's astype(str) gives them
(which is what pandas' to_csv writes for a float64 column), checked equal to Python's repr. Edge values around the
fixed/scientific switch (1e-4, 1e16), integers, subnormals, the extremes, and seeded random bit patterns and
probabilities / percentages like the ones a knockout run writes.

Run: /usr/bin/python3 make_python_float_repr.py   (Debian 12: numpy 1.24.2; deterministic)
"""
import json, math, os, random, struct
import numpy as np

def bits(x): return struct.pack(">d", x).hex()

vals = [0.0, -0.0, 1.0, -1.0, 100.0, -100.0, 0.1, 0.5, 1e-4, 9.999999999999999e-05, 1e-5, 1e16, 9999999999999998.0,
        1e15, 123456789012345678.0, 1e22, 1e-300, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308,
        0.30000000000000004, 1 / 3, 2 / 3, math.pi, 1e-7, 12345.678, 0.000123, 99.99999999999999, 1e100, 1.5e-10]
rng = random.Random(12)
for _ in range(600):
    x = struct.unpack(">d", rng.getrandbits(64).to_bytes(8, "big"))[0]
    if math.isfinite(x): vals.append(x)
for _ in range(600):
    p1, p2 = rng.random(), rng.random() * rng.choice([1, 1e-3, 1e-6])
    vals += [p1, p2, (p2 - p1) * 100.0 / p1, float(np.float32(p1)), float(np.float16(p1))]
arr = np.array(vals, dtype=np.float64).astype(str)
out = []
for v, s in zip(vals, arr):
    assert s == repr(v), (v, s, repr(v))
    out.append([bits(v), str(s)])
json.dump(out, open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "python_float_repr.json"), "w"), separators=(",", ":"))
print(np.__version__, len(out), "values")

"""Writes seaborn_bootstrap.json: a few groups of values like a knockout layer's relative changes and the 95% interval
seaborn's lineplot draws for them (seaborn._statistics.EstimateAggregator("mean", ("ci", 95), n_boot=..., seed=0):
bootstrap means, numpy percentile 2.5 / 97.5), with seaborn's default n_boot=1000 and with 100000 resamples (the
bootstrap interval with little Monte-Carlo noise left). Our bootstrap uses another random stream, so tests compare
within Monte-Carlo tolerance, not bit for bit.

Run: /usr/bin/python3 make_seaborn_bootstrap.py   (Debian 12: seaborn 0.12.2, numpy 1.24.2, pandas 1.5.3)
"""
import json, os
import numpy as np, pandas as pd
from seaborn._statistics import EstimateAggregator

rng = np.random.default_rng(7)
groups = {
    "normal_n16": rng.normal(-20, 15, 16),
    "skewed_n40": np.minimum(-100 + rng.exponential(60, 40), 30),
    "near_floor_n8": np.array([-100, -100, -99.5, -98, -100, -20, -97, -100.0]),
    "small_n3": np.array([-5.0, 1.0, -40.0]),
    "lens_n25": rng.beta(0.5, 3, 25),
}
out = []
for name, v in groups.items():
    df = pd.DataFrame({"y": v})
    row = {"name": name, "values": [float(x) for x in v]}
    for n_boot in (1000, 100000):
        r = EstimateAggregator("mean", ("ci", 95), n_boot=n_boot, seed=0)(df, "y")
        row[f"low_{n_boot}"], row[f"high_{n_boot}"] = float(r["ymin"]), float(r["ymax"])
    row["mean"] = float(v.mean())
    out.append(row)
json.dump(out, open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "seaborn_bootstrap.json"), "w"), indent=1)
for r in out: print(r["name"], r["mean"], r["low_1000"], r["high_1000"], r["low_100000"], r["high_100000"])

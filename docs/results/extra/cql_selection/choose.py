"""The selection rule for CQL on Key-to-Door: the (settings, steps) with the highest mean success over the
selection seeds and both data sizes, read off the learning curves of the grid in this directory."""
import glob
import json
import os

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
best = None
for f in sorted(glob.glob(os.path.join(here, "*", "keytodoor.json"))):
    r = json.load(open(f))
    if r["partial"]:
        continue
    c, curves = r["config"]["cql"], r["curves"]["cql"]
    steps = [s for s, _ in curves["1k"][0]]
    for i, s in enumerate(steps):
        m = float(np.mean([cur[i][1] for d in curves for cur in curves[d]]))
        if best is None or m > best[0]:
            best = (m, c["lr"], c["target_update_interval"], c["n_steps"], s)
print(f"--cql.lr {best[1]} --cql.target-update-interval {best[2]} --cql.n-steps {best[3]} --cql.steps {best[4]}")

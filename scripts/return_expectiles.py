"""Where a return head's expectile sits in a dataset's episode returns: the tau-expectile of the returns from the
start of each episode (what `--return-head expectile --return-expectile TAU` learns at the first step, up to the
history's small differences between episode starts), beside the data's best return and its percentiles.

    python scripts/return_expectiles.py hopper-medium-replay [--taus 0.5 0.9 0.99 0.999 0.9999] [--json out.json]

The tau-expectile m of x solves tau * E[(x - m)+] = (1 - tau) * E[(m - x)+] (Newey and Powell 1987; the loss of
losses.expectile_loss); it is found as the fixed point m = sum(w x) / sum(w), w = tau above m and 1 - tau below.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from decision_transformer.data import load_dataset


def expectile(x: np.ndarray, tau: float, tol: float = 1e-9) -> float:
    """The tau-expectile of the sample x (the fixed-point iteration of the docstring; monotone, it converges)."""
    m = float(x.mean())
    for _ in range(10_000):
        w = np.where(x < m, 1.0 - tau, tau)
        new = float(np.sum(w * x) / np.sum(w))
        if abs(new - m) <= tol * max(1.0, abs(m)):
            return new
        m = new
    return m


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("dataset", help="a built-in dataset name or a dataset file")
    p.add_argument("--taus", type=float, nargs="+", default=[0.5, 0.9, 0.99, 0.999, 0.9999])
    p.add_argument("--json", default="", help="also write the numbers here")
    args = p.parse_args()
    returns = np.asarray(load_dataset(args.dataset).episode_returns, dtype=np.float64)
    out = {"dataset": args.dataset, "episodes": int(len(returns)), "best": float(returns.max()),
           "mean": float(returns.mean()),
           "percentiles": {str(q): float(np.percentile(returns, q)) for q in (50, 90, 99)},
           "expectiles": {str(t): expectile(returns, t) for t in args.taus}}
    print(f"{args.dataset}: {out['episodes']} episodes, best return {out['best']:.1f}, mean {out['mean']:.1f}; "
          + ", ".join(f"p{q} {v:.1f}" for q, v in out["percentiles"].items()))
    for t, v in out["expectiles"].items():
        print(f"  {t}-expectile of the episode returns: {v:.1f} ({100 * v / out['best']:.0f}% of the best)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()

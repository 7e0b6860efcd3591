"""Logged diagnostics of several d3rlpy CQL runs on one set of axes: mean Q on the data's actions beside their
discounted return, the TD loss and the conservative loss against gradient step (the runs' metrics.jsonl, as
dt_experiments.paper.d3rlpy_logs writes them). Made for Atari CQL's diagnosis, its 10x-budget run at alpha 4 beside
the same run at alpha 0 (docs/results/README.md, "Atari CQL at 10x"):

    .venv/bin/python scripts/atari_cql_compare.py --out docs/results/extra/atari_cql_alpha0/alpha4_vs_alpha0.png \\
        "alpha 4 (d3rlpy's Atari setting)=docs/results/extra/atari_cql_10x_breakout_seed1000_metrics.jsonl" \\
        "alpha 0 (QR-DQN's loss alone)=docs/results/extra/atari_cql_alpha0/metrics.jsonl"
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE / "src"))

from decision_transformer.common.metrics import read_metrics  # noqa: E402
from dt_experiments.plots import _plt, _save  # noqa: E402

PANELS = (("q/data_mean", "mean Q(s, a), the data's actions"), ("train/td_loss", "TD loss"),
          ("train/conservative_loss", "conservative loss"))


def series(path: Path) -> dict[str, list[tuple[int, float]]]:
    """Each panel's key -> [(step, value)], plus the Monte Carlo reference the Q rows carry."""
    if not path.is_file():
        raise SystemExit(f"{path}: no such metrics file; expected a run's metrics.jsonl (d3rlpy_logs)")
    rows = read_metrics(path)
    keys = [k for k, _ in PANELS] + ["q/mc_return_mean"]
    return {k: [(int(r["step"]), float(r[k])) for r in rows if k in r] for k in keys}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", metavar="LABEL=METRICS", help="a legend label and a run's metrics.jsonl")
    ap.add_argument("--out", required=True, help="the PNG to write (atomically)")
    args = ap.parse_args()
    runs = []
    for item in args.runs:
        label, sep, path = item.partition("=")
        if not sep or not label or not path:
            raise SystemExit(f"{item!r}: expected LABEL=METRICS (e.g. 'alpha 0=runs/.../metrics.jsonl')")
        runs.append((label, series(Path(path))))

    plt = _plt()
    fig, axes = plt.subplots(len(PANELS), 1, figsize=(7, 2.8 * len(PANELS)), sharex=True)
    for i, (label, s) in enumerate(runs):
        color = f"C{i}"
        for ax, (key, ylabel) in zip(axes, PANELS):
            if s[key]:
                ax.plot(*zip(*s[key]), color=color, label=label)
            ax.set_ylabel(ylabel)
    reference = next((s["q/mc_return_mean"] for _, s in runs if s["q/mc_return_mean"]), None)
    if reference:  # one line: runs on the same data and seed share it (q_probe draws its sample with the seed)
        axes[0].plot(*zip(*reference), "--", color="grey", label="the data's discounted return there")
    axes[0].legend(fontsize=7)
    axes[0].set_title("CQL's logged diagnostics, run beside run", fontsize=9)
    axes[-1].set_xlabel("gradient step")
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    print(f"wrote {_save(fig, Path(args.out))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

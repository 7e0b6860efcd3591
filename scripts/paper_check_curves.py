"""Learning curves of the protocol check's extended DT runs (scripts/paper_protocol_check.sh, phase 2) and of its
baseline cells: evaluation return against gradient step, the candidate cpu budget marked.

    .venv/bin/python scripts/paper_check_curves.py --out docs/results/extra/paper_protocol_check
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dt_experiments.plots import _plt, _save
from decision_transformer.data.registry import builtin_datasets, reference_returns
from decision_transformer.scores import d4rl_reference
from decision_transformer.common.metrics import read_metrics
from decision_transformer.scores import normalized_score


def dt_curve(run_dir: Path) -> list[list[float]]:
    rows = [r for r in read_metrics(run_dir) if any(k.endswith("/return_mean") for k in r)]
    return [[r["step"], next(v for k, v in r.items() if k.endswith("/return_mean"))] for r in rows]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default="runs/paper-check")
    ap.add_argument("--extended", default="runs/paper-check-30k")
    ap.add_argument("--datasets", nargs="+", default=["hopper-medium-replay", "hopper-medium"])
    ap.add_argument("--budget", type=int, default=10_000, help="the candidate cpu budget (DT steps)")
    ap.add_argument("--baseline-budget", type=int, default=20_000)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    out = Path(a.out)
    summary: dict = {}
    plt = _plt()
    fig, axes = plt.subplots(2, len(a.datasets), figsize=(5 * len(a.datasets), 7), squeeze=False)
    for j, d in enumerate(a.datasets):
        ref, d4rl = reference_returns(d), d4rl_reference(builtin_datasets()[d].env_id)
        entry: dict = {}
        ext = Path(a.extended) / f"{d}-dt"
        dt = dt_curve(ext if ext.exists() else Path(a.root) / "cpu/train" / d / "dt/seed1000/run")
        iql_path = Path(a.root) / "cpu/train" / d / "iql/seed1000/curve.json"
        iql = json.loads(iql_path.read_text()) if iql_path.exists() else []
        for row, (name, curve, budget) in enumerate((("dt", dt, a.budget), ("iql", iql, a.baseline_budget))):
            ax = axes[row, j]
            if curve:
                steps, values = zip(*curve)
                ax.plot(steps, values, marker="o", color="C0" if name == "dt" else "C4", label=name)
                entry[name] = {"curve": curve, "suite_scores": [[s, round(float(normalized_score(v, ref)), 1)] for s, v in curve],
                               "d4rl_scores": [[s, round(float(normalized_score(v, d4rl)), 1)] for s, v in curve]}
            ax.axvline(budget, color="C3", ls=":", label=f"cpu budget ({budget:,})")
            ax.set_title(f"{d}: {name}", fontsize=9)
            ax.set_xlabel("gradient step")
            ax.set_ylabel("mean return (10 episodes)")
            ax.legend(fontsize=7)
        summary[d] = entry
    fig.tight_layout()
    _save(fig, out / "check_curves.png")
    (out / "check_curves.json").write_text(json.dumps(summary, indent=1))
    print(f"wrote {out / 'check_curves.png'} and check_curves.json")


if __name__ == "__main__":
    main()

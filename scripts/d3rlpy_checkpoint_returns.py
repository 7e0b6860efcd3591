"""Returns of a d3rlpy baseline's saved chunks: a learning curve of a run that logs none (CQL's cells evaluate only at
the end of their 100,000 steps, and they take several sittings).

    python scripts/d3rlpy_checkpoint_returns.py --dataset hopper-medium-replay --method cql --seed 0 \\
        --root /work/queue/runs/paper --out docs/results/extra/cql_checkpoint_returns.json

Each chunk is a model.d3 (networks, optimisers, fitted scalers) with its step: the run's current one under --root,
and every version parked in git (scripts/park_runs.py: docs/results/parked/..., one per parking commit). Each is
loaded and played for --episodes episodes from the harness's training-curve seed (`derive_seed(seed, "train-eval")`,
as the cells' own learning curves, so never the seeds of the reported score), greedily as the cell evaluates it.
Points already in --out are kept (the file is rewritten atomically with the new ones); suite- and D4RL-normalized
scores are added where the dataset has references.

`--metrics-only` plays nothing and plots the run's logged diagnostics alone (a run whose chunks were not kept, such
as Atari CQL's 10x-budget check: `--exp atari-table1 --dataset breakout-mixed --seed 1000 --root
runs/paper-check-atari-cql --metrics-only --plot PNG`).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE / "src"))

from decision_transformer.common.atomic import write_json  # noqa: E402
from decision_transformer.common.seeding import derive_seed  # noqa: E402
from decision_transformer.data.registry import load_dataset, reference_returns  # noqa: E402
from dt_experiments.paper.config import PaperBenchConfig  # noqa: E402
from dt_experiments.paper.methods import _run_policy, plan  # noqa: E402


def parked_versions(rel: Path) -> list[tuple[str, int, bytes]]:
    """(commit, step, model.d3 bytes) of every parking commit of the run whose path under runs/ is `rel`."""
    parked = Path("docs/results/parked") / rel / "d3rlpy"
    log = subprocess.run(["git", "-C", str(HERE), "log", "--format=%H", "--", str(parked / "model.d3")],
                         capture_output=True, text=True, check=True).stdout.split()
    out = []
    for commit in log:
        show = lambda name: subprocess.run(["git", "-C", str(HERE), "show", f"{commit}:{parked / name}"],  # noqa: E731
                                           capture_output=True, check=False)
        model, progress = show("model.d3"), show("progress.json")
        if model.returncode == 0 and progress.returncode == 0:  # a commit that removed the parked copy has neither
            out.append((commit[:10], json.loads(progress.stdout)["step"], model.stdout))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--exp", default="table2", help="the experiment whose cell trained the run (its run directory)")
    ap.add_argument("--method", default="cql")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--root", default="runs/paper",
                    help="the queue's runs/paper (a cell's run directory is found there)")
    ap.add_argument("--episodes", type=int, default=10)
    ap.add_argument("--out", default="", help="JSON of the curve (points already there are kept); required unless "
                    "--metrics-only")
    ap.add_argument("--metrics-only", action="store_true",
                    help="play no chunk: plot the run's metrics.jsonl alone (needs --plot)")
    ap.add_argument("--plot", default="", help="also a PNG: the checkpoints' scores, and from the run's metrics.jsonl "
                    "its mean Q on the data's actions against their discounted return, and its conservative loss")
    args = ap.parse_args()
    if args.metrics_only and not args.plot:
        ap.error("--metrics-only plots the run's metrics: give --plot PNG")
    if not args.metrics_only and not args.out:
        ap.error("--out JSON is required (the chunks' curve), unless --metrics-only")

    cfg = PaperBenchConfig(root=args.root)
    p = plan(cfg, args.exp, args.dataset, args.method, args.seed)
    live = p.path / "d3rlpy"
    if args.metrics_only:
        plot(args, [], live / "metrics.jsonl")
        return 0

    import d3rlpy

    data = load_dataset(p.base)
    rel = p.path.resolve().relative_to(Path(args.root).resolve().parent.parent)  # runs/paper/...: as parked
    chunks: list[tuple[str, int, bytes]] = parked_versions(rel)
    if (live / "model.d3").exists():
        chunks.append(("local", json.loads((live / "progress.json").read_text())["step"],
                       (live / "model.d3").read_bytes()))
    out = Path(args.out)
    saved = json.loads(out.read_text()) if out.exists() else {}
    points = {pt["step"]: pt for pt in saved.get("points", [])}
    ref = reference_returns(p.base)
    seed = derive_seed(args.seed, "train-eval")
    for source, step, blob in sorted(chunks, key=lambda c: c[1]):
        if step in points:
            continue
        with tempfile.NamedTemporaryFile(suffix=".d3") as f:
            f.write(blob)
            f.flush()
            algo = d3rlpy.load_learnable(f.name, device="cpu:0")
        returns = _run_policy(p, lambda obs: np.asarray(algo.predict(np.asarray(obs, np.float32)), np.float32),
                              data.env_id, seed, args.episodes)
        pt = {"step": step, "source": source, "returns": [round(float(r), 2) for r in returns],
              "return_mean": round(float(np.mean(returns)), 2)}
        if ref is not None:
            pt["score"] = round(100 * (pt["return_mean"] - ref[0]) / (ref[1] - ref[0]), 2)
        points[step] = pt
        print(f"step {step:>7,} ({source}): return {pt['return_mean']:.1f}" +
              (f", suite-normalized {pt['score']:.1f}" if ref else ""), flush=True)
    write_json(out, {"dataset": args.dataset, "method": args.method, "seed": args.seed, "episodes": args.episodes,
                     "episode_seed": seed, "env_id": data.env_id,
                     "points": [points[s] for s in sorted(points)]})
    if args.plot:
        plot(args, [points[s] for s in sorted(points)], live / "metrics.jsonl")
    return 0


def plot(args: argparse.Namespace, points: list[dict], metrics_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in metrics_path.read_text().splitlines() if line.strip()] \
        if metrics_path.exists() else []
    if not rows and not points:
        raise SystemExit(f"{metrics_path}: no metrics and no chunks to plot; expected the run's d3rlpy/metrics.jsonl")
    q = [(r["step"], r["q/data_mean"], r["q/mc_return_mean"]) for r in rows if "q/data_mean" in r]
    losses = {name: [(r["step"], r[f"train/{name}"]) for r in rows if f"train/{name}" in r]
              for name in ("td_loss", "conservative_loss")}
    panels = ["chunks"] * bool(points) + ["q", "td_loss", "conservative_loss"]
    fig, axes = plt.subplots(len(panels), 1, figsize=(7, 2.8 * len(panels)), sharex=True)
    where = dict(zip(panels, axes))
    if points:
        key = "score" if all("score" in p for p in points) else "return_mean"
        where["chunks"].plot([p["step"] for p in points], [p[key] for p in points], "o-")
        where["chunks"].set_ylabel("suite-normalized score" if key == "score" else "return")
        where["chunks"].set_title(f"{args.method} on {args.dataset}, seed {args.seed}: saved chunks, {args.episodes} "
                                  "episodes each (training-curve seeds)", fontsize=9)
    else:
        axes[0].set_title(f"{args.method} on {args.dataset}, seed {args.seed}: the run's logged diagnostics", fontsize=9)
    if q:
        where["q"].plot([x[0] for x in q], [x[1] for x in q], label="mean Q(s, a) on the data's actions")
        where["q"].plot([x[0] for x in q], [x[2] for x in q], "--", label="their discounted return (Monte Carlo)")
        where["q"].legend(fontsize=8)
    where["q"].set_ylabel("value")
    for name in ("td_loss", "conservative_loss"):
        if losses[name]:
            where[name].plot([x[0] for x in losses[name]], [x[1] for x in losses[name]])
        where[name].set_ylabel(name.replace("_", " "))
    axes[-1].set_xlabel("gradient step")
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    with tempfile.NamedTemporaryFile(suffix=".png", dir=Path(args.plot).resolve().parent, delete=False) as f:
        fig.savefig(f.name, dpi=110)
    Path(f.name).replace(args.plot)
    plt.close(fig)
    print(f"wrote {args.plot}")


if __name__ == "__main__":
    sys.exit(main())

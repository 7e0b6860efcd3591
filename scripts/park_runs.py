"""Carry unfinished d3rlpy training runs (CQL: 2-4 h a cell, longer than a machine lives here) across machines in git.

    python scripts/park_runs.py park     copy each unfinished d3rlpy run under runs/paper*/ (its model.d3 with the
                                         optimisers, progress.json, metrics, train_spec.json) to docs/results/parked/,
                                         and delete parked copies of runs that have finished; then commit docs/results
    python scripts/park_runs.py unpark   on a new machine: copy parked runs back under runs/ where runs/ has none or an
                                         older one; the queue (scripts/paper_cpu_runs.sh) then resumes them
    --from DIR                           (either) the checkout whose runs/ the queue uses, if not this one (a worktree
                                         at a fixed commit, as the queue runs from); parked copies stay in this one

A run is unfinished while progress.json's step is below its budget (train_spec.json: baseline_steps, or steps for
the peer DT). Only the latest chunk is kept; each parking adds ~6 MB (CQL) to the history: park at the end of a
sitting, not after every chunk. Files are copied through a temporary name and renamed (atomic per file).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
PARKED = HERE / "docs" / "results" / "parked"
ROOT = HERE  # where runs/ is (--from)
FILES = ("model.d3", "progress.json", "metrics.jsonl", "curve.json")
MAX_MB = 12
"""Runs whose checkpoint is larger are not parked (DiscreteCQL's pixel networks: 36 MB; its cells take minutes)."""


def _budget(spec: dict) -> int:
    b = spec["budget"]
    return b["steps"] if spec["method"].startswith("d3rlpy-dt") else b["baseline_steps"]


def _runs(base: Path):
    for progress in sorted(base.glob("runs/paper*/*/train/*/*/seed*/d3rlpy/progress.json")):
        run = progress.parent.parent
        spec_file = run / "train_spec.json"
        if spec_file.exists():
            yield run, json.loads(progress.read_text())["step"], _budget(json.loads(spec_file.read_text()))


def _copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".tmp")
    shutil.copyfile(src, tmp)
    tmp.replace(dst)


def _copy_run(src: Path, dst: Path) -> None:
    """A d3rlpy training run's resumable state: its spec and the d3rlpy folder's files."""
    _copy(src / "train_spec.json", dst / "train_spec.json")
    for name in FILES:
        if (src / "d3rlpy" / name).exists():
            _copy(src / "d3rlpy" / name, dst / "d3rlpy" / name)


def park() -> None:
    for run, step, total in _runs(ROOT):
        dest = PARKED / run.relative_to(ROOT)
        if step >= total:
            if dest.exists():
                shutil.rmtree(dest)
                print(f"finished, unparked: {run.relative_to(ROOT)}")
            continue
        size = (run / "d3rlpy" / "model.d3").stat().st_size / 2**20
        if size > MAX_MB:
            print(f"not parked ({size:.0f} MB > {MAX_MB} MB): {run.relative_to(ROOT)} at step {step:,} of {total:,}")
            continue
        _copy_run(run, dest)
        print(f"parked {run.relative_to(ROOT)} at step {step:,} of {total:,}")


def unpark() -> None:
    for run, step, total in _runs(PARKED):
        target = ROOT / run.relative_to(PARKED)
        here = target / "d3rlpy" / "progress.json"
        if here.exists() and json.loads(here.read_text())["step"] >= step:
            print(f"kept the local run (as far or further): {target.relative_to(ROOT)}")
            continue
        _copy_run(run, target)
        print(f"restored {target.relative_to(ROOT)} at step {step:,} of {total:,}")


if __name__ == "__main__":
    args = sys.argv[1:]
    if len(args) == 3 and args[1] == "--from":
        ROOT = Path(args[2]).resolve()
        args = args[:1]
    if args not in (["park"], ["unpark"]):
        sys.exit("usage: python scripts/park_runs.py park|unpark [--from DIR]")
    park() if args[0] == "park" else unpark()

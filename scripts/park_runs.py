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

A run that a live process holds (its RUN/.lock, src/decision_transformer/common/runlock.py) is skipped with a note:
park would copy a run still being written, unpark would overwrite it. Every run's progress.json, train_spec.json and
model.d3 are checked before anything is copied; a bad one stops the script with one line naming the file and field.
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



def _load_runlock():
    """The library's runlock.py, loaded by path: it needs only the standard library, and this script runs under a
    plain `python3` where the package may not be importable."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_dt_runlock", HERE / "src" / "decision_transformer" / "common" /
                                                  "runlock.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


runlock = _load_runlock()


class ParkError(ValueError):
    """A run that cannot be parked or restored: one line naming the file and field."""


def _read(path: Path, expected: str):
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ParkError(f"{path}: missing; expected {expected}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ParkError(f"{path}: unreadable or not valid JSON ({exc}); expected {expected}") from None


def _step(progress: Path) -> int:
    """progress.json's step: a whole number >= 0."""
    data = _read(progress, "d3rlpy progress {\"step\": N}")
    step = data.get("step") if isinstance(data, dict) else None
    if not (isinstance(step, int) and not isinstance(step, bool) and step >= 0):
        raise ParkError(f"{progress}: field 'step' is {step!r}; expected a whole number of steps >= 0")
    return step


def _budget(spec: dict, spec_file: Path | str = "train_spec.json") -> int:
    method, b = spec.get("method"), spec.get("budget")
    if not isinstance(method, str):
        raise ParkError(f"{spec_file}: field 'method' is {method!r}; expected the method's name")
    key = "steps" if method.startswith("d3rlpy-dt") else "baseline_steps"
    steps = b.get(key) if isinstance(b, dict) else None
    if not (isinstance(steps, int) and not isinstance(steps, bool) and steps > 0):
        raise ParkError(f"{spec_file}: field 'budget.{key}' is {steps!r}; expected the run's step budget (an int > 0)")
    return steps


def _runs(base: Path) -> list[tuple[Path, int, int]]:
    """(run, step saved, step budget) of every d3rlpy run under base/runs/, all checked before any is used."""
    out = []
    for progress in sorted(base.glob("runs/paper*/*/train/*/*/seed*/d3rlpy/progress.json")):
        run = progress.parent.parent
        spec_file = run / "train_spec.json"
        if spec_file.exists():
            spec = _read(spec_file, "the run's training settings")
            if not isinstance(spec, dict):
                raise ParkError(f"{spec_file}: a {type(spec).__name__}; expected an object of training settings")
            step, total = _step(progress), _budget(spec, spec_file)
            model = run / "d3rlpy" / "model.d3"
            if step < total and not model.is_file():
                raise ParkError(f"{model}: missing; expected the unfinished run's d3rlpy checkpoint")
            out.append((run, step, total))
    return out


def _locked_note(run: Path, what: str) -> bool:
    pid = runlock.holder(run)
    if pid is not None:
        print(f"skipped (in use by pid {pid if pid > 0 else '?'}; {what}): {run.relative_to(ROOT)}")
    return pid is not None


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
    runs = _runs(ROOT)
    for run, step, total in runs:
        dest = PARKED / run.relative_to(ROOT)
        if _locked_note(run, "park again when it stops"):
            continue
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
    runs = _runs(PARKED)
    local = {}
    for run, step, total in runs:  # the local runs' progress too, before anything is copied
        here = ROOT / run.relative_to(PARKED) / "d3rlpy" / "progress.json"
        local[run] = _step(here) if here.exists() else None
    for run, step, total in runs:
        target = ROOT / run.relative_to(PARKED)
        if local[run] is not None and local[run] >= step:
            print(f"kept the local run (as far or further): {target.relative_to(ROOT)}")
            continue
        if _locked_note(target, "not overwritten"):
            continue
        _copy_run(run, target)
        print(f"restored {target.relative_to(ROOT)} at step {step:,} of {total:,}")


def main(args: list[str]) -> int | str:
    global ROOT
    if len(args) == 3 and args[1] == "--from":
        ROOT = Path(args[2]).resolve()
        if not (ROOT / "runs").is_dir():
            return f"park_runs.py: error: --from {args[2]}: no runs/ directory there; expected the checkout whose runs/ the queue uses"
        args = args[:1]
    if args not in (["park"], ["unpark"]):
        return "usage: python scripts/park_runs.py park|unpark [--from DIR]"
    try:
        park() if args[0] == "park" else unpark()
    except ParkError as exc:
        return f"park_runs.py: error: {exc}"
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

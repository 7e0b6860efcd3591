"""The cells of `dt bench paper`: (exp, dataset, method, seed), each written atomically when done to

    ROOT/PROTOCOL/EXP/DATASET/METHOD/seedK/result.json

with its `spec` (protocol and budget, dataset generation, model or d3rlpy settings, evaluation). `dt bench report`
copies every finished cell into the committed ARCHIVE (docs/results/cells, the same layout), since ROOT is local and
does not outlive the machine. A rerun skips a cell whose result.json under ROOT, or else under ARCHIVE, has the
same spec; it refuses one under ROOT with another spec (e.g. a new dataset generation: remove the cell, it is
stale), reruns one archived with another spec, copies the result of another experiment's cell with the same
training run and evaluation (table7's dense DT is table2's DT, its delayed BC the dense BC: `same_run_as`), and
runs the rest; a cell killed while training continues from its checkpoint (`methods.train_policy`). Cells run in
this process, one after another, or with --jobs N as `dt sweep` jobs, N at once (parallel.py).
"""

from __future__ import annotations

import datetime
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from decision_transformer.checkpoint import latest_checkpoint, read_meta
from decision_transformer.common import runlock, runtime
from decision_transformer.common.atomic import write_json
from decision_transformer.common.seeding import derive_seed
from ..common import check_seeds, git_commit, machine
from decision_transformer.evaluate import AUTO
from . import beyond, methods as M
from .config import PaperBenchConfig
from .names import (ATARI_TARGETS, AUTO_TARGET_METHODS, BASELINE_METHODS, D3RLPY_METHODS, EXPERIMENTS,
                    FIG4_EXPERIMENTS, ODT_METHODS, PAPER_GYM_TARGETS, env_of, conditioned, experiment_cells, is_atari,
                    trained_on)
from .cellfile import CellError, read_cell
from .scoring import dt_targets, fig4_targets, pearson_in_range, scores


@dataclass(frozen=True)
class Cell:
    exp: str
    dataset: str
    method: str
    seed: int

    @property
    def name(self) -> str:
        return f"{self.exp}/{self.dataset}/{self.method}/seed{self.seed}"

    def path(self, cfg: PaperBenchConfig, root: str | Path | None = None) -> Path:
        """result.json under `root` (default: the run's ROOT; cfg.archive for the committed copy)."""
        return (Path(cfg.root if root is None else root) / cfg.protocol / self.exp / self.dataset / self.method
                / f"seed{self.seed}" / "result.json")


def list_cells(cfg: PaperBenchConfig) -> list[Cell]:
    return [Cell(cfg.exp, d, m, s) for d, m in experiment_cells(cfg)
            for s in cfg.seed_list(baseline=m in BASELINE_METHODS, dataset=d)]


def plan(cfg: PaperBenchConfig, cell: Cell) -> M.Plan:
    """The cell's training run, resolved once (methods.Plan)."""
    return M.plan(cfg, cell.exp, cell.dataset, cell.method, cell.seed)


def cell_spec(cfg: PaperBenchConfig, cell: Cell, p: M.Plan | None = None) -> dict[str, Any]:
    """What determines a cell's result, JSON-normal: its training spec plus how it is evaluated."""
    p = p or plan(cfg, cell)
    spec = p.spec
    targets: dict[str, Any] = {"kind": "none"}
    if conditioned(cell.method) and cell.exp in FIG4_EXPERIMENTS:
        targets = {"kind": "fig4", "n": cfg.fig4_targets,
                   "range": list(cfg.beyond.fig4_range if cell.exp == "beyond-fig4" else cfg.fig4_range)}
    elif cell.method in AUTO_TARGET_METHODS:  # its own proposals (evaluate.AUTO), then the data's best return
        targets = {"kind": "auto", "scales": [1.0]}
    elif conditioned(cell.method) and cell.exp == "paper-targets":  # the paper's gym code's, not the data's
        targets = {"kind": "fixed", "targets": list(PAPER_GYM_TARGETS[env_of(cell.dataset)])}
    elif conditioned(cell.method) and cell.exp == "chosen-target":  # chosen on episodes the cell does not report
        targets = {"kind": "chosen", "scales": list(cfg.chosen_scales),
                   "fixed": [PAPER_GYM_TARGETS[env_of(cell.dataset)][0]],
                   "selection_seed": derive_seed(p.eval_seed, "target-selection")}
    elif conditioned(cell.method) and is_atari(cell.dataset):
        targets = {"kind": "fixed", "targets": [ATARI_TARGETS[env_of(cell.dataset)]]}  # the paper's Atari targets
    elif conditioned(cell.method):
        targets = {"kind": "scales", "scales": list(cfg.target_scales)}
    return M.jsonable({**spec, "exp": cell.exp, "eval_episodes": p.eval_episodes, "eval_seed": p.eval_seed,
                       "max_episode_steps": cfg.max_episode_steps, "targets": targets,
                       "selection_seeds": list(cfg.selection_seeds), "selection_run": cfg.selection_run})


def finished(cfg: PaperBenchConfig, cell: Cell, spec: dict[str, Any] | None = None) -> bool:
    """True if the cell's result exists with this spec (`cell_spec`, computed if not given) under ROOT or, else,
    the archive; ValueError if it exists under ROOT with another spec (an archived one with another spec is stale:
    the cell runs again)."""
    wanted = spec or cell_spec(cfg, cell)
    path = cell.path(cfg)
    if not path.exists():
        kept = cell.path(cfg, cfg.archive) if cfg.archive else None
        archived = _read_valid(kept) if kept else None
        return bool(archived and M.same_spec(archived.get("spec"), wanted))
    saved = read_cell(path).get("spec")  # a damaged cell under ROOT: CellError, one line naming the file
    if not M.same_spec(saved, wanted):
        diff = sorted(k for k in set(saved or {}) | set(wanted) if (saved or {}).get(k) != wanted.get(k))
        raise ValueError(f"{path}: a result with other settings (spec fields {diff}); it is stale for this run: "
                         "remove its directory, or use another --root")
    return True


def _read_valid(path: Path) -> dict[str, Any] | None:
    """The result.json at `path` if it exists, parses and validates (cellfile.read_cell), else None: a damaged one
    is skipped by the readers above and shown by --status."""
    if not path.exists():
        return None
    try:
        return read_cell(path)
    except CellError:
        return None


def same_run_elsewhere(cfg: PaperBenchConfig, cell: Cell, spec: dict[str, Any]) -> tuple[Cell, dict[str, Any]] | None:
    """A finished cell of another experiment (under ROOT or the archive) with this cell's training run and
    evaluation, i.e. the same spec but for `exp` (table7's dense DT is table2's DT): its result, or None."""
    wanted = {k: v for k, v in spec.items() if k != "exp"}
    same_data = {cell.dataset, trained_on(cell.dataset, cell.method)}  # a reward-agnostic method's delayed cell: dense
    for exp, dataset in ((e, d) for e in EXPERIMENTS for d in sorted(same_data)):
        other = Cell(exp, dataset, cell.method, cell.seed)
        for root in (cfg.root, cfg.archive):
            path = other.path(cfg, root) if other != cell and root else None
            result = _read_valid(path) if path else None
            if result is not None:
                if M.same_spec({k: v for k, v in result.get("spec", {}).items() if k != "exp"}, wanted):
                    return other, result
    return None


def run_cell(cfg: PaperBenchConfig, cell: Cell) -> dict[str, Any]:
    """Train (or load, or resume), evaluate and write one cell's result.json; returns the result. A cell whose
    training run and evaluation another experiment has already finished takes that result (`same_run_as`)."""
    p = plan(cfg, cell)
    spec = cell_spec(cfg, cell, p)
    found = same_run_elsewhere(cfg, cell, spec)
    if found:
        other, result = found
        result = {**result, "spec": spec, "exp": cell.exp, "dataset": cell.dataset, "same_run_as": other.name}
        write_json(cell.path(cfg), result)
        return result
    base = p.base
    data = M.load_data(base, cfg.data_steps)
    ret = data.episode_returns
    kind = spec["targets"]["kind"]
    targets = (fig4_targets(ret, spec["targets"]["n"], spec["targets"]["range"]) if kind == "fig4"
               else dt_targets(ret, cfg.target_scales) if kind == "scales"
               else list(spec["targets"]["targets"]) if kind == "fixed"
               else [*dt_targets(ret, spec["targets"]["scales"]), *spec["targets"]["fixed"]] if kind == "chosen"
               else [AUTO, *dt_targets(ret, spec["targets"]["scales"])] if kind == "auto" else None)
    numeric = [t for t in targets or [] if t != AUTO]
    policy, train_s, curve = M.train_policy(p, data, numeric[0] if numeric else float(ret.max()))
    if targets is None and cell.method not in BASELINE_METHODS:
        targets = dt_targets(ret, (1.0,))  # BC-like models read no return; one evaluation, at the data's best
    selection, selection_s = None, 0.0
    if kind == "chosen":  # every candidate on the selection episodes; the best mean is the one reported
        selection_seed = spec["targets"]["selection_seed"]
        chosen_returns, selection_s = M.evaluate_policy(p, policy, data.env_id, targets, selection_seed)
        means = [float(np.mean(r)) for r in chosen_returns]
        selection = {"seed": selection_seed, "candidates": targets, "return_means": means,
                     "chosen": targets[int(np.argmax(means))]}
        targets = [selection["chosen"]]
    returns, eval_s = M.evaluate_policy(p, policy, data.env_id, targets)
    eval_s = round(eval_s + selection_s, 2)
    per_target = [{"target": t, "returns": r, "return_mean": float(np.mean(r)), "scores": scores(r, data.env_id, base)}
                  for t, r in zip(targets or [None], returns)]
    first = per_target[0]
    result: dict[str, Any] = {
        "spec": spec, "exp": cell.exp, "dataset": cell.dataset, "method": cell.method, "seed": cell.seed,
        "protocol": cfg.protocol, "dataset_generation": spec["dataset_generation"], "env_id": data.env_id,
        "data": {"episodes": int(data.num_episodes), "steps": int(data.num_steps), "return_min": float(ret.min()),
                 "return_max": float(ret.max())},
        "targets": targets, "per_target": per_target, "return": first["return_mean"],
        "score": first["scores"].get("gamer" if is_atari(base) else f"suite:{base}"),
        "score_d4rl": first["scores"].get("d4rl"),
        "curve": curve, "train_seconds": round(train_s, 2), "eval_seconds": eval_s,
        "git_commit": git_commit(), "machine": machine(), "date": datetime.date.today().isoformat(),
    }
    if selection is not None:
        result["selection"] = selection
    if cell.method in ODT_METHODS:
        result.update(beyond.odt_result(p, data.env_id))
    if kind == "fig4":
        achieved = [p["return_mean"] for p in per_target]
        result.update(achieved=achieved, pearson=pearson_in_range(targets, achieved, float(ret.min()), float(ret.max())))
    write_json(cell.path(cfg), result)
    return result


def cell_state(cfg: PaperBenchConfig, cell: Cell) -> str:
    """One line on where a cell stands, reading files only: finished (under ROOT or the archive), answered by
    another experiment's finished cell, training (steps saved of the budget), trained but not evaluated, stale,
    or not started; and whether a live process is working on its training run (its lock, runlock.py)."""
    for path in (cell.path(cfg), cell.path(cfg, cfg.archive) if cfg.archive else None):
        if path is not None and path.exists():
            try:
                read_cell(path)
            except CellError as exc:
                return f"damaged: {exc}"
    p = plan(cfg, cell)
    spec = cell_spec(cfg, cell, p)
    try:
        if finished(cfg, cell, spec):
            return "finished" if cell.path(cfg).exists() else "finished (archive)"
    except ValueError:
        return "stale: a result with other settings under ROOT (remove it to rerun)"
    found = same_run_elsewhere(cfg, cell, spec)
    if found:
        return f"answered by {found[0].name} (copied when the experiment runs)"
    pid = runlock.holder(p.path)
    running = f" (running now, pid {pid})" if pid is not None else ""
    try:
        saved = M.read_train_spec(p.path)
    except ValueError as exc:
        return f"damaged: {exc}"
    if saved is not None and not M.same_spec(saved, p.spec):  # the run refuses it (methods.prepare_run_dir)
        return f"stale: a training run with other settings in {p.path} (remove it to rerun)" + running
    done, total = M.training_progress(p)
    if done >= total and "online" in p.spec:  # odt: the offline run is done; where does the online phase stand?
        ckpt = latest_checkpoint(p.path / "odt")
        steps = int(read_meta(ckpt).extra.get("online_steps", 0)) if ckpt is not None else 0
        if steps < p.spec["online"]["online_steps"]:
            return f"fine-tuning online: {steps:,} of {p.spec['online']['online_steps']:,} env steps saved" + running
    if done >= total:
        return "trained, not evaluated" + running
    return (f"training: step {done:,} of {total:,} saved" if done else "not started") + running


def check_archive(cfg: PaperBenchConfig) -> None:
    """--archive is a directory, or absent with a warning: the default is relative to the checkout, and outside it
    every published cell would count as not started (and rerun)."""
    if not cfg.archive:
        return
    path = Path(cfg.archive)
    if path.exists() and not path.is_dir():
        raise ValueError(f"--archive {path}: is a file; expected the directory of committed cells (docs/results/cells)")
    if not path.exists():
        warnings.warn(f"no archive at {path} (relative to {Path.cwd()}): published cells count as not started; run "
                      "from the checkout or give --archive PATH ('' for none)", stacklevel=2)


def status(cfg: PaperBenchConfig) -> list[tuple[str, str]]:
    """(cell name, state) of every cell of cfg.exp; runs nothing."""
    check_archive(cfg)
    return [(c.name, cell_state(cfg, c)) for c in list_cells(cfg)]


def baselines_available() -> str | None:
    """None if d3rlpy imports, else the message naming the extra."""
    from .baselines import BaselinesUnavailable, d3rlpy_module

    try:
        d3rlpy_module()
    except BaselinesUnavailable as exc:
        return str(exc)
    return None


def run_paper(cfg: PaperBenchConfig) -> dict[str, list[str]]:
    """Run every unfinished cell of cfg.exp; returns the cells by outcome (ran, finished before, skipped)."""
    cells = list_cells(cfg)
    check_archive(cfg)
    runtime.check_device(cfg.device, "--device")  # before any cell starts, not at its first training step
    check_seeds(sorted({c.seed for c in cells}), cfg.selection_seeds, cfg.selection_run)
    git_commit()  # pin the commit this sitting starts from
    missing = baselines_available() if any(c.method in D3RLPY_METHODS for c in cells) else None
    if missing and cfg.progress:
        print(f"skipping the d3rlpy baselines: {missing}", flush=True)
    outcome: dict[str, list[str]] = {"ran": [], "finished": [], "skipped": []}
    if cfg.jobs > 1 or cfg.backend == "ray":  # Ray runs the cells as its tasks, however many at once
        from .parallel import run_cells_as_jobs

        rest = [c for c in cells if not (missing and c.method in D3RLPY_METHODS)]
        done = [c for c in rest if finished(cfg, c)]
        todo = [c for c in rest if c not in done]
        return {"ran": run_cells_as_jobs(cfg, todo)["ran"] if todo else [], "finished": [c.name for c in done],
                "skipped": [c.name for c in cells if c not in rest]}
    with runtime.torch_threads(cfg.torch_threads):
        for cell in cells:
            name = cell.name
            if missing and cell.method in D3RLPY_METHODS:
                outcome["skipped"].append(name)
            elif finished(cfg, cell):
                outcome["finished"].append(name)
            else:
                t0 = time.perf_counter()
                res = run_cell(cfg, cell)
                outcome["ran"].append(name)
                if cfg.progress:
                    extra = f"pearson {res['pearson']}" if "pearson" in res else f"score {res['score']}"
                    print(f"{name}: return {res['return']:.1f}, {extra} ({time.perf_counter() - t0:.0f}s)", flush=True)
    return outcome

"""`dt bench paper --jobs N`: the unfinished cells as `dt sweep` jobs (sweep.run_sweep), N at once.

Each job is `dt bench paper` for one cell (--datasets D --methods M --first-seed S --seeds 1) with every other
setting of this run written out, so it computes exactly the cell this process would (the cell's spec check still
applies). Jobs of one experiment never share a training run (each has its own dataset, method and seed); do not
run two experiments with --jobs at the same time on the same --root, as their cells may share training runs.
Job directories (logs, done.json) are ROOT/PROTOCOL/sweep/EXP/NAME. With --backend ray each job is a Ray task
on the cluster at --ray-address (sweep.run_sweep, ray_backend.py): ROOT must be on storage every node sees.
"""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any

from .config import PaperBenchConfig


def config_argv(obj: Any, prefix: str = "") -> list[str]:
    """Every field of a (nested) config dataclass as `dt` options (cli_args' naming: --a-b, --nested.a-b)."""
    out: list[str] = []
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        value, flag = getattr(obj, f.name), "--" + prefix + f.name.replace("_", "-")
        if dataclasses.is_dataclass(hints[f.name]):
            out += config_argv(value, prefix=f"{prefix}{f.name}.")
        elif isinstance(value, bool):
            out.append(flag if value else "--" + prefix + "no-" + f.name.replace("_", "-"))
        elif isinstance(value, tuple):
            out += [flag, *map(str, value)]
        else:
            out += [flag, repr(value) if isinstance(value, float) else str(value)]
    return out


def run_cells_as_jobs(cfg: PaperBenchConfig, cells: list) -> dict[str, list[str]]:
    from ..sweep import Job, run_sweep

    jobs = []
    for c in cells:
        one = dataclasses.replace(cfg, datasets=(c.dataset,), methods=(c.method,), first_seed=c.seed, seeds=1, jobs=1,
                                  progress=False, backend="local", ray_address="")
        jobs.append(Job(name=f"{c.dataset}.{c.method}.seed{c.seed}", argv=("bench", "paper", *config_argv(one))))
    root = Path(cfg.root) / cfg.protocol / "sweep" / cfg.exp
    # A job directory here is bookkeeping (argv, logs); the cell's own run directory guards its settings
    # (methods.prepare_run_dir). So a job of an unfinished cell written with an older argv (e.g. before a config
    # field existed) is replaced, not an error.
    result = run_sweep(jobs, root, jobs_parallel=cfg.jobs, threads_per_job=cfg.torch_threads, progress=cfg.progress,
                       replace_changed=True, backend=cfg.backend, ray_address=cfg.ray_address)
    names = [c.name for c in cells]
    status = [r.status for r in result.results]
    if not result.ok:
        failed = [n for n, s in zip(names, status) if s not in ("done", "skipped")]
        raise RuntimeError(f"dt bench paper --jobs: cells {failed} failed; see {root}/*/stderr.log\n{result.table()}")
    return {"ran": names, "finished": [], "skipped": []}

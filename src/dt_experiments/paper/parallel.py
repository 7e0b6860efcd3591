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
from pathlib import Path

from decision_transformer.cli_args import to_argv

from .config import PaperBenchConfig


def run_cells_as_jobs(cfg: PaperBenchConfig, cells: list) -> dict[str, list[str]]:
    from ..sweep import Job, run_sweep

    jobs = []
    for c in cells:
        one = dataclasses.replace(cfg, datasets=(c.dataset,), methods=(c.method,), first_seed=c.seed, seeds=1, jobs=1,
                                  progress=False, backend="local", ray_address="")
        jobs.append(Job(name=f"{c.dataset}.{c.method}.seed{c.seed}", argv=("bench", "paper", *to_argv(one))))
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

"""`dt sweep run SPEC.json | grid`: many `dt` jobs as parallel processes, resumable (sweep.py; docs/sweep.md).

    dt sweep grid --base "train --dataset X --steps 5000" --vary seed=0,1,2 --vary model=dt,bc --out runs/s1 --jobs 3
    dt sweep run jobs.json --out runs/s2 --jobs 4 --threads-per-job 2
    dt sweep run jobs.json --out /shared/runs/s3 --jobs 64 --threads-per-job 2 --backend ray --ray-address HEAD:6379

Run the same command again to resume: finished jobs are skipped, the others run again (a `dt train` job
continues from its checkpoint). Exit status: 0 when every job has finished, 1 when one failed, 128 + signal
number when interrupted."""

from __future__ import annotations

import argparse
import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from decision_transformer.cli_args import POSITIONAL, add_dataclass_args, from_args


@dataclass(frozen=True)
class SweepOptions:
    """How to run the jobs."""

    jobs: int = 1
    """Jobs run at once (--backend ray: tasks submitted at once; the cluster's free CPUs may run fewer)."""
    threads_per_job: int = 1
    """CPU threads of each job: OMP_NUM_THREADS and MKL_NUM_THREADS, and --torch-threads of a new dt train job
    (0: leave them unset). Keep jobs x threads-per-job at or below the number of cores. --backend ray: also the
    CPUs each job's task reserves (num_cpus; 1 when 0)."""
    backend: str = "local"
    """local: jobs are subprocesses of this process; ray: each job is a Ray task on the cluster at --ray-address
    running the same command (needs pip install 'decision-transformer[ray]', and --out and the working directory
    on storage every node sees at the same path; docs/sweep.md)."""
    ray_address: str = ""
    """--backend ray: the cluster's head, HOST:PORT as printed by `ray start --head` (empty: Ray's default:
    RAY_ADDRESS, a cluster started on this machine, else a new one-machine cluster)."""
    dry_run: bool = False
    """Print the jobs (name and command) and run nothing."""
    progress: bool = True
    """A progress bar of jobs finished."""

    def __post_init__(self) -> None:
        import warnings

        from decision_transformer.common.checks import check_types
        from decision_transformer.common.runtime import cpu_count

        check_types(self)
        if self.jobs < 1:
            raise ValueError(f"SweepOptions.jobs={self.jobs}; expected at least 1 (jobs at once)")
        if self.threads_per_job < 0:
            raise ValueError(f"SweepOptions.threads_per_job={self.threads_per_job}; expected 0 (leave thread settings "
                             "unset) or more")
        if self.backend not in ("local", "ray"):
            raise ValueError(f"SweepOptions: backend={self.backend!r}; expected local or ray")
        if self.ray_address and self.backend != "ray":
            raise ValueError("SweepOptions: --ray-address needs --backend ray")
        if self.backend == "ray":  # the jobs run on the cluster's machines, not necessarily this one
            return
        if self.threads_per_job > cpu_count():  # a new dt train job would refuse it as --torch-threads
            raise ValueError(f"SweepOptions: threads_per_job={self.threads_per_job} is more than the {cpu_count()} "
                             "CPU core(s) of this machine")
        if self.jobs * max(self.threads_per_job, 1) > cpu_count():
            warnings.warn(f"SweepOptions: jobs={self.jobs} x threads_per_job={self.threads_per_job} is more than the "
                          f"{cpu_count()} CPU core(s) of this machine; the jobs will slow each other down", stacklevel=2)


@dataclass(frozen=True)
class SpecCommand:
    """Jobs from a JSON file."""

    spec: str = field(default="", metadata=POSITIONAL)
    """JSON file: a list of {"name": ..., "argv": [dt arguments] or "cmd": [any command], "env": {...}} or
    {"jobs": [...]} (a sweep.json is one)."""
    out: str = ""
    """Sweep directory (a directory per job, sweep.json); empty: the spec file's directory."""


@dataclass(frozen=True)
class GridCommand:
    """One job per combination of values."""

    base: str = ""
    """The dt arguments every job shares, as one string, e.g. "train --dataset X --steps 5000"."""
    vary: tuple[str, ...] = ()
    """KEY=V1,V2,... (repeatable): each job adds --KEY V; jobs are named KEY-V_KEY2-V2 and get --out OUT/NAME."""
    out: str = "runs/sweep"
    """Sweep directory (a directory per job, which is also a dt train job's run directory; sweep.json)."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="run many dt jobs as parallel processes (resumable)")
    ssub = p.add_subparsers(dest="sweep_command", required=True, metavar="SWEEP")
    r = ssub.add_parser("run", help="run the jobs of a JSON spec file")
    add_dataclass_args(r, SpecCommand)
    add_dataclass_args(r.add_argument_group("running"), SweepOptions)
    r.set_defaults(func=_run)
    g = ssub.add_parser("grid", help="one job per combination of --vary values")
    add_dataclass_args(g, GridCommand)
    add_dataclass_args(g.add_argument_group("running"), SweepOptions)
    g.set_defaults(func=_grid)


def _run(args: argparse.Namespace) -> int:
    from ..sweep import load_jobs

    cmd = from_args(SpecCommand, args)
    return _sweep(load_jobs(cmd.spec), Path(cmd.out) if cmd.out else Path(cmd.spec).parent, from_args(SweepOptions, args))


def _grid(args: argparse.Namespace) -> int:
    from ..sweep import grid_jobs, parse_vary

    cmd = from_args(GridCommand, args)
    if not cmd.base:
        raise ValueError("--base is required (the dt arguments every job shares)")
    return _sweep(grid_jobs(cmd.base, parse_vary(cmd.vary), cmd.out), Path(cmd.out), from_args(SweepOptions, args))


def _sweep(jobs, root: Path, opts: SweepOptions) -> int:
    from ..sweep import SweepInterrupted, check_sweep, recorded_jobs, run_sweep

    if opts.dry_run:
        check_sweep(jobs)  # as run_sweep does: a plan the real run would refuse is no plan
        recorded_jobs(root, jobs)
        for job in jobs:
            line = shlex.join(job.cmd) if job.cmd else "dt " + shlex.join(job.argv)
            print(f"{job.name}: {line}" + (f"  (env {json.dumps(job.env)})" if job.env else ""))
        return 0
    try:
        result = run_sweep(jobs, root, jobs_parallel=opts.jobs, threads_per_job=opts.threads_per_job,
                           progress=opts.progress, backend=opts.backend, ray_address=opts.ray_address)
    except SweepInterrupted as exc:
        print(f"dt sweep: interrupted; state in {root / 'sweep.json'}; run the same command again to resume")
        return 128 + int(exc.signum)
    print(result.table())
    for r in result.results:
        if r.status == "failed":
            print(f"\n{r.job.name} failed (exit {r.returncode}); stderr ends with:\n{r.stderr_tail}")
    print(f"\nwrote {root / 'sweep.json'} ({result.wall_time_s:.1f} s)")
    return 0 if result.ok else 1

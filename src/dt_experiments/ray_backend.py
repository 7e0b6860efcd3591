"""The Ray backend of `run_sweep` (`dt sweep run ... --backend ray --ray-address HEAD:PORT`): each job is a Ray task.

Ray does the scheduling; nothing here is a scheduler. The driver (the `dt sweep` process) checks the jobs against
their job directories exactly as the local backend does (sweep._earlier_results: done jobs are skipped, a changed
spec is refused), writes job.json, and submits every pending job (at most `jobs_parallel` in flight) as a task of
`run_job` with these options (`task_options`):

    num_cpus      the job's thread budget, threads_per_job (1 when it is 0, i.e. thread settings left unset), so
                  a node runs at most (its CPUs / threads_per_job) jobs at once
    max_retries   a task whose worker process or node dies is run again (Ray picks a node); exit codes are results,
                  not errors, so a failing job is not retried (as with the local backend)

`run_job` runs on the worker the very command the local backend runs (sweep.job_command, computed there at the
start of each attempt, so a retried `dt train` job whose run directory holds a checkpoint runs as
`train --resume`), in the driver's working directory, with its logs appended to ROOT/NAME/stdout.log and
stderr.log; the driver writes done.json / failed.json and sweep.json. So ROOT and the working directory must be the
same path on every node (shared storage: NFS or similar) and every node needs the same Python environment.
The job process dies with its Ray worker (PR_SET_PDEATHSIG on Linux), so a retry never races an orphan of the
killed attempt for the run lock.

Ctrl-C / SIGTERM of the driver cancels the tasks: each stops its job (SIGTERM, SIGKILL after `kill_timeout`
seconds); tasks still running after that are force-cancelled. They are recorded as interrupted, as locally.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from decision_transformer.common import atomic
from .sweep import (INTERRUPTED, PENDING, Job, JobResult, SweepInterrupted, SweepResult, _check_arguments,
                    _earlier_results, _now, _sigterm_interrupts, _SweepRun, job_command, recorded_jobs)

MAX_RETRIES = 3
"""Default retries of a job's task when its worker or node dies (Ray's own default)."""
RAY_FAILED = -1
"""The exit code recorded when the Ray task itself failed (e.g. its node died more than max_retries times)."""


def import_ray():
    try:
        import ray
    except ImportError:
        raise ImportError("the ray sweep backend needs Ray: pip install 'decision-transformer[ray]'") from None
    return ray


def check_ray_address(address: str, timeout_s: float = 3.0) -> None:
    """A HOST:PORT address must name a port that answers before `ray.init` is called: Ray itself retries an unreachable
    head for minutes, printing its RPC errors ('', 'auto', 'local' and ray:// addresses are Ray's to resolve)."""
    if not address or address in ("auto", "local") or "://" in address:
        return
    host, sep, port_text = address.rpartition(":")
    if not sep or not host or not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"--ray-address {address!r}: expected HOST:PORT with a port in 1-65535, 'auto', 'local' or "
                         "ray://HOST:PORT")
    try:
        socket.create_connection((host.strip("[]"), int(port_text)), timeout=timeout_s).close()
    except OSError as exc:
        raise ValueError(f"--ray-address {address}: no Ray head answering there ({exc.strerror or exc}); start one "
                         "with `ray start --head` or leave --ray-address empty for a local cluster") from None


def task_options(threads_per_job: int, max_retries: int = MAX_RETRIES) -> dict[str, Any]:
    """The Ray options of a job's task: its thread budget as num_cpus, retries when its worker or node dies."""
    return {"num_cpus": max(threads_per_job, 1), "max_retries": max_retries, "retry_exceptions": False}


def _die_with_parent():
    """A preexec_fn: the child gets SIGKILL when the process that started it (the Ray worker) dies (Linux)."""
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # not Linux: the job may outlive a killed worker
        return None
    return lambda: prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG


def run_job(job: dict[str, Any], root: str, cwd: str, threads_per_job: int, kill_timeout: float = 10.0) -> dict:
    """One attempt of a job, as the local backend runs it: the command (resume rule and thread options applied now)
    with logs appended to ROOT/NAME/. Runs in the Ray task (plain Python: callable without Ray). Returns the exit
    code, the command, whether it resumed, seconds, stderr.log's offset at the start, and where it ran."""
    job_ = Job.from_dict(job)
    job_dir = Path(root) / job_.name
    job_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.chdir(cwd):  # relative paths (e.g. --out) mean what they mean for the driver
        command, resumed = job_command(job_, threads_per_job)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if threads_per_job > 0:
        env.update(OMP_NUM_THREADS=str(threads_per_job), MKL_NUM_THREADS=str(threads_per_job))
    env.update(job_.env)
    where = f"{socket.gethostname()} pid {os.getpid()}"
    header = (f"# sweep: {_now()} {'resume' if resumed else 'start'} (ray worker {where}): "
              f"{shlex.join(command)}\n")
    t0 = time.monotonic()
    with open(job_dir / "stdout.log", "a") as out, open(job_dir / "stderr.log", "a") as err:
        for f in (out, err):
            f.write(header)
            f.flush()
        err_start = err.tell()
        try:
            proc = subprocess.Popen(command, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env,
                                    start_new_session=True, preexec_fn=_die_with_parent())
        except OSError as exc:
            err.write(f"sweep: could not start the job: {exc}\n")
            return {"returncode": 127, "command": command, "resumed": resumed, "seconds": 0.0,
                    "err_start": err_start, "where": where}
        try:
            code = proc.wait()
        except BaseException:  # ray.cancel raises KeyboardInterrupt here: stop the job as the local backend does
            _signal_group(proc, signal.SIGTERM)
            try:
                proc.wait(timeout=kill_timeout)
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait()
            raise
    return {"returncode": code, "command": command, "resumed": resumed, "seconds": time.monotonic() - t0,
            "err_start": err_start, "where": where}


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def run_sweep_ray(jobs: Sequence[Job], root: str | os.PathLike, jobs_parallel: int = 1, threads_per_job: int = 1,
                  ray_address: str = "", progress: bool = True, kill_timeout: float = 10.0,
                  replace_changed: bool = False, max_retries: int = MAX_RETRIES, poll_s: float = 0.5) -> SweepResult:
    """`run_sweep` with every pending job a Ray task on the cluster at `ray_address` ("": Ray's default: RAY_ADDRESS,
    a cluster started on this machine, else a new local one); same job directories, results and sweep.json."""
    ray = import_ray()
    root = Path(root).absolute()  # the tasks run in other processes, maybe on other machines
    _check_arguments(jobs, jobs_parallel, threads_per_job)
    others = recorded_jobs(root, jobs)
    results = _earlier_results(jobs, root, replace_changed)
    sweep = _SweepRun.begin(root, results, jobs_parallel, threads_per_job, others)
    sweep.meta.update(backend="ray", ray_address=ray_address, max_retries=max_retries)
    pending = [r for r in results if r.status == PENDING]
    if not pending:
        sweep.write_summary()
        return sweep.state
    init_here = not ray.is_initialized()
    if init_here:
        check_ray_address(ray_address)
        ray.init(address=ray_address or None, log_to_driver=False, logging_level="WARNING")
    task = ray.remote(run_job).options(**task_options(threads_per_job, max_retries))
    cwd = os.getcwd()
    in_flight: dict[Any, tuple[JobResult, float]] = {}

    from decision_transformer.common.progress import progress_bar

    try:
        with _sigterm_interrupts(), progress_bar(progress, total=len(results), initial=len(results) - len(pending),
                                                 desc="sweep", unit="job", file=sys.stderr) as bar:
            try:
                sweep.write_summary()
                while pending or in_flight:
                    while pending and len(in_flight) < jobs_parallel:
                        r = pending.pop(0)
                        job_dir = root / r.job.name
                        job_dir.mkdir(parents=True, exist_ok=True)
                        atomic.write_json(job_dir / "job.json", r.job.to_dict())
                        (job_dir / "failed.json").unlink(missing_ok=True)
                        in_flight[task.remote(r.job.to_dict(), str(root), cwd, threads_per_job, kill_timeout)] = (
                            r, time.monotonic())
                    ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=poll_s)
                    for ref in ready:
                        r, t0 = in_flight.pop(ref)
                        _record(ray, sweep, ref, r, t0)
                        bar.update(1)
                        sweep.write_summary()
            except KeyboardInterrupt as exc:
                _cancel(ray, sweep, in_flight, kill_timeout)
                if isinstance(exc, SweepInterrupted):
                    raise
                raise SweepInterrupted(signal.SIGINT) from exc
    finally:
        if init_here:
            ray.shutdown()
    sweep.write_summary()
    return sweep.state


def _record(ray, sweep: _SweepRun, ref, r: JobResult, t0: float) -> None:
    """The task of `r` ended: record its job's exit as the local backend does, or the task's failure."""
    job_dir = sweep.root / r.job.name
    try:
        out = ray.get(ref)
    except Exception as exc:  # noqa: BLE001  (the task failed: its node died more than max_retries times, ...)
        with open(job_dir / "stderr.log", "a") as err:
            start = err.tell()
            err.write(f"sweep: the job's Ray task failed: {type(exc).__name__}: {str(exc).strip()[:2000]}\n")
        sweep.record(r, job_dir, RAY_FAILED, time.monotonic() - t0, start)
        return
    r.command, r.resumed = out["command"], out["resumed"]
    sweep.record(r, job_dir, out["returncode"], time.monotonic() - t0, out["err_start"])


def _cancel(ray, sweep: _SweepRun, in_flight: dict, kill_timeout: float) -> None:
    """Cancel the running tasks (each stops its job), force-cancel those still running after `kill_timeout` + 5 s,
    record them as interrupted and write sweep.json."""
    sweep.state.interrupted = True
    refs = list(in_flight)
    for ref in refs:
        ray.cancel(ref)
    with contextlib.suppress(Exception, KeyboardInterrupt):
        _, left = ray.wait(refs, num_returns=len(refs), timeout=kill_timeout + 5)
        for ref in left:
            ray.cancel(ref, force=True)
    for r, t0 in in_flight.values():
        r.status, r.seconds = INTERRUPTED, time.monotonic() - t0
    sweep.write_summary()

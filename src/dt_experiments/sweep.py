"""Many jobs as parallel subprocesses: a concurrency limit, a thread budget per job, resumable.

    jobs = [Job("dt-s0", ["train", "--dataset", "hopper-medium-replay", "--seed", "0", "--out", "runs/s/dt-s0"]),
            Job("bc-s0", ["train", "--model", "bc", ..., "--out", "runs/s/bc-s0"])]
    result = run_sweep(jobs, "runs/s", jobs_parallel=4, threads_per_job=2)
    print(result.table()); assert result.ok

A job is a name and either `argv` for the `dt` CLI (run as `python -m decision_transformer.cli ARGV`, with the
interpreter running the sweep) or `cmd`, any other command; plus optional extra environment variables. Jobs
run in the sweep's working directory, so relative paths in their arguments mean the same as for the caller.

Job directory ROOT/NAME/ (for `dt train` jobs made by `grid_jobs` it is also the run's --out):

    job.json      the job's spec, written when it first starts; a later sweep with another spec for the same
                  name is an error (remove the directory or rename the job), so settings never mix silently;
                  with `replace_changed` (callers whose job directories are bookkeeping only) the old directory
                  is removed instead and the job starts afresh
    stdout.log    the job's output, appended across attempts (each attempt starts with a `# sweep:` line)
    stderr.log
    done.json     written atomically when the job exits 0: spec, command run, seconds, finish time
    failed.json   the last attempt's exit code and stderr tail (removed when an attempt starts)

and ROOT/sweep.json, rewritten atomically after every job, holds the whole sweep's state (a valid spec file
for `load_jobs` / `dt sweep run` too), and keeps the entries of earlier sweeps' jobs into this ROOT that this one
does not name (`recorded_jobs`; a ROOT that is a `dt train` run, or whose sweep.json is no sweep's, is refused).

Resuming: a job with done.json is skipped; every other job runs again. A `dt train` job cannot simply run
again once its run directory holds a checkpoint (train() refuses it), so a `train` job whose --out DIR has a
checkpoint runs as `train --resume DIR [--steps N]`: the run continues from its last checkpoint with its saved
settings, which job.json guarantees are the job's own (a checkpoint at a job's --out before the job ever started
is refused before anything runs, and so are two jobs training into one --out). Other commands resume by their own
means (e.g. `bench ... --resume` in the job's argv).

Threads: with `threads_per_job` N > 0 every job gets OMP_NUM_THREADS=N and MKL_NUM_THREADS=N (torch's default
intra-op thread count follows OMP_NUM_THREADS), and a new `dt train` job gets `--torch-threads N` unless its
argv sets it (a resumed run keeps the value it was started with). A job's own `env` overrides these.

Backends: `backend="local"` (the default; no Ray needed) runs the jobs as subprocesses of this process;
`backend="ray"` runs each as a Ray task running the same command on a cluster (ray_backend.py, docs/sweep.md).

Interruption: Ctrl-C or SIGTERM stops the sweep: the running jobs (each in its own process group) get SIGTERM,
then SIGKILL after `kill_timeout` seconds; they are recorded as interrupted and sweep.json is written before
`SweepInterrupted` (a KeyboardInterrupt) is raised. Running the sweep again resumes them.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Sequence

from decision_transformer.common import atomic
from .sweep_spec import (  # noqa: F401  (re-exported: the spec half of the sweep API lives in sweep_spec.py)
    DONE,
    FAILED,
    INTERRUPTED,
    NAME_RE,
    PENDING,
    SKIPPED,
    Job,
    JobResult,
    check_jobs,
    check_sweep,
    grid_jobs,
    job_option,
    load_jobs,
    parse_vary,
    recorded_jobs,
    train_out,
)

STDERR_TAIL_LINES = 20
BACKENDS = ("local", "ray")


@dataclass
class SweepResult:
    root: Path
    results: list[JobResult]
    wall_time_s: float = 0.0
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        """Every job finished (now or in an earlier sweep)."""
        return all(r.status in (DONE, SKIPPED) for r in self.results)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.results:
            out[r.status] = out.get(r.status, 0) + 1
        return out

    def by_name(self) -> dict[str, JobResult]:
        return {r.job.name: r for r in self.results}

    def table(self) -> str:
        from decision_transformer.common.metrics import format_table

        rows = [[r.job.name, r.status + (" (resumed)" if r.resumed else ""),
                 "-" if r.returncode is None else r.returncode,
                 None if r.seconds is None else round(r.seconds, 1)] for r in self.results]
        return format_table(["job", "status", "exit", "seconds"], rows)


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped the sweep (its state is in sweep.json; running it again resumes)."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(signum)
        self.signum = signum


# ---------------------------------------------------------------------------------------------------- running

def job_command(job: Job, threads_per_job: int) -> tuple[list[str], bool]:
    """(the command line to run for `job` now, whether it resumes a `dt train` run); see the module docstring."""
    if job.cmd:
        return list(job.cmd), False
    argv = list(job.argv)
    resumed = False
    if argv[0] == "train" and job_option(argv, "--resume") is None:
        out = train_out(job)
        if out is not None:
            from decision_transformer.checkpoint import latest_checkpoint

            if latest_checkpoint(out) is not None:
                steps = job_option(argv, "--steps")
                argv = ["train", "--resume", out] + (["--steps", steps] if steps is not None else [])
                resumed = True
        if not resumed and threads_per_job > 0 and job_option(argv, "--torch-threads") is None:
            argv += ["--torch-threads", str(threads_per_job)]
    return [sys.executable, "-m", "decision_transformer.cli", *argv], resumed


def _tail(path: Path, start: int, lines: int = STDERR_TAIL_LINES) -> str:
    with open(path, "rb") as f:
        f.seek(max(start, f.seek(0, os.SEEK_END) - 64 * 1024))
        text = f.read().decode("utf-8", "replace")
    return "\n".join(text.rstrip("\n").splitlines()[-lines:])


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _kill_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class _Running:
    def __init__(self, result: JobResult, job_dir: Path, proc: subprocess.Popen, files: list, err_start: int):
        self.result, self.job_dir, self.proc, self.files, self.err_start = result, job_dir, proc, files, err_start
        self.start = time.monotonic()



def _check_arguments(jobs: Sequence[Job], jobs_parallel: int, threads_per_job: int) -> None:
    if jobs_parallel < 1:
        raise ValueError(f"jobs_parallel={jobs_parallel} must be >= 1")
    if threads_per_job < 0:
        raise ValueError(f"threads_per_job={threads_per_job} must be >= 0 (0: leave thread settings unset)")
    check_sweep(jobs)


def _earlier_results(jobs: Sequence[Job], root: Path, replace_changed: bool = False) -> list[JobResult]:
    """Every job's result before this sweep: skipped if an earlier sweep finished it, else pending. Every job's
    spec is checked against its job.json before anything starts (another spec: an error, or with
    `replace_changed` the old job directory is removed)."""
    results = [JobResult(job) for job in jobs]
    for r in results:
        spec_path = root / r.job.name / "job.json"
        out = train_out(r.job)
        if out is not None and not spec_path.is_file():
            from decision_transformer.checkpoint import latest_checkpoint

            if latest_checkpoint(out) is not None:  # the job would resume it: a run this job never started
                raise ValueError(f"job {r.job.name!r}: --out {out} already holds a run that this sweep's job did "
                                 f"not start ({spec_path} does not exist); give the job another --out, or remove "
                                 "the run")
        if spec_path.is_file() and atomic.read_json(spec_path) != r.job.to_dict():
            if not replace_changed:
                raise ValueError(f"{spec_path}: job {r.job.name!r} ran with another spec; remove "
                                 f"{spec_path.parent} or rename the job")
            shutil.rmtree(spec_path.parent)
            print(f"{spec_path.parent}: replaced a job written with another spec", flush=True)
        done_path = root / r.job.name / "done.json"
        if done_path.is_file():
            done = atomic.read_json(done_path)
            r.status, r.returncode, r.seconds = SKIPPED, done.get("returncode", 0), done.get("seconds")
            r.command, r.resumed = done.get("command", []), done.get("resumed", False)
    return results


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """In the main thread, SIGTERM raises `SweepInterrupted` (as Ctrl-C raises KeyboardInterrupt) until exit; the
    previous handler is restored then. Elsewhere signals cannot be handled, and nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_sigterm(signum, frame):
        raise SweepInterrupted(signum)

    previous_handler = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        if previous_handler is not None:
            signal.signal(signal.SIGTERM, previous_handler)


@dataclass
class _SweepRun:
    """One `run_sweep` under way: every job's result, the jobs running now, the progress bar, and sweep.json,
    rewritten after every change."""

    root: Path
    state: SweepResult
    threads_per_job: int
    env: dict[str, str]
    """The jobs' environment (before each job's own `env`)."""
    meta: dict[str, Any]
    """The sweep's settings, at the head of sweep.json."""
    t0: float
    others: list[dict[str, Any]] = field(default_factory=list)
    """sweep.json's entries for jobs of earlier sweeps into this root that this one does not name, kept as they were."""
    bar: Any = None
    running: list[_Running] = field(default_factory=list)

    @classmethod
    def begin(cls, root: Path, results: list[JobResult], jobs_parallel: int, threads_per_job: int,
              others: list[dict[str, Any]]) -> "_SweepRun":
        """`others`: `recorded_jobs(root, jobs)`, read before `_earlier_results` may change the root."""
        started_at, t0 = _now(), time.monotonic()
        meta = {"root": str(root), "jobs_parallel": jobs_parallel, "threads_per_job": threads_per_job,
                "started": started_at}
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        if threads_per_job > 0:
            env.update(OMP_NUM_THREADS=str(threads_per_job), MKL_NUM_THREADS=str(threads_per_job))
        return cls(root, SweepResult(root, results), threads_per_job, env, meta, t0, others=others)

    def write_summary(self) -> None:
        state = self.state
        state.wall_time_s = time.monotonic() - self.t0
        atomic.write_json(self.root / "sweep.json", {**self.meta, "updated": _now(),
                                                     "wall_time_s": round(state.wall_time_s, 3),
                                                     "interrupted": state.interrupted, "counts": state.counts(),
                                                     "jobs": [r.to_dict() for r in state.results] + self.others})

    def run(self, pending: list[JobResult], jobs_parallel: int, poll_s: float) -> None:
        """Start pending jobs while fewer than `jobs_parallel` run; poll every `poll_s` seconds until all ended."""
        self.write_summary()
        while pending or self.running:
            while pending and len(self.running) < jobs_parallel:
                if self.start(pending.pop(0)) is None:  # could not start: failed
                    self.bar.update(1)
                    self.write_summary()
            time.sleep(poll_s)
            self.reap()
            self.bar.set_postfix(running=len(self.running), failed=self.state.counts().get(FAILED, 0), refresh=False)

    def start(self, r: JobResult) -> _Running | None:
        """Launch `r`'s job in its own process group, logs appended to its directory; None if it could not start
        (then it has failed)."""
        job_dir = self.root / r.job.name
        job_dir.mkdir(parents=True, exist_ok=True)
        atomic.write_json(job_dir / "job.json", r.job.to_dict())
        (job_dir / "failed.json").unlink(missing_ok=True)
        r.command, r.resumed = job_command(r.job, self.threads_per_job)
        header = f"# sweep: {_now()} {'resume' if r.resumed else 'start'}: {shlex.join(r.command)}\n"
        out = open(job_dir / "stdout.log", "a")
        err = open(job_dir / "stderr.log", "a")
        for f in (out, err):
            f.write(header)
            f.flush()
        err_start = err.tell()
        try:
            proc = subprocess.Popen(r.command, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                    env={**self.env, **r.job.env}, start_new_session=True)
        except OSError as exc:  # e.g. cmd names a missing program: the job fails, the sweep goes on
            err.write(f"sweep: could not start the job: {exc}\n")
            out.close()
            err.close()
            r.seconds = 0.0
            self.fail(r, job_dir, 127, err_start)
            return None
        self.running.append(_Running(r, job_dir, proc, [out, err], err_start))  # at once: an interrupt must see it
        return self.running[-1]

    def reap(self) -> None:
        """Record every running job that has exited."""
        for run in list(self.running):
            code = run.proc.poll()
            if code is not None:
                self.running.remove(run)
                self.finish(run, code)
                self.bar.update(1)
                self.write_summary()

    def finish(self, run: _Running, returncode: int) -> None:
        for f in run.files:
            f.close()
        self.record(run.result, run.job_dir, returncode, time.monotonic() - run.start, run.err_start)

    def record(self, r: JobResult, job_dir: Path, returncode: int, seconds: float, err_start: int) -> None:
        """An attempt of `r`'s job ended with `returncode`: done.json (exit 0) or failed.json (also the Ray backend's)."""
        r.returncode, r.seconds = returncode, seconds
        if returncode == 0:
            r.status = DONE
            atomic.write_json(job_dir / "done.json", {"job": r.job.to_dict(), "command": r.command,
                                                      "resumed": r.resumed, "returncode": 0,
                                                      "seconds": round(r.seconds, 3), "finished": _now(),
                                                      "threads_per_job": self.threads_per_job})
        else:
            self.fail(r, job_dir, returncode, err_start)

    def fail(self, r: JobResult, job_dir: Path, returncode: int, err_start: int) -> None:
        r.status, r.returncode = FAILED, returncode
        r.stderr_tail = _tail(job_dir / "stderr.log", err_start)
        atomic.write_json(job_dir / "failed.json", {"job": r.job.to_dict(), "command": r.command,
                                                    "returncode": returncode, "stderr_tail": r.stderr_tail,
                                                    "finished": _now()})

    def interrupt(self, kill_timeout: float) -> None:
        """Stop the running jobs, record them as interrupted, and write sweep.json."""
        self.state.interrupted = True
        _stop(self.running, kill_timeout)
        for run in self.running:
            for f in run.files:
                f.close()
            run.result.status, run.result.returncode = INTERRUPTED, run.proc.returncode
            run.result.seconds = time.monotonic() - run.start
        self.write_summary()


def run_sweep(jobs: Sequence[Job], root: str | os.PathLike, jobs_parallel: int = 1, threads_per_job: int = 1,
              progress: bool = True, kill_timeout: float = 10.0, poll_s: float = 0.05,
              replace_changed: bool = False, backend: str = "local", ray_address: str = "") -> SweepResult:
    """Run `jobs` (at most `jobs_parallel` at once) with job directories under `root`; skip those that finished
    in an earlier sweep. Returns every job's result (failed jobs do not stop the others; check `.ok`); raises
    `SweepInterrupted` on Ctrl-C / SIGTERM after stopping the running jobs and writing sweep.json.
    `replace_changed`: a job whose job.json holds another spec starts afresh instead of being refused.
    `backend`: "local" (subprocesses of this process) or "ray" (each job a Ray task on the cluster at
    `ray_address`, running the same command; ray_backend.py)."""
    if backend not in BACKENDS:
        raise ValueError(f"sweep backend {backend!r}; expected one of {BACKENDS}")
    if backend == "ray":
        from .ray_backend import run_sweep_ray

        return run_sweep_ray(jobs, root, jobs_parallel, threads_per_job, ray_address=ray_address, progress=progress,
                             kill_timeout=kill_timeout, replace_changed=replace_changed)
    root = Path(root)
    _check_arguments(jobs, jobs_parallel, threads_per_job)
    others = recorded_jobs(root, jobs)
    results = _earlier_results(jobs, root, replace_changed)
    sweep = _SweepRun.begin(root, results, jobs_parallel, threads_per_job, others)
    pending = [r for r in results if r.status == PENDING]

    from decision_transformer.common.progress import progress_bar

    with _sigterm_interrupts(), progress_bar(progress, total=len(results), initial=len(results) - len(pending), desc="sweep",
                                             unit="job", file=sys.stderr) as bar:
        sweep.bar = bar
        try:
            sweep.run(pending, jobs_parallel, poll_s)
        except KeyboardInterrupt as exc:
            sweep.interrupt(kill_timeout)
            if isinstance(exc, SweepInterrupted):
                raise
            raise SweepInterrupted(signal.SIGINT) from exc
    sweep.write_summary()
    return sweep.state


def _stop(running: list[_Running], kill_timeout: float) -> None:
    """SIGTERM every running job's process group, then SIGKILL what is left after `kill_timeout` seconds."""
    for run in running:
        _kill_group(run.proc, signal.SIGTERM)
    deadline = time.monotonic() + kill_timeout
    try:
        for run in running:
            run.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
    except (subprocess.TimeoutExpired, KeyboardInterrupt):  # too slow, or a second Ctrl-C: kill the rest
        for run in running:
            if run.proc.poll() is None:
                _kill_group(run.proc, signal.SIGKILL)
        for run in running:
            run.proc.wait()

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
                  name is an error (remove the directory or rename the job), so settings never mix silently
    stdout.log    the job's output, appended across attempts (each attempt starts with a `# sweep:` line)
    stderr.log
    done.json     written atomically when the job exits 0: spec, command run, seconds, finish time
    failed.json   the last attempt's exit code and stderr tail (removed when an attempt starts)

and ROOT/sweep.json, rewritten atomically after every job, holds the whole sweep's state (a valid spec file
for `load_jobs` / `dt sweep run` too).

Resuming: a job with done.json is skipped; every other job runs again. A `dt train` job cannot simply run
again once its run directory holds a checkpoint (train() refuses it), so a `train` job whose --out DIR has a
checkpoint runs as `train --resume DIR [--steps N]`: the run continues from its last checkpoint with its saved
settings, which job.json guarantees are the job's own. Other commands resume by their own means (e.g.
`bench ... --resume` in the job's argv).

Threads: with `threads_per_job` N > 0 every job gets OMP_NUM_THREADS=N and MKL_NUM_THREADS=N (torch's default
intra-op thread count follows OMP_NUM_THREADS), and a new `dt train` job gets `--torch-threads N` unless its
argv sets it (a resumed run keeps the value it was started with). A job's own `env` overrides these.

Interruption: Ctrl-C or SIGTERM stops the sweep: the running jobs (each in its own process group) get SIGTERM,
then SIGKILL after `kill_timeout` seconds; they are recorded as interrupted and sweep.json is written before
`SweepInterrupted` (a KeyboardInterrupt) is raised. Running the sweep again resumes them.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from . import atomic

DONE, SKIPPED, FAILED, INTERRUPTED, PENDING = "done", "skipped", "failed", "interrupted", "pending"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=,+-]*$")
STDERR_TAIL_LINES = 20


@dataclass(frozen=True)
class Job:
    """One job of a sweep: a name (its directory under the sweep root) and what to run."""

    name: str
    argv: tuple[str, ...] = ()
    """Arguments of the `dt` CLI, e.g. ("train", "--dataset", "X", "--out", "ROOT/NAME")."""
    cmd: tuple[str, ...] = ()
    """Any other command (program and arguments) instead of a dt one; exactly one of argv / cmd is given."""
    env: Mapping[str, str] = field(default_factory=dict)
    """Extra environment variables (they override the sweep's thread settings)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "argv", tuple(str(a) for a in self.argv))
        object.__setattr__(self, "cmd", tuple(str(a) for a in self.cmd))
        object.__setattr__(self, "env", {str(k): str(v) for k, v in dict(self.env).items()})
        if not NAME_RE.match(self.name) or self.name in (".", ".."):
            raise ValueError(f"job name {self.name!r}: use letters, digits and . _ = , + - (it names a directory)")
        if bool(self.argv) == bool(self.cmd):
            raise ValueError(f"job {self.name!r}: give exactly one of argv (dt arguments) or cmd (another command)")

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name}
        if self.argv:
            d["argv"] = list(self.argv)
        if self.cmd:
            d["cmd"] = list(self.cmd)
        if self.env:
            d["env"] = dict(self.env)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Job":
        return cls(name=d["name"], argv=d.get("argv", ()), cmd=d.get("cmd", ()), env=d.get("env", {}))


@dataclass
class JobResult:
    """What happened to a job in this sweep (status: done, skipped, failed, interrupted or pending)."""

    job: Job
    status: str = PENDING
    returncode: int | None = None
    seconds: float | None = None
    """Wall time of this sweep's attempt; for a skipped job, that of the attempt that finished it."""
    command: list[str] = field(default_factory=list)
    """The command line run (after the resume rewrite and thread options)."""
    resumed: bool = False
    """A `dt train` job continued from its checkpoint (`train --resume`)."""
    stderr_tail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {**self.job.to_dict(), "status": self.status, "returncode": self.returncode, "seconds": self.seconds,
                "command": self.command, "resumed": self.resumed, "stderr_tail": self.stderr_tail}


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
        from .metrics import format_table

        rows = [[r.job.name, r.status + (" (resumed)" if r.resumed else ""),
                 "-" if r.returncode is None else r.returncode,
                 None if r.seconds is None else round(r.seconds, 1)] for r in self.results]
        return format_table(["job", "status", "exit", "seconds"], rows)


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped the sweep (its state is in sweep.json; running it again resumes)."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(signum)
        self.signum = signum


# ---------------------------------------------------------------------------------------------------- specs

def load_jobs(path: str | os.PathLike) -> list[Job]:
    """Jobs from a JSON file: a list of {"name", "argv" | "cmd", "env"?}, or {"jobs": [...]} (so a sweep.json,
    whose per-job status fields are ignored, is a spec too)."""
    data = json.loads(Path(path).read_text())
    items = data["jobs"] if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ValueError(f"{path}: expected a list of jobs or {{\"jobs\": [...]}}")
    known = {"name", "argv", "cmd", "env"} | {f.name for f in dataclasses.fields(JobResult)} - {"job"}
    jobs = []
    for i, item in enumerate(items):
        unknown = set(item) - known
        if unknown or "name" not in item:
            raise ValueError(f"{path}: job {i}: " + (f"unknown keys {sorted(unknown)}" if unknown else "no 'name'"))
        jobs.append(Job.from_dict(item))
    return jobs


def parse_vary(items: Iterable[str]) -> dict[str, list[str]]:
    """["seed=0,1,2", "model=dt,bc"] -> {"seed": ["0", "1", "2"], "model": ["dt", "bc"]}."""
    out: dict[str, list[str]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        if not sep or not key or not values:
            raise ValueError(f"--vary {item!r}: expected KEY=V1,V2,...")
        if key in out:
            raise ValueError(f"--vary {key}: given twice")
        out[key] = values.split(",")
    return out


def grid_jobs(base: str | Sequence[str], vary: Mapping[str, Sequence[Any]], root: str | os.PathLike) -> list[Job]:
    """One dt job per combination of `vary` values: `base` (dt arguments, a string is split like a shell) plus
    `--KEY VALUE` for each key (underscores become dashes; `train.lr` -> `--train.lr`) plus `--out ROOT/NAME`.
    NAME joins `KEY-VALUE` parts with `_`, e.g. `seed-0_model-dt`."""
    argv = shlex.split(base) if isinstance(base, str) else [str(a) for a in base]
    if not argv:
        raise ValueError("grid: empty base command")
    if any(a == "--out" or a.startswith("--out=") for a in argv):
        raise ValueError("grid: the base command must not set --out (each job gets --out ROOT/NAME)")
    keys = list(vary)
    jobs = []
    for values in itertools.product(*(list(vary[k]) for k in keys)):
        parts = [f"{k}-{re.sub(r'[^A-Za-z0-9.=,+-]', '_', str(v))}" for k, v in zip(keys, values)]
        name = "_".join(parts) or "job"
        flags = [x for k, v in zip(keys, values) for x in ("--" + k.lstrip("-").replace("_", "-"), str(v))]
        jobs.append(Job(name, [*argv, *flags, "--out", str(Path(root) / name)]))
    return jobs


# ---------------------------------------------------------------------------------------------------- running

def _option(argv: Sequence[str], flag: str) -> str | None:
    """The value of `flag` (`--flag V` or `--flag=V`) in argv; the last one wins, as in argparse."""
    value = None
    for i, a in enumerate(argv):
        if a == flag and i + 1 < len(argv):
            value = argv[i + 1]
        elif a.startswith(flag + "="):
            value = a[len(flag) + 1:]
    return value


def job_command(job: Job, threads_per_job: int) -> tuple[list[str], bool]:
    """(the command line to run for `job` now, whether it resumes a `dt train` run); see the module docstring."""
    if job.cmd:
        return list(job.cmd), False
    argv = list(job.argv)
    resumed = False
    if argv[0] == "train" and _option(argv, "--resume") is None:
        out = _option(argv, "--out")
        if out is not None:
            from .checkpoint import latest_checkpoint

            if latest_checkpoint(out) is not None:
                steps = _option(argv, "--steps")
                argv = ["train", "--resume", out] + (["--steps", steps] if steps is not None else [])
                resumed = True
        if not resumed and threads_per_job > 0 and _option(argv, "--torch-threads") is None:
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


def run_sweep(jobs: Sequence[Job], root: str | os.PathLike, jobs_parallel: int = 1, threads_per_job: int = 1,
              progress: bool = True, kill_timeout: float = 10.0, poll_s: float = 0.05) -> SweepResult:
    """Run `jobs` (at most `jobs_parallel` at once) with job directories under `root`; skip those that finished
    in an earlier sweep. Returns every job's result (failed jobs do not stop the others; check `.ok`); raises
    `SweepInterrupted` on Ctrl-C / SIGTERM after stopping the running jobs and writing sweep.json."""
    root = Path(root)
    if jobs_parallel < 1:
        raise ValueError(f"jobs_parallel={jobs_parallel} must be >= 1")
    if threads_per_job < 0:
        raise ValueError(f"threads_per_job={threads_per_job} must be >= 0 (0: leave thread settings unset)")
    names = [j.name for j in jobs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"duplicate job names: {dupes}")

    results = [JobResult(job) for job in jobs]
    for r in results:  # check every spec before starting anything
        spec_path = root / r.job.name / "job.json"
        if spec_path.is_file() and json.loads(spec_path.read_text()) != r.job.to_dict():
            raise ValueError(f"{spec_path}: job {r.job.name!r} ran with another spec; remove {spec_path.parent} "
                             "or rename the job")
        done_path = root / r.job.name / "done.json"
        if done_path.is_file():
            done = json.loads(done_path.read_text())
            r.status, r.returncode, r.seconds = SKIPPED, done.get("returncode", 0), done.get("seconds")
            r.command, r.resumed = done.get("command", []), done.get("resumed", False)

    started_at, t0 = _now(), time.monotonic()
    state = SweepResult(root, results)
    meta = {"root": str(root), "jobs_parallel": jobs_parallel, "threads_per_job": threads_per_job, "started": started_at}

    def write_summary() -> None:
        state.wall_time_s = time.monotonic() - t0
        atomic.write_json(root / "sweep.json", {**meta, "updated": _now(), "wall_time_s": round(state.wall_time_s, 3),
                                                "interrupted": state.interrupted, "counts": state.counts(),
                                                "jobs": [r.to_dict() for r in results]})

    base_env = dict(os.environ, PYTHONUNBUFFERED="1")
    if threads_per_job > 0:
        base_env.update(OMP_NUM_THREADS=str(threads_per_job), MKL_NUM_THREADS=str(threads_per_job))

    def start(r: JobResult) -> _Running | None:
        job_dir = root / r.job.name
        job_dir.mkdir(parents=True, exist_ok=True)
        atomic.write_json(job_dir / "job.json", r.job.to_dict())
        (job_dir / "failed.json").unlink(missing_ok=True)
        r.command, r.resumed = job_command(r.job, threads_per_job)
        header = f"# sweep: {_now()} {'resume' if r.resumed else 'start'}: {shlex.join(r.command)}\n"
        out = open(job_dir / "stdout.log", "a")
        err = open(job_dir / "stderr.log", "a")
        for f in (out, err):
            f.write(header)
            f.flush()
        err_start = err.tell()
        try:
            proc = subprocess.Popen(r.command, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                    env={**base_env, **r.job.env}, start_new_session=True)
        except OSError as exc:  # e.g. cmd names a missing program: the job fails, the sweep goes on
            err.write(f"sweep: could not start the job: {exc}\n")
            out.close()
            err.close()
            r.seconds = 0.0
            fail(r, job_dir, 127, err_start)
            return None
        running.append(_Running(r, job_dir, proc, [out, err], err_start))  # at once: an interrupt must see it
        return running[-1]

    def finish(run: _Running, returncode: int) -> None:
        for f in run.files:
            f.close()
        r = run.result
        r.returncode, r.seconds = returncode, time.monotonic() - run.start
        if returncode == 0:
            r.status = DONE
            atomic.write_json(run.job_dir / "done.json", {"job": r.job.to_dict(), "command": r.command,
                                                          "resumed": r.resumed, "returncode": 0,
                                                          "seconds": round(r.seconds, 3), "finished": _now(),
                                                          "threads_per_job": threads_per_job})
        else:
            fail(r, run.job_dir, returncode, run.err_start)

    def fail(r: JobResult, job_dir: Path, returncode: int, err_start: int) -> None:
        r.status, r.returncode = FAILED, returncode
        r.stderr_tail = _tail(job_dir / "stderr.log", err_start)
        atomic.write_json(job_dir / "failed.json", {"job": r.job.to_dict(), "command": r.command,
                                                    "returncode": returncode, "stderr_tail": r.stderr_tail,
                                                    "finished": _now()})

    pending = [r for r in results if r.status == PENDING]
    running: list[_Running] = []
    previous_handler = None
    in_main = threading.current_thread() is threading.main_thread()
    if in_main:
        def on_sigterm(signum, frame):
            raise SweepInterrupted(signum)
        previous_handler = signal.signal(signal.SIGTERM, on_sigterm)

    from tqdm.auto import tqdm

    bar = tqdm(total=len(results), initial=len(results) - len(pending), desc="sweep", unit="job",
               disable=not progress, file=sys.stderr, dynamic_ncols=True)
    try:
        write_summary()
        while pending or running:
            while pending and len(running) < jobs_parallel:
                if start(pending.pop(0)) is None:  # could not start: failed
                    bar.update(1)
                    write_summary()
            time.sleep(poll_s)
            for run in list(running):
                code = run.proc.poll()
                if code is not None:
                    running.remove(run)
                    finish(run, code)
                    bar.update(1)
                    write_summary()
            bar.set_postfix(running=len(running), failed=state.counts().get(FAILED, 0), refresh=False)
    except KeyboardInterrupt as exc:
        state.interrupted = True
        _stop(running, kill_timeout)
        for run in running:
            for f in run.files:
                f.close()
            run.result.status, run.result.returncode = INTERRUPTED, run.proc.returncode
            run.result.seconds = time.monotonic() - run.start
        write_summary()
        if isinstance(exc, SweepInterrupted):
            raise
        raise SweepInterrupted(signal.SIGINT) from exc
    finally:
        bar.close()
        if in_main and previous_handler is not None:
            signal.signal(signal.SIGTERM, previous_handler)
    write_summary()
    return state


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

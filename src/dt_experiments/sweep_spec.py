"""What a sweep runs and records: a job (`Job`), the result sweep.json keeps for it (`JobResult`), and the ways to
make a job list: a JSON spec file (`load_jobs`) or a grid of dt arguments (`grid_jobs`, `parse_vary`); and what a
sweep refuses before any job starts (`check_sweep`, `recorded_jobs`).

Running them is sweep.py (`run_sweep`), which re-exports every name here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from decision_transformer.common.atomic import read_json

DONE, SKIPPED, FAILED, INTERRUPTED, PENDING = "done", "skipped", "failed", "interrupted", "pending"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=,+-]*$")


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
        if not isinstance(self.name, str):
            raise ValueError(f"job name {self.name!r}: expected a string")
        for key in ("argv", "cmd"):
            value = getattr(self, key)
            if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)) or not all(
                    isinstance(a, (str, int, float, os.PathLike)) and not isinstance(a, bool) for a in value):
                raise ValueError(f"job {self.name!r}: field {key!r} is {value!r}; expected a list of arguments "
                                 f"(strings, numbers or paths), e.g. [\"train\", \"--steps\", \"100\"]")
        if not isinstance(self.env, Mapping) or not all(
                isinstance(k, str) and isinstance(v, (str, int, float)) and not isinstance(v, bool)
                for k, v in self.env.items()):
            raise ValueError(f"job {self.name!r}: field 'env' is {self.env!r}; expected an object of variable names "
                             "to strings")
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


# ---------------------------------------------------------------------------------------------------- specs

def load_jobs(path: str | os.PathLike) -> list[Job]:
    """Jobs from a JSON file: a list of {"name", "argv" | "cmd", "env"?}, or {"jobs": [...]} (so a sweep.json,
    whose per-job status fields are ignored, is a spec too)."""
    data = read_json(path)
    items = data.get("jobs") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ValueError(f"{path}: expected a list of jobs or {{\"jobs\": [...]}}")
    known = {"name", "argv", "cmd", "env"} | {f.name for f in dataclasses.fields(JobResult)} - {"job"}
    jobs = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise ValueError(f"{path}: job {i} is {item!r}; expected an object {{\"name\": ..., \"argv\": [...]}}")
        unknown = set(item) - known
        if unknown or "name" not in item:
            raise ValueError(f"{path}: job {i}: " + (f"unknown keys {sorted(unknown)}" if unknown else "no 'name'"))
        try:
            jobs.append(Job.from_dict(item))
        except ValueError as exc:
            raise ValueError(f"{path}: job {i}: {exc}") from None
    check_jobs(jobs, str(path))
    return jobs


def check_jobs(jobs: Sequence[Job], where: str = "the sweep") -> None:
    """A sweep has at least one job and no two with one name (each name is its job's directory)."""
    if not jobs:
        raise ValueError(f"{where}: no jobs; expected a list of one or more {{\"name\": ..., \"argv\": [...]}}")
    names = [j.name for j in jobs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"{where}: duplicate job names {dupes}; each job needs its own name (its directory)")


def vary_flag(key: str) -> str:
    """The dt flag a --vary key sets: underscores become dashes, `train.lr` -> `--train.lr`."""
    return "--" + key.lstrip("-").replace("_", "-")


def parse_vary(items: Iterable[str]) -> dict[str, list[str]]:
    """["seed=0,1,2", "model=dt,bc"] -> {"seed": ["0", "1", "2"], "model": ["dt", "bc"]}."""
    out: dict[str, list[str]] = {}
    flags: dict[str, str] = {}  # flag -> the key that set it
    for item in items:
        key, sep, values = item.partition("=")
        if not sep or not key or not values:
            raise ValueError(f"--vary {item!r}: expected KEY=V1,V2,...")
        if not key.lstrip("-"):
            raise ValueError(f"--vary {item!r}: empty key; expected KEY=V1,V2,...")
        split = values.split(",")
        if "" in split:
            raise ValueError(f"--vary {item!r}: an empty value; expected KEY=V1,V2,... with no empty values")
        flag = vary_flag(key)
        if flag in flags:
            same = "given twice" if flags[flag] == key else f"sets {flag} as --vary {flags[flag]} does"
            raise ValueError(f"--vary {item!r}: {key} {same}; give each flag once")
        flags[flag] = key
        out[key] = split
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
    for key in keys:
        if vary_flag(key) in ("--out", "--resume"):
            raise ValueError(f"--vary {key}: cannot be varied (each job gets --out ROOT/NAME, and the sweep resumes "
                             "its own jobs)")
    jobs = []
    for values in itertools.product(*(list(vary[k]) for k in keys)):
        parts = [f"{k}-{re.sub(r'[^A-Za-z0-9.=,+-]', '_', str(v))}" for k, v in zip(keys, values)]
        name = "_".join(parts) or "job"
        flags = [x for k, v in zip(keys, values) for x in (vary_flag(k), str(v))]
        jobs.append(Job(name, [*argv, *flags, "--out", str(Path(root) / name)]))
    return jobs


def job_option(argv: Sequence[str], flag: str) -> str | None:
    """The value of `flag` (`--flag V` or `--flag=V`) in argv; the last one wins, as in argparse."""
    value = None
    for i, a in enumerate(argv):
        if a == flag and i + 1 < len(argv):
            value = argv[i + 1]
        elif a.startswith(flag + "="):
            value = a[len(flag) + 1:]
    return value


def train_out(job: Job) -> str | None:
    """The run directory a `dt train` job writes (its --out; None for other jobs and for `train --resume`)."""
    if job.cmd or not job.argv or job.argv[0] != "train" or job_option(job.argv, "--resume") is not None:
        return None
    return job_option(job.argv, "--out")


def check_sweep(jobs: Sequence[Job]) -> None:
    """What a sweep refuses before any job starts (a dry run refuses the same): the spec's own checks (check_jobs),
    two `dt train` jobs training into one --out, and a `dt` job whose arguments the CLI would reject (a --vary value
    of the wrong type, a misspelt option), which would otherwise fail every such job after it started."""
    check_jobs(jobs)
    _check_cli_arguments(jobs)
    outs: dict[str, str] = {}
    for job in jobs:
        out = train_out(job)
        if out is not None:
            key = os.path.normpath(os.path.abspath(out))
            if key in outs:
                raise ValueError(f"jobs {outs[key]!r} and {job.name!r} both train into --out {out}; each `dt train` "
                                 "job needs its own run directory")
            outs[key] = job.name


def _check_cli_arguments(jobs: Sequence[Job]) -> None:
    """Each `dt` job's argv through the CLI's own parser (types and option names only; the command's checks of
    values run in the job); a ValueError naming the job and argparse's complaint."""
    import io

    from decision_transformer.cli import build_parser

    parser = build_parser()
    for job in jobs:
        if job.cmd:
            continue
        err = io.StringIO()
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                parser.parse_args(list(job.argv))
        except SystemExit as exc:
            if exc.code in (0, None):  # --help / --version: the job would print and succeed
                continue
            lines = err.getvalue().strip().splitlines() or ["invalid arguments"]
            reason = re.sub(r"^[\w .-]*: error: ", "", lines[-1])
            raise ValueError(f"job {job.name!r}: `dt {shlex.join(job.argv)}` is refused by the CLI: {reason}") \
                from None


def recorded_jobs(root: Path, jobs: Sequence[Job]) -> list[dict[str, Any]]:
    """The entries of ROOT/sweep.json (an earlier sweep into this --out) for jobs that `jobs` does not name: kept in
    the new record, so a second sweep into one --out adds to what it holds instead of dropping the first's jobs
    from sweep.json. Refused before anything runs: a ROOT that is a `dt train` run (the jobs would nest in it) and
    a ROOT/sweep.json that is not a sweep's record (it would be overwritten)."""
    from decision_transformer.checkpoint import latest_checkpoint

    if root.exists() and not root.is_dir():
        raise ValueError(f"{root}: is a file; a sweep's --out is a directory (of job directories)")
    if (root / "train_config.json").is_file() or latest_checkpoint(root) is not None:
        raise ValueError(f"{root}: is a `dt train` run; a sweep's --out is a directory of job directories (give "
                         "another --out)")
    path = root / "sweep.json"
    if not path.exists():
        return []
    try:
        data = read_json(path)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a sweep's record ({exc}); give another --out, or remove the file") from None
    entries = data.get("jobs") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not all(isinstance(e, dict) and isinstance(e.get("name"), str)
                                                for e in entries):
        raise ValueError(f"{path}: not a sweep's record (expected {{\"jobs\": [{{\"name\": ...}}, ...]}}); give "
                         "another --out, or remove the file")
    names = {j.name for j in jobs}
    return [e for e in entries if e["name"] not in names]

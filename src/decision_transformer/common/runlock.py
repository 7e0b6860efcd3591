"""One writer per run directory.

A process that trains or resumes a run (`dt train`, `dt train --resume`, a `dt bench paper` cell, a suite
behaviour learner's sitting) holds an exclusive lock on RUN_DIR/.lock while it writes there, so two processes never interleave checkpoints and metrics
in one directory (say `dt bench paper --exp table2` and `--exp table7` started side by side, which share their
DT runs). A second process gets `RunInUse`, naming the directory and the holder's pid, instead of silently
corrupting the run.

The lock is an advisory `flock` on an open file: the kernel releases it when the holder exits or is killed, so
a killed run never leaves a stale lock behind (the file stays, with the last holder's pid, and means nothing
by itself). Under `torchrun` only rank 0 takes it: every rank shares the run directory and rank 0 alone writes
(distributed.py). Where `fcntl` does not exist (Windows) nothing is locked.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = ".lock"


class RunInUse(RuntimeError):
    """Another live process holds the run directory's lock."""


@contextlib.contextmanager
def exclusive(run_dir: str | os.PathLike, what: str = "this run") -> Iterator[None]:
    """Hold RUN_DIR/.lock for the block (created with the directory if missing); RunInUse if another process
    holds it. `what` names the run in the error."""
    if fcntl is None or int(os.environ.get("RANK", "0")) != 0:
        yield
        return
    path = Path(run_dir)
    path.mkdir(parents=True, exist_ok=True)
    fd = os.open(path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise RunInUse(f"{path}: {what} is being written by another process (pid {pid}); wait for it to "
                           "finish or stop it, then run again") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def holder(run_dir: str | os.PathLike) -> int | None:
    """The pid of the live process holding RUN_DIR's lock, or None if no process holds it."""
    path = Path(run_dir) / LOCK_FILE
    if fcntl is None or not path.exists():
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.pread(fd, 32, 0).decode(errors="replace").strip()
            return int(text) if text.isdigit() else -1
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)

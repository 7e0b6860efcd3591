"""Atomic file writes: write a temp file in the target's directory, then `os.replace` it into place,
so a reader (or a resumed run) never sees a half-written file. `read_json` is `write_json`'s reading side.

Durable too: the temp file's data reach the disk (`fsync`) before the rename, and the rename itself (the
directory's entry) after it, so a machine that loses power keeps either the old file or the whole new one, never
an empty or partial one under the final name (a rename alone orders nothing on disk). `fsync_tree` does the same
for a directory written as a whole (a checkpoint, an exported Minari dataset) before it is renamed into place."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np


def umask() -> int:
    """The process umask, read without changing it where Linux says it (/proc/self/status), else by setting and
    restoring it (a moment in which another thread would create files with mode 0o777 masked by 0)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def default_mode(directory: bool = False) -> int:
    """The mode `open` / `mkdir` would give a new file (directory): 0o666 (0o777) less the umask. mkstemp and
    mkdtemp make theirs 0o600 / 0o700, which would keep other users from reading a shared run."""
    return (0o777 if directory else 0o666) & ~umask()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temp path next to `path` (ending in `suffix`: a writer that picks its format by the extension needs
    e.g. ".tmp.mp4"); on success it replaces `path`, on error it is removed. An OSError about
    the temp file (it cannot be made, written or renamed into place) names `path`, the file the caller asked for."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
        try:
            os.fchmod(fd, default_mode())
        finally:
            os.close(fd)
    except OSError as exc:
        raise _naming(exc, path) from None
    try:
        yield Path(tmp)
        os.chmod(tmp, default_mode())  # again: a writer may have replaced the temp file (safetensors makes 0o600)
        fsync(tmp)
        os.replace(tmp, path)
        fsync(path.parent, directory=True)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise _naming(exc, path, tmp) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def fsync(path: str | os.PathLike, directory: bool = False) -> None:
    """Flush `path`'s data (a file) or its entries (a directory: a rename in it) to disk. A directory's flush is best
    effort: some filesystems refuse `fsync` on one (EINVAL), a directory may be unreadable to this user, and by then
    the rename it would record has happened; nothing more can be done there. A file's failure (ENOSPC, EIO) is an
    OSError naming `path`."""
    try:
        fd = os.open(path, os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0))
    except OSError:
        if directory:
            return
        raise
    try:
        os.fsync(fd)
    except OSError as exc:
        if not directory:
            raise OSError(exc.errno, exc.strerror, str(path)) from None
    finally:
        os.close(fd)


def fsync_tree(root: str | os.PathLike) -> None:
    """`fsync` every file below `root`, then every directory, deepest first (`root` last): a tree written in a temp
    place is on disk whole before it is renamed into place."""
    dirs = []
    for here, _, files in os.walk(root):
        dirs.append(here)
        for name in files:
            fsync(os.path.join(here, name))
    for here in reversed(dirs):
        fsync(here, directory=True)


def _naming(exc: OSError, path: Path, tmp: str | None = None) -> OSError:
    """`exc` (of making the temp file, or about the temp file `tmp`) as an error of writing `path`; others as they are."""
    if tmp is not None and tmp not in (str(exc.filename), str(exc.filename2)):
        return exc
    return type(exc)(f"{path}: cannot write ({exc.strerror or exc})")


def write_text(path: str | os.PathLike, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=1) + "\n")


def read_json(path: str | os.PathLike, error: type[Exception] = ValueError) -> Any:
    """The JSON value in `path`. A missing file is a FileNotFoundError; an unreadable file or bad JSON is `error`
    (a ValueError subclass, e.g. the caller's format error) naming the file, and the line and column of a syntax
    error. Checking the value's schema is the caller's job."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path}: unreadable ({exc})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"{path}: not valid JSON: {exc.msg.removesuffix(' at')} at line {exc.lineno} column {exc.colno}") from None


def savez(path: str | os.PathLike, compressed: bool = False, **arrays: np.ndarray) -> Path:
    """`np.savez` (uncompressed unless `compressed`, no pickles) to exactly `path`."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            (np.savez_compressed if compressed else np.savez)(f, **arrays)
    return Path(path)

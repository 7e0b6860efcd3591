"""Where a result came from: the git commit, the machine and the date, recorded with every benchmark and demo."""

from __future__ import annotations

import datetime
import functools
import os
import platform
import subprocess
from pathlib import Path
from typing import Any


@functools.lru_cache(maxsize=None)
def git_commit() -> str:
    """HEAD when first called in this process (cached): a bench calls it when it starts, so a run records the
    commit its code came from even if commits land while it runs."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10,
                             cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine() -> str:
    """E.g. 'x86_64 2-core CPU (bf16 emulated), Linux (Python 3.11.7)': bf16 native or emulated (precision.py) says
    which kernels a bf16 result on this machine ran (the same arithmetic either way)."""
    from .precision import cpu_has_native_bf16

    bf16 = "native" if cpu_has_native_bf16() else "emulated"
    return (f"{platform.machine()} {os.cpu_count()}-core CPU (bf16 {bf16}), {platform.system()} "
            f"(Python {platform.python_version()})")


def provenance(command: str, wall_time_s: float) -> dict[str, Any]:
    return {"command": command, "git_commit": git_commit(), "machine": machine(),
            "date": datetime.date.today().isoformat(), "wall_time_s": round(wall_time_s, 1)}

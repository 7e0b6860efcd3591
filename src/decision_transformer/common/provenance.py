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
    return f"{platform.machine()} {os.cpu_count()}-core CPU, {platform.system()} (Python {platform.python_version()})"


def provenance(command: str, wall_time_s: float) -> dict[str, Any]:
    return {"command": command, "git_commit": git_commit(), "machine": machine(),
            "date": datetime.date.today().isoformat(), "wall_time_s": round(wall_time_s, 1)}

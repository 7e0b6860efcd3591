"""What the PPO (`behaviour.py`) and SAC (`sac.py`) behaviour learners share: the stable-baselines3 import check,
the work directory's log and snapshot files, the snapshot schedule, atomic model saves and the sitting's clock.

Work-directory files written here (the learners' modules describe the rest):

    train.log                      progress log, one time-stamped line per message (also printed)
    snapshots/step_XXXXXXXX.npz    exported `NumpyPolicy` at that env step
    snapshots.jsonl                one JSON line per snapshot (the learner decides the fields)
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from decision_transformer.common.atomic import atomic_path

SB3_MISSING = "behaviour training needs stable-baselines3: pip install 'decision-transformer[behaviour]'"


def require_sb3() -> None:
    """Import torch and stable-baselines3, or raise an ImportError that says how to install them."""
    try:
        import stable_baselines3  # noqa: F401
        import torch  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(SB3_MISSING) from exc


def read_snapshots(directory: str | os.PathLike) -> list[dict]:
    """The snapshots.jsonl records of a work dir, sorted by step."""
    path = Path(directory) / "snapshots.jsonl"
    if not path.is_file():
        return []
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return sorted(records, key=lambda r: r["step"])


def next_multiple(step: int, every: int) -> int:
    """The first multiple of `every` after `step`: when the next snapshot or checkpoint is due."""
    return (step // every + 1) * every


class LearnerDir:
    """A learner's work directory (created, with its snapshots/ folder, on construction)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        (path / "snapshots").mkdir(parents=True, exist_ok=True)

    def log(self, msg: str) -> None:
        """Print `msg` with a time stamp and append it to train.log."""
        line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {msg}"
        print(line, flush=True)
        with open(self.path / "train.log", "a") as f:
            f.write(line + "\n")

    def save_policy(self, policy, step: int) -> None:
        policy.save(self.path / "snapshots" / f"step_{step:08d}.npz")

    def append_snapshot(self, record: dict) -> None:
        with open(self.path / "snapshots.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")

    def has_snapshot_at(self, step: int) -> bool:
        """Whether the latest snapshot record is at `step`."""
        records = read_snapshots(self.path)
        return bool(records) and records[-1]["step"] == step

    def save_model(self, model, name: str) -> None:
        """`model.save` to `name`, atomically."""
        with atomic_path(self.path / name) as tmp:
            model.save(tmp)  # the temp name ends in .tmp, so SB3 does not append .zip


@dataclass
class SittingClock:
    """Time and env steps of this sitting (one process's run), for speeds and the total training wall time."""

    step0: int
    """Env step the sitting started at."""
    wall_before: float = 0.0
    """Training wall time of the earlier sittings, in seconds."""
    t0: float = field(default_factory=time.time)

    def fps(self, step: int) -> float:
        """Env steps per second since the sitting started."""
        return (step - self.step0) / max(time.time() - self.t0, 1e-9)

    def wall(self) -> float:
        """Training wall time of all sittings so far, in seconds."""
        return self.wall_before + time.time() - self.t0

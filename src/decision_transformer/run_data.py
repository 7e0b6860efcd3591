"""Which data a run was trained on, and the checks a resume makes against it.

`dt train` records `fingerprint` in train_config.json's field 'dataset' (read back, schema-checked, by
`rundir.read_data_fingerprint`); `train.resume` reads a relative dataset path as the file the run was trained on
(`resolve_dataset`) and refuses other data (`check_same_data`). Runs made before the field existed resume unchecked.
`save_steps` keeps a new `--steps` total given on resume.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from .common import atomic
from .data import TrajectoryDataset
from .rundir import TRAIN_CONFIG, CheckpointError
from .run_config import TrainConfig


def fingerprint(cfg: TrainConfig, data: TrajectoryDataset) -> dict[str, Any]:
    """What identifies a run's full data (`prepare_dataset`'s second value), kept in train_config.json's field
    'dataset': its size and a sha1 of its episode starts, rewards and actions (never the observations, which may be
    gigabytes of pixels), and the absolute path of a dataset file or directory (a relative one is resolved against
    it on resume; empty for built-in names, minari ids and in-memory data)."""
    digest = hashlib.sha1()
    for array in (data.episode_starts, data.rewards, data.actions):
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(memoryview(array).cast("B"))
    path = Path(cfg.dataset)
    return {"source": cfg.dataset, "path": str(path.resolve()) if cfg.dataset and path.exists() else "",
            "steps": int(data.num_steps), "episodes": int(data.num_episodes), "sha1": digest.hexdigest()}


def resolve_dataset(cfg: TrainConfig, run_dir: Path, saved: dict[str, Any] | None) -> TrainConfig:
    """`cfg` with its dataset path as the run recorded it: a relative path means the file the run was trained on
    (its recorded absolute path), not whatever sits at that path relative to the current directory."""
    if not saved or not saved["path"] or Path(cfg.dataset).is_absolute() or cfg.dataset != saved["source"]:
        return cfg
    if not Path(saved["path"]).exists():
        raise CheckpointError(f"{run_dir / TRAIN_CONFIG}: field 'dataset' names {saved['path']}, which no longer "
                              "exists; expected the data the run was trained on there")
    return dataclasses.replace(cfg, dataset=saved["path"])


def check_same_data(run_dir: Path, saved: dict[str, Any] | None, now: dict[str, Any], source: str) -> None:
    """The data a run resumes on is the data it was trained on (runs without a recorded fingerprint: unchecked)."""
    if not saved:
        return
    keys = ("steps", "episodes", "sha1")
    if any(saved[k] != now[k] for k in keys):
        raise CheckpointError(
            f"{run_dir / TRAIN_CONFIG}: field 'dataset' records data of {saved['steps']} steps, {saved['episodes']} "
            f"episodes (sha1 {saved['sha1'][:12]}) but {source} holds {now['steps']} steps, {now['episodes']} "
            f"episodes (sha1 {now['sha1'][:12]}); expected the data the run was trained on")


def save_steps(run_dir: Path, steps: int) -> None:
    """Make `steps` the run's saved total (train_config.json, written atomically), every other field as it was."""
    path = run_dir / TRAIN_CONFIG
    raw = atomic.read_json(path, CheckpointError)  # read_train_config has checked it
    if raw["train"].get("steps") != steps:
        raw["train"]["steps"] = steps
        atomic.write_json(path, raw)

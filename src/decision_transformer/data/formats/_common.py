"""Helpers shared by the format loaders and the exporter (private to `data.formats`)."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

import numpy as np

from ..trajectories import DatasetError

# D4RL MuJoCo locomotion task names, as they start D4RL file names (hopper-medium-v2.hdf5, ...).
D4RL_MUJOCO_PREFIXES = ("halfcheetah", "hopper", "walker2d", "ant")


def import_optional(module: str, purpose: str) -> ModuleType:
    """Import an optional dependency of the `data` extra, or fail with an error that says how to get it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"{purpose} needs the '{module.split('.')[0]}' package, which is not installed: "
            f"pip install 'decision-transformer[data]' ({exc})"
        ) from exc


def is_mujoco_env(env_id: str) -> bool:
    """True if `env_id` is registered in Gymnasium with an entry point in `gymnasium.envs.mujoco`."""
    if not env_id:
        return False
    import gymnasium as gym

    try:
        entry_point = gym.spec(env_id).entry_point
    except Exception:  # unregistered id, or a namespace whose package is not installed
        return False
    name = entry_point if isinstance(entry_point, str) else getattr(entry_point, "__module__", "")
    return str(name).startswith("gymnasium.envs.mujoco")


def default_reward_scale(env_id: str, file_name: str = "") -> float:
    """The documented rule: 1000 (the paper's scale) for MuJoCo environments, else 1.

    An environment counts as MuJoCo when `env_id` is registered in Gymnasium under `gymnasium.envs.mujoco`,
    or, when no env id is known, when `file_name` starts with a D4RL MuJoCo locomotion task name.
    """
    if env_id:
        return 1000.0 if is_mujoco_env(env_id) else 1.0
    base = Path(file_name).name.lower()
    return 1000.0 if base.startswith(D4RL_MUJOCO_PREFIXES) else 1.0


def check_finite(where: str, field: str, arr: np.ndarray, row_lengths: np.ndarray | None = None) -> None:
    """Raise `DatasetError` naming `where` and `field` if a float array holds NaN or inf. With `row_lengths` (the
    steps of each row of a file whose rows are episodes, concatenated in `arr`), the place is its row and step."""
    if np.issubdtype(arr.dtype, np.floating):
        finite = np.isfinite(arr)
        if not finite.all():
            bad = tuple(int(i) for i in np.argwhere(~finite)[0])
            at = f"index {bad}"
            if row_lengths is not None:
                ends = np.cumsum(row_lengths)
                row = int(np.searchsorted(ends, bad[0], side="right"))
                at = f"row {row}, step {bad[0] - int(ends[row] - row_lengths[row])}" + (
                    f", element {bad[1:] if len(bad) > 2 else bad[1]}" if len(bad) > 1 else "")
            raise DatasetError(f"{where}: field '{field}' contains NaN or inf (first at {at}); expected finite values")


def check_numeric(where: str, field: str, arr: np.ndarray) -> None:
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise DatasetError(f"{where}: field '{field}' has dtype {arr.dtype}; expected numbers")


def as_actions(where: str, field: str, arr: np.ndarray) -> np.ndarray:
    """Continuous actions as float32 (N, A) (a 1-D float array becomes (N, 1)); discrete as int64 (N,)."""
    check_numeric(where, field, arr)
    if np.issubdtype(arr.dtype, np.integer):
        if arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr[:, 0]
        if arr.ndim != 1:
            raise DatasetError(f"{where}: field '{field}' is integer with shape {arr.shape}; expected (N,) discrete actions")
        return arr.astype(np.int64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise DatasetError(f"{where}: field '{field}' has shape {arr.shape}; expected (N, act_dim)")
    return arr.astype(np.float32)


def as_vector(where: str, field: str, arr: np.ndarray) -> np.ndarray:
    """A per-step scalar field: (N,) or (N, 1) -> (N,)."""
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise DatasetError(f"{where}: field '{field}' has shape {arr.shape}; expected (N,) with one value per step")
    return arr


def as_observations(where: str, field: str, arr: np.ndarray) -> np.ndarray:
    check_numeric(where, field, arr)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.dtype == np.uint8 and arr.ndim >= 3:  # pixel frames; a uint8 vector is read as numbers (float32)
        return arr
    return arr.astype(np.float32)


def check_lengths(where: str, arrays: dict[str, np.ndarray], reference: str) -> int:
    """All arrays must have as many rows as `arrays[reference]`; returns that count."""
    n = len(arrays[reference])
    for name, arr in arrays.items():
        if arr.ndim == 0 or len(arr) != n:
            rows = len(arr) if arr.ndim else 0
            raise DatasetError(
                f"{where}: field '{name}' has {rows} rows but '{reference}' has {n}; expected one row per step"
            )
    return n

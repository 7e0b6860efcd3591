"""The native dataset's fields: their names, what each must hold, and the one quantity every reader derives from
them, returns-to-go. `TrajectoryDataset` (trajectories.py) validates itself with `validate`; the format readers
(data/formats/) check their own files' fields with `check_flags` and `scalar_value` before building one."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .trajectories import TrajectoryDataset

FORMAT_VERSION = 1
REQUIRED_KEYS = ("observations", "actions", "rewards", "terminations", "truncations", "episode_starts")


class DatasetError(ValueError):
    """Bad dataset input: the message names the source, the field and what was expected."""


def scalar_value(where: str, field: str, value: Any, expected: str) -> Any:
    """`value` (a 0-d array, numpy or Python scalar) as a Python scalar of the kind `expected` names ("a number",
    "an integer" or "a string"), or a `DatasetError` naming `where` and `field`."""
    arr = np.asarray(value)
    if arr.shape != ():
        raise DatasetError(f"{where}: field '{field}' has shape {arr.shape}; expected a scalar ({expected})")
    if expected == "a string":
        ok = arr.dtype.kind in "US"
    elif expected == "an integer":
        ok = arr.dtype.kind in "iu"
    else:
        ok = arr.dtype.kind in "iuf"
    if not ok:
        raise DatasetError(f"{where}: field '{field}' is {arr.item()!r} (dtype {arr.dtype}); expected {expected}")
    item = arr.item()
    return item.decode("utf-8", "replace") if isinstance(item, bytes) else item


def returns_to_go(rewards: np.ndarray, episode_starts: np.ndarray) -> np.ndarray:
    """Per-episode reverse cumulative sum, accumulated in float64 one episode at a time (no N-sized float64
    temporaries: a 2M-step dataset's loading memory stays near its raw size; docs/performance.md)."""
    out = np.empty(len(rewards), np.float32)
    ends = np.append(episode_starts[1:], len(rewards))
    for s, e in zip(episode_starts.tolist(), ends.tolist()):
        out[s:e] = np.cumsum(rewards[s:e][::-1], dtype=np.float64)[::-1]
    return out


def check_flags(where: str, field: str, arr: np.ndarray) -> None:
    """Episode-end flags must be bool or numbers that are exactly 0 or 1 (0.3 or 'x' is not a flag)."""
    if arr.dtype == np.bool_:
        return
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise DatasetError(f"{where}: field '{field}' has dtype {arr.dtype}; expected bool (or numbers 0/1)")
    bad = (arr != 0) & (arr != 1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DatasetError(f"{where}: field '{field}' has value {arr[i]!s} at step {i}; expected bool (or exactly 0/1)")


def check_returns_to_go(where: str, rewards: np.ndarray, episode_starts: np.ndarray) -> None:
    """Returns-to-go must fit float32 (the model's dtype): rewards near float32's limit overflow when summed."""
    limit = float(np.finfo(np.float32).max)
    if np.add.reduceat(np.abs(rewards), episode_starts, dtype=np.float64).max() <= limit:  # a bound on every partial sum
        return
    with np.errstate(over="ignore"):
        bad = ~np.isfinite(returns_to_go(rewards, episode_starts))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        episode = int(np.searchsorted(episode_starts, i, side="right") - 1)
        raise DatasetError(
            f"{where}: field 'rewards' sums past float32's range (return-to-go at step {i}, episode {episode}); "
            f"expected per-episode returns within +-{limit:.3g} (rescale the rewards)"
        )


def validate(d: "TrajectoryDataset") -> None:
    """Check every field of `d` (raising `DatasetError` naming `d.source`, the field and what was expected) and
    normalise dtypes in place: rewards, float observations and actions to float32, flags to bool, discrete actions and
    `episode_starts` to int64."""
    src = d.source
    for k in REQUIRED_KEYS:
        if not isinstance(getattr(d, k), np.ndarray):
            object.__setattr__(d, k, np.asarray(getattr(d, k)))
    n = len(d.rewards)
    if n == 0:
        raise DatasetError(f"{src}: the dataset is empty (field 'rewards' has 0 steps); expected at least one step")
    if d.rewards.ndim != 1:
        raise DatasetError(f"{src}: field 'rewards' has shape {d.rewards.shape}; expected (N,)")
    for k in ("observations", "actions", "terminations", "truncations"):
        arr = getattr(d, k)
        if arr.ndim == 0 or len(arr) != n:
            raise DatasetError(
                f"{src}: field '{k}' has {len(arr) if arr.ndim else 0} rows but 'rewards' has {n}; "
                "expected one row per step"
            )
    for k in ("terminations", "truncations"):
        if getattr(d, k).ndim != 1:
            raise DatasetError(f"{src}: field '{k}' has shape {getattr(d, k).shape}; expected (N,)")
        check_flags(src, k, getattr(d, k))
    for k in ("observations", "actions", "rewards"):
        arr = getattr(d, k)
        if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
            raise DatasetError(f"{src}: field '{k}' has dtype {arr.dtype}; expected a numeric array")
    if d.observations.ndim >= 2 and d.observations[0].size == 0:
        raise DatasetError(f"{src}: field 'observations' has shape {d.observations.shape[1:]} per step; expected at least one value per step")
    if d.observations.dtype == np.uint8 and d.observations.ndim < 3:
        raise DatasetError(
            f"{src}: field 'observations' is uint8 with shape {d.observations.shape[1:]} per step; uint8 is read as pixel "
            "frames (N,H,W) or (N,C,H,W); store vectors as float32"
        )
    if np.issubdtype(d.actions.dtype, np.integer):
        if d.actions.ndim != 1:
            raise DatasetError(f"{src}: field 'actions' is integer with shape {d.actions.shape}; expected (N,) for discrete actions")
        if d.actions.min() < 0:
            raise DatasetError(f"{src}: field 'actions' has negative discrete actions; expected indices >= 0")
    elif d.actions.ndim != 2 or d.actions.shape[1] == 0:
        raise DatasetError(f"{src}: field 'actions' has shape {d.actions.shape}; expected (N, act_dim) with act_dim >= 1 for continuous actions")
    # float32 is what the model reads: cast first, so that a float64 value beyond float32's range counts as inf
    with np.errstate(over="ignore"):
        object.__setattr__(d, "rewards", d.rewards.astype(np.float32, copy=False))
        if np.issubdtype(d.observations.dtype, np.floating) and d.observations.dtype != np.float32:
            object.__setattr__(d, "observations", d.observations.astype(np.float32))
        if np.issubdtype(d.actions.dtype, np.floating) and d.actions.dtype != np.float32:
            object.__setattr__(d, "actions", d.actions.astype(np.float32))
    for k in ("observations", "actions", "rewards"):
        arr = getattr(d, k)
        if np.issubdtype(arr.dtype, np.floating) and not all(np.isfinite(arr[i:i + 65536]).all() for i in range(0, len(arr), 65536)):
            bad = np.argwhere(~np.isfinite(arr))[0]
            raise DatasetError(f"{src}: field '{k}' contains NaN or inf (first at index {tuple(int(i) for i in bad)}); expected finite values")
    starts = d.episode_starts
    if starts.ndim != 1 or len(starts) == 0 or not np.issubdtype(starts.dtype, np.integer):
        raise DatasetError(f"{src}: field 'episode_starts' has shape {starts.shape} and dtype {starts.dtype}; expected a non-empty (E,) integer array")
    if starts[0] != 0 or (np.diff(starts) <= 0).any() or starts[-1] >= n:
        raise DatasetError(f"{src}: field 'episode_starts' must start at 0, increase strictly and stay below the {n} steps")
    object.__setattr__(d, "episode_starts", starts.astype(np.int64))
    check_returns_to_go(src, d.rewards, d.episode_starts)
    if not np.isfinite(d.reward_scale) or d.reward_scale <= 0:
        raise DatasetError(f"{src}: field 'reward_scale' is {d.reward_scale}; expected a positive number")
    object.__setattr__(d, "terminations", d.terminations.astype(bool, copy=False))
    object.__setattr__(d, "truncations", d.truncations.astype(bool, copy=False))
    if np.issubdtype(d.actions.dtype, np.integer):
        object.__setattr__(d, "actions", d.actions.astype(np.int64, copy=False))

"""D4RL-format HDF5 files (`PATH.hdf5` / `PATH.h5`), read with h5py.

Layout (one row per step, all datasets at the file root):

    observations       (N, *O)  required
    actions            (N, A)   required (integer (N,) for discrete actions)
    rewards            (N,)     required ((N, 1) accepted)
    terminals          (N,)     required -> `terminations`
    timeouts           (N,)     required -> `truncations`
    next_observations  (N, *O)  optional; only used to check the episode boundaries

Episodes end after every step with `terminals` or `timeouts` set; the last episode ends at the end of the
file (in D4RL files it is usually cut by the dataset size, so its last step may carry neither flag; the
flags are kept exactly as stored). Other keys (`infos/*`, `metadata/*`) are ignored.

Root attributes written by `export_dataset(..., "hdf5", ...)` are read back when present: `env_id`,
`name`, `reward_scale`. D4RL's own files carry none of them, so `env_id` is '' (pass `--env` to train)
and `reward_scale` follows `default_reward_scale`: 1000 when the file name starts with a D4RL MuJoCo task
(halfcheetah, hopper, walker2d, ant), else 1.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from ..fields import DatasetError, check_flags, scalar_value
from ..trajectories import TrajectoryDataset
from ._common import (
    as_actions,
    as_observations,
    as_vector,
    check_finite,
    check_lengths,
    check_numeric,
    default_reward_scale,
    import_optional,
)

REQUIRED_KEYS = ("observations", "actions", "rewards", "terminals", "timeouts")


def load_d4rl_hdf5(
    src: str | os.PathLike,
    *,
    env_id: str | None = None,
    reward_scale: float | None = None,
) -> TrajectoryDataset:
    """Load a D4RL-format HDF5 file. `env_id` / `reward_scale` override what the file records (or the
    default rule, see the module docstring)."""
    path = Path(src).expanduser()
    if not path.is_file():
        raise DatasetError(f"{path}: no such HDF5 file")
    h5py = import_optional("h5py", "Reading D4RL HDF5 files")
    where = str(path)
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise DatasetError(f"{where}: not a readable HDF5 file (truncated or corrupt?): {exc}") from exc
    with f:
        missing = [k for k in REQUIRED_KEYS if k not in f]
        if missing:
            raise DatasetError(
                f"{where}: missing key(s) {missing}; a D4RL file needs {list(REQUIRED_KEYS)} "
                f"(optional: next_observations); found {sorted(f.keys())}"
            )
        raw = {k: _read(f, k, where, h5py) for k in REQUIRED_KEYS}
        next_obs = _read(f, "next_observations", where, h5py) if "next_observations" in f else None
        attrs = {k: f.attrs[k] for k in ("env_id", "name", "reward_scale") if k in f.attrs}

    observations = as_observations(where, "observations", raw["observations"])
    actions = as_actions(where, "actions", raw["actions"])
    for k in ("rewards", "terminals", "timeouts"):
        check_numeric(where, k, raw[k])
    rewards = as_vector(where, "rewards", raw["rewards"])
    terminals = as_vector(where, "terminals", raw["terminals"])
    timeouts = as_vector(where, "timeouts", raw["timeouts"])
    arrays = {"observations": observations, "actions": actions, "rewards": rewards,
              "terminals": terminals, "timeouts": timeouts}
    if next_obs is not None:
        arrays["next_observations"] = next_obs
    n = check_lengths(where, arrays, reference="observations")
    if n == 0:
        raise DatasetError(f"{where}: the file is empty (field 'observations' has 0 rows); expected at least one step")
    for k, arr in arrays.items():
        check_finite(where, k, arr)
    check_flags(where, "terminals", terminals)
    check_flags(where, "timeouts", timeouts)
    terminations = terminals != 0
    truncations = timeouts != 0
    both = np.flatnonzero(terminations & truncations)
    if len(both):  # legal in Gymnasium (a terminal state reached at the time limit); D4RL's own files never do it
        warnings.warn(f"{where}: {len(both)} step(s) have both 'terminals' and 'timeouts' set (first at step "
                      f"{int(both[0])}); each ends its episode as terminated and truncated", stacklevel=2)

    done = terminations | truncations
    ends = np.flatnonzero(done) + 1
    starts = np.concatenate([[0], ends[ends < n]]).astype(np.int64)

    if next_obs is not None:
        if next_obs.shape != observations.shape:
            raise DatasetError(
                f"{where}: field 'next_observations' has shape {next_obs.shape} but 'observations' has "
                f"{observations.shape}; expected the same shape"
            )
        _check_boundaries(where, observations, next_obs, done)

    if env_id is None:
        env_id = _attr_str(where, attrs, "env_id")
    if reward_scale is None:
        reward_scale = (scalar_value(where, "attrs/reward_scale", attrs["reward_scale"], "a number") if "reward_scale" in attrs
                        else default_reward_scale(env_id, path.name))
    name = _attr_str(where, attrs, "name") or path.stem
    return TrajectoryDataset(
        observations=observations,
        actions=actions,
        rewards=rewards.astype(np.float32),
        terminations=terminations,
        truncations=truncations,
        episode_starts=starts,
        reward_scale=float(reward_scale),
        env_id=env_id,
        name=name,
        source=where,
    )


def _read(f, key: str, where: str, h5py) -> np.ndarray:
    node = f[key]
    if not isinstance(node, h5py.Dataset):
        raise DatasetError(f"{where}: key '{key}' is a {type(node).__name__}; expected an array dataset")
    try:
        return np.asarray(node[()])
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise DatasetError(f"{where}: field '{key}' cannot be read (truncated or corrupt file?): {exc}") from exc


def _attr_str(where: str, attrs: dict, key: str) -> str:
    """Root attribute `key` as a string ('' if absent)."""
    return str(scalar_value(where, f"attrs/{key}", attrs[key], "a string")) if key in attrs else ""


def _check_boundaries(where: str, obs: np.ndarray, next_obs: np.ndarray, done: np.ndarray) -> None:
    """Warn when next_observations[t] is not observations[t+1] although no episode ends at t: the file's
    terminals/timeouts then miss episode ends, and episodes are merged."""
    if len(obs) < 2:
        return
    same = np.isclose(next_obs[:-1], obs[1:], rtol=1e-5, atol=1e-6)
    same = same.reshape(len(same), -1).all(axis=1)
    missed = np.flatnonzero(~same & ~done[:-1])
    if len(missed):
        warnings.warn(
            f"{where}: at {len(missed)} step(s) (first {int(missed[0])}) next_observations[t] differs from "
            "observations[t+1] but neither 'terminals' nor 'timeouts' is set, so those episodes are merged; "
            "the file's episode flags look incomplete",
            stacklevel=3,
        )

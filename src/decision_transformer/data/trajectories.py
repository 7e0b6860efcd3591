"""Offline trajectories in memory (flat numpy arrays with episode boundaries) and the native `.npz` format.

Native on-disk schema (`.npz`, written by `TrajectoryDataset.save`, read by `TrajectoryDataset.load`,
uncompressed, no pickled objects):

    format_version  ()        int      1
    observations    (N, *O)   float32  (uint8 for pixel frame stacks); O = observation shape
    actions         (N, A)    float32  continuous, or (N,) int64 discrete
    rewards         (N,)      float32
    terminations    (N,)      bool     the MDP ended (goal, fall): no bootstrap past it (numbers exactly 0/1 accepted)
    truncations     (N,)      bool     a time limit cut the episode; kept apart from terminations (same)
    episode_starts  (E,)      int64    index of each episode's first step; 0 first, strictly increasing
    reward_scale    ()        float64  returns-to-go are divided by it before the model (1000 for MuJoCo)
    env_id          ()        str      Gymnasium id to evaluate in ('' if unknown)
    name            ()        str      dataset name
    made_as         ()        str      optional: a built-in's identity, NAME[-stepsN]-seedS[-genG] (`dt data make`)

Pixel observations (uint8, (N, H, W) frames or larger) are memory-mapped on load, not read into memory: the
format is uncompressed, so the member's bytes lie contiguous in the file (`_memmap_member`); the OS pages in
what the sampler touches. A compressed file (written by other tools) is read normally.

Each row is one step (s_t, a_t, r_t): the observation *before* the action. There are N observations,
not N + 1: loaders of formats that store the final observation (Minari) drop it.
Returns-to-go are undiscounted and computed per episode: R_t = sum_{t' >= t} r_t'.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..common import atomic

from .fields import (
    FORMAT_VERSION, REQUIRED_KEYS, DatasetError, returns_to_go, scalar_value, validate,  # noqa: F401 (DatasetError: this package's API)
)


@dataclass(frozen=True, repr=False)
class Episode:
    """One episode. `observations` has one row per action (the final observation is not kept)."""

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    terminations: np.ndarray
    truncations: np.ndarray

    def __len__(self) -> int:
        return len(self.rewards)

    def __repr__(self) -> str:
        shapes = ", ".join(f"{f.name}={getattr(self, f.name).shape}" for f in dataclasses.fields(self))
        return f"Episode({shapes}, return={float(self.rewards.sum()):.3f})"


@dataclass(frozen=True, repr=False)
class TrajectoryDataset:
    """Flat step arrays plus `episode_starts`. Construct with `from_episodes` or the constructor; both
    validate and raise `DatasetError` naming `source` and the field."""

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    terminations: np.ndarray
    truncations: np.ndarray
    episode_starts: np.ndarray
    reward_scale: float = 1.0
    env_id: str = ""
    name: str = ""
    source: str = "<memory>"
    made_as: str = ""
    """A built-in dataset's identity (its cache file's stem: name, step budget, seed, generation), '' otherwise: an
    existing `dt data make --out FILE` is reused only if it was made as the same."""
    reward_clip: float = 0.0
    """0: `rewards` are the env's. c > 0: they were clipped to [-c, c] before storage (DQN-replay: Dopamine
    clips at the source), so a model trained on them must decrement its return-to-go by clipped rewards too
    (`Preprocessing.reward_clip`), while the reported return stays the env's raw one."""

    def __post_init__(self) -> None:
        if not (np.isfinite(self.reward_clip) and self.reward_clip >= 0):
            raise DatasetError(f"{self.source}: field 'reward_clip' is {self.reward_clip}; expected a number >= 0")
        validate(self)

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_episodes(cls, episodes: Sequence[Episode], **kwargs: Any) -> "TrajectoryDataset":
        source = kwargs.get("source", "<memory>")
        if not episodes:
            raise DatasetError(f"{source}: the dataset has no episodes; expected at least one")
        lengths = np.array([len(e) for e in episodes], dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)

        def cat(name: str) -> np.ndarray:
            return np.concatenate([np.asarray(getattr(e, name)) for e in episodes])

        return cls(
            observations=cat("observations"),
            actions=cat("actions"),
            rewards=cat("rewards"),
            terminations=cat("terminations"),
            truncations=cat("truncations"),
            episode_starts=starts,
            **kwargs,
        )

    # ----------------------------------------------------------------- derived quantities
    @property
    def num_steps(self) -> int:
        return len(self.rewards)

    @property
    def num_episodes(self) -> int:
        return len(self.episode_starts)

    @property
    def episode_ends(self) -> np.ndarray:
        """Exclusive end index of each episode."""
        return np.append(self.episode_starts[1:], self.num_steps)

    @property
    def episode_lengths(self) -> np.ndarray:
        return self.episode_ends - self.episode_starts

    @functools.cached_property
    def episode_returns(self) -> np.ndarray:
        return np.add.reduceat(self.rewards.astype(np.float64), self.episode_starts)

    @property
    def discrete_actions(self) -> bool:
        return np.issubdtype(self.actions.dtype, np.integer)

    @property
    def observation_shape(self) -> tuple[int, ...]:
        return tuple(self.observations.shape[1:])

    @property
    def act_dim(self) -> int:
        """Action size, or for discrete actions the number of actions seen (max + 1)."""
        return int(self.actions.max()) + 1 if self.discrete_actions else int(self.actions.shape[1])

    @functools.cached_property
    def returns_to_go(self) -> np.ndarray:
        """(N,) float32 undiscounted return from each step to the end of its episode (finite: `fields.validate`)."""
        return returns_to_go(self.rewards, self.episode_starts)

    @property
    def state_mean(self) -> np.ndarray:
        return self.state_stats[0]

    @property
    def state_std(self) -> np.ndarray:
        return self.state_stats[1]

    @functools.cached_property
    def state_stats(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-dimension (mean, std) over this dataset's steps, std floored at 1e-6. Pixels: scalar (0, 255).
        A model's statistics are fitted once, on its full training data, by `data.preprocess.Preprocessing`."""
        if self.observations.dtype == np.uint8:
            return np.zeros((), np.float32), np.full((), 255.0, np.float32)
        mean, std = _chunked_mean_std(self.observations)
        return mean.astype(np.float32), (std + 1e-6).astype(np.float32)

    def episode(self, i: int) -> Episode:
        s, e = int(self.episode_starts[i]), int(self.episode_ends[i])
        return Episode(*(getattr(self, k)[s:e] for k in ("observations", "actions", "rewards", "terminations", "truncations")))

    def __repr__(self) -> str:
        return (
            f"TrajectoryDataset(name={self.name!r}, env_id={self.env_id!r}, episodes={self.num_episodes}, "
            f"steps={self.num_steps}, observations={self.observations.shape}, actions={self.actions.shape}, "
            f"reward_scale={self.reward_scale})"
        )

    # ----------------------------------------------------------------- transforms (return new datasets)
    def select_episodes(self, indices: Sequence[int] | np.ndarray) -> "TrajectoryDataset":
        """A dataset of the given episodes, in the given order."""
        indices = np.asarray(indices, dtype=np.int64)
        if len(indices) == 0:
            raise DatasetError(f"{self.source}: selection keeps no episodes")
        starts, ends = self.episode_starts[indices], self.episode_ends[indices]
        rows = np.concatenate([np.arange(s, e) for s, e in zip(starts, ends)])
        lengths = ends - starts
        new_starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        return dataclasses.replace(
            self,
            observations=self.observations[rows],
            actions=self.actions[rows],
            rewards=self.rewards[rows],
            terminations=self.terminations[rows],
            truncations=self.truncations[rows],
            episode_starts=new_starts,
        )

    def top_fraction(self, fraction: float) -> "TrajectoryDataset":
        """The paper's %BC data: the highest-return episodes, up to `fraction` of all timesteps (>= 1 episode)."""
        if not 0.0 < fraction <= 1.0:
            raise ValueError(f"top_fraction={fraction} must be in (0, 1]")
        if fraction == 1.0:
            return self
        order = np.argsort(-self.episode_returns, kind="stable")
        budget = fraction * self.num_steps
        cumulative = np.cumsum(self.episode_lengths[order])
        keep = max(1, int(np.searchsorted(cumulative, budget, side="right")))
        return self.select_episodes(order[:keep])

    def delayed_rewards(self) -> "TrajectoryDataset":
        """The paper's Table 7 setting: every reward is zero except the last step's, which is the episode return."""
        delayed = np.zeros_like(self.rewards)
        delayed[self.episode_ends - 1] = self.episode_returns.astype(self.rewards.dtype)
        return dataclasses.replace(self, rewards=delayed)

    # ----------------------------------------------------------------- native format
    def save(self, path: str | os.PathLike) -> Path:
        """Write the native `.npz` atomically (temp file in the same directory, then rename)."""
        arrays = {k: getattr(self, k) for k in REQUIRED_KEYS}
        arrays.update(
            format_version=np.array(FORMAT_VERSION),
            reward_scale=np.array(float(self.reward_scale)),
            reward_clip=np.array(float(self.reward_clip)),
            env_id=np.array(self.env_id),
            name=np.array(self.name),
            **({"made_as": np.array(self.made_as)} if self.made_as else {}),
        )
        return atomic.savez(path, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "TrajectoryDataset":
        path = Path(path)
        if not path.is_file():
            raise DatasetError(f"{path}: no such dataset file")
        if not zipfile.is_zipfile(path):  # np.load would read a .npy array, or blame pickled data for any other bytes
            raise DatasetError(f"{path}: not a zip archive (truncated or corrupt?); expected a native .npz dataset")
        try:
            with np.load(path, allow_pickle=False) as z:
                missing = [k for k in REQUIRED_KEYS if k not in z.files]
                if missing:
                    raise DatasetError(f"{path}: missing field(s) {missing}; a native dataset needs {list(REQUIRED_KEYS)}")
                version = _scalar(path, z, "format_version", FORMAT_VERSION, "an integer")
                if version != FORMAT_VERSION:
                    raise DatasetError(f"{path}: field 'format_version' is {version}; expected {FORMAT_VERSION}")
                arrays = {k: z[k] for k in REQUIRED_KEYS if k != "observations"}
                header = _member_header(z, "observations")
                mapped = _memmap_member(path, z, "observations") if _is_pixels(*header) else None
                arrays["observations"] = z["observations"] if mapped is None else mapped
                meta = {
                    "reward_scale": float(_scalar(path, z, "reward_scale", 1.0, "a number")),
                    "reward_clip": float(_scalar(path, z, "reward_clip", 0.0, "a number")),
                    "env_id": str(_scalar(path, z, "env_id", "", "a string")),
                    "name": str(_scalar(path, z, "name", path.stem, "a string")),
                    "made_as": str(_scalar(path, z, "made_as", "", "a string")),
                }
        except DatasetError:
            raise
        except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError, TypeError) as exc:
            raise DatasetError(f"{path}: not a readable .npz dataset (truncated or corrupt?): {exc}") from exc
        return cls(**arrays, **meta, source=str(path))


# --------------------------------------------------------------------------- helpers
def _scalar(path: Path, z, key: str, default: Any, expected: str) -> Any:
    """Metadata member `key` of the open .npz `z` as a Python scalar (`default` if absent)."""
    return scalar_value(str(path), key, z[key], expected) if key in z.files else default


def _npy_header(f) -> tuple[tuple[int, ...], bool, np.dtype]:
    """(shape, fortran_order, dtype) of the .npy stream `f`, left positioned at its data."""
    version = np.lib.format.read_magic(f)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran, dtype = read(f)
    return tuple(shape), fortran, dtype


def _member_header(z, key: str) -> tuple[tuple[int, ...], np.dtype]:
    """(shape, dtype) of an .npz member without reading its data."""
    with z.zip.open(key + ".npy") as f:
        shape, _, dtype = _npy_header(f)
    return shape, dtype


def _is_pixels(shape: tuple[int, ...], dtype: np.dtype) -> bool:
    return dtype == np.uint8 and len(shape) >= 3


def _memmap_member(path: Path, z, key: str) -> np.ndarray | None:
    """A read-only memory map of member `key` of the open .npz `z` (read from `path`), or None if the member
    is compressed."""
    import struct

    info = z.zip.getinfo(key + ".npy")
    if info.compress_type != zipfile.ZIP_STORED:
        return None
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        local = f.read(30)  # the member's local file header: fixed part, then its name and extra field
        if local[:4] != b"PK\x03\x04":
            raise DatasetError(f"{path}: member {key!r} has no zip local header at offset {info.header_offset}")
        name_len, extra_len = struct.unpack("<HH", local[26:30])
        f.seek(info.header_offset + 30 + name_len + extra_len)
        shape, fortran, dtype = _npy_header(f)
        offset = f.tell()
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape, order="F" if fortran else "C")


def _chunked_mean_std(x: np.ndarray, chunk: int = 65536) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and (population) std of (N, ...) data in float64, a chunk of rows at a time (two passes),
    without an N-sized float64 copy."""
    n = len(x)
    total = np.zeros(x.shape[1:], np.float64)
    for i in range(0, n, chunk):
        total += x[i:i + chunk].sum(0, dtype=np.float64)
    mean = total / n
    sq = np.zeros(x.shape[1:], np.float64)
    for i in range(0, n, chunk):
        sq += ((x[i:i + chunk] - mean) ** 2).sum(0)
    return mean, np.sqrt(sq / n)

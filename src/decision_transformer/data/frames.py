"""Frame stacking for pixel datasets stored as single frames: one (H, W) uint8 frame per step, stacked at sampling time.

Atari datasets (dt_experiments/suite/atari.py, the DQN-replay reader) keep `observations` as (N, 84, 84) uint8, each frame once.
The model and the env (envs/atari.py) see the last `stack` frames of each step, (stack, 84, 84):

    stacked[t] = frames[max(t - stack + 1 + j, s)] for j = 0 .. stack - 1,   s = the step's episode start

so within the first stack - 1 steps of an episode the episode's first frame is repeated in front, exactly as
Gymnasium's `FrameStackObservation(padding_type="reset")` fills its stack at reset (tests/test_atari.py checks
byte-identity against the env). Stacks never cross an episode boundary.

`FrameStackSampler` is the trainer's batch source for such data: the window (or episode) sampler of
data/sampler.py, unchanged, reading observations through a view that stacks on indexing, so the padding,
normalization (pixels: mean 0, std 255) and every other convention are the samplers' own. `trainer.make_sampler`
picks it for any dataset whose observations are (N, H, W); `model_state_shape` gives the model's state shape.

Memory: a batch of B windows of K steps is B * K * stack * 84 * 84 float32 (64 x 20 steps: 145 MB).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .preprocess import Preprocessing
from .sampler import Batch, EpisodeSampler, WindowSampler
from .trajectories import TrajectoryDataset

FRAME_STACK = 4


def is_frame_dataset(dataset: TrajectoryDataset) -> bool:
    """True when observations are single pixel frames (N, H, W), to be stacked for the model."""
    return dataset.observations.ndim == 3


def model_state_shape(dataset: TrajectoryDataset, stack: int = FRAME_STACK) -> int | tuple[int, ...]:
    """The model's state_dim for a dataset: an int for vector states, (stack, H, W) for single frames,
    else the observation shape (already stacked frames, channels first). Any other shape (channels last, frames
    smaller than the encoder's convolutions take: model.min_frame_size) is a ValueError naming the dataset."""
    from ..model import min_frame_size

    shape = tuple(dataset.observation_shape)
    if len(shape) == 1 and shape[0] > 0:
        return int(shape[0])
    if len(shape) in (2, 3) and min(shape[-2:]) >= min_frame_size():
        return (stack, *shape) if len(shape) == 2 else shape
    raise ValueError(f"{dataset.source}: field 'observations' has shape {shape} per step; expected (obs_dim,) "
                     f"vectors, (H, W) frames or (C, H, W) with H, W >= {min_frame_size()} (channels first)")


def stack_rows(rows: Any, episode_start: Any, stack: int = FRAME_STACK) -> np.ndarray:
    """(*R, stack) frame rows making up each row's observation, oldest first: rows t - stack + 1 .. t, clamped to
    the row's episode start `episode_start` (broadcast against `rows`), i.e. the module docstring's rule."""
    rows = np.asarray(rows, np.int64)
    back = np.arange(stack - 1, -1, -1, dtype=np.int64)  # (stack,) offsets: oldest frame first
    return np.maximum(rows[..., None] - back, np.asarray(episode_start, np.int64)[..., None])


def episode_start_of_rows(episode_starts: np.ndarray, num_steps: int) -> np.ndarray:
    """(N,) int64: the first row of each row's episode."""
    lengths = np.diff(np.append(episode_starts, num_steps))
    return np.repeat(np.asarray(episode_starts, np.int64), lengths)


class StackedFrames:
    """Array-like (N, stack, H, W) view of single frames (N, H, W): indexing with integer rows of any shape
    returns (*rows.shape, stack, H, W) uint8, built on the fly (module docstring)."""

    def __init__(self, frames: np.ndarray, episode_starts: np.ndarray, stack: int = FRAME_STACK):
        self.frames = frames
        self.stack = stack
        self._ep_start = episode_start_of_rows(episode_starts, len(frames))
        self.shape = (len(frames), stack, *frames.shape[1:])
        self.dtype = frames.dtype
        self.ndim = len(self.shape)

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, rows: Any) -> np.ndarray:
        rows = np.asarray(rows, np.int64) if not isinstance(rows, slice) else np.arange(len(self))[rows]
        return self.frames[stack_rows(rows, self._ep_start[rows], self.stack)]  # (*R, stack, H, W)


class _FrameStackView:
    """The dataset with `observations` replaced by its `StackedFrames` (everything else delegated)."""

    def __init__(self, dataset: TrajectoryDataset, stack: int):
        self._dataset = dataset
        self.observations = StackedFrames(dataset.observations, dataset.episode_starts, stack)

    @property
    def observation_shape(self) -> tuple[int, ...]:
        return self.observations.shape[1:]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._dataset, name)


class FrameStackSampler:
    """Batches of stacked frames, states (B, K, stack, H, W), from single-frame data: a `WindowSampler`
    (default) or, with `episode=True`, an `EpisodeSampler` over the stacking view (module docstring)."""

    def __init__(self, dataset: TrajectoryDataset, prep: Preprocessing, context_len: int, max_ep_len: int,
                 stack: int = FRAME_STACK, episode: bool = False, return_balanced: bool = False, anchor: str = "start"):
        if not is_frame_dataset(dataset):
            raise ValueError(f"{dataset.source}: field 'observations' has shape {dataset.observations.shape}; "
                             "frame stacking needs single frames (N, H, W)")
        self.dataset = dataset
        self.prep = prep
        self.stack = stack
        view: Any = _FrameStackView(dataset, stack)
        window = (context_len, max_ep_len)
        self.inner = (EpisodeSampler(view, prep, *window, return_balanced=return_balanced) if episode
                      else WindowSampler(view, prep, *window, anchor=anchor))

    def sample(self, batch_size: int, rng: np.random.Generator) -> Batch:
        return self.inner.sample(batch_size, rng)

"""Batch sources for the trainer: anything with `sample(batch_size, rng) -> Batch`. Vectorised numpy indexing.

Window convention (the single place it is written down; `tests/test_data.py` checks it):
    * `WindowSampler` (the paper's gym code): an episode is drawn with probability proportional to its
      length, then a start step `si` uniformly in [0, len - 1]; the window holds steps
      si .. min(si + K, len) - 1 of that episode. With `anchor="end"` (d3rlpy's DT, for comparing the two):
      the drawn step is the window's last, and the window holds steps max(0, si - K + 1) .. si;
    * `EpisodeSampler` (the paper's Key-to-Door and graph tasks, "the entire episode as context"): a whole
      episode from step 0, drawn uniformly, or return-balanced (see its docstring); every episode must fit
      in K steps. Because padding is invisible and the only position signal is the timestep, the
      prediction at step t of a whole episode is exactly what evaluation computes with the first t steps
      in context, so every step of every episode is a training target;
    * a window shorter than K is LEFT-padded: padded positions have attention_mask 0 and hold zeros
      (states, actions, returns_to_go, timesteps);
    * states, returns-to-go, timesteps and actions go through the run's `Preprocessing` (data/preprocess.py):
      normalized states, returns-to-go divided by the reward scale, timesteps counted from 0 within the
      episode and clipped to max_ep_len - 1, continuous actions scaled to [-1, 1] when the run scales them
      (the batch's actions are both model inputs and targets);
    * K (`context_len`) and `max_ep_len` are arguments, the model config's values (the trainer passes them):
      the sampler never keeps a second copy of the model's window anywhere it could drift.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .preprocess import Preprocessing, clip_timesteps
from .trajectories import DatasetError, TrajectoryDataset


@dataclass(frozen=True)
class Batch:
    """A batch of K-step windows. B batch, K context_len, S state shape, A act_dim."""

    states: torch.Tensor
    """(B, K, *S) float32, normalized."""
    actions: torch.Tensor
    """(B, K, A) float32 (in [-1, 1] when the run scales actions), or (B, K) int64 for discrete actions."""
    returns_to_go: torch.Tensor
    """(B, K, 1) float32, divided by the reward scale."""
    timesteps: torch.Tensor
    """(B, K) int64."""
    attention_mask: torch.Tensor
    """(B, K) int64, 1 for a real step, 0 for left padding."""
    episode_returns: torch.Tensor
    """(B,) float32 raw return of each row's episode (the critic's target; not a model input)."""

    def to(self, device: torch.device | str) -> "Batch":
        return Batch(**{k: getattr(self, k).to(device, non_blocking=True) for k in self.__dataclass_fields__})


class WindowSampler:
    """K-step windows with a uniform start, or a uniform end (`anchor`; see the module docstring). All randomness
    comes from `rng` (a numpy Generator), whose state the trainer checkpoints, so a resumed run draws the same
    batches."""

    def __init__(self, dataset: TrajectoryDataset, prep: Preprocessing, context_len: int, max_ep_len: int,
                 anchor: str = "start"):
        if anchor not in ("start", "end"):
            raise ValueError(f"WindowSampler anchor={anchor!r}; expected start or end")
        self.anchor = anchor
        self.dataset = dataset
        self.prep = prep
        self.context_len, self.max_ep_len = _window(context_len, max_ep_len)
        self._starts = dataset.episode_starts
        self._lengths = dataset.episode_lengths
        self._p = self._lengths / self._lengths.sum()
        self._rtg_scaled = prep.scale_returns(dataset.returns_to_go)
        self._returns = dataset.episode_returns.astype(np.float32)
        self._arange = np.arange(self.context_len)

    def sample(self, batch_size: int, rng: np.random.Generator) -> Batch:
        return _gather(self, *self.draw(batch_size, rng))

    def draw(self, batch_size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(episode, first step, last step) of `batch_size` windows: the module docstring's rule, the only place
        it is coded."""
        ep = rng.choice(len(self._lengths), size=batch_size, p=self._p)  # (B,)
        length = self._lengths[ep]  # (B,)
        si = np.floor(rng.random(batch_size) * length).astype(np.int64)  # (B,) uniform in [0, len-1]
        K = self.context_len
        if self.anchor == "end":
            return ep, np.maximum(si - K + 1, 0), si
        return ep, si, np.minimum(si + K, length) - 1


class EpisodeSampler:
    """Whole episodes from step 0, left-padded to K (see the module docstring).

    With `return_balanced` each row first draws one of the data's distinct episode returns uniformly,
    then an episode with that return uniformly (not in the paper; meant for a few distinct returns such
    as Key-to-Door's success / failure). For DT this leaves the fitted target p(a_t | context) unchanged,
    since the weight depends only on the episode return, which the whole-episode context shows as its
    first return-to-go; it only shows a rare return more often. For BC, which sees no return, it
    changes the target (to return-reweighted BC)."""

    def __init__(self, dataset: TrajectoryDataset, prep: Preprocessing, context_len: int, max_ep_len: int,
                 return_balanced: bool = False):
        self.context_len, self.max_ep_len = _window(context_len, max_ep_len)
        longest = int(dataset.episode_lengths.max())
        if longest > self.context_len:
            raise DatasetError(
                f"{dataset.source}: field 'episode_starts' gives an episode of {longest} steps; whole-episode "
                f"sampling needs context_len >= the longest episode (context_len={self.context_len})")
        self.dataset = dataset
        self.prep = prep
        self.return_balanced = return_balanced
        self._starts = dataset.episode_starts
        self._lengths = dataset.episode_lengths
        self._rtg_scaled = prep.scale_returns(dataset.returns_to_go)
        self._returns = dataset.episode_returns.astype(np.float32)
        self._arange = np.arange(self.context_len)
        # episodes grouped by return: group g is _by_return[_group_start[g] : _group_start[g] + _group_size[g]]
        _, group, self._group_size = np.unique(dataset.episode_returns, return_inverse=True, return_counts=True)
        self._by_return = np.argsort(group, kind="stable")  # (E,) episode indices, grouped
        self._group_start = np.cumsum(self._group_size) - self._group_size  # (G,)

    def sample_episodes(self, batch_size: int, rng: np.random.Generator) -> np.ndarray:
        """(B,) episode indices, drawn with replacement (uniformly, or return-balanced)."""
        if not self.return_balanced:
            return rng.integers(0, len(self._lengths), size=batch_size)
        g = rng.integers(0, len(self._group_size), size=batch_size)  # (B,) a return group per row
        return self._by_return[self._group_start[g] + rng.integers(0, self._group_size[g])]

    def sample(self, batch_size: int, rng: np.random.Generator) -> Batch:
        return self.episodes(self.sample_episodes(batch_size, rng))

    def episodes(self, ep: np.ndarray) -> Batch:
        """The given episodes (indices), whole and left-padded, in order."""
        ep = np.asarray(ep, np.int64)
        return _gather(self, ep, np.zeros(len(ep), np.int64), self._lengths[ep] - 1)


def _gather(src: WindowSampler | EpisodeSampler, ep: np.ndarray, si: np.ndarray, last: np.ndarray) -> Batch:
    """Rows = steps `si` .. `last` (at most K) of episodes `ep`, left-padded to K."""
    K, d, prep, arange = src.context_len, src.dataset, src.prep, src._arange
    n_real = last - si + 1  # (B,) real steps in the window
    pad = K - n_real  # (B,) left padding
    local = si[:, None] + arange[None, :] - pad[:, None]  # (B, K) step index within the episode
    real = arange[None, :] >= pad[:, None]  # (B, K)
    local = np.where(real, local, 0)  # (B, K)
    rows = src._starts[ep][:, None] + local  # (B, K) row in the flat arrays

    states = prep.normalize_states(d.observations[rows])  # (B, K, *S)
    states[~real] = 0.0
    actions = prep.scale_actions(d.actions[rows])  # (B, K, A) or (B, K); scaled: the model's [-1, 1]
    actions = np.where(real.reshape(real.shape + (1,) * (actions.ndim - 2)), actions, 0)
    rtg = np.where(real, src._rtg_scaled[rows], 0.0).astype(np.float32)[..., None]  # (B, K, 1)
    timesteps = np.where(real, clip_timesteps(local, src.max_ep_len), 0)  # (B, K)
    return Batch(
        states=torch.from_numpy(states),
        actions=torch.from_numpy(np.ascontiguousarray(actions)),
        returns_to_go=torch.from_numpy(rtg),
        timesteps=torch.from_numpy(timesteps.astype(np.int64)),
        attention_mask=torch.from_numpy(real.astype(np.int64)),
        episode_returns=torch.from_numpy(src._returns[ep]),
    )


def _window(context_len: int, max_ep_len: int) -> tuple[int, int]:
    if int(context_len) <= 0 or int(max_ep_len) <= 0:
        raise ValueError(f"a sampler's context_len ({context_len}) and max_ep_len ({max_ep_len}) must be positive")
    return int(context_len), int(max_ep_len)

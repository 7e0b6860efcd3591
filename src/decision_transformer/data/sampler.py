"""Training windows, sampled as the paper's code does, vectorised with numpy indexing.

Window convention (the single place it is written down; `tests/test_data.py` checks it):
    * an episode is drawn with probability proportional to its length, then a start step `si` uniformly
      in [0, len - 1]; the window holds steps si .. min(si + K, len) - 1 of that episode;
    * a window shorter than K is LEFT-padded: padded positions have attention_mask 0 and hold zeros
      (states, actions, returns_to_go, timesteps);
    * timesteps are the step index within the episode, starting at 0, clipped to max_ep_len - 1;
    * states are normalized with the dataset's mean/std; returns-to-go are divided by the reward scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .trajectories import TrajectoryDataset


@dataclass(frozen=True)
class Batch:
    """A batch of K-step windows. B batch, K context_len, S state shape, A act_dim."""

    states: torch.Tensor
    """(B, K, *S) float32, normalized."""
    actions: torch.Tensor
    """(B, K, A) float32, or (B, K) int64 for discrete actions."""
    returns_to_go: torch.Tensor
    """(B, K, 1) float32, divided by the reward scale."""
    timesteps: torch.Tensor
    """(B, K) int64."""
    attention_mask: torch.Tensor
    """(B, K) int64, 1 for a real step, 0 for left padding."""

    def to(self, device: torch.device | str) -> "Batch":
        return Batch(**{k: getattr(self, k).to(device, non_blocking=True) for k in self.__dataclass_fields__})


class WindowSampler:
    """Samples `Batch`es from a dataset. All randomness comes from `rng` (a numpy Generator), whose
    state the trainer checkpoints, so a resumed run draws the same batches."""

    def __init__(
        self,
        dataset: TrajectoryDataset,
        context_len: int,
        max_ep_len: int,
        state_mean: np.ndarray | None = None,
        state_std: np.ndarray | None = None,
    ):
        self.dataset = dataset
        self.context_len = context_len
        self.max_ep_len = max_ep_len
        mean, std = dataset.state_stats
        self.state_mean = np.asarray(mean if state_mean is None else state_mean, np.float32)
        self.state_std = np.asarray(std if state_std is None else state_std, np.float32)
        self._starts = dataset.episode_starts
        self._lengths = dataset.episode_lengths
        self._p = self._lengths / self._lengths.sum()
        self._rtg_scaled = (dataset.returns_to_go / dataset.reward_scale).astype(np.float32)
        self._arange = np.arange(context_len)

    def sample(self, batch_size: int, rng: np.random.Generator) -> Batch:
        K = self.context_len
        d = self.dataset
        ep = rng.choice(len(self._lengths), size=batch_size, p=self._p)  # (B,)
        length = self._lengths[ep]  # (B,)
        si = np.floor(rng.random(batch_size) * length).astype(np.int64)  # (B,) uniform in [0, len-1]
        n_real = np.minimum(K, length - si)  # (B,) real steps in the window
        pad = K - n_real  # (B,) left padding
        local = si[:, None] + self._arange[None, :] - pad[:, None]  # (B, K) step index within episode
        real = self._arange[None, :] >= pad[:, None]  # (B, K)
        local = np.where(real, local, 0)  # (B, K)
        rows = self._starts[ep][:, None] + local  # (B, K) row in the flat arrays

        obs = d.observations[rows]  # (B, K, *S)
        states = (obs.astype(np.float32) - self.state_mean) / self.state_std  # (B, K, *S)
        states[~real] = 0.0
        actions = d.actions[rows]  # (B, K, A) or (B, K)
        actions = np.where(real.reshape(real.shape + (1,) * (actions.ndim - 2)), actions, 0)
        rtg = np.where(real, self._rtg_scaled[rows], 0.0).astype(np.float32)[..., None]  # (B, K, 1)
        timesteps = np.where(real, np.minimum(local, self.max_ep_len - 1), 0)  # (B, K)
        return Batch(
            states=torch.from_numpy(states),
            actions=torch.from_numpy(np.ascontiguousarray(actions)),
            returns_to_go=torch.from_numpy(rtg),
            timesteps=torch.from_numpy(timesteps.astype(np.int64)),
            attention_mask=torch.from_numpy(real.astype(np.int64)),
        )

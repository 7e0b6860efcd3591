"""The one object that turns raw data into model inputs, in training and when acting.

`Preprocessing` is built once from the training data (`Preprocessing.fit`), saved in every checkpoint
(the `state_mean`, `state_std`, `reward_scale`, `reward_clip` fields of `meta.json`) and read back by
`RunMeta.preprocessing()`. Both samplers and the evaluation agent use it, so a model never sees inputs
prepared two ways:

    states          (obs - state_mean) / state_std, float32; pixels (uint8) use mean 0, std 255
    returns_to_go   divided by reward_scale
    timesteps       the step index within the episode from 0, clipped to max_ep_len - 1 (`clip_timesteps`)

The window (`context_len`, K) and `max_ep_len` are the model config's alone: samplers and acting read them from
it, so no second copy can disagree with the model. For %BC and delayed rewards the statistics are those of the full dataset, fitted before filtering.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .trajectories import TrajectoryDataset


@dataclass(frozen=True, eq=False)
class Preprocessing:
    """State normalisation and return scale of one model's data (the window is the model config's)."""

    state_mean: np.ndarray
    """(*S,) float32 per-dimension mean, or a scalar for pixels."""
    state_std: np.ndarray
    """(*S,) float32 per-dimension std (floored at 1e-6), or a scalar for pixels."""
    reward_scale: float
    """Returns-to-go are divided by it (1000 for MuJoCo, as in the paper's code)."""
    reward_clip: float = field(default=0.0, kw_only=True)
    """0, or c > 0 when the training rewards were clipped to [-c, c] (`TrajectoryDataset.reward_clip`): acting
    then decrements the return-to-go by the clipped reward, as the returns-to-go were computed."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "state_mean", np.asarray(self.state_mean, np.float32))
        object.__setattr__(self, "state_std", np.asarray(self.state_std, np.float32))
        if self.state_mean.shape != self.state_std.shape:
            raise ValueError(f"Preprocessing: state_mean shape {self.state_mean.shape} != state_std shape {self.state_std.shape}")
        if not (np.isfinite(self.state_mean).all() and np.isfinite(self.state_std).all()):
            raise ValueError("Preprocessing.state_mean and state_std must be finite everywhere")
        if not (self.state_std > 0).all():
            raise ValueError("Preprocessing.state_std must be positive everywhere")
        if not np.isfinite(self.reward_clip) or self.reward_clip < 0:
            raise ValueError(f"Preprocessing.reward_clip={self.reward_clip} must be a finite number >= 0")
        if not np.isfinite(self.reward_scale) or self.reward_scale <= 0:
            raise ValueError(f"Preprocessing.reward_scale={self.reward_scale} must be a positive number")

    @classmethod
    def fit(cls, dataset: TrajectoryDataset) -> "Preprocessing":
        """Statistics of `dataset` (all its steps)."""
        mean, std = dataset.state_stats
        return cls(mean, std, float(dataset.reward_scale), reward_clip=float(dataset.reward_clip))

    def normalize_states(self, obs: np.ndarray) -> np.ndarray:
        """(..., *S) raw observations -> float32 model states."""
        return ((obs.astype(np.float32) - self.state_mean) / self.state_std).astype(np.float32, copy=False)

    def scale_returns(self, returns: np.ndarray | float) -> np.ndarray:
        """Raw returns(-to-go) -> model input scale, float32."""
        return (np.asarray(returns, np.float64) / self.reward_scale).astype(np.float32)

    def return_decrement(self, rewards: np.ndarray) -> np.ndarray:
        """What acting subtracts from the (scaled) return-to-go after env rewards `rewards`."""
        rewards = np.asarray(rewards, np.float64)
        if self.reward_clip:
            rewards = np.clip(rewards, -self.reward_clip, self.reward_clip)
        return self.scale_returns(rewards)

    def meta_fields(self) -> dict[str, Any]:
        """The `meta.json` fields that store it (state stats flattened to float lists)."""
        return {"state_mean": self.state_mean.astype(np.float64).reshape(-1).tolist(),
                "state_std": self.state_std.astype(np.float64).reshape(-1).tolist(),
                "reward_scale": float(self.reward_scale), "reward_clip": float(self.reward_clip)}


def clip_timesteps(timesteps: np.ndarray, max_ep_len: int) -> np.ndarray:
    """Step indices as the model's timestep embedding takes them: clipped to `max_ep_len - 1` (the model config's)."""
    return np.minimum(timesteps, max_ep_len - 1)

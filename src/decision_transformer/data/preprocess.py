"""The one object that turns raw data into model inputs, in training and when acting.

`Preprocessing` is built once from the training data (`Preprocessing.fit`), saved in every checkpoint
(the `state_mean`, `state_std`, `reward_scale`, `reward_clip`, `action_scale_low`, `action_scale_high` fields of `meta.json`)
and read back by `RunMeta.preprocessing()`. Both samplers, the evaluation agent, online fine-tuning and the ONNX
runtime use it (or, torch-free, its copy in the export's metadata), so a model never sees inputs prepared two ways:

    states          (obs - state_mean) / state_std, float32; pixels (uint8) use mean 0, std 255
    returns_to_go   divided by reward_scale
    timesteps       the step index within the episode from 0, clipped to max_ep_len - 1 (`clip_timesteps`)
    actions         continuous, with action_scale_low / action_scale_high (`TrainConfig.scale_actions`; d3rlpy's
                    MinMaxActionScaler): 2 (a - low) / (high - low) - 1, per dimension, into [-1, 1] (a dimension
                    with high == low maps to 0). The model's inputs and targets are scaled; its outputs are
                    unscaled, low + (x + 1) (high - low) / 2, before they reach the env (`unscale_actions`).
                    Without bounds (None, the default and the paper's) actions are used as they are.

The window (`context_len`, K) and `max_ep_len` are the model config's alone: samplers and acting read them from
it, so no second copy can disagree with the model. For %BC and delayed rewards the statistics are those of the full dataset, fitted before filtering.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..common.action_scale import bounds_problem, scale_actions, unscale_actions
from ..common.checks import short
from .trajectories import TrajectoryDataset


@dataclass(frozen=True, eq=False)
class Preprocessing:
    """State normalisation, return scale and action range of one model's data (the window is the model config's)."""

    state_mean: np.ndarray
    """(*S,) float32 per-dimension mean, or a scalar for pixels."""
    state_std: np.ndarray
    """(*S,) float32 per-dimension std (floored at 1e-6), or a scalar for pixels."""
    reward_scale: float
    """Returns-to-go are divided by it (1000 for MuJoCo, as in the paper's code)."""
    reward_clip: float = field(default=0.0, kw_only=True)
    """0, or c > 0 when the training rewards were clipped to [-c, c] (`TrajectoryDataset.reward_clip`): acting
    then decrements the return-to-go by the clipped reward, as the returns-to-go were computed."""
    action_scale_low: np.ndarray | None = field(default=None, kw_only=True)
    """(A,) float32 per-dimension minimum of the training actions, mapped to -1; None: actions are not scaled."""
    action_scale_high: np.ndarray | None = field(default=None, kw_only=True)
    """(A,) float32 per-dimension maximum, mapped to +1; None exactly when action_scale_low is."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "state_mean", np.asarray(self.state_mean, np.float32))
        object.__setattr__(self, "state_std", np.asarray(self.state_std, np.float32))
        bounds = [None if b is None else np.asarray(b, np.float32) for b in (self.action_scale_low, self.action_scale_high)]
        if bounds[0] is not None and (bounds[0].ndim != 1 or not bounds[0].size):
            raise ValueError(f"Preprocessing.action_scale_low has shape {bounds[0].shape}; expected (A,) with A >= 1")
        problem = bounds_problem(*[None if b is None else b.tolist() for b in bounds],
                                 act_dim=0 if bounds[0] is None else len(bounds[0]))
        if problem:
            field, expected = problem
            raise ValueError(f"Preprocessing.{field} is {short(getattr(self, field))}; expected {expected}")
        object.__setattr__(self, "action_scale_low", bounds[0])
        object.__setattr__(self, "action_scale_high", bounds[1])
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
    def fit(cls, dataset: TrajectoryDataset, scale_actions: bool = False) -> "Preprocessing":
        """Statistics of `dataset` (all its steps); with `scale_actions`, the action range: each dimension's min and
        max (continuous actions only)."""
        mean, std = dataset.state_stats
        low = high = None
        if scale_actions:
            if dataset.discrete_actions:
                raise ValueError(f"{dataset.source}: field 'actions' is discrete; scale_actions applies to continuous "
                                 "actions only")
            actions = np.asarray(dataset.actions, np.float32).reshape(len(dataset.actions), -1)
            low, high = actions.min(0), actions.max(0)
        return cls(mean, std, float(dataset.reward_scale), reward_clip=float(dataset.reward_clip),
                   action_scale_low=low, action_scale_high=high)

    @property
    def scales_actions(self) -> bool:
        """Whether actions are scaled (action_scale_low / action_scale_high are set)."""
        return self.action_scale_low is not None

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

    def scale_actions(self, actions: np.ndarray) -> np.ndarray:
        """(..., A) env actions -> the model's [-1, 1] (float32); unchanged without bounds (and for discrete actions)."""
        return actions if self.action_scale_low is None else scale_actions(actions, self.action_scale_low, self.action_scale_high)

    def unscale_actions(self, actions: np.ndarray) -> np.ndarray:
        """(..., A) model actions in [-1, 1] -> env actions (float32); unchanged without bounds."""
        return actions if self.action_scale_low is None else unscale_actions(actions, self.action_scale_low, self.action_scale_high)

    def meta_fields(self) -> dict[str, Any]:
        """The `meta.json` fields that store it (state stats flattened to float lists; action bounds lists or None)."""
        bounds = lambda b: None if b is None else b.astype(np.float64).tolist()  # noqa: E731
        return {"state_mean": self.state_mean.astype(np.float64).reshape(-1).tolist(),
                "state_std": self.state_std.astype(np.float64).reshape(-1).tolist(),
                "reward_scale": float(self.reward_scale), "reward_clip": float(self.reward_clip),
                "action_scale_low": bounds(self.action_scale_low), "action_scale_high": bounds(self.action_scale_high)}


def clip_timesteps(timesteps: np.ndarray, max_ep_len: int) -> np.ndarray:
    """Step indices as the model's timestep embedding takes them: clipped to `max_ep_len - 1` (the model config's)."""
    return np.minimum(timesteps, max_ep_len - 1)

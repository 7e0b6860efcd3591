"""Behaviour policies as plain numpy MLPs, so dataset generation needs neither stable-baselines3 nor torch.

A policy file is an uncompressed `.npz` with:

    obs_mean, obs_var   (O,)  float32  observation normaliser (VecNormalize statistics at export time)
    obs_clip            ()    float64  normalised observations are clipped to [-obs_clip, obs_clip]
    obs_eps             ()    float64  epsilon in (obs - mean) / sqrt(var + eps)
    w0, b0, w1, b1, ... (in, out), (out,)  hidden layers (activation `activation`) then the action layer
    log_std             (A,)  float32  Gaussian exploration noise of the training-time policy
    action_low, action_high (A,) float32  actions are clipped to these bounds before the env sees them
    activation          ()    str      'relu' or 'tanh'
    env_id              ()    str
    train_step          ()    int64    environment steps the learner had taken at export time
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..atomic import savez
from ..data.trajectories import DatasetError


@dataclass(frozen=True)
class NumpyPolicy:
    """A Gaussian MLP policy evaluated in batch with numpy."""

    weights: tuple[tuple[np.ndarray, np.ndarray], ...]
    """(W, b) per layer, the last one producing the action mean."""
    log_std: np.ndarray
    """Per-dimension log standard deviation of the exploration noise."""
    obs_mean: np.ndarray
    """Observation normaliser mean."""
    obs_var: np.ndarray
    """Observation normaliser variance."""
    action_low: np.ndarray
    """Lower action bound (actions are clipped)."""
    action_high: np.ndarray
    """Upper action bound (actions are clipped)."""
    obs_clip: float = 10.0
    """Normalised observations are clipped to +-obs_clip."""
    obs_eps: float = 1e-8
    """Epsilon of the normaliser."""
    activation: str = "relu"
    """Hidden activation, 'relu' or 'tanh'."""
    env_id: str = ""
    """Gymnasium id the policy was trained in."""
    train_step: int = 0
    """Environment steps of training when the policy was exported."""

    def mean_action(self, obs: np.ndarray) -> np.ndarray:
        """(B, O) observations -> (B, A) unclipped Gaussian means (float32 math)."""
        x = (np.asarray(obs, np.float32) - self.obs_mean) / np.sqrt(self.obs_var + np.float32(self.obs_eps))
        x = np.clip(x, -self.obs_clip, self.obs_clip).astype(np.float32)
        for i, (w, b) in enumerate(self.weights):
            x = x @ w + b
            if i < len(self.weights) - 1:
                x = np.maximum(x, 0.0) if self.activation == "relu" else np.tanh(x)
        return x

    def act(self, obs: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """Actions for a batch: the mean (rng None) or a Gaussian sample (rng given), clipped to the bounds."""
        mean = self.mean_action(obs)
        if rng is not None:
            mean = mean + np.exp(self.log_std) * rng.standard_normal(mean.shape, dtype=np.float32)
        return np.clip(mean, self.action_low, self.action_high).astype(np.float32)

    # ------------------------------------------------------------------ files
    def save(self, path: str | os.PathLike, half: bool = False) -> Path:
        """Write atomically. `half=True` stores the layer weights as float16 (loaded back as float32)."""
        path = Path(path)
        dtype = np.float16 if half else np.float32
        arrays: dict[str, np.ndarray] = {}
        for i, (w, b) in enumerate(self.weights):
            arrays[f"w{i}"] = np.asarray(w, dtype)
            arrays[f"b{i}"] = np.asarray(b, dtype)
        arrays.update(
            log_std=np.asarray(self.log_std, np.float32),
            obs_mean=np.asarray(self.obs_mean, np.float32),
            obs_var=np.asarray(self.obs_var, np.float32),
            action_low=np.asarray(self.action_low, np.float32),
            action_high=np.asarray(self.action_high, np.float32),
            obs_clip=np.array(float(self.obs_clip)),
            obs_eps=np.array(float(self.obs_eps)),
            activation=np.array(self.activation),
            env_id=np.array(self.env_id),
            train_step=np.array(int(self.train_step), np.int64),
        )
        savez(path, **arrays)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "NumpyPolicy":
        path = Path(path)
        if not path.is_file():
            raise DatasetError(f"{path}: no such policy file")
        needed = ("w0", "b0", "log_std", "obs_mean", "obs_var", "action_low", "action_high", "activation")
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in needed if k not in z.files]
            if missing:
                raise DatasetError(f"{path}: policy file is missing field(s) {missing}")
            weights = []
            i = 0
            while f"w{i}" in z.files:
                weights.append((z[f"w{i}"].astype(np.float32), z[f"b{i}"].astype(np.float32)))
                i += 1
            return cls(
                weights=tuple(weights),
                log_std=z["log_std"].astype(np.float32),
                obs_mean=z["obs_mean"].astype(np.float32),
                obs_var=z["obs_var"].astype(np.float32),
                action_low=z["action_low"].astype(np.float32),
                action_high=z["action_high"].astype(np.float32),
                obs_clip=float(z["obs_clip"]),
                obs_eps=float(z["obs_eps"]),
                activation=str(z["activation"]),
                env_id=str(z["env_id"]),
                train_step=int(z["train_step"]),
            )


def export_sb3_ppo(model, vec_normalize, env_id: str, train_step: int) -> NumpyPolicy:
    """Convert an SB3 PPO MlpPolicy (separate pi/vf nets) plus its VecNormalize into a `NumpyPolicy`."""
    import torch.nn as nn

    policy = model.policy
    linears = [m for m in policy.mlp_extractor.policy_net if isinstance(m, nn.Linear)]
    acts = {type(m).__name__ for m in policy.mlp_extractor.policy_net if not isinstance(m, nn.Linear)}
    activation = "relu" if acts == {"ReLU"} else "tanh" if acts == {"Tanh"} else None
    if activation is None:
        raise ValueError(f"unsupported activation(s) {acts}; expected ReLU or Tanh")
    layers = [*linears, policy.action_net]
    weights = tuple(
        (m.weight.detach().cpu().numpy().T.astype(np.float32), m.bias.detach().cpu().numpy().astype(np.float32))
        for m in layers
    )
    space = model.action_space
    if vec_normalize is not None and vec_normalize.norm_obs:
        mean, var = vec_normalize.obs_rms.mean, vec_normalize.obs_rms.var
        clip, eps = float(vec_normalize.clip_obs), float(vec_normalize.epsilon)
    else:
        dim = model.observation_space.shape[0]
        mean, var, clip, eps = np.zeros(dim), np.ones(dim), np.inf, 0.0
    return NumpyPolicy(
        weights=weights,
        log_std=policy.log_std.detach().cpu().numpy().astype(np.float32),
        obs_mean=np.asarray(mean, np.float32),
        obs_var=np.asarray(var, np.float32),
        action_low=space.low.astype(np.float32),
        action_high=space.high.astype(np.float32),
        obs_clip=clip,
        obs_eps=eps,
        activation=activation,
        env_id=env_id,
        train_step=int(train_step),
    )

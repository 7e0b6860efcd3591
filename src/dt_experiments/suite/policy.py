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

Optional (SAC's tanh-squashed Gaussian; files without them are the plain Gaussian above):

    log_std_w, log_std_b (H, A), (A,)  state-dependent log std from the last hidden layer, clipped to
                                       [log_std_min, log_std_max]; `log_std` is then unused (zeros)
    log_std_min, log_std_max ()  float64
    squash              ()    str      'tanh': the action is low + (tanh(u) + 1) / 2 * (high - low) for the
                                       Gaussian sample (or mean) u, as SB3's SAC acts
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from decision_transformer.common.atomic import savez
from decision_transformer.data.trajectories import DatasetError


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
    log_std_head: tuple[np.ndarray, np.ndarray] | None = None
    """(W, b) of a state-dependent log std on the last hidden layer (SAC); None: the constant `log_std`."""
    log_std_min: float = -20.0
    """Lower clip of the state-dependent log std (SB3's SAC: -20)."""
    log_std_max: float = 2.0
    """Upper clip of the state-dependent log std (SB3's SAC: 2)."""
    squash: str = ""
    """'' (Gaussian, clipped to the bounds) or 'tanh' (SAC: tanh of the Gaussian, rescaled to the bounds)."""

    def _forward(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(B, O) observations -> (B, A) Gaussian means (before any squashing) and (B, A) or (A,) log stds."""
        x = (np.asarray(obs, np.float32) - self.obs_mean) / np.sqrt(self.obs_var + np.float32(self.obs_eps))
        x = np.clip(x, -self.obs_clip, self.obs_clip).astype(np.float32)
        hidden = x
        for i, (w, b) in enumerate(self.weights):
            if i == len(self.weights) - 1:
                hidden = x
            x = x @ w + b
            if i < len(self.weights) - 1:
                x = np.maximum(x, 0.0) if self.activation == "relu" else np.tanh(x)
        if self.log_std_head is None:
            return x, self.log_std
        w, b = self.log_std_head
        return x, np.clip(hidden @ w + b, self.log_std_min, self.log_std_max).astype(np.float32)

    def mean_action(self, obs: np.ndarray) -> np.ndarray:
        """(B, O) observations -> (B, A) unclipped Gaussian means (float32 math; before any tanh squashing)."""
        return self._forward(obs)[0]

    def act(self, obs: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """Actions for a batch: the mean (rng None) or a Gaussian sample (rng given), clipped to the bounds
        (or, with `squash='tanh'`, squashed by tanh and rescaled to the bounds)."""
        mean, log_std = self._forward(obs)
        if rng is not None:
            mean = mean + np.exp(log_std) * rng.standard_normal(mean.shape, dtype=np.float32)
        if self.squash == "tanh":
            a = np.tanh(mean)
            return (self.action_low + np.float32(0.5) * (a + np.float32(1.0)) * (self.action_high - self.action_low)).astype(np.float32)
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
        if self.log_std_head is not None:
            arrays.update(
                log_std_w=np.asarray(self.log_std_head[0], dtype), log_std_b=np.asarray(self.log_std_head[1], dtype),
                log_std_min=np.array(float(self.log_std_min)), log_std_max=np.array(float(self.log_std_max)),
            )
        if self.squash:
            arrays["squash"] = np.array(self.squash)
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
                log_std_head=(z["log_std_w"].astype(np.float32), z["log_std_b"].astype(np.float32))
                if "log_std_w" in z.files else None,
                log_std_min=float(z["log_std_min"]) if "log_std_min" in z.files else -20.0,
                log_std_max=float(z["log_std_max"]) if "log_std_max" in z.files else 2.0,
                squash=str(z["squash"]) if "squash" in z.files else "",
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


def export_sb3_sac(model, env_id: str, train_step: int) -> NumpyPolicy:
    """Convert an SB3 SAC MlpPolicy actor (ReLU/Tanh MLP, mean and state-dependent log-std heads, tanh squashing,
    no observation normaliser) into a `NumpyPolicy` with `squash='tanh'`."""
    import torch.nn as nn

    actor = model.actor
    if getattr(actor, "use_sde", False):
        raise ValueError("gSDE SAC actors are not supported")
    linears = [m for m in actor.latent_pi if isinstance(m, nn.Linear)]
    acts = {type(m).__name__ for m in actor.latent_pi if not isinstance(m, nn.Linear)}
    activation = "relu" if acts == {"ReLU"} else "tanh" if acts == {"Tanh"} else None
    if activation is None:
        raise ValueError(f"unsupported activation(s) {acts}; expected ReLU or Tanh")

    def wb(m) -> tuple[np.ndarray, np.ndarray]:
        return m.weight.detach().cpu().numpy().T.astype(np.float32), m.bias.detach().cpu().numpy().astype(np.float32)

    from stable_baselines3.sac.policies import LOG_STD_MAX, LOG_STD_MIN

    space = model.action_space
    dim = model.observation_space.shape[0]
    return NumpyPolicy(
        weights=tuple(wb(m) for m in [*linears, actor.mu]),
        log_std=np.zeros(space.shape[0], np.float32),
        obs_mean=np.zeros(dim, np.float32),
        obs_var=np.ones(dim, np.float32),
        action_low=space.low.astype(np.float32),
        action_high=space.high.astype(np.float32),
        obs_clip=np.inf,
        obs_eps=0.0,
        activation=activation,
        env_id=env_id,
        train_step=int(train_step),
        log_std_head=wb(actor.log_std),
        log_std_min=float(LOG_STD_MIN),
        log_std_max=float(LOG_STD_MAX),
        squash="tanh",
    )

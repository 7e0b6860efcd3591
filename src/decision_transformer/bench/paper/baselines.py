"""The paper's TD baselines from d3rlpy 2.8.0 (the `[baselines]` extra), wrapped, not rewritten.

Settings are d3rlpy's published D4RL settings: its `reproductions/offline/*.py` scripts (github.com/takuseno/d3rlpy):
* CQL  `reproductions/offline/cql.py` (commit 5209707): actor lr 1e-4, critic lr 3e-4, temperature lr 1e-4,
  alpha lr 3e-4, initial alpha e, [256, 256] encoders, batch 256, 10 action samples, alpha threshold 10,
  conservative weight 10 on `medium` data and 5 otherwise, 500k steps.
* IQL  `reproductions/offline/iql.py` (commit d324094): actor and critic lr 3e-4, the actor's Adam with cosine
  annealing over the run (T_max = the run's steps; the script's 500k), batch 256, weight temperature 3, max
  weight 100, expectile 0.7, rewards scaled by ReturnBasedRewardScaler(multiplier=1000), 500k steps.
* TD3+BC  `reproductions/offline/td3_plus_bc.py` (commit 9c6b6e9): actor and critic lr 3e-4, batch 256, target
  smoothing sigma 0.2 / clip 0.5, alpha 2.5, actor update every 2 steps, standardised observations, 500k steps.
* BEAR  `reproductions/offline/bear.py` (commit bdd1b3a, written for d3rlpy 0.x, translated to 2.x names): VAE
  imitator [750, 750], temperature lr 0 with initial temperature 1e-20, MMD kernel gaussian on HalfCheetah and
  laplacian elsewhere; everything else d3rlpy's BEARConfig defaults.
The number of steps is the protocol's (`ProtocolConfig.baseline_steps`), the seed the cell's.

Training is chunked (`save_every` steps): after each chunk the networks and optimisers are saved
(`algo.save`: config with the fitted scalers, networks, optimisers; atomically) with the step reached, so a killed cell continues from its last chunk. The
continuation is not bit-exact (d3rlpy's minibatch sampling restarts from `seed + step`).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ...atomic import atomic_path, write_json
from ...data.trajectories import TrajectoryDataset
from ..common import BaselinesUnavailable, d3rlpy_module  # noqa: F401  (re-exported for cells.py)

ActFn = Callable[[np.ndarray], np.ndarray]




@dataclass(frozen=True)
class CQLSettings:
    """d3rlpy CQLConfig, as in d3rlpy's reproductions/offline/cql.py (module docstring)."""

    actor_lr: float = 1e-4
    """Actor learning rate."""
    critic_lr: float = 3e-4
    """Critic learning rate."""
    temp_lr: float = 1e-4
    """SAC temperature learning rate."""
    alpha_lr: float = 3e-4
    """Lagrangian alpha learning rate."""
    initial_alpha: float = math.e
    """Initial Lagrangian alpha."""
    hidden: tuple[int, ...] = (256, 256)
    """Hidden layers of actor and critic encoders."""
    batch_size: int = 256
    """Transitions per step."""
    n_action_samples: int = 10
    """Actions sampled for the conservative log-sum-exp."""
    alpha_threshold: float = 10.0
    """Lagrangian threshold."""
    conservative_weight_medium: float = 10.0
    """Conservative weight on `*-medium` data (the script's 'medium-v0' case)."""
    conservative_weight: float = 5.0
    """Conservative weight on every other dataset."""


@dataclass(frozen=True)
class IQLSettings:
    """d3rlpy IQLConfig, as in d3rlpy's reproductions/offline/iql.py (module docstring)."""

    actor_lr: float = 3e-4
    """Actor learning rate (cosine-annealed to 0 over the run)."""
    critic_lr: float = 3e-4
    """Critic and value learning rate."""
    batch_size: int = 256
    """Transitions per step."""
    weight_temp: float = 3.0
    """Advantage-weight inverse temperature."""
    max_weight: float = 100.0
    """Advantage-weight clip."""
    expectile: float = 0.7
    """Expectile of the value regression."""
    reward_multiplier: float = 1000.0
    """ReturnBasedRewardScaler multiplier."""


@dataclass(frozen=True)
class TD3BCSettings:
    """d3rlpy TD3PlusBCConfig, as in d3rlpy's reproductions/offline/td3_plus_bc.py (module docstring)."""

    actor_lr: float = 3e-4
    """Actor learning rate."""
    critic_lr: float = 3e-4
    """Critic learning rate."""
    batch_size: int = 256
    """Transitions per step."""
    target_smoothing_sigma: float = 0.2
    """Target policy smoothing noise."""
    target_smoothing_clip: float = 0.5
    """Target policy smoothing clip."""
    alpha: float = 2.5
    """BC weight normaliser."""
    update_actor_interval: int = 2
    """Critic steps per actor step."""


@dataclass(frozen=True)
class BEARSettings:
    """d3rlpy BEARConfig, as in d3rlpy's reproductions/offline/bear.py (module docstring)."""

    imitator_hidden: tuple[int, ...] = (750, 750)
    """Hidden layers of the VAE imitator."""
    temp_lr: float = 0.0
    """SAC temperature learning rate (0: fixed)."""
    initial_temperature: float = 1e-20
    """SAC temperature (fixed)."""


def make_algo(d3rlpy, method: str, settings: Any, dataset_name: str, steps: int):
    """The d3rlpy algorithm of `method` ('cql', 'iql', 'td3bc', 'bear') with `settings`, on CPU."""
    s = settings
    if method == "cql":
        enc = d3rlpy.models.VectorEncoderFactory(list(s.hidden))
        quality = dataset_name.removesuffix("-delayed").split("-", 1)[-1]  # 'hopper-medium' -> 'medium'
        weight = s.conservative_weight_medium if quality == "medium" else s.conservative_weight
        cfg = d3rlpy.algos.CQLConfig(
            actor_learning_rate=s.actor_lr, critic_learning_rate=s.critic_lr, temp_learning_rate=s.temp_lr,
            alpha_learning_rate=s.alpha_lr, initial_alpha=s.initial_alpha, actor_encoder_factory=enc,
            critic_encoder_factory=enc, batch_size=s.batch_size, n_action_samples=s.n_action_samples,
            alpha_threshold=s.alpha_threshold, conservative_weight=weight)
    elif method == "iql":
        cfg = d3rlpy.algos.IQLConfig(
            actor_learning_rate=s.actor_lr, critic_learning_rate=s.critic_lr,
            actor_optim_factory=d3rlpy.optimizers.AdamFactory(
                lr_scheduler_factory=d3rlpy.optimizers.CosineAnnealingLRFactory(T_max=steps)),
            batch_size=s.batch_size, weight_temp=s.weight_temp, max_weight=s.max_weight, expectile=s.expectile,
            reward_scaler=d3rlpy.preprocessing.ReturnBasedRewardScaler(multiplier=s.reward_multiplier))
    elif method == "td3bc":
        cfg = d3rlpy.algos.TD3PlusBCConfig(
            actor_learning_rate=s.actor_lr, critic_learning_rate=s.critic_lr, batch_size=s.batch_size,
            target_smoothing_sigma=s.target_smoothing_sigma, target_smoothing_clip=s.target_smoothing_clip,
            alpha=s.alpha, update_actor_interval=s.update_actor_interval,
            observation_scaler=d3rlpy.preprocessing.StandardObservationScaler())
    elif method == "bear":
        cfg = d3rlpy.algos.BEARConfig(
            imitator_encoder_factory=d3rlpy.models.VectorEncoderFactory(list(s.imitator_hidden)),
            temp_learning_rate=s.temp_lr, initial_temperature=s.initial_temperature,
            mmd_kernel="gaussian" if dataset_name.startswith("halfcheetah") else "laplacian")
    else:
        raise ValueError(f"unknown baseline {method!r}")
    return cfg.create(device="cpu:0")


def mdp_dataset(d3rlpy, data: TrajectoryDataset):
    return d3rlpy.dataset.MDPDataset(
        observations=data.observations.astype(np.float32), actions=data.actions.astype(np.float32),
        rewards=data.rewards.astype(np.float32), terminals=data.terminations.astype(np.float32),
        timeouts=data.truncations.astype(np.float32))


def train_baseline(method: str, settings: Any, data: TrajectoryDataset, dataset_name: str, run_dir: Path, seed: int,
                   steps: int, save_every: int, on_chunk: Callable[[int, ActFn], None] | None = None) -> ActFn:
    """Train (or continue, or load) `method` on `data` in `run_dir`; returns its deterministic policy
    (B, S) -> (B, A). `on_chunk(step, policy)` runs after every chunk (learning curves)."""
    d3rlpy = d3rlpy_module()
    run_dir.mkdir(parents=True, exist_ok=True)
    state_path, model_path = run_dir / "progress.json", run_dir / "model.d3"
    done = json.loads(state_path.read_text())["step"] if state_path.exists() else 0
    with _quiet():
        mdp = mdp_dataset(d3rlpy, data)
        if done:  # config (with the fitted scalers), networks and optimisers
            algo = d3rlpy.load_learnable(str(model_path), device="cpu:0")
        else:
            d3rlpy.seed(seed)
            algo = make_algo(d3rlpy, method, settings, dataset_name, steps)

    def act(obs: np.ndarray) -> np.ndarray:
        return np.asarray(algo.predict(np.asarray(obs, np.float32)), np.float32)

    while done < steps:
        n = min(save_every, steps - done)
        d3rlpy.seed(seed + done)
        with _quiet():
            algo.fit(mdp, n_steps=n, n_steps_per_epoch=n, show_progress=False, save_interval=10**9,
                     logger_adapter=d3rlpy.logging.NoopAdapterFactory())
        done += n
        with atomic_path(model_path) as tmp:
            algo.save(str(tmp))
        write_json(state_path, {"step": done, "method": method})
        if on_chunk is not None:
            on_chunk(done, act)
    return act


@contextlib.contextmanager
def _quiet():
    """d3rlpy logs every fit's parameters and epochs to stdout (structlog)."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield

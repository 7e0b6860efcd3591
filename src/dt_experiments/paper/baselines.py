"""The paper's TD baselines from d3rlpy 2.8.0 (the `[baselines]` extra), wrapped, not rewritten.

Settings are d3rlpy's published D4RL settings: its `reproductions/offline/*.py` scripts (github.com/takuseno/d3rlpy):
* CQL  `reproductions/offline/cql.py` at v2.8.0 (commit 3e57c75, "Revert CQL reproduction script"): actor lr
  1e-4, critic lr 3e-4, temperature lr 1e-4, a fixed conservative weight (alpha lr 0, so alpha stays at its initial
  1.0: the CQL authors' own gym setting, Kumar et al. 2020, `min_q_weight` 5 without the Lagrangian), [256, 256,
  256] encoders, batch 256, 10 action samples, conservative weight 10 on `medium` data and 5 otherwise, 500k steps.
  Until 2026-12-06 this wrapper used the Lagrangian variant (alpha lr 3e-4, initial alpha e, threshold 10,
  [256, 256]) that the script held for one day (commit 5209707, 2024-11-02) before that revert; CQL did not learn
  with it here (docs/results/README.md, "CQL"); those cells are in docs/results/extra/cql_lagrangian/, rerun by
  the same command with `--cql.alpha-lr 0.0003 --cql.initial-alpha 2.718281828459045 --cql.hidden 256 256`.
* IQL  `reproductions/offline/iql.py` (commit d324094): actor and critic lr 3e-4, the actor's Adam with cosine
  annealing over the run (T_max = the run's steps; the script's 500k), batch 256, weight temperature 3, max
  weight 100, expectile 0.7, rewards scaled by ReturnBasedRewardScaler(multiplier=1000), 500k steps.
* TD3+BC  `reproductions/offline/td3_plus_bc.py` (commit 9c6b6e9): actor and critic lr 3e-4, batch 256, target
  smoothing sigma 0.2 / clip 0.5, alpha 2.5, actor update every 2 steps, standardised observations, 500k steps.
* BEAR  `reproductions/offline/bear.py` (commit bdd1b3a, written for d3rlpy 0.x, translated to 2.x names): VAE
  imitator [750, 750], temperature lr 0 with initial temperature 1e-20, MMD kernel gaussian on HalfCheetah and
  laplacian elsewhere; everything else d3rlpy's BEARConfig defaults.
* CQL on Atari (DiscreteCQL)  `reproductions/offline/discrete_cql.py` (commit 729ccf5): lr 5e-5, Adam eps 1e-2/32,
  batch 32, alpha 4, quantile-regression Q-function with 200 quantiles, target update every 2,000 steps, pixels
  scaled by 1/255, rewards clipped to [-1, 1], d3rlpy's Nature-DQN convolutional encoder on 4 stacked frames.
  Frames are stacked as the env and the DT's sampler stack them (the episode's first frame repeated in front,
  data/frames.py), not zero-padded as d3rlpy's FrameStackTransitionPicker does. The script acts epsilon-greedy
  (0.001) at evaluation, as CQL does here (`eval_epsilon`). The target-copy interval is capped so that a short run
  copies the target at least `min_target_updates` times. The env presses no FIRE at reset for any method (as the
  paper's Dopamine-based evaluation): each policy must choose FIRE itself (envs/atari.py).
The number of steps is the protocol's (`ProtocolConfig.baseline_steps`, `AtariProtocol.baseline_steps`), the
seed the cell's.

Training is chunked (`save_every` steps): after each chunk the networks and optimisers are saved
(`algo.save`: config with the fitted scalers, networks, optimisers; atomically), and `progress.json` records the
step reached and the training seconds so far, so a killed cell continues from its last chunk (and its time counts).
The continuation is not bit-exact (d3rlpy's minibatch sampling restarts from `seed + step`).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from decision_transformer.common.atomic import atomic_path, write_json
from decision_transformer.common.metrics import MetricsLogger, truncate_metrics
from decision_transformer.common.seeding import derive_seed
from decision_transformer.data.trajectories import TrajectoryDataset

from ..common import BaselinesUnavailable, d3rlpy_device, d3rlpy_module  # noqa: F401  (re-exported for cells.py)
from .d3rlpy_logs import LOG_EVERY, MetricsAdapterFactory, q_diagnostics, q_probe

ActFn = Callable[[np.ndarray], np.ndarray]




@dataclass(frozen=True)
class CQLSettings:
    """d3rlpy CQLConfig, as in d3rlpy's reproductions/offline/cql.py at v2.8.0 (module docstring)."""

    actor_lr: float = 1e-4
    """Actor learning rate."""
    critic_lr: float = 3e-4
    """Critic learning rate."""
    temp_lr: float = 1e-4
    """SAC temperature learning rate."""
    alpha_lr: float = 0.0
    """Lagrangian alpha learning rate (0: alpha fixed at initial_alpha, the published gym setting)."""
    initial_alpha: float = 1.0
    """Initial (with alpha_lr 0: the fixed) Lagrangian alpha."""
    hidden: tuple[int, ...] = (256, 256, 256)
    """Hidden layers of actor and critic encoders."""
    batch_size: int = 256
    """Transitions per step."""
    n_action_samples: int = 10
    """Actions sampled for the conservative log-sum-exp."""
    alpha_threshold: float = 10.0
    """Lagrangian threshold (no effect on the gradients while alpha is fixed)."""
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


@dataclass(frozen=True)
class DiscreteCQLSettings:
    """d3rlpy DiscreteCQLConfig for the Atari datasets, as in d3rlpy's reproductions/offline/discrete_cql.py."""

    learning_rate: float = 5e-5
    """Adam learning rate."""
    adam_eps: float = 1e-2 / 32
    """Adam epsilon."""
    batch_size: int = 32
    """Transitions per step."""
    alpha: float = 4.0
    """Weight of the conservative loss."""
    n_quantiles: int = 200
    """Quantiles of the QR Q-function."""
    target_update_interval: int = 2000
    """Steps between target-network copies (at most: see min_target_updates)."""
    min_target_updates: int = 20
    """The target is copied at least this many times per run: the interval used is min(target_update_interval,
    steps // min_target_updates). d3rlpy copies when step % interval == 0, so an interval as long as the run (the
    cpu protocol's 2,000 steps) copied it once, at step 0, and never while the Q-function learned."""
    eval_epsilon: float = 0.001
    """Evaluation acts epsilon-greedily with this epsilon (d3rlpy's Atari script), from a generator seeded with
    the evaluation's seed."""
    reward_clip: float = 1.0
    """Rewards clipped to [-reward_clip, reward_clip] (ClipRewardScaler)."""
    frame_stack: int = 4
    """Frames per observation."""


def make_algo(d3rlpy, method: str, settings: Any, dataset_name: str, steps: int, device: str = "cpu"):
    """The d3rlpy algorithm of `method` ('cql', 'iql', 'td3bc', 'bear'; `DiscreteCQLSettings`: DiscreteCQL) with
    `settings`, on `device`."""
    s = settings
    if isinstance(s, DiscreteCQLSettings):
        return d3rlpy.algos.DiscreteCQLConfig(
            learning_rate=s.learning_rate, optim_factory=d3rlpy.optimizers.AdamFactory(eps=s.adam_eps),
            batch_size=s.batch_size, alpha=s.alpha,
            q_func_factory=d3rlpy.models.QRQFunctionFactory(n_quantiles=s.n_quantiles),
            observation_scaler=d3rlpy.preprocessing.PixelObservationScaler(),
            target_update_interval=min(s.target_update_interval, max(1, steps // s.min_target_updates)),
            reward_scaler=d3rlpy.preprocessing.ClipRewardScaler(-s.reward_clip, s.reward_clip)
        ).create(device=d3rlpy_device(device))
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
    return cfg.create(device=d3rlpy_device(device))


class FirstFrameStack:
    """A d3rlpy transition picker for episodes of single frames (T, H, W): each observation is the step's last
    `stack` frames, (stack, H, W), the episode's first frame repeated in front (data/frames.py's convention, which
    the env's observations follow; d3rlpy's own picker pads with zeros)."""

    def __init__(self, stack: int):
        self.stack = stack

    def _frames(self, frames: np.ndarray, index: int) -> np.ndarray:
        from decision_transformer.data.frames import stack_rows

        return np.asarray(frames[stack_rows(index, 0, self.stack)])  # (stack, H, W)

    def __call__(self, episode, index: int):
        from d3rlpy.dataset import Transition

        terminal = bool(episode.terminated) and index == episode.size() - 1
        obs = self._frames(episode.observations, index)
        return Transition(
            observation=obs, action=episode.actions[index], reward=episode.rewards[index],
            next_observation=np.zeros_like(obs) if terminal else self._frames(episode.observations, index + 1),
            next_action=np.zeros_like(episode.actions[index]) if terminal else episode.actions[index + 1],
            terminal=float(terminal), interval=1, rewards_to_go=episode.rewards[index:])


def mdp_dataset(d3rlpy, data: TrajectoryDataset, settings: Any = None):
    """d3rlpy's MDPDataset of `data`: float vectors, or (settings with a `frame_stack`: DiscreteCQL's, the discrete
    peer DT's) single uint8 frames with discrete actions, stacked by `FirstFrameStack` when a transition is sampled
    and by the peer's `FirstFrameTrajectorySlicer` when a window is."""
    from .peer_dt import FirstFrameTrajectorySlicer

    ends = dict(rewards=data.rewards.astype(np.float32), terminals=data.terminations.astype(np.float32),
                timeouts=data.truncations.astype(np.float32))
    stack = getattr(settings, "frame_stack", 0)
    if stack:
        actions = np.asarray(data.actions).reshape(-1).astype(np.int64)
        return d3rlpy.dataset.MDPDataset(
            observations=np.asarray(data.observations), actions=actions, **ends,
            transition_picker=FirstFrameStack(stack), trajectory_slicer=FirstFrameTrajectorySlicer(stack),
            action_space=d3rlpy.constants.ActionSpace.DISCRETE, action_size=int(actions.max()) + 1)
    return d3rlpy.dataset.MDPDataset(observations=data.observations.astype(np.float32),
                                     actions=data.actions.astype(np.float32), **ends)


def train_baseline(method: str, settings: Any, data: TrajectoryDataset, dataset_name: str, run_dir: Path, seed: int,
                   steps: int, save_every: int, on_chunk: Callable[[int, Any], None] | None = None,
                   device: str = "cpu", make: Callable[[Any, Any], Any] | None = None) -> Any:
    """Train (or continue, or load) `method` on `data` in `run_dir`; returns its policy: for the TD baselines a
    deterministic (B, *O) -> (B, A) function ((B,) discrete actions for DiscreteCQL), for d3rlpy's DT a
    `PeerDTPolicy`. `make(d3rlpy, mdp)` builds the algorithm (default: `make_algo` of `method`). `on_chunk(step,
    policy)` runs after every chunk (learning curves). d3rlpy's training metrics (loss terms; CQL's conservative
    loss and alpha), averaged over every `LOG_EVERY` steps, go to run_dir/metrics.jsonl and run_dir/tb, and after
    each chunk a Q-learner's mean Q(s, a) on a fixed sample of the data beside the data's discounted return-to-go
    there (`q_diagnostics`)."""
    from .peer_dt import D3rlpyDiscreteDTSettings, D3rlpyDTSettings, PeerDTPolicy

    d3rlpy = d3rlpy_module()
    run_dir.mkdir(parents=True, exist_ok=True)
    state_path, model_path = run_dir / "progress.json", run_dir / "model.d3"
    progress = json.loads(state_path.read_text()) if state_path.exists() else {}
    done, seconds = progress.get("step", 0), progress.get("train_seconds", 0.0)
    with _quiet():
        mdp = mdp_dataset(d3rlpy, data, settings)
        if done:  # config (with the fitted scalers), networks and optimisers (and their lr schedules)
            algo = d3rlpy.load_learnable(str(model_path), device=d3rlpy_device(device))
        else:
            d3rlpy.seed(seed)
            algo = (make or (lambda d, _: make_algo(d, method, settings, dataset_name, steps, device)))(d3rlpy, mdp)

    def act(obs: np.ndarray) -> np.ndarray:
        actions = algo.predict(np.asarray(obs, np.float32))
        return np.asarray(actions, np.int64 if isinstance(settings, DiscreteCQLSettings) else np.float32)

    peer = isinstance(settings, (D3rlpyDTSettings, D3rlpyDiscreteDTSettings))
    policy = PeerDTPolicy(algo, discrete=isinstance(settings, D3rlpyDiscreteDTSettings)) if peer else act
    if done >= steps:
        return policy
    truncate_metrics(run_dir, done)  # a killed sitting may have logged past its last chunk
    log = MetricsLogger(run_dir)
    probe = None  # made after the first chunk, once d3rlpy has fitted the algorithm's scalers
    try:
        while done < steps:
            n = min(save_every, steps - done)
            t0 = time.perf_counter()
            d3rlpy.seed(derive_seed(seed, "d3rlpy-resume", done))
            with _quiet():
                algo.fit(mdp, n_steps=n, n_steps_per_epoch=math.gcd(n, LOG_EVERY), show_progress=False,
                         save_interval=10**9, logger_adapter=MetricsAdapterFactory(log, done))
            done += n
            with atomic_path(model_path) as tmp:
                algo.save(str(tmp))
            seconds += time.perf_counter() - t0
            write_json(state_path, {"step": done, "method": method, "train_seconds": round(seconds, 2)})
            if hasattr(algo, "predict_value"):
                probe = probe or q_probe(data, seed, algo, settings)
                log.log(done, q_diagnostics(algo, *probe))
            if on_chunk is not None:
                on_chunk(done, policy)
    finally:
        log.close()
    return policy


def recorded_train_seconds(run_dir: Path) -> float | None:
    """Training wall seconds that train_baseline recorded in run_dir, summed over sittings up to the last chunk
    (None for a run saved before it recorded them)."""
    path = run_dir / "progress.json"
    return json.loads(path.read_text()).get("train_seconds") if path.exists() else None


@contextlib.contextmanager
def _quiet():
    """d3rlpy logs every fit's parameters and epochs to stdout (structlog)."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield

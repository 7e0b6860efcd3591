"""What a d3rlpy training run logs besides its checkpoints: its own training metrics (loss terms; CQL's conservative
loss and alpha), averaged over blocks of LOG_EVERY steps, and a Q-learner's Q(s, a) on a fixed sample of the data
beside the data's discounted return-to-go there. Written to the run's metrics.jsonl and TensorBoard
(decision_transformer.common.metrics) by baselines.train_baseline."""

from __future__ import annotations

from typing import Any

import numpy as np

from decision_transformer.common.metrics import MetricsLogger
from decision_transformer.data.trajectories import TrajectoryDataset

LOG_EVERY = 500
"""d3rlpy's training metrics are averaged over blocks of this many steps (its epochs; one chunk if shorter)."""
Q_PROBE_SIZE = 2048
"""Transitions in the fixed sample that q_diagnostics evaluates."""


def discounted_return_to_go(rewards: np.ndarray, episode_ends: np.ndarray, gamma: float) -> np.ndarray:
    """(N,) float64: at each step, the discounted sum of its episode's rewards from there to the episode's end
    (`episode_ends` exclusive, in order), the value a Q-learner's Q(s, a) estimates for the behaviour policy."""
    mc, start = np.empty(len(rewards), np.float64), 0
    for end in episode_ends:
        g = 0.0
        for t in range(int(end) - 1, start - 1, -1):
            g = rewards[t] + gamma * g
            mc[t] = g
        start = int(end)
    return mc


def q_probe(data: TrajectoryDataset, seed: int, algo: Any, settings: Any,
            size: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A fixed sample (drawn with the run's seed) of the data: (observations as the learner sees them, actions,
    discounted return-to-go with the learner's gamma from each step to its episode's end, on rewards as the
    learner's reward scaler sees them: clipped on Atari). `size` transitions (default Q_PROBE_SIZE; pixel data: 256
    frame stacks, FirstFrameStack's rule), or all of them if the data has fewer."""
    from decision_transformer.data.frames import episode_start_of_rows, stack_rows

    from .baselines import DiscreteCQLSettings  # (baselines imports this module)

    pixels = isinstance(settings, DiscreteCQLSettings)
    rng = np.random.default_rng(seed)
    size = size or (256 if pixels else Q_PROBE_SIZE)
    idx = np.sort(rng.choice(data.num_steps, size=min(size, data.num_steps), replace=False))
    rewards = np.asarray(data.rewards, np.float64)
    scaler = algo.config.reward_scaler
    if pixels:
        rewards = np.clip(rewards, -settings.reward_clip, settings.reward_clip)
    elif scaler is not None and hasattr(scaler, "transform_numpy") and scaler.built:
        rewards = np.asarray(scaler.transform_numpy(rewards.astype(np.float32)), np.float64)
    mc = discounted_return_to_go(rewards, data.episode_ends, algo.config.gamma)
    if pixels:
        starts = episode_start_of_rows(data.episode_starts, data.num_steps)[idx]
        obs = np.asarray(data.observations)[stack_rows(idx, starts, settings.frame_stack)]  # (n, stack, H, W)
        actions = np.asarray(data.actions).reshape(-1)[idx].astype(np.int64)
    else:
        obs, actions = data.observations[idx].astype(np.float32), data.actions[idx].astype(np.float32)
    return obs, actions, mc[idx]


def q_diagnostics(algo: Any, obs: np.ndarray, actions: np.ndarray, mc_return: np.ndarray) -> dict[str, float]:
    """A Q-learner's mean Q(s, a) over the probe beside the data's discounted return-to-go at the same steps (the
    value the behaviour policy got; a lower bound where a time limit cut the episode). A conservative Q sits at or
    below it; far above is over-estimation, far below an over-strong penalty."""
    from .baselines import _quiet

    with _quiet():
        q = np.asarray(algo.predict_value(obs, actions), np.float64)
    return {"q/data_mean": float(q.mean()), "q/data_std": float(q.std()), "q/mc_return_mean": float(mc_return.mean())}


class MetricsAdapterFactory:
    """d3rlpy logger adapter factory writing each epoch's mean metrics to our MetricsLogger, steps offset by the
    steps done before this fit (d3rlpy counts from 0 in every fit)."""

    def __init__(self, log: MetricsLogger, offset: int):
        self.log, self.offset = log, offset

    def create(self, algo, experiment_name: str, n_steps_per_epoch: int) -> "_MetricsAdapter":
        return _MetricsAdapter(self.log, self.offset)


class _MetricsAdapter:
    def __init__(self, log: MetricsLogger, offset: int):
        self.log, self.offset, self.row = log, offset, {}

    def write_params(self, params) -> None:
        pass

    def before_write_metric(self, epoch: int, step: int) -> None:
        self.row = {}

    def write_metric(self, epoch: int, step: int, name: str, value: float) -> None:
        if not name.startswith("time_"):
            self.row[f"train/{name}"] = float(value)

    def after_write_metric(self, epoch: int, step: int) -> None:
        if self.row:
            self.log.log(self.offset + step, self.row)

    def save_model(self, epoch: int, algo) -> None:
        pass

    def watch_model(self, epoch: int, step: int) -> None:
        pass

    def close(self) -> None:
        pass



"""Discrete CQL baseline (Kumar et al. 2020) through d3rlpy's maintained `DiscreteCQL` (the `baselines` extra).

CQL learns a Q-function of the current observation only, as the paper's CQL baseline does; on
Key-to-Door that observation does not show whether the key is held once phase 1 is over.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np

from decision_transformer.common.checks import check_number, check_positive_ints

if TYPE_CHECKING:  # (an annotation only: importing the data package loads torch)
    from decision_transformer.data.trajectories import TrajectoryDataset


@dataclass(frozen=True)
class CQLConfig:
    """d3rlpy DiscreteCQL settings. These are not d3rlpy's defaults (batch 32, lr 6.25e-5, target copies every
    8000 steps: its Atari settings); each value below is this project's, and the bench docs say how chosen."""

    steps: int = 5000
    """Gradient steps."""
    batch_size: int = 64
    """Transitions per gradient step."""
    lr: float = 3e-4
    """Adam learning rate of the Q-network."""
    alpha: float = 1.0
    """Weight of the conservative (CQL) regulariser."""
    gamma: float = 0.99
    """Discount factor."""
    target_update_interval: int = 500
    """Steps between target-network copies."""
    n_steps: int = 1
    """n-step TD targets (d3rlpy's MultiStepTransitionPicker) when > 1: a reward 13+ steps after the key
    reaches the key's Q-value in fewer target copies."""
    seed: int = 0
    """Seeds d3rlpy (torch and numpy)."""

    def __post_init__(self) -> None:
        check_positive_ints(self, "steps", "batch_size", "target_update_interval", "n_steps")
        check_number(self, "lr", 0.0, low_open=True)
        check_number(self, "alpha", 0.0)
        check_number(self, "gamma", 0.0, 1.0, low_open=True)
        if self.seed < 0:
            raise ValueError(f"CQLConfig.seed={self.seed} must be >= 0")


def train_discrete_cql(dataset: TrajectoryDataset, cfg: CQLConfig, progress: bool = False,
                       callback: Callable[[int, Callable[[np.ndarray], np.ndarray]], None] | None = None,
                       callback_every: int = 0) -> Callable[[np.ndarray], np.ndarray]:
    """Train DiscreteCQL on `dataset`; returns a greedy policy: (B, S) observations -> (B,) actions.
    `callback(step, policy)` runs every `callback_every` steps (a learning curve; training continues after)."""
    if not dataset.discrete_actions:
        raise ValueError(f"{dataset.source}: DiscreteCQL needs discrete actions (field 'actions' is float)")
    from .common import d3rlpy_module  # (here: .common loads the trainer and torch; CQLConfig must not)

    d3rlpy = d3rlpy_module()
    d3rlpy.seed(cfg.seed)
    picker = d3rlpy.dataset.MultiStepTransitionPicker(cfg.n_steps, cfg.gamma) if cfg.n_steps > 1 else None
    mdp = d3rlpy.dataset.MDPDataset(
        observations=dataset.observations.astype(np.float32),
        actions=dataset.actions.astype(np.int64),
        rewards=dataset.rewards.astype(np.float32),
        terminals=dataset.terminations.astype(np.float32),
        timeouts=dataset.truncations.astype(np.float32),
        action_space=d3rlpy.constants.ActionSpace.DISCRETE,
        action_size=int(dataset.act_dim),
        transition_picker=picker,
    )
    algo = d3rlpy.algos.DiscreteCQLConfig(
        batch_size=cfg.batch_size, learning_rate=cfg.lr, alpha=cfg.alpha, gamma=cfg.gamma,
        target_update_interval=cfg.target_update_interval,
    ).create(device="cpu:0")
    def act(obs: np.ndarray) -> np.ndarray:
        return np.asarray(algo.predict(np.asarray(obs, np.float32)), np.int64)

    done = 0
    chunk = callback_every if callback is not None and callback_every else cfg.steps
    while done < cfg.steps:
        n = min(chunk, cfg.steps - done)
        algo.fit(mdp, n_steps=n, n_steps_per_epoch=n, show_progress=progress, save_interval=10**9,
                 logger_adapter=d3rlpy.logging.NoopAdapterFactory())  # a later fit continues the same networks
        done += n
        if callback is not None and callback_every and done % callback_every == 0:
            callback(done, act)
    return act

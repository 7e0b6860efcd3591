"""`pendulum-mixed`: a small mixed-quality dataset made in seconds, for `dt demo` and the tests.

InvertedPendulum-v5 (MuJoCo, reward 1 per step the pole stays up, at most 1000 steps). Behaviour: a
linear balancing controller that, at a "give-up" step drawn uniformly per episode, switches to a constant
push and drops the pole within a few steps; 10% of episodes act uniformly at random from the start.
Episode returns therefore spread over 0..1000, and a return-conditioned policy can be asked for any of
them, while behaviour cloning mostly copies the controller.
"""

from __future__ import annotations

import numpy as np

from .registry import BuiltinDataset, register_builtin
from .trajectories import TrajectoryDataset

ENV_ID = "InvertedPendulum-v5"
GAINS = np.array([1.0, 10.0, 1.0, 1.0])  # action = GAINS @ obs balances the pole indefinitely
NUM_EPISODES = 60


def make_pendulum_mixed(seed: int = 0, num_episodes: int = NUM_EPISODES) -> TrajectoryDataset:
    from ..common.envs_util import make_env
    from ..runner import Recorder, run_episodes
    from ..common.seeding import derive_seed

    env, recorder = make_env(ENV_ID), Recorder()
    agent = _Behaviour(np.random.default_rng(seed), env.action_space.low, env.action_space.high)
    run_episodes(agent, [lambda: env], num_episodes,
                 reset_seed=lambda i, e: derive_seed(seed, "pendulum-episode", e), on_step=recorder)
    return TrajectoryDataset.from_episodes(recorder.episodes, reward_scale=1000.0, env_id=ENV_ID,
                                           name="pendulum-mixed", source=f"pendulum-mixed(seed={seed})")


class _Behaviour:
    """The behaviour of the module docstring as the runner's agent (one env): each episode draws whether it is
    random, its give-up step and its push at `begin`; each step draws its noise at `act`."""

    def __init__(self, rng: np.random.Generator, low: np.ndarray, high: np.ndarray):
        self.rng, self.low, self.high = rng, low, high

    def begin(self, rows, obs, infos) -> None:
        self.random_episode = self.rng.random() < 0.1
        self.give_up = int(self.rng.integers(0, 1300))  # about a quarter of episodes never give up
        self.push = self.rng.choice([-1.0, 1.0]) * self.high
        self.t = 0

    def act(self, rows, obs) -> np.ndarray:
        if self.random_episode:
            action = self.rng.uniform(self.low, self.high)
        elif self.t >= self.give_up:
            action = self.push
        else:
            action = np.clip(GAINS @ obs[0] + self.rng.normal(0, 0.1), self.low, self.high).reshape(self.low.shape)
        self.t += 1
        return action[None].astype(np.float32)

    def observe(self, rows, obs, rewards) -> None:
        pass

    def finish(self, row) -> dict:
        return {}


register_builtin(BuiltinDataset(
    name="pendulum-mixed",
    env_id=ENV_ID,
    make=make_pendulum_mixed,
    description="InvertedPendulum-v5, controller that gives up at a random step + 10% random episodes (~39k steps)",
    # Measured with `dt eval`-style rollouts, 100 episodes each, 2026-11-24, 2-core CPU dev box:
    # uniform random actions average 5.2; the controller (GAINS) always reaches the 1000-step limit.
    ref_min_return=5.2,
    ref_max_return=1000.0,
    ref_label="suite:pendulum-mixed",
    ref_source="measured here: the uniform random policy's mean return, and the 1,000-step time limit (a perfect balance)",
))

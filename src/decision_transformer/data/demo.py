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
from .trajectories import Episode, TrajectoryDataset

ENV_ID = "InvertedPendulum-v5"
GAINS = np.array([1.0, 10.0, 1.0, 1.0])  # action = GAINS @ obs balances the pole indefinitely
NUM_EPISODES = 60


def make_pendulum_mixed(seed: int = 0, num_episodes: int = NUM_EPISODES) -> TrajectoryDataset:
    import gymnasium as gym

    env = gym.make(ENV_ID)
    rng = np.random.default_rng(seed)
    low, high = env.action_space.low, env.action_space.high
    episodes = []
    for e in range(num_episodes):
        random_episode = rng.random() < 0.1
        give_up = int(rng.integers(0, 1300))  # about a quarter of episodes never give up
        push = rng.choice([-1.0, 1.0]) * high
        obs, _ = env.reset(seed=seed * 100_000 + e)
        rows: dict[str, list] = {k: [] for k in ("observations", "actions", "rewards", "terminations", "truncations")}
        while True:
            if random_episode:
                action = rng.uniform(low, high)
            elif len(rows["rewards"]) >= give_up:
                action = push
            else:
                action = np.clip(GAINS @ obs + rng.normal(0, 0.1), low, high).reshape(low.shape)
            next_obs, reward, terminated, truncated, _ = env.step(action.astype(np.float32))
            for k, v in zip(rows, (obs, action, reward, terminated, truncated)):
                rows[k].append(v)
            obs = next_obs
            if terminated or truncated:
                break
        episodes.append(Episode(
            observations=np.asarray(rows["observations"], np.float32),
            actions=np.asarray(rows["actions"], np.float32).reshape(-1, low.shape[0]),
            rewards=np.asarray(rows["rewards"], np.float32),
            terminations=np.asarray(rows["terminations"], bool),
            truncations=np.asarray(rows["truncations"], bool),
        ))
    env.close()
    return TrajectoryDataset.from_episodes(episodes, reward_scale=1000.0, env_id=ENV_ID, name="pendulum-mixed",
                                           source=f"pendulum-mixed(seed={seed})")


register_builtin(BuiltinDataset(
    name="pendulum-mixed",
    env_id=ENV_ID,
    make=make_pendulum_mixed,
    description="InvertedPendulum-v5, controller that gives up at a random step + 10% random episodes (~30k steps)",
    # Measured with `dt eval`-style rollouts, 100 episodes each, 2026-11-24, 2-core CPU dev box:
    # uniform random actions average 5.2; the controller (GAINS) always reaches the 1000-step limit.
    ref_min_return=5.2,
    ref_max_return=1000.0,
))

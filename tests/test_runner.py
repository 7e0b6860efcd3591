"""The one runner's modes and hooks (runner.py) and the one table of derived seeds (seeding.py), on a toy env."""

import gymnasium as gym
import numpy as np
import pytest

from decision_transformer.runner import FunctionAgent, Recorder, run_episodes
from decision_transformer.common.seeding import PURPOSES, QUALITY_OFFSETS, derive_seed


class Toy(gym.Env):
    """obs = (reset seed or -1, t); an episode lasts 1 + seed % 4 steps (unseeded: 3); reward = the action."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (2,), np.float64)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    steps = 0  # over all instances

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.s, self.t = (-1 if seed is None else seed), 0
        self.length = 3 if seed is None else 1 + seed % 4
        return np.array([self.s, 0.0]), {"s": self.s}

    def step(self, action):
        Toy.steps += 1
        self.t += 1
        return np.array([self.s, float(self.t)]), float(action[0]), self.t >= self.length, False, {}


class Log(FunctionAgent):
    """Acts 0.5 and logs which envs begin an episode with which reset seed."""

    def __init__(self):
        super().__init__(lambda obs: np.full((len(obs), 1), 0.5, np.float32))
        self.begun: list[tuple[int, int]] = []

    def begin(self, rows, obs, infos):
        self.begun += [(int(r), int(info["s"])) for r, info in zip(rows, infos)]


@pytest.fixture(autouse=True)
def count_steps():
    Toy.steps = 0


def test_episode_mode_seeds_split_and_held_envs_are_not_stepped():
    eps = run_episodes(Log(), [Toy] * 3, 7, seed=10)
    assert eps.seeds == list(range(10, 17))  # episode e: seed + e
    assert eps.lengths == [1 + s % 4 for s in eps.seeds]
    assert eps.returns == [0.5 * n for n in eps.lengths] and all(eps.terminated)
    assert Toy.steps == sum(eps.lengths)  # envs whose share is done wait; they are not stepped


def test_queue_mode_gives_the_next_episode_to_the_env_that_finishes_first():
    seeds = [0, 3, 4, 8]  # lengths 1, 4, 1, 1
    agent = Log()
    eps = run_episodes(agent, [Toy] * 2, 4, queue=True, reset_seed=lambda i, e: seeds[e])
    assert agent.begun == [(0, 0), (1, 3), (0, 4), (0, 8)]
    assert eps.seeds == seeds and eps.lengths == [1, 4, 1, 1]
    shares = Log()
    run_episodes(shares, [Toy] * 2, 4, reset_seed=lambda i, e: seeds[e])  # fixed shares: env 0 runs 0, 1
    assert shares.begun == [(0, 0), (1, 4), (0, 3), (1, 8)]


def test_step_budget_chunks_and_recorder():
    rows_per_step: list[int] = []
    recorder = Recorder()

    def on_step(rows, obs, actions, rewards, terminated, truncated):
        rows_per_step.append(len(rows))
        recorder(rows, obs, actions, rewards, terminated, truncated)

    eps = run_episodes(Log(), [Toy] * 3, num_steps=[4, 5], on_step=on_step,
                       reset_seed=lambda i, e: 3 if e < 3 else None)  # 4-step episodes, then unseeded (3 steps)
    assert rows_per_step == [3, 1, 3, 2]  # no vector step crosses the end of the first 4 steps
    assert Toy.steps == 9 == sum(eps.lengths)
    assert eps.lengths == [4, 3, 2] and eps.terminated == [True, False, False]  # the budget cut envs 1 and 2
    assert eps.seeds == [3, 3, 3]
    done, all_eps = recorder.episodes, recorder.cut()
    assert len(done) == 1 and [len(e) for e in all_eps] == [4, 3, 2]
    for ep in all_eps:  # observations are the ones acted on: t = 0, 1, ... even across a held step
        np.testing.assert_array_equal(ep.observations[:, 1], np.arange(len(ep)))
        assert ep.observations.dtype == ep.actions.dtype == np.float32 and (ep.actions == 0.5).all()
    assert done[0].terminations[-1] and not all_eps[1].terminations.any()


def test_unseeded_resets_and_episode_order():
    eps = run_episodes(Log(), [Toy] * 2, 5, queue=True, reset_seed=lambda i, e: 0 if e == 0 else None)
    assert eps.seeds == [0, None, None, None, None] and eps.lengths == [1, 3, 3, 3, 3]


def test_run_episodes_checks_its_mode():
    with pytest.raises(ValueError):
        run_episodes(Log(), [Toy], 2, num_steps=3)
    with pytest.raises(ValueError):
        run_episodes(Log(), [Toy])
    with pytest.raises(ValueError):
        run_episodes(Log(), [Toy], num_steps=[3, 0])


def test_derive_seed_keeps_every_published_rule():
    assert derive_seed(7, "episode", 3) == 10
    assert derive_seed(2, "train-eval") == 10_002
    assert derive_seed(2, "paper-eval") == 3_000_000
    assert derive_seed(4, "walk-eval") == 1_000_004
    assert derive_seed(25_000, "learner-eval", "sampled") == 10_025
    assert derive_seed(25_999, "learner-eval", "mean") == 20_025
    assert derive_seed(5, "learner-sitting", 2) == 2005
    assert derive_seed(5, "d3rlpy-resume", 300) == 305
    assert [derive_seed(1, "suite-quality", q) for q in QUALITY_OFFSETS] == [1, 101, 201, 301, 1]
    assert derive_seed(3, "rollout-env", 7) == 3007
    assert derive_seed(2, "pendulum-episode", 5) == 200_005
    assert derive_seed(2, "atari-episode", 5) == 2_000_005
    assert derive_seed(0, "graph", 12) == 12 and derive_seed(3, "graph", 1) == 3001
    assert derive_seed(np.int64(1), "episode", np.int64(2)) == 3
    assert derive_seed(7, "target-selection") == 500_007
    assert set(PURPOSES) == {"episode", "train-eval", "paper-eval", "walk-eval", "learner-eval", "learner-sitting",
                             "d3rlpy-resume", "suite-quality", "rollout-env", "pendulum-episode", "atari-episode",
                             "graph", "target-selection"}


@pytest.mark.parametrize("purpose", [(), ("no-such-purpose",), (3,), ("episode",), ("episode", 1, 2),
                                     ("episode", 1.5), ("learner-eval", "greedy"), ("suite-quality", "bad")])
def test_derive_seed_refuses_unknown_purposes(purpose):
    with pytest.raises(ValueError):
        derive_seed(0, *purpose)


def test_the_suite_config_records_the_quality_offsets():
    from dt_experiments.suite.datasets import suite_config

    assert suite_config()["generation"]["seed_offsets"] == QUALITY_OFFSETS

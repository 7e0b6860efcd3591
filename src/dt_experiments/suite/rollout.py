"""Batched, deterministic rollouts of a suite behaviour policy, through the one runner (`runner.py`): a batch of
Gymnasium envs stepped in lockstep, the policy evaluated once per step for the whole batch.

Determinism: env `i` of a rollout is reset once with seed `derive_seed(seed, "rollout-env", i)` = `seed * 1000 + i`
(later episodes of that env continue its own RNG), and exploration noise / random actions come from
`numpy.random.default_rng(seed)`, drawn for the whole batch each step (envs that finished keep their last
observation in it). Same seed, same arguments -> identical episodes on the same platform.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from decision_transformer.data.trajectories import Episode
from decision_transformer.common.envs_util import make_env
from decision_transformer.runner import Recorder, run_episodes
from decision_transformer.common.seeding import derive_seed

ActFn = Callable[[np.ndarray, np.random.Generator], np.ndarray]
"""(num_envs, obs_dim) float32 observations, the rollout's generator -> (num_envs, act_dim) actions (cast to the
action space's float32)."""


def policy_act_fn(policy, stochastic: bool) -> ActFn:
    """An `ActFn` for a `NumpyPolicy`: Gaussian samples (training-time exploration) or the mean action."""
    if stochastic:
        return lambda obs, rng: policy.act(obs, rng)
    return lambda obs, rng: policy.act(obs, None)


def random_act_fn(action_space) -> ActFn:
    """Uniform random actions in the box."""
    low, high = action_space.low.astype(np.float64), action_space.high.astype(np.float64)
    return lambda obs, rng: rng.uniform(low, high, size=(len(obs), len(low))).astype(np.float32)


def rollout(
    env_id: str,
    act_fn: ActFn | list[tuple[ActFn, int]],
    *,
    seed: int,
    num_envs: int = 16,
    num_steps: int | None = None,
    num_episodes: int | None = None,
    progress: str | None = None,
) -> list[Episode]:
    """Collect exactly `num_steps` transitions (episodes still running at the end are cut and marked truncated),
    or exactly `num_episodes` whole episodes (an env that finishes takes the next one). Episodes are returned in
    the order they finished (ties broken by env index); cut episodes come last.

    `act_fn` may be a schedule `[(act_fn, steps), ...]` (step mode only, `num_steps` = the total): the envs keep
    running across segments, so an episode can span a policy change, as in on-policy training.
    """
    schedule, num_steps = _check_mode(act_fn, num_steps, num_episodes)
    if num_episodes is not None:
        num_envs = max(1, min(num_envs, num_episodes))
    agent = _BatchAgent(schedule or [(act_fn, 0)], num_envs, np.random.default_rng(seed))
    recorder = Recorder()
    run_episodes(agent, [lambda: make_env(env_id)] * num_envs, num_episodes, progress=progress or False,
                 num_steps=[n for _, n in schedule] if schedule else num_steps, queue=True, on_step=recorder,
                 reset_seed=lambda i, e: derive_seed(seed, "rollout-env", i) if e < num_envs else None)
    done = [_flags(ep, cut=False) for ep in recorder.episodes]
    return done + [_flags(ep, cut=True) for ep in recorder.cut()[len(done):]]


class _BatchAgent:
    """The runner's agent for an `ActFn` (or a schedule of them): keeps every env's current observation and calls
    the function on the whole batch once per step, whichever envs step."""

    def __init__(self, schedule: list[tuple[ActFn, int]], num_envs: int, rng: np.random.Generator):
        self.schedule, self.rng, self.num_envs = schedule, rng, num_envs
        self.obs: np.ndarray | None = None
        self.taken = 0  # transitions so far

    def begin(self, rows, obs, infos) -> None:
        if self.obs is None:
            self.obs = np.zeros((self.num_envs, *obs.shape[1:]), np.float32)
        self.obs[rows] = obs

    def act(self, rows, obs) -> np.ndarray:
        fn = _current(self.schedule, self.taken)
        self.taken += len(rows)
        return fn(self.obs, self.rng)[rows]

    def observe(self, rows, obs, rewards) -> None:
        self.obs[rows] = obs

    def finish(self, row) -> dict:
        return {}


def _flags(ep: Episode, cut: bool) -> Episode:
    """A suite episode's flags: truncated only if not terminated; an episode cut by the budget ends truncated."""
    truncations = ep.truncations & ~ep.terminations
    truncations[-1] |= cut
    return dataclasses.replace(ep, truncations=truncations)


def _check_mode(act_fn, num_steps: int | None, num_episodes: int | None):
    """(the schedule or None, num_steps) after checking that the arguments name exactly one mode."""
    if isinstance(act_fn, list):
        if num_episodes is not None:
            raise ValueError("a schedule of policies needs num_steps mode")
        schedule = [(fn, int(n)) for fn, n in act_fn if int(n) > 0]
        total = sum(n for _, n in schedule)
        if num_steps is None:
            num_steps = total
        elif num_steps != total:
            raise ValueError(f"num_steps={num_steps} but the schedule has {total} steps")
    else:
        schedule = None
    if (num_steps is None) == (num_episodes is None):
        raise ValueError("give exactly one of num_steps or num_episodes")
    if num_steps is not None and num_steps <= 0:
        raise ValueError(f"num_steps={num_steps}; expected a positive number")
    return schedule, num_steps


def _current(schedule: list[tuple[ActFn, int]], taken: int) -> ActFn:
    end = 0
    for fn, n in schedule:
        end += n
        if taken < end:
            return fn
    return schedule[-1][0]


def mean_return(episodes: list[Episode]) -> tuple[float, float]:
    returns = np.array([float(e.rewards.astype(np.float64).sum()) for e in episodes])
    return float(returns.mean()), float(returns.std())

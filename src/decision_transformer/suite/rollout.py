"""Batched, deterministic rollouts: a batch of Gymnasium envs stepped in lockstep, the policy evaluated once per
step for the whole batch.

Determinism: env `i` of a rollout is reset once with seed `seed * 1000 + i` (later episodes of that env continue
its own RNG), and exploration noise / random actions come from `numpy.random.default_rng(seed)`, drawn for the
whole batch each step. Same seed, same arguments -> identical episodes on the same platform.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..data.trajectories import Episode

ActFn = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def make_env(env_id: str):
    import gymnasium as gym

    return gym.make(env_id)


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
    or exactly `num_episodes` whole episodes. Episodes are returned in the order they finished (ties broken by
    env index); cut episodes come last.

    `act_fn` may be a schedule `[(act_fn, steps), ...]` (step mode only, `num_steps` = the total): the envs keep
    running across segments, so an episode can span a policy change, as in on-policy training.
    """
    schedule, num_steps = _check_mode(act_fn, num_steps, num_episodes)
    if num_episodes is not None:
        num_envs = max(1, min(num_envs, num_episodes))
    envs = [make_env(env_id) for _ in range(num_envs)]
    rng = np.random.default_rng(seed)
    obs = np.stack([env.reset(seed=seed * 1000 + i)[0] for i, env in enumerate(envs)]).astype(np.float32)
    run = _Lockstep(envs, obs, num_steps, num_episodes, _progress_bar(progress, num_steps, num_episodes))
    try:
        while run.active.any():
            idx = np.flatnonzero(run.active)
            if num_steps is not None:
                idx = idx[: num_steps - run.collected]
            fn = act_fn
            if schedule is not None:
                fn = _current(schedule, run.collected)
                idx = idx[: _segment_left(schedule, run.collected)]
            actions = fn(run.obs, rng)  # the whole batch, so RNG use does not depend on which envs are active
            for i in idx:
                run.step(i, actions[i])
            if run.bar is not None and num_steps is not None:
                run.bar.update(len(idx))
            if num_steps is not None and run.collected >= num_steps:
                break
    finally:
        if run.bar is not None:
            run.bar.close()
        for env in envs:
            env.close()
    if num_steps is not None:
        run.cut_running()
    return run.done_episodes


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


def _progress_bar(progress: str | None, num_steps: int | None, num_episodes: int | None):
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=num_steps or num_episodes, desc=progress, unit="step" if num_steps else "ep", leave=False)


@dataclass
class _Lockstep:
    """The envs of one rollout, their current observations, and what they have collected so far."""

    envs: list
    obs: np.ndarray
    """(num_envs, ...) current observation of each env (float32)."""
    num_steps: int | None
    num_episodes: int | None
    bar: Any = None
    buffers: list[dict[str, list]] = field(init=False)
    """The running episode of each env."""
    active: np.ndarray = field(init=False)
    """Env still allowed to start/continue episodes."""
    started: int = field(init=False)
    """Episodes started (episode mode)."""
    collected: int = 0
    done_episodes: list[Episode] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.buffers = [_new_buffer() for _ in self.envs]
        self.active = np.ones(len(self.envs), bool)
        self.started = len(self.envs)

    def step(self, i: int, action: np.ndarray) -> None:
        """Step env `i` with `action`, record the transition; at an episode's end, store it and reset the env
        (or, in episode mode once enough episodes are started, retire the env)."""
        next_obs, reward, terminated, truncated, _ = self.envs[i].step(action)
        buf = self.buffers[i]
        buf["observations"].append(self.obs[i].copy())  # a copy: row i is overwritten below
        buf["actions"].append(action)
        buf["rewards"].append(float(reward))
        buf["terminations"].append(bool(terminated))
        buf["truncations"].append(bool(truncated) and not terminated)
        self.collected += 1
        if terminated or truncated:
            self.done_episodes.append(_to_episode(buf))
            self.buffers[i] = _new_buffer()
            if self.bar is not None and self.num_episodes is not None:
                self.bar.update(1)
            if self.num_episodes is not None and self.started >= self.num_episodes:
                self.active[i] = False
                return
            self.started += 1
            next_obs, _ = self.envs[i].reset()
        self.obs[i] = next_obs

    def cut_running(self) -> None:
        """Store the episodes still running, marked truncated unless they just terminated."""
        for buf in self.buffers:
            if buf["rewards"]:
                buf["truncations"][-1] = buf["truncations"][-1] or not buf["terminations"][-1]
                self.done_episodes.append(_to_episode(buf))


def _current(schedule: list[tuple[ActFn, int]], collected: int) -> ActFn:
    end = 0
    for fn, n in schedule:
        end += n
        if collected < end:
            return fn
    return schedule[-1][0]


def _segment_left(schedule: list[tuple[ActFn, int]], collected: int) -> int:
    end = 0
    for _, n in schedule:
        end += n
        if collected < end:
            return end - collected
    return 0


def _new_buffer() -> dict[str, list]:
    return {k: [] for k in ("observations", "actions", "rewards", "terminations", "truncations")}


def _to_episode(buf: dict[str, list]) -> Episode:
    return Episode(
        observations=np.asarray(buf["observations"], np.float32),
        actions=np.asarray(buf["actions"], np.float32),
        rewards=np.asarray(buf["rewards"], np.float32),
        terminations=np.asarray(buf["terminations"], bool),
        truncations=np.asarray(buf["truncations"], bool),
    )


def mean_return(episodes: list[Episode]) -> tuple[float, float]:
    returns = np.array([float(e.rewards.astype(np.float64).sum()) for e in episodes])
    return float(returns.mean()), float(returns.std())

"""The one episode runner: N envs in a `gymnasium.vector.SyncVectorEnv`, one batched policy call per step.

Every loop that steps an env with a policy runs here: evaluation (`evaluate.py`, with the Decision Transformer's
context agent; `video.py` records through an env wrapper), the benchmarks' baselines (`FunctionAgent`: CQL, the
random policy) and the data generators (`suite/rollout.py`, `data/demo.py`, `dt_experiments/suite/atari.py`), which record their
transitions with an `on_step` hook (`Recorder`).

* How much: exactly `num_episodes` whole episodes, or exactly `num_steps` transitions.
  - `num_episodes` are split evenly across the N envs up front (env i runs a fixed share), so short episodes do
    not bias the result; with `queue=True` an env that finishes takes the next episode instead.
  - with `num_steps` every env runs episodes back to back until that many transitions were taken; the episodes
    still running then are cut (finished with `terminated` False). A list of step counts: no vector step crosses
    the end of one (the envs past it wait), e.g. where the policy changes.
  Episodes are numbered e = 0, 1, ... over all envs (by share, or in the order they start); results come back
  ordered by e.
* Episode e in env i is reset with seed `reset_seed(i, e)` (None: unseeded, the env continues its own RNG),
  by default `derive_seed(seed, "episode", e)` = `seed + e`.
* An agent keeps its own per-env context. The runner calls
      agent.begin(rows, obs, infos)     episodes start in env `rows` (first observations, reset infos)
      agent.act(rows, obs) -> actions   one batched call for the envs stepping now
      agent.observe(rows, obs, rewards) after a step, for the rows whose episode continues
      agent.finish(row) -> dict         an episode ended in env `row`; what to record with it
  and `on_step(rows, obs, actions, rewards, terminated, truncated)` after each vector step, for the envs that
  stepped (`obs`: the observations their actions were chosen from).
* Envs not stepping (their share is done, or they wait at the end of a step count) are held: a wrapper returns
  their last observation without stepping or resetting the env, so the vector env is always stepped as a whole.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Sequence

import gymnasium as gym
import numpy as np

from .common.progress import progress_bar
from .common.seeding import derive_seed


class Agent(Protocol):
    def begin(self, rows: np.ndarray, obs: np.ndarray, infos: list[dict[str, Any]]) -> None: ...
    def act(self, rows: np.ndarray, obs: np.ndarray) -> np.ndarray: ...
    def observe(self, rows: np.ndarray, obs: np.ndarray, rewards: np.ndarray) -> None: ...
    def finish(self, row: int) -> dict[str, Any]: ...


@dataclass
class FunctionAgent:
    """A memoryless policy: `act_fn` maps (R, *O) observations to (R, ...) actions."""

    act_fn: Callable[[np.ndarray], np.ndarray]

    def begin(self, rows, obs, infos) -> None:
        pass

    def act(self, rows, obs) -> np.ndarray:
        return np.asarray(self.act_fn(obs))

    def observe(self, rows, obs, rewards) -> None:
        pass

    def finish(self, row) -> dict[str, Any]:
        return {}


@dataclass
class Episodes:
    """Every episode of one run, ordered by episode index."""

    returns: list[float]
    lengths: list[int]
    seeds: list[int | None]
    terminated: list[bool]
    """True if the episode ended in a terminal state, False if a time limit or the step budget cut it."""
    extras: list[dict[str, Any]] = field(default_factory=list)
    """What `agent.finish` returned for each episode."""


class Recorder:
    """An `on_step` hook keeping each env's transitions. `episodes`: whole episodes as `Episode`s (float32
    observations and actions, raw flags), in the order they ended; `cut()` adds the ones still open, by env."""

    FIELDS = ("observations", "actions", "rewards", "terminations", "truncations")

    def __init__(self):
        self.episodes: list = []
        self._open: dict[int, dict[str, list]] = {}

    def __call__(self, rows, obs, actions, rewards, terminated, truncated) -> None:
        for j, i in enumerate(rows):
            buf = self._open.setdefault(int(i), {k: [] for k in self.FIELDS})
            step = (obs[j], actions[j], float(rewards[j]), bool(terminated[j]), bool(truncated[j]))
            for k, v in zip(self.FIELDS, step):
                buf[k].append(v)
            if terminated[j] or truncated[j]:
                self.episodes.append(self._episode(self._open.pop(int(i))))

    def cut(self) -> list:
        """`episodes` followed by the unfinished episodes (those are left open here)."""
        return self.episodes + [self._episode(self._open[i]) for i in sorted(self._open)]

    def _episode(self, buf: dict[str, list]):
        from .data.trajectories import Episode

        dtypes = (np.float32, np.float32, np.float32, bool, bool)
        return Episode(*(np.asarray(buf[k], dtype) for k, dtype in zip(self.FIELDS, dtypes)))


class _Holdable(gym.Wrapper):
    """An env the runner can leave out of a vector step: while `held`, reset and step return its last
    observation and do not touch the env."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.held, self._obs = False, None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if self.held:
            return self._obs, {}
        self._obs, info = self.env.reset(seed=seed, options=options)
        return self._obs, info

    def step(self, action):
        if self.held:
            return self._obs, 0.0, False, False, {}
        self._obs, reward, terminated, truncated, info = self.env.step(action)
        return self._obs, reward, terminated, truncated, info


def split_evenly(num_episodes: int, num_envs: int) -> list[list[int]]:
    """Episode indices per env: contiguous blocks whose sizes differ by at most one."""
    base, extra = divmod(num_episodes, num_envs)
    out, start = [], 0
    for i in range(num_envs):
        n = base + (i < extra)
        out.append(list(range(start, start + n)))
        start += n
    return out


def _info_rows(info: dict[str, Any], rows: np.ndarray) -> list[dict[str, Any]]:
    """Per-env dicts from a vector env's info (keys with a `_key` mask only where set)."""
    return [{k: v[i] for k, v in info.items() if not k.startswith("_") and (f"_{k}" not in info or info[f"_{k}"][i])}
            for i in rows]


def _idle_actions(space: gym.Space, n: int) -> np.ndarray:
    if isinstance(space, gym.spaces.Discrete):
        return np.full(n, space.start, np.int64)
    zero = np.clip(np.zeros(space.shape, space.dtype), space.low, space.high)
    return np.tile(zero, (n,) + (1,) * len(space.shape))


def _episode_source(n: int, num_episodes: int | None, queue: bool) -> Callable[[int], int | None]:
    """take(env) -> the next episode index env `env` runs, or None when it has no more."""
    if num_episodes is not None and not queue:
        shares = [iter(share) for share in split_evenly(num_episodes, n)]
        return lambda i: next(shares[i], None)
    counter = itertools.count()

    def take(i: int) -> int | None:
        e = next(counter)
        return e if num_episodes is None or e < num_episodes else None

    return take


def run_episodes(agent: Agent, env_fns: Sequence[Callable[[], gym.Env]], num_episodes: int | None = None,
                 seed: int = 0, progress: bool | str = False, *, num_steps: int | Sequence[int] | None = None,
                 queue: bool = False, reset_seed: Callable[[int, int], int | None] | None = None,
                 on_step: Callable[..., None] | None = None) -> Episodes:
    """Run `agent` over a SyncVectorEnv of the `env_fns` (at most `num_episodes` of them) for exactly
    `num_episodes` episodes or `num_steps` transitions (module docstring). `progress`: a bar (a str names it)."""
    if (num_episodes is None) == (num_steps is None):
        raise ValueError("give exactly one of num_episodes or num_steps")
    if num_episodes is not None and num_episodes <= 0:
        raise ValueError(f"num_episodes={num_episodes} must be positive")
    chunks = None if num_steps is None else [int(num_steps)] if np.isscalar(num_steps) else [int(c) for c in num_steps]
    if chunks is not None and (not chunks or min(chunks) <= 0):
        raise ValueError(f"num_steps={num_steps} must be positive")
    n = len(env_fns) if num_episodes is None else min(len(env_fns), num_episodes)
    envs = gym.vector.SyncVectorEnv([lambda fn=fn: _Holdable(fn()) for fn in env_fns[:n]],
                                    autoreset_mode=gym.vector.AutoresetMode.DISABLED)
    seed_of = reset_seed or (lambda i, e: derive_seed(seed, "episode", e))
    bar = progress_bar(bool(progress), total=num_episodes or sum(chunks), leave=False,
                       desc=progress if isinstance(progress, str) else "episodes", unit="ep" if chunks is None else "step")
    try:
        return _run(agent, envs, _episode_source(n, num_episodes, queue), seed_of, chunks, on_step, bar)
    finally:
        bar.close()
        envs.close()


def _run(agent: Agent, envs: gym.vector.SyncVectorEnv, take, seed_of, chunks, on_step, bar) -> Episodes:
    n = envs.num_envs
    current = np.array([take(i) for i in range(n)])  # the episode each env is running
    seeds = {int(e): seed_of(i, int(e)) for i, e in enumerate(current)}
    ends = None if chunks is None else np.cumsum(chunks)
    taken = 0  # transitions so far
    active = np.ones(n, bool)
    ep_return, ep_len = np.zeros(n), np.zeros(n, np.int64)
    results: dict[int, tuple[float, int, bool, dict[str, Any]]] = {}
    actions = _idle_actions(envs.single_action_space, n)
    obs, info = envs.reset(seed=[seeds[int(e)] for e in current])
    agent.begin(np.arange(n), obs, _info_rows(info, np.arange(n)))
    was_stepping = np.ones(n, bool)  # no env is held
    while active.any():
        rows = np.flatnonzero(active)
        if ends is not None:  # only as many envs as the current step count has room for
            rows = rows[: ends[np.searchsorted(ends, taken, side="right")] - taken]
        stepping = np.zeros(n, bool)
        stepping[rows] = True
        if (stepping != was_stepping).any():
            for env, s in zip(envs.envs, stepping):
                env.held = not s
            was_stepping = stepping
        actions[rows] = agent.act(rows, obs[rows])
        prev = obs
        obs, reward, terminated, truncated, info = envs.step(actions)
        if on_step is not None:
            on_step(rows, prev[rows], actions[rows], reward[rows], terminated[rows], truncated[rows])
        taken += len(rows)
        ep_return[rows] += reward[rows]
        ep_len[rows] += 1
        ended = (terminated | truncated)[rows]
        cont = rows[~ended]
        if len(cont):
            agent.observe(cont, obs[cont], reward[cont])
        bar.update(len(rows) if ends is not None else int(ended.sum()))
        budget_spent = ends is not None and taken >= ends[-1]
        restart, reset_seeds = [], [None] * n
        for i in rows[ended]:
            results[int(current[i])] = (float(ep_return[i]), int(ep_len[i]), bool(terminated[i]), agent.finish(int(i)))
            ep_return[i], ep_len[i] = 0.0, 0
            e = None if budget_spent else take(int(i))
            if e is None:
                active[i], envs.envs[i].held = False, True  # held: the reset below leaves it as it is
            else:
                current[i] = e
                seeds[e] = reset_seeds[i] = seed_of(int(i), e)
                restart.append(i)
        if budget_spent:
            break
        if ended.any() and active.any():
            reset_mask = np.zeros(n, bool)
            reset_mask[rows[ended]] = True
            obs, info = envs.reset(seed=reset_seeds, options={"reset_mask": reset_mask})
            if restart:
                agent.begin(np.array(restart), obs[restart], _info_rows(info, restart))
    for i in np.flatnonzero(active & (ep_len > 0)):  # cut by the step budget
        results[int(current[i])] = (float(ep_return[i]), int(ep_len[i]), False, agent.finish(int(i)))
    order = sorted(results)
    return Episodes(returns=[results[e][0] for e in order], lengths=[results[e][1] for e in order],
                    seeds=[seeds[e] for e in order], terminated=[results[e][2] for e in order],
                    extras=[results[e][3] for e in order])

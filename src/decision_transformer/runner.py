"""The one episode runner: N envs in a `gymnasium.vector.SyncVectorEnv`, one batched policy call per step.

It serves evaluation (`evaluate.py`, with the Decision Transformer's context agent) and the benchmarks'
baselines (`FunctionAgent`: CQL, the random policy).

* Exactly `num_episodes` episodes, split evenly across the N envs up front (env i runs a fixed share),
  so short episodes do not bias the result. Episode e (0-based, over all envs) is reset with seed
  `seed + e`; results come back ordered by e.
* An agent keeps its own per-env context. The runner calls
      agent.begin(rows, obs, infos)     episodes start in env `rows` (first observations, reset infos)
      agent.act(rows, obs) -> actions   one batched call for the envs still running
      agent.observe(rows, obs, rewards) after a step, for the rows whose episode continues
      agent.finish(row) -> dict         an episode ended in env `row`; what to record with it
* Envs that finished their share are parked: reset (unseeded) and stepped with a fixed action, their
  results ignored, so the vector env is always stepped as a whole.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Sequence

import gymnasium as gym
import numpy as np
from tqdm.auto import tqdm


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
    seeds: list[int]
    terminated: list[bool]
    """True if the episode ended in a terminal state, False if a time limit cut it."""
    extras: list[dict[str, Any]] = field(default_factory=list)
    """What `agent.finish` returned for each episode."""


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


def run_episodes(agent: Agent, env_fns: Sequence[Callable[[], gym.Env]], num_episodes: int, seed: int = 0,
                 progress: bool = False) -> Episodes:
    """Run exactly `num_episodes` episodes of `agent` over a SyncVectorEnv of min(len(env_fns), num_episodes) envs."""
    if num_episodes <= 0:
        raise ValueError(f"num_episodes={num_episodes} must be positive")
    n = min(len(env_fns), num_episodes)
    envs = gym.vector.SyncVectorEnv(list(env_fns[:n]), autoreset_mode=gym.vector.AutoresetMode.DISABLED)
    try:
        return _run(agent, envs, num_episodes, seed, progress)
    finally:
        envs.close()


def _run(agent: Agent, envs: gym.vector.SyncVectorEnv, num_episodes: int, seed: int, progress: bool) -> Episodes:
    n = envs.num_envs
    shares = split_evenly(num_episodes, n)
    next_ep = [0] * n  # position in each env's share
    current = np.array([share[0] for share in shares])  # episode index each env is running
    active = np.ones(n, bool)
    ep_return, ep_len = np.zeros(n), np.zeros(n, np.int64)
    results: dict[int, tuple[float, int, bool, dict[str, Any]]] = {}
    actions = _idle_actions(envs.single_action_space, n)
    obs, info = envs.reset(seed=[seed + int(e) for e in current])
    agent.begin(np.arange(n), obs, _info_rows(info, np.arange(n)))
    bar = tqdm(total=num_episodes, disable=not progress, desc="episodes", leave=False, dynamic_ncols=True)
    while active.any():
        rows = np.flatnonzero(active)
        actions[rows] = agent.act(rows, obs[rows])
        obs, reward, terminated, truncated, info = envs.step(actions)
        ended = terminated | truncated
        ep_return[rows] += reward[rows]
        ep_len[rows] += 1
        cont = np.flatnonzero(active & ~ended)
        if len(cont):
            agent.observe(cont, obs[cont], reward[cont])
        reset_mask = ~active & ended
        seeds: list[int | None] = [None] * n
        restart = []
        for i in np.flatnonzero(active & ended):
            results[int(current[i])] = (float(ep_return[i]), int(ep_len[i]), bool(terminated[i]), agent.finish(int(i)))
            bar.update(1)
            ep_return[i], ep_len[i] = 0.0, 0
            next_ep[i] += 1
            if next_ep[i] < len(shares[i]):
                current[i] = shares[i][next_ep[i]]
                seeds[i] = seed + int(current[i])
                restart.append(i)
            else:
                active[i] = False
            reset_mask[i] = True
        if reset_mask.any() and active.any():
            obs, info = envs.reset(seed=seeds, options={"reset_mask": reset_mask})
            if restart:
                rows = np.array(restart)
                agent.begin(rows, obs[rows], _info_rows(info, rows))
    bar.close()
    order = sorted(results)
    return Episodes(returns=[results[e][0] for e in order], lengths=[results[e][1] for e in order],
                    seeds=[seed + e for e in order], terminated=[results[e][2] for e in order],
                    extras=[results[e][3] for e in order])

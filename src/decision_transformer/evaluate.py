"""Batched evaluation: N envs in a `gymnasium.vector.SyncVectorEnv`, one batched model call per step.

* Exactly `num_episodes` episodes per target return, split evenly across the N envs (env i runs a fixed
  share decided up front), so short episodes do not bias the result. Episode e (0-based, counted over
  all envs) is reset with seed `seed + e`; the seeds are recorded with the returns.
* Each env keeps a context buffer of its last K steps, with the same left-padding convention as
  training (`data/sampler.py`). The return-to-go starts at `target_return / reward_scale` and is
  decremented by `reward / reward_scale` after every step. States are normalized with the dataset's
  mean/std. Timesteps count from 0 and are clipped to max_ep_len - 1.
* Continuous actions: the model's output (the mean), clipped to the action space. Discrete actions:
  argmax, or sampling at `temperature` > 0 from a seeded generator.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

import gymnasium as gym
import numpy as np
import torch
from tqdm.auto import tqdm

from .checkpoint import LoadedRun, RunMeta
from .envs_util import make_env
from .scores import d4rl_reference, normalized_score

Target = float | Callable[[dict[str, Any]], float]


@dataclass
class RolloutPolicy:
    """A trained model plus what acting needs: normalization, reward scale, context length."""

    model: torch.nn.Module
    context_len: int
    state_mean: np.ndarray
    state_std: np.ndarray
    reward_scale: float
    max_ep_len: int
    discrete: bool
    act_dim: int

    @classmethod
    def from_meta(cls, model: torch.nn.Module, meta: RunMeta) -> "RolloutPolicy":
        cfg = meta.config()
        shape = meta.state_shape()
        mean = np.asarray(meta.state_mean, np.float32)
        std = np.asarray(meta.state_std, np.float32)
        if isinstance(shape, int):
            mean, std = mean.reshape(shape), std.reshape(shape)
        return cls(model=model.eval(), context_len=cfg.context_len, state_mean=mean, state_std=std,
                   reward_scale=meta.reward_scale, max_ep_len=cfg.max_ep_len, discrete=cfg.discrete_actions,
                   act_dim=meta.act_dim)

    @classmethod
    def from_run(cls, run: LoadedRun) -> "RolloutPolicy":
        return cls.from_meta(run.model, run.meta)


@dataclass
class TargetResult:
    """All episodes evaluated at one target return."""

    target_return: float
    returns: list[float]
    lengths: list[int]
    seeds: list[int]
    refs: dict[str, tuple[float, float]] = field(default_factory=dict)
    """(random, expert) reference returns by label: 'd4rl' and/or 'suite:<dataset>'. The first is primary."""
    targets_used: list[float] = field(default_factory=list)
    """Per-episode target when the target was a function of the reset info."""
    terminated: list[bool] = field(default_factory=list)
    """Per episode: True if it ended in a terminal state (`terminated`), False if cut by a time limit
    (`truncated`), as the env reported on its last step."""

    @property
    def return_mean(self) -> float:
        return float(np.mean(self.returns))

    @property
    def return_std(self) -> float:
        return float(np.std(self.returns))

    @property
    def normalized(self) -> dict[str, tuple[float, float]]:
        """Normalized score (mean, std) under each reference, by label."""
        out = {}
        for label, ref in self.refs.items():
            scores = normalized_score(self.returns, ref)
            out[label] = (float(np.mean(scores)), float(np.std(scores)))
        return out

    @property
    def ref_source(self) -> str | None:
        return next(iter(self.refs), None)

    @property
    def normalized_mean(self) -> float | None:
        """Under the primary reference."""
        return self.normalized[self.ref_source][0] if self.refs else None

    @property
    def normalized_std(self) -> float | None:
        return self.normalized[self.ref_source][1] if self.refs else None

    def normalized_text(self) -> str:
        return "; ".join(f"{m:.1f} ± {s:.1f} ({label})" for label, (m, s) in self.normalized.items()) or "-"

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(return_mean=self.return_mean, return_std=self.return_std,
                 normalized_mean=self.normalized_mean, normalized_std=self.normalized_std,
                 normalized={k: {"mean": m, "std": s} for k, (m, s) in self.normalized.items()})
        return d


class _Context:
    """Per-env rolling buffers of the last K steps (B = num envs), left-padded like training windows."""

    def __init__(self, n: int, K: int, state_shape: tuple[int, ...], act_dim: int, discrete: bool):
        self.states = np.zeros((n, K, *state_shape), np.float32)  # (B, K, *S)
        self.actions = np.zeros((n, K), np.int64) if discrete else np.zeros((n, K, act_dim), np.float32)
        self.returns_to_go = np.zeros((n, K, 1), np.float32)  # (B, K, 1)
        self.timesteps = np.zeros((n, K), np.int64)  # (B, K)
        self.mask = np.zeros((n, K), np.int64)  # (B, K)

    def start(self, rows: np.ndarray, states: np.ndarray, rtg: np.ndarray) -> None:
        """Clear `rows` and put the first step (timestep 0) at the last position."""
        for buf in (self.states, self.actions, self.returns_to_go, self.timesteps, self.mask):
            buf[rows] = 0
        self.states[rows, -1] = states
        self.returns_to_go[rows, -1, 0] = rtg
        self.mask[rows, -1] = 1

    def advance(self, rows: np.ndarray, states: np.ndarray, rtg: np.ndarray, max_ep_len: int) -> None:
        """Shift `rows` left by one step and append the next step."""
        for buf in (self.states, self.actions, self.returns_to_go, self.timesteps, self.mask):
            buf[rows] = np.roll(buf[rows], -1, axis=1)
        self.actions[rows, -1] = 0  # a_t is unknown when predicting it; the model never reads it for step t
        self.states[rows, -1] = states
        self.returns_to_go[rows, -1, 0] = rtg
        self.timesteps[rows, -1] = np.minimum(self.timesteps[rows, -2] + 1, max_ep_len - 1)
        self.mask[rows, -1] = 1


def _split_evenly(num_episodes: int, num_envs: int) -> list[list[int]]:
    """Episode indices per env: contiguous blocks whose sizes differ by at most one."""
    base, extra = divmod(num_episodes, num_envs)
    out, start = [], 0
    for i in range(num_envs):
        n = base + (i < extra)
        out.append(list(range(start, start + n)))
        start += n
    return out


def _info_row(info: dict[str, Any], i: int) -> dict[str, Any]:
    return {k: v[i] for k, v in info.items() if not k.startswith("_") and (f"_{k}" not in info or info[f"_{k}"][i])}


@torch.no_grad()
def run_episodes(
    policy: RolloutPolicy,
    env_fns: Sequence[Callable[[], gym.Env]],
    target: Target,
    num_episodes: int,
    seed: int = 0,
    temperature: float = 0.0,
    progress: bool = True,
) -> TargetResult:
    """Run exactly `num_episodes` episodes at one target over a SyncVectorEnv built from `env_fns`."""
    n = min(len(env_fns), num_episodes)
    envs = gym.vector.SyncVectorEnv(list(env_fns[:n]), autoreset_mode=gym.vector.AutoresetMode.DISABLED)
    try:
        return _rollout(policy, envs, target, num_episodes, seed, temperature, progress)
    finally:
        envs.close()


def _rollout(policy, envs, target, num_episodes, seed, temperature, progress) -> TargetResult:
    n = envs.num_envs
    K = policy.context_len
    device = next(policy.model.parameters()).device
    space = envs.single_action_space
    shares = _split_evenly(num_episodes, n)
    next_ep = [0] * n  # position in each env's share
    current = np.array([share[0] for share in shares])  # episode index each env is running
    active = np.ones(n, bool)
    ep_return = np.zeros(n)
    ep_len = np.zeros(n, np.int64)
    results: dict[int, tuple[float, int, float, bool]] = {}
    gen = torch.Generator(device="cpu").manual_seed(seed)
    state_shape = tuple(envs.single_observation_space.shape)
    ctx = _Context(n, K, state_shape, policy.act_dim, policy.discrete)
    targets = np.zeros(n)
    if policy.discrete:
        idle_actions = np.zeros(n, np.int64)
    else:
        idle_actions = np.tile(np.clip(np.zeros(space.shape, space.dtype), space.low, space.high), (n,) + (1,) * len(space.shape))

    def normalize(obs: np.ndarray) -> np.ndarray:
        return ((obs.astype(np.float32) - policy.state_mean) / policy.state_std).astype(np.float32)

    def begin(rows: np.ndarray, obs: np.ndarray, info: dict[str, Any]) -> None:
        for i in rows:
            targets[i] = target(_info_row(info, i)) if callable(target) else float(target)
        ctx.start(rows, normalize(obs[rows]), targets[rows] / policy.reward_scale)
        ep_return[rows] = 0.0
        ep_len[rows] = 0

    obs, info = envs.reset(seed=[seed + int(e) for e in current])
    begin(np.arange(n), obs, info)
    bar = tqdm(total=num_episodes, disable=not progress, desc="eval", leave=False, dynamic_ncols=True)
    while active.any():
        rows = np.flatnonzero(active)
        to_t = lambda a: torch.from_numpy(a[rows]).to(device)  # noqa: E731
        preds = policy.model(to_t(ctx.states), to_t(ctx.actions), to_t(ctx.returns_to_go), to_t(ctx.timesteps),
                             to_t(ctx.mask))[:, -1]  # (R, A): the prediction at each env's newest step
        actions = idle_actions.copy()
        if policy.discrete:
            if temperature > 0:
                probs = torch.softmax(preds.float().cpu() / temperature, dim=-1)
                act = torch.multinomial(probs, 1, generator=gen)[:, 0].numpy()
            else:
                act = preds.argmax(-1).cpu().numpy()
        else:
            act = np.clip(preds.float().cpu().numpy(), space.low, space.high)
        ctx.actions[rows, -1] = act
        actions[rows] = act
        obs, reward, terminated, truncated, info = envs.step(actions)
        ended = terminated | truncated
        ep_return[rows] += reward[rows]
        ep_len[rows] += 1
        done = active & ended
        cont = active & ~ended
        if cont.any():
            idx = np.flatnonzero(cont)
            rtg = ctx.returns_to_go[idx, -1, 0] - reward[idx] / policy.reward_scale
            ctx.advance(idx, normalize(obs[idx]), rtg, policy.max_ep_len)
        # Envs that finished their share are parked: reset (unseeded) and stepped with a fixed action,
        # their results ignored, so the vector env is always stepped as a whole.
        reset_mask = ~active & ended
        seeds: list[int | None] = [None] * n
        restart = []
        for i in np.flatnonzero(done):
            results[int(current[i])] = (float(ep_return[i]), int(ep_len[i]), float(targets[i]), bool(terminated[i]))
            bar.update(1)
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
                begin(np.array(restart), obs, info)
    bar.close()
    order = sorted(results)
    return TargetResult(
        target_return=float(target) if not callable(target) else float("nan"),
        returns=[results[e][0] for e in order],
        lengths=[results[e][1] for e in order],
        seeds=[seed + e for e in order],
        targets_used=[results[e][2] for e in order],
        terminated=[results[e][3] for e in order],
    )


def resolve_references(env_id: str, dataset_name: str | None) -> dict[str, tuple[float, float]]:
    """D4RL's references for D4RL's env families, and the suite's own for a built-in dataset; both
    when both apply (D4RL first)."""
    import re

    from .data.registry import reference_returns

    refs: dict[str, tuple[float, float]] = {}
    d4rl = d4rl_reference(env_id)
    if d4rl is not None:
        refs["d4rl"] = d4rl
    if dataset_name:
        # a built-in dataset exported to Minari comes back named NAME-v0
        for name in (dataset_name, re.sub(r"-v\d+$", "", dataset_name)):
            ref = reference_returns(name)
            if ref is not None:
                refs[f"suite:{name}"] = ref
                break
    return refs


def evaluate(
    policy: RolloutPolicy | LoadedRun,
    env_id: str,
    targets: Sequence[Target],
    num_episodes: int = 10,
    num_envs: int | None = None,
    seed: int = 0,
    temperature: float = 0.0,
    env_kwargs: dict[str, Any] | None = None,
    progress: bool = True,
    dataset_name: str | None = None,
) -> list[TargetResult]:
    """Evaluate at each target return: `num_episodes` episodes each, on `num_envs` envs (default:
    min(num_episodes, 16)). The same seeds are used for every target."""
    if isinstance(policy, LoadedRun):
        dataset_name = dataset_name or policy.meta.dataset
        policy = RolloutPolicy.from_run(policy)
    if num_episodes <= 0:
        raise ValueError(f"num_episodes={num_episodes} must be positive")
    num_envs = num_envs or min(num_episodes, 16)
    env_fns = [lambda: make_env(env_id, **(env_kwargs or {}))] * num_envs
    refs = resolve_references(env_id, dataset_name)
    out = []
    for target in targets:
        res = run_episodes(policy, env_fns, target, num_episodes, seed=seed, temperature=temperature, progress=progress)
        res.refs = dict(refs)
        out.append(res)
    return out

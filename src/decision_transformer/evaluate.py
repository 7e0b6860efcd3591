"""Evaluation: a trained model acting in N vectorized envs through the one runner (`runner.py`).

* `RolloutPolicy` is the model plus its `Preprocessing` (the checkpoint's), so it acts on exactly the
  inputs it was trained on.
* `DTAgent` keeps, per env, a context buffer of the last K steps with the padding convention of training
  (`data/sampler.py`). The return-to-go starts at `target_return / reward_scale` and is decremented by
  `reward / reward_scale` after every step (the reward clipped to [-c, c] first when the training data were
  clipped, `Preprocessing.reward_clip`: DQN-replay; the reported return is always the raw one). Timesteps count from 0 and are clipped to max_ep_len - 1.
* Target `AUTO` ("auto", `dt eval --targets auto`): a model with a return head (`DTConfig.return_head`) proposes
  its own return-to-go at every step, from the history up to s_t, and acts on it (Reinformer's inference); nothing is
  decremented, and the context keeps the proposals as its past returns-to-go. The episode's recorded target is the
  first proposal (raw scale). A model without a return head is refused.
* Continuous actions: the model's output (the mean), unscaled to the env's range when the run scales actions
  (`Preprocessing.unscale_actions`), clipped to the action space; the context keeps the action taken in the
  model's own (scaled) space, as training fed it. Discrete actions: argmax, or sampling at `temperature` > 0 from
  a seeded generator.
* `evaluate` runs exactly `num_episodes` episodes per target (seeds `seed + e`, the runner's even split),
  the same seeds for every target. `targets` is a sequence; a single number (or function, or AUTO) is one target.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

import gymnasium as gym
import numpy as np
import torch

from .checkpoint import LoadedRun, RunMeta
from .data.preprocess import Preprocessing, clip_timesteps
from .common.checks import is_int
from .common.envs_util import make_env
from .incremental import IncrementalDecoder
from .model_checks import trusted_inputs
from .common.precision import precision_context
from .runner import run_episodes
from .scores import d4rl_reference, gamer_reference, mean_std_text, normalized_score, sample_std

Target = float | str | Callable[[dict[str, Any]], float]
AUTO = "auto"
"""The target that lets a model with a return head propose its own return-to-go at every step."""


def check_auto(model: torch.nn.Module) -> None:
    """A ValueError unless `model` has a return head to propose targets with (`--targets auto`)."""
    if getattr(model, "predict_rtg", None) is None:
        raise ValueError("--targets auto needs a run trained with a return head (--return-head expectile); "
                         "this model has none: give target returns")
    if getattr(getattr(model, "config", None), "return_head_weight", 1.0) == 0:
        raise ValueError("--targets auto needs a trained return head; this run's was not trained "
                         "(return_head_weight 0, the token-order ablation): give target returns")


@dataclass
class RolloutPolicy:
    """A trained model plus what acting needs: its preprocessing and action type."""

    model: torch.nn.Module
    prep: Preprocessing
    discrete: bool
    act_dim: int
    precision: str = "fp32"
    """fp32, bf16 (autocast) or auto (see precision.py)."""

    @property
    def context_len(self) -> int:
        """K, the window acting keeps: the model config's (the one carrier of it)."""
        return int(self.model.config.context_len)

    @property
    def max_ep_len(self) -> int:
        """Timesteps are clipped below it: the model config's."""
        return int(self.model.config.max_ep_len)

    @classmethod
    def from_meta(cls, model: torch.nn.Module, meta: RunMeta, precision: str = "fp32") -> "RolloutPolicy":
        return cls(model=model.eval(), prep=meta.preprocessing(), discrete=meta.config().discrete_actions,
                   act_dim=meta.act_dim, precision=precision)

    @classmethod
    def from_run(cls, run: LoadedRun, precision: str = "fp32") -> "RolloutPolicy":
        return cls.from_meta(run.model, run.meta, precision)


def target_label(target: float) -> str:
    """A target return as text that tells any two different targets apart (`:g` prints 1000001 and 1000002 both as
    1e+06): the shortest repr that reads back as the same float, without a trailing `.0` (20.0 -> `20`)."""
    text = repr(float(target))
    return text[:-2] if text.endswith(".0") else text


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
    auto: bool = False
    """The model proposed its own targets (`AUTO`); targets_used holds each episode's first proposal."""

    @property
    def return_mean(self) -> float:
        return float(np.mean(self.returns))

    @property
    def return_std(self) -> float:
        return sample_std(self.returns)

    @property
    def normalized(self) -> dict[str, tuple[float, float]]:
        """Normalized score (mean, sample std over episodes) under each reference, by label."""
        out = {}
        for label, ref in self.refs.items():
            scores = normalized_score(self.returns, ref)
            out[label] = (float(np.mean(scores)), sample_std(scores))
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

    @property
    def return_text(self) -> str:
        """'mean ± sample std' of the returns ('± —' for one episode)."""
        return mean_std_text(self.return_mean, self.return_std, len(self.returns))

    def normalized_text(self) -> str:
        n = len(self.returns)
        return "; ".join(f"{mean_std_text(m, s, n)} ({label})" for label, (m, s) in self.normalized.items()) or "-"

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        if self.auto:  # no fixed target (the field holds NaN in Python): null in strict JSON, not NaN
            d["target_return"] = None
        d.update(return_mean=self.return_mean, return_std=self.return_std,
                 normalized_mean=self.normalized_mean, normalized_std=self.normalized_std,
                 normalized={k: {"mean": m, "std": s} for k, (m, s) in self.normalized.items()})
        return d


class DTAgent:
    """Per-env rolling buffers of the last K steps (B = num envs), left-padded like training windows."""

    def __init__(self, policy: RolloutPolicy, target: Target, num_envs: int, state_shape: tuple[int, ...],
                 action_space: gym.Space, temperature: float = 0.0, seed: int = 0):
        n, K = num_envs, policy.context_len
        self.policy, self.target, self.temperature, self.space = policy, target, temperature, action_space
        self.auto = isinstance(target, str) and target == AUTO
        if self.auto:
            check_auto(policy.model)
        elif isinstance(target, str):
            raise ValueError(f"target {target!r}: expected a number, a function of the reset info, or {AUTO!r}")
        self.states = np.zeros((n, K, *state_shape), np.float32)  # (B, K, *S)
        self.actions = np.zeros((n, K), np.int64) if policy.discrete else np.zeros((n, K, policy.act_dim), np.float32)
        self.returns_to_go = np.zeros((n, K, 1), np.float32)  # (B, K, 1)
        self.timesteps = np.zeros((n, K), np.int64)  # (B, K)
        self.mask = np.zeros((n, K), np.int64)  # (B, K)
        self.targets = np.zeros(n)  # (B,) the target of each env's current episode
        self.gen = torch.Generator(device="cpu").manual_seed(seed)
        self.device = next(policy.model.parameters()).device
        # a banded model acts incrementally from key/value caches (exact; incremental.py)
        banded = getattr(getattr(policy.model, "config", None), "attention_window", 0)
        self.decoder = IncrementalDecoder(policy.model, n) if banded else None

    def _buffers(self):
        return (self.states, self.actions, self.returns_to_go, self.timesteps, self.mask)

    def begin(self, rows: np.ndarray, obs: np.ndarray, infos: list[dict[str, Any]]) -> None:
        """Clear `rows` and put the first step (timestep 0) at the last position."""
        prep = self.policy.prep
        for i, info in zip(rows, infos):
            self.targets[i] = math.nan if self.auto else self.target(info) if callable(self.target) else float(self.target)
        for buf in self._buffers():
            buf[rows] = 0
        self.states[rows, -1] = prep.normalize_states(obs)
        self.returns_to_go[rows, -1, 0] = 0.0 if self.auto else prep.scale_returns(self.targets[rows])  # auto: in act
        self.mask[rows, -1] = 1
        if self.decoder is not None:
            self.decoder.reset(torch.as_tensor(rows, device=self.device))

    @torch.inference_mode()
    def act(self, rows: np.ndarray, obs: np.ndarray) -> np.ndarray:
        model = self.policy.model
        with precision_context(self.policy.precision, self.device), trusted_inputs():  # windows built here
            if self.decoder is not None:  # the newest step only: s_t, R_t, and a_{t-1} with its timestep (position -2)
                to_t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(self.device)  # noqa: E731
                r = torch.as_tensor(rows, device=self.device)
                preds = self.decoder.step(r, to_t(self.states[rows, -1]), to_t(self.returns_to_go[rows, -1]),
                                          to_t(self.actions[rows, -2]), to_t(self.timesteps[rows, -1]),
                                          to_t(self.timesteps[rows, -2]))
                self.decoder.advance(r)
            else:
                # Only the positions where some row has a real step: padding is invisible (model.py), so dropping
                # columns that are padding in every row is exact, and early in episodes it is most of the work.
                n = int(self.mask[rows].sum(1).max())
                to_t = lambda a: torch.from_numpy(np.ascontiguousarray(a[rows, -n:])).to(self.device)  # noqa: E731
                if self.auto:  # first the return head's proposal at s_t, which becomes R_t
                    proposal = model.propose_return(to_t(self.states), to_t(self.actions), to_t(self.returns_to_go),
                                                    to_t(self.timesteps), to_t(self.mask))[:, 0].float().cpu().numpy()
                    self.returns_to_go[rows, -1, 0] = proposal
                    first = np.isnan(self.targets[rows])
                    self.targets[rows[first]] = proposal[first] * self.policy.prep.reward_scale
                inputs = (to_t(self.states), to_t(self.actions), to_t(self.returns_to_go), to_t(self.timesteps),
                          to_t(self.mask))
                # (R, A): the action at each env's newest step; `act` (our models) computes only that one
                preds = model.act(*inputs) if hasattr(model, "act") else model(*inputs)[:, -1]
        if self.policy.discrete:
            if self.temperature > 0:
                probs = torch.softmax(preds.float().cpu() / self.temperature, dim=-1)
                act = torch.multinomial(probs, 1, generator=self.gen)[:, 0].numpy()
            else:
                act = preds.argmax(-1).cpu().numpy()
        else:
            return self.take(rows, preds.float().cpu().numpy())
        self.actions[rows, -1] = act
        return act

    def take(self, rows: np.ndarray, preds: np.ndarray) -> np.ndarray:
        """Continuous model actions (R, A) -> the env's: unscaled, clipped to the action space; the context keeps
        them scaled back (the model's space)."""
        prep = self.policy.prep
        act = np.clip(prep.unscale_actions(preds), self.space.low, self.space.high)
        self.actions[rows, -1] = prep.scale_actions(act)
        return act

    def observe(self, rows: np.ndarray, obs: np.ndarray, rewards: np.ndarray) -> None:
        """Shift `rows` left by one step and append the next step, its return-to-go decremented."""
        prep = self.policy.prep
        rtg = 0.0 if self.auto else self.returns_to_go[rows, -1, 0] - prep.return_decrement(rewards)  # auto: set in act
        t = self.timesteps[rows, -1] + 1  # read before the roll: with K = 1 there is no position -2
        for buf in self._buffers():
            buf[rows] = np.roll(buf[rows], -1, axis=1)
        self.actions[rows, -1] = 0  # a_t is unknown when predicting it; the model never reads it for step t
        self.states[rows, -1] = prep.normalize_states(obs)
        self.returns_to_go[rows, -1, 0] = rtg
        self.timesteps[rows, -1] = clip_timesteps(t, self.policy.max_ep_len)
        self.mask[rows, -1] = 1

    def finish(self, row: int) -> dict[str, Any]:
        return {"target": float(self.targets[row])}


def evaluate_target(policy: RolloutPolicy, env_fns: Sequence[Callable[[], gym.Env]], target: Target,
                    num_episodes: int, seed: int = 0, temperature: float = 0.0, progress: bool = True) -> TargetResult:
    """Exactly `num_episodes` episodes at one target over the runner's vector env built from `env_fns`."""
    probe = env_fns[0]()
    try:
        state_shape, space = tuple(probe.observation_space.shape), probe.action_space
        env_id = probe.spec.id if probe.spec is not None else "the environment"
    finally:
        probe.close()
    check_spaces(policy, env_id, state_shape, space)
    n = min(len(env_fns), num_episodes)
    agent = DTAgent(policy, target, n, state_shape, space, temperature=temperature, seed=seed)
    eps = run_episodes(agent, env_fns, num_episodes, seed=seed, progress=progress)
    fixed = not callable(target) and not agent.auto
    return TargetResult(target_return=float(target) if fixed else float("nan"), returns=eps.returns,
                        lengths=eps.lengths, seeds=eps.seeds, targets_used=[x["target"] for x in eps.extras],
                        terminated=eps.terminated, auto=agent.auto)


def check_spaces(policy: RolloutPolicy, env_id: str, state_shape: tuple[int, ...], space: gym.Space) -> None:
    """The env's observations and actions are the ones the model was trained on (meta.json's state_dim and
    act_dim), else a ValueError naming both."""
    trained = tuple(policy.prep.state_mean.shape)  # () for pixels: one scalar for all
    if trained and trained != state_shape:
        raise ValueError(f"{env_id} observes shape {state_shape}, but the model was trained on states of shape "
                         f"{trained} (meta.json field 'state_dim'): evaluate it in the env of its dataset")
    if isinstance(space, gym.spaces.Discrete) != policy.discrete:
        raise ValueError(f"{env_id} has {type(space).__name__} actions, but the model acts "
                         f"{'discretely' if policy.discrete else 'continuously'}")
    if isinstance(space, gym.spaces.Box) and tuple(space.shape) != (policy.act_dim,):
        raise ValueError(f"{env_id} takes actions of shape {tuple(space.shape)}, but the model gives {policy.act_dim} "
                         "(meta.json field 'act_dim')")
    if isinstance(space, gym.spaces.Discrete) and policy.act_dim > space.n:
        raise ValueError(f"{env_id} has {space.n} actions, but the model chooses among {policy.act_dim} "
                         "(meta.json field 'act_dim')")


def resolve_references(env_id: str, dataset_name: str | None) -> dict[str, tuple[float, float]]:
    """Every reference set that applies, D4RL's first: D4RL's random/expert returns for D4RL's env families and the
    paper's Atari gamer scores (scores.py, by env family), then a built-in dataset's own references under the label
    its registration gives (data/registry.py: ref_min_return, ref_max_return, ref_label)."""
    import re

    from .data.registry import reference_label, reference_returns

    refs: dict[str, tuple[float, float]] = {}
    d4rl = d4rl_reference(env_id)
    if d4rl is not None:
        refs["d4rl"] = d4rl
    gamer = gamer_reference(env_id)
    if gamer is not None:
        refs["gamer"] = gamer
    if dataset_name:
        # a built-in dataset exported to Minari comes back named NAME-v0
        for name in (dataset_name, re.sub(r"-v\d+$", "", dataset_name)):
            ref = reference_returns(name)
            if ref is not None:
                refs[reference_label(name)] = ref
                break
    return refs


def evaluate(
    policy: RolloutPolicy | LoadedRun,
    env_id: str,
    targets: Sequence[Target] | Target,
    num_episodes: int = 10,
    num_envs: int | None = None,
    seed: int = 0,
    temperature: float = 0.0,
    env_kwargs: dict[str, Any] | None = None,
    progress: bool = True,
    dataset_name: str | None = None,
    precision: str = "fp32",
) -> list[TargetResult]:
    """Evaluate at each target return: `num_episodes` episodes each, on `num_envs` envs (default:
    min(num_episodes, 16)). The same seeds are used for every target. `targets` is a sequence of targets; a
    single one (a number, a function of the reset info, or AUTO) is taken as the one target."""
    for name, value in (("num_episodes", num_episodes), ("num_envs", num_envs)):
        if not (value is None and name == "num_envs") and not is_int(value):
            raise TypeError(f"{name}={value!r}: expected a positive int")
    if num_episodes <= 0:
        raise ValueError(f"num_episodes={num_episodes} must be positive")
    if isinstance(targets, (numbers.Real, str)) or callable(targets):
        targets = [targets]
    try:
        targets = list(targets)
    except TypeError:
        raise TypeError(f"targets={targets!r}: expected a sequence of target returns (or a single one)") from None
    if not targets:
        raise ValueError("evaluate needs at least one target return")
    bad = [t for t in targets if not callable(t) and t != AUTO and not (isinstance(t, numbers.Real) and math.isfinite(t))]
    if bad:
        raise ValueError(f"targets={bad}: a target return must be a finite number (or a function of the reset info, "
                         f"or {AUTO!r})")
    if num_envs is not None and num_envs < 1:
        raise ValueError(f"num_envs={num_envs} must be >= 1 (None: min(num_episodes, 16))")
    if not (math.isfinite(temperature) and temperature >= 0):
        raise ValueError(f"temperature={temperature} must be a finite number >= 0")
    if isinstance(policy, LoadedRun):
        dataset_name = dataset_name or policy.meta.dataset
        policy = RolloutPolicy.from_run(policy, precision)
    elif not isinstance(policy, RolloutPolicy):
        raise TypeError(f"policy: a {type(policy).__name__}; expected a RolloutPolicy or a LoadedRun (load_run(run_dir); "
                        "a bare model: RolloutPolicy.from_meta(model, meta))")
    if AUTO in targets:
        check_auto(policy.model)
    num_envs = num_envs or min(num_episodes, 16)
    env_fns = [lambda: make_env(env_id, **(env_kwargs or {}))] * num_envs
    refs = resolve_references(env_id, dataset_name)
    out = []
    for target in targets:
        res = evaluate_target(policy, env_fns, target, num_episodes, seed=seed, temperature=temperature, progress=progress)
        res.refs = dict(refs)
        out.append(res)
    return out

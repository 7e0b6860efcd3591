"""Acting from an exported policy with onnxruntime and numpy only (no torch): `BatchedOnnxPolicy` for N envs,
`OnnxPolicy` for one. They act as evaluation's `DTAgent` (evaluate.py) does, with the preprocessing the file's
metadata carries (deploy/metadata.py):

* Per env, a context of the last K steps, left-padded (attention_mask 0), the newest step last.
* States are normalised, (obs - state_mean) / state_std, in float32.
* The return-to-go starts at target_return / reward_scale and after each step is decremented by
  reward / reward_scale (the reward clipped to [-reward_clip, reward_clip] first when reward_clip > 0).
* Timesteps count from 0 and are clipped to max_ep_len - 1.
* The first `act` of an episode takes no reward; every later one takes the reward of the previous action.
* Continuous actions are unscaled to the env's range when the run scaled them (metadata action_scale_low /
  action_scale_high), then clipped to the action bounds (the metadata's, or the ones given); the context keeps the
  action scaled back, in the model's space. Discrete actions are the argmax of the logits (or sampled at
  `temperature` > 0, from numpy's generator: not DTAgent's stream).
* A banded model (attention_window > 0) acts from its step graph (FILE.step.onnx) and a key/value cache per env,
  as `IncrementalDecoder` does; other models run the full graph over the columns where some env has a real step.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..common.action_scale import scale_actions, unscale_actions
from ..common.checks import is_int as _is_int, is_real as _is_real
from .metadata import DeployError
from .session import check_step_graph, load_session


def _f32(x: Any) -> np.ndarray:
    """`x` as float32; what float32 cannot hold becomes inf (or nan), silently: callers check with isfinite."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.asarray(x).astype(np.float32, copy=False)


def _numeric(x: Any, name: str, expected: str) -> np.ndarray:
    """`x` as an array of numbers (bool, int or float); a ValueError naming `name` and `expected` otherwise."""
    try:
        a = np.asarray(x)
    except (TypeError, ValueError):
        a = None
    if a is None or a.dtype.kind not in "biuf":
        raise ValueError(f"{name}: {'ragged' if a is None else f'dtype {a.dtype}'}; expected numbers, {expected}")
    return a


class BatchedOnnxPolicy:
    """An exported policy acting in N envs at once. `reset(target_returns, rows)` starts episodes;
    `act(observations, rewards, rows) -> actions` returns (R, A) float32, or (R,) int64 for discrete actions.

    `path`: the file `dt export` wrote (a banded model's step graph is found next to it). `incremental`: None
    uses the step graph when there is one, False always the full graph. `action_low` / `action_high` override
    the metadata's bounds. `threads`: onnxruntime's intra-op threads (0: its default)."""

    def __init__(self, path: str | os.PathLike, num_envs: int = 1, *, incremental: bool | None = None,
                 action_low: Any = None, action_high: Any = None, temperature: float = 0.0, seed: int = 0,
                 threads: int = 0, providers: Sequence[str] | None = None):
        if not _is_int(num_envs) or num_envs < 1:
            raise ValueError(f"num_envs={num_envs!r}: expected an int >= 1")
        if not (_is_real(temperature) and np.isfinite(temperature) and temperature >= 0):
            raise ValueError(f"temperature={temperature!r}: expected a finite number >= 0")
        if not _is_int(threads) or threads < 0:
            raise ValueError(f"threads={threads!r}: expected an int >= 0 (0: onnxruntime's default)")
        if providers is not None and (isinstance(providers, str) or not all(isinstance(p, str) for p in providers)):
            raise ValueError(f"providers={providers!r}: expected a list of onnxruntime provider names, e.g. "
                             "['CPUExecutionProvider']")
        if incremental not in (None, True, False):
            raise ValueError(f"incremental={incremental!r}: expected None, True or False")
        session, meta = load_session(path, threads, providers)
        self.path, self.meta = Path(path), meta
        self.full, self.step = (session, None) if meta["graph"] == "full" else (None, session)
        if self.full is not None and meta.get("step_graph") and incremental is not False:
            step_path = self.path.parent / meta["step_graph"]
            self.step, step_meta = load_session(step_path, threads, providers)
            check_step_graph(step_meta, meta, step_path, self.path)
            self.meta, self.full = step_meta, None  # acting reads the step graph only
        if incremental and self.step is None:
            raise DeployError(f"{path}: incremental acting needs a banded model's step graph; this model has none")
        if self.step is None and self.full is None:
            raise DeployError(f"{path}: no graph to act with")
        m = self.meta
        self.n, self.K = num_envs, int(m["context_len"])
        self.discrete, self.act_dim, self.temperature = bool(m["discrete"]), int(m["act_dim"]), temperature
        self.rng = np.random.default_rng(seed)
        shape = tuple(m["state_shape"])
        mean, std = np.asarray(m["state_mean"], np.float32), np.asarray(m["state_std"], np.float32)
        self.state_mean = mean.reshape(shape) if mean.size == int(np.prod(shape)) else mean.reshape(())
        self.state_std = std.reshape(shape) if std.size == int(np.prod(shape)) else std.reshape(())
        self.reward_scale, self.reward_clip = float(m["reward_scale"]), float(m["reward_clip"])
        self.max_ep_len, self.state_shape = int(m["max_ep_len"]), shape
        if self.discrete and (action_low is not None or action_high is not None):
            raise ValueError(f"action_low / action_high: {path} has discrete actions; bounds apply to continuous "
                             "actions only")
        if not self.discrete and temperature:
            raise ValueError(f"temperature={temperature!r}: {path} has continuous actions (the mean action is taken); "
                             "temperature samples discrete actions only")
        low = m.get("action_low") if action_low is None else self._bound(action_low, "action_low")
        high = m.get("action_high") if action_high is None else self._bound(action_high, "action_high")
        self.action_low = None if low is None or self.discrete else np.asarray(low, np.float32)
        self.action_high = None if high is None or self.discrete else np.asarray(high, np.float32)
        if self.action_low is not None and self.action_high is not None:
            above = np.broadcast_to(self.action_low > self.action_high, (self.act_dim,))
            if above.any():
                raise ValueError(f"action_low {self.action_low.tolist()} > action_high {self.action_high.tolist()} "
                                 f"at action dim(s) {np.flatnonzero(above).tolist()}; expected low <= high")
        scale_low, scale_high = m.get("action_scale_low"), m.get("action_scale_high")
        self.scale_low = None if scale_low is None else np.asarray(scale_low, np.float32)
        self.scale_high = None if scale_high is None else np.asarray(scale_high, np.float32)
        # the last L steps of each env (L = K, or 2 for the step graph: it reads the newest step and a_{t-1})
        L, n = (2 if self.step is not None else self.K), num_envs
        self.states = np.zeros((n, L, *shape), np.float32)
        self.actions = np.zeros((n, L), np.int64) if self.discrete else np.zeros((n, L, self.act_dim), np.float32)
        self.returns_to_go = np.zeros((n, L, 1), np.float32)
        self.timesteps = np.zeros((n, L), np.int64)
        self.mask = np.zeros((n, L), np.int64)
        self.targets = np.zeros(n)
        self.fresh = np.zeros(n, bool)  # reset, first observation not yet seen
        self.started = np.zeros(n, bool)
        if self.step is not None:
            c = m["cache"]
            self.keys = np.zeros((c["layers"], n, c["heads"], c["slots"], c["head_dim"]), np.float32)
            self.values = np.zeros_like(self.keys)
            self.slot_step = np.full((n, c["slots"]), -1, np.int64)
            self.t = np.zeros(n, np.int64)  # the step count of each env (unclipped)
        self._probe()

    def _probe(self) -> None:
        """One run at the largest inputs the metadata allows (K = context_len steps, timestep max_ep_len - 1): metadata
        edited past the graph's embedding tables fails here, in one line, not inside onnxruntime mid-episode."""
        last = np.full((1,), self.max_ep_len - 1, np.int64)
        if self.step is None:
            feeds = {"states": self.states[:1], "actions": self.actions[:1], "returns_to_go": self.returns_to_go[:1],
                     "timesteps": np.broadcast_to(last[:, None], (1, self.K)).copy(),
                     "attention_mask": np.ones((1, self.K), np.int64)}
            session, what = self.full, f"{self.K} steps"
        else:
            feeds = {"state": self.states[:1, -1], "returns_to_go": self.returns_to_go[:1, -1],
                     "prev_action": self.actions[:1, -2], "timestep": last, "prev_timestep": last,
                     "step": np.zeros(1, np.int64), "slot_step": self.slot_step[:1], "keys": self.keys[:, :1],
                     "values": self.values[:, :1]}
            session, what = self.step, "one step"
        try:
            session.run(None, {k: np.ascontiguousarray(feeds[k]) for k in self.meta["inputs"]})
        except Exception as exc:  # onnxruntime's own exception types
            raise DeployError(f"{self.path}: the graph fails on {what} at timestep {self.max_ep_len - 1}, which its "
                              f"metadata allows (context_len {self.K}, max_ep_len {self.max_ep_len}): "
                              f"{str(exc).splitlines()[0][:160]}; metadata edited? re-export with `dt export`") from None

    def _bound(self, value: Any, name: str) -> np.ndarray:
        b = _numeric(value, name, f"one number or {self.act_dim} (act_dim), one per action dimension")
        if b.shape not in ((), (self.act_dim,)) or np.isnan(b).any():
            raise ValueError(f"{name} {b.tolist()} has shape {b.shape}; expected one number or {self.act_dim} "
                             "(act_dim) numbers, one per action dimension, none NaN")
        return b

    @property
    def incremental(self) -> bool:
        return self.step is not None

    def _rows(self, rows) -> np.ndarray:
        if rows is None:
            return np.arange(self.n)
        expected = f"expected distinct env indices (ints) in [0, {self.n})"
        try:
            r = np.atleast_1d(np.asarray(rows))
        except (TypeError, ValueError):
            raise ValueError(f"rows {rows!r}: {expected}") from None
        if r.ndim != 1 or (r.size and r.dtype.kind not in "iu"):
            raise ValueError(f"rows {r.tolist()} ({r.dtype}, shape {r.shape}): {expected}")
        r = r.astype(np.int64)
        if len(np.unique(r)) != len(r) or (r < 0).any() or (r >= self.n).any():
            raise ValueError(f"rows {r.tolist()}: {expected}")
        return r

    def reset(self, target_returns: float | Sequence[float] | np.ndarray, rows=None) -> None:
        """Start new episodes in `rows` (default: all envs) at these target returns (one, or one per row)."""
        rows = self._rows(rows)
        t = _numeric(target_returns, "target returns", f"one number or ({len(rows)},): one per row")
        if t.shape not in ((), rows.shape):
            raise ValueError(f"target returns have shape {t.shape}; expected one number or ({len(rows)},): one "
                             f"per row of rows {rows.tolist()}")
        targets = np.broadcast_to(t.astype(np.float64), rows.shape)
        if not np.isfinite(targets).all() or not np.isfinite(_f32(targets / self.reward_scale)).all():
            raise ValueError(f"target returns {targets.tolist()} must be finite numbers within float32's range once "
                             f"divided by reward_scale {self.reward_scale}")
        self.targets[rows] = targets
        self.fresh[rows], self.started[rows] = True, True
        if self.step is not None:
            self.slot_step[rows], self.t[rows] = -1, 0

    def normalize(self, obs: np.ndarray) -> np.ndarray:
        """(obs - state_mean) / state_std in float32; a value outside float32's range becomes inf (act refuses it)."""
        return _f32((_f32(obs) - self.state_mean) / self.state_std)

    def _next_returns_to_go(self, rows: np.ndarray, rewards: np.ndarray) -> np.ndarray:
        """The float32 return-to-go after `rewards` (clipped to reward_clip first, when set) for `rows`."""
        rewards = np.asarray(rewards, np.float64)
        if self.reward_clip:
            rewards = np.clip(rewards, -self.reward_clip, self.reward_clip)
        with np.errstate(over="ignore", invalid="ignore"):
            return self.returns_to_go[rows, -1, 0] - _f32(rewards / self.reward_scale)

    def _begin(self, rows: np.ndarray, states: np.ndarray) -> None:
        """New episodes in `rows`, from their normalised first states."""
        for buf in (self.states, self.actions, self.returns_to_go, self.timesteps, self.mask):
            buf[rows] = 0
        self.states[rows, -1] = states
        self.returns_to_go[rows, -1, 0] = _f32(self.targets[rows] / self.reward_scale)
        self.mask[rows, -1] = 1

    def _observe(self, rows: np.ndarray, states: np.ndarray, rtg: np.ndarray) -> None:
        """The next step in `rows`: normalised states and the returns-to-go after the previous rewards."""
        t = self.timesteps[rows, -1] + 1
        for buf in (self.states, self.actions, self.returns_to_go, self.timesteps, self.mask):
            buf[rows] = np.roll(buf[rows], -1, axis=1)
        self.actions[rows, -1] = 0
        self.states[rows, -1] = states
        self.returns_to_go[rows, -1, 0] = rtg
        self.timesteps[rows, -1] = np.minimum(t, self.max_ep_len - 1)
        self.mask[rows, -1] = 1

    def act(self, observations: np.ndarray, rewards: np.ndarray | Sequence[float] | None = None,
            rows=None) -> np.ndarray:
        """Actions for `rows` (default: all envs): observations (R, *S) raw; rewards (R,) the rewards of the
        previous actions (ignored for rows whose episode just started; None only if all did)."""
        rows = self._rows(rows)
        if not self.started[rows].all():
            raise RuntimeError(f"act before reset for env(s) {rows[~self.started[rows]].tolist()}: "
                               "call reset(target_return) first")
        # every check before any state changes: a refused call leaves the envs as they were
        obs = _numeric(observations, "observations", f"shape {(len(rows), *self.state_shape)}")
        if obs.shape != (len(rows), *self.state_shape):
            raise ValueError(f"observations have shape {obs.shape}; expected {(len(rows), *self.state_shape)} "
                             f"({len(rows)} envs, state shape {self.state_shape})")
        if not len(rows):  # nothing to act for
            return np.zeros(0, np.int64) if self.discrete else np.zeros((0, self.act_dim), np.float32)
        states = self.normalize(obs)  # what the model reads: checked as such (1e300 is finite, not in float32)
        bad = ~np.isfinite(states.reshape(len(rows), -1)).all(1)
        if bad.any():
            raise ValueError(f"observations for env(s) {rows[bad].tolist()} hold non-finite values, or values "
                             f"outside float32's range once normalised (state shape {self.state_shape})")
        fresh = self.fresh[rows]
        if not fresh.all():
            if rewards is None:
                raise ValueError("act: rewards are needed for envs past the first step of their episode")
            r = _numeric(rewards, "rewards", f"shape ({len(rows)},): one per row")
            if r.shape not in ((), rows.shape):
                raise ValueError(f"rewards have shape {r.shape}; expected ({len(rows)},): one per row of rows "
                                 f"{rows.tolist()} (or one number for all)")
            rewards = np.broadcast_to(r.astype(np.float64), rows.shape)
            rtg = self._next_returns_to_go(rows[~fresh], rewards[~fresh])
            bad = ~np.isfinite(rewards[~fresh]) | ~np.isfinite(rtg)
            if bad.any():
                raise ValueError(f"rewards for env(s) {rows[~fresh][bad].tolist()} hold non-finite values, or "
                                 f"values that take the return-to-go outside float32's range "
                                 f"{rewards[~fresh][bad].tolist()}")
        if fresh.any():
            self._begin(rows[fresh], states[fresh])
        if not fresh.all():
            self._observe(rows[~fresh], states[~fresh], rtg)
        self.fresh[rows] = False
        preds = self._predict(rows)  # (R, A)
        if self.discrete:
            if self.temperature > 0:
                z = preds.astype(np.float64) / self.temperature
                p = np.exp(z - z.max(-1, keepdims=True))
                p /= p.sum(-1, keepdims=True)
                action = np.array([self.rng.choice(len(q), p=q) for q in p], np.int64)
            else:
                action = preds.argmax(-1).astype(np.int64)
        else:
            action = self.unscale(preds.astype(np.float32, copy=False))
            if self.action_low is not None or self.action_high is not None:
                action = np.clip(action, self.action_low, self.action_high)
            self.actions[rows, -1] = self.scale(action)
            return action
        self.actions[rows, -1] = action
        return action

    def scale(self, actions: np.ndarray) -> np.ndarray:
        """Env actions -> the model's [-1, 1] (common/action_scale.py, as `Preprocessing`); unchanged without bounds."""
        return actions if self.scale_low is None else scale_actions(actions, self.scale_low, self.scale_high)

    def unscale(self, actions: np.ndarray) -> np.ndarray:
        """The model's actions -> the env's (common/action_scale.py, as `Preprocessing`); unchanged without bounds."""
        return actions if self.scale_low is None else unscale_actions(actions, self.scale_low, self.scale_high)

    def _predict(self, rows: np.ndarray) -> np.ndarray:
        everyone = len(rows) == self.n and bool((rows == np.arange(self.n)).all())
        if self.step is None:  # the full graph over the columns where some row has a real step (padding is inert)
            n = int(self.mask[rows].sum(1).max())
            bufs = {"states": self.states, "actions": self.actions, "returns_to_go": self.returns_to_go,
                    "timesteps": self.timesteps, "attention_mask": self.mask}
            feeds = {k: np.ascontiguousarray(bufs[k][:, -n:] if everyone else bufs[k][rows, -n:])
                     for k in self.meta["inputs"]}
            return self.full.run(None, feeds)[0][:, -1]
        # the step graph: the newest step, a_{t-1} with its timestep, and the rows' caches
        take = (lambda a, *i: a[(slice(None), *i)]) if everyone else (lambda a, *i: a[(rows, *i)])  # noqa: E731
        x = {"state": take(self.states, -1), "returns_to_go": take(self.returns_to_go, -1),
             "prev_action": take(self.actions, -2), "timestep": take(self.timesteps, -1),
             "prev_timestep": take(self.timesteps, -2), "step": take(self.t), "slot_step": take(self.slot_step),
             "keys": self.keys if everyone else self.keys[:, rows],
             "values": self.values if everyone else self.values[:, rows]}
        feeds = {k: np.ascontiguousarray(x[k]) for k in self.meta["inputs"]}
        preds, keys, values, slot_step = self.step.run(None, feeds)
        if everyone:
            self.keys, self.values, self.slot_step = keys, values, slot_step
        else:
            self.keys[:, rows], self.values[:, rows], self.slot_step[rows] = keys, values, slot_step
        self.t[rows] += 1
        return preds


class OnnxPolicy:
    """An exported policy acting in one env: `reset(target_return)`, then `act(observation, reward)` every step
    (the first call of an episode without a reward). Returns a (A,) float32 action, or an int for discrete
    actions. Keyword arguments as `BatchedOnnxPolicy`."""

    def __init__(self, path: str | os.PathLike, **kwargs: Any):
        self.batched = BatchedOnnxPolicy(path, 1, **kwargs)
        self.meta = self.batched.meta

    def reset(self, target_return: float | None = None) -> None:
        """A new episode; the target defaults to the dataset's best return when the export recorded it."""
        if target_return is None:
            target_return = self.meta.get("max_return")
            if target_return is None:
                raise ValueError("reset: this export records no max_return; pass a target return")
        self.batched.reset(target_return)

    def act(self, observation: np.ndarray, reward: float | None = None):
        obs = _numeric(observation, "observation", f"shape {self.batched.state_shape}")
        if obs.shape != self.batched.state_shape:  # checked here: the batched policy would name its (1, ...) shape
            raise ValueError(f"observation has shape {obs.shape}; expected {self.batched.state_shape}")
        obs = obs[None]
        if reward is not None:
            r = _numeric(reward, "reward", "one number (the reward of the previous action)")
            if r.size != 1 or r.ndim > 1:
                raise ValueError(f"reward has shape {r.shape}; expected one number (the reward of the previous "
                                 "action)")
            reward = r.reshape(1)
        out = self.batched.act(obs, reward)
        return int(out[0]) if self.batched.discrete else out[0]

"""A peer Decision Transformer in the harness: d3rlpy 2.8.0's `DecisionTransformer` (its model, its trainer `fit`
and its stateful evaluation wrapper), method `d3rlpy-dt`. It answers a reviewer's question: are our DT's numbers
about Decision Transformer, or about our code?

Settings are d3rlpy's published DT reproduction, `reproductions/offline/decision_transformer.py` at v2.8.0
(github.com/takuseno/d3rlpy): AdamW with weight decay 1e-4, gradient-norm clip 0.25, a linear warmup
(`WarmupSchedulerFactory`), the state encoder `VectorEncoderFactory([128], exclude_last_activation=True)` (one
linear layer), `StandardObservationScaler`, `MultiplyRewardScaler(0.001)`, the SIMPLE position encoding (a learned
timestep embedding), lr 1e-4, batch 64, K 20, 1 head, 3 layers, max timestep 1000; dropouts and activation are
`DecisionTransformerConfig`'s defaults (0.1 and relu). Everything the two implementations share is taken from our
DT in the same cell, not restated: the budget (steps, batch, lr, warmup: the protocol's) and the shape (K, width,
depth, heads, dropout, activation, max episode length: `model_config('dt')`), so the two differ only in code.
Evaluation is the project's runner with the same seeds, episodes and targets as `dt`; each env acts through
d3rlpy's `StatefulTransformerWrapper`, which keeps the context and decrements the return-to-go by each reward.

Where d3rlpy's DT differs from ours by construction (read from its source, v2.8.0; docs/results/README.md
measures what they do): a training window ends at a uniformly drawn transition and is zero-padded in front
(ours: a uniformly drawn start); the loss is the squared error summed over action dimensions and averaged over
all B x K positions, padding included as zeros (ours: mean over dimensions and real positions); timesteps count
from 1 (ours: 0); and it never sees the last action token of its context when acting.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class D3rlpyDTSettings:
    """What d3rlpy's DT reproduction script sets that is not part of the shared budget or model shape."""

    weight_decay: float = 1e-4
    """AdamW weight decay (d3rlpy's script; our DT's too)."""
    clip_grad_norm: float = 0.25
    """Gradient-norm clip (d3rlpy's script; our DT's too)."""
    reward_multiplier: float = 0.001
    """MultiplyRewardScaler: rewards and returns-to-go are multiplied by this (our DT divides by 1000)."""
    position_encoding: str = "simple"
    """d3rlpy PositionEncodingType: simple (a learned timestep embedding, as ours) or global."""


@dataclass
class PeerDTPolicy:
    """A trained d3rlpy DT; `agent(target)` gives the runner's agent that acts at that target return."""

    algo: Any

    def agent(self, target_return: float) -> "StatefulDTAgent":
        return StatefulDTAgent(self.algo, float(target_return))


class StatefulDTAgent:
    """The runner's agent protocol (runner.py) over d3rlpy's StatefulTransformerWrapper: one wrapper per env row,
    fed each step's observation and the reward of the step before (0 at the episode's start), as d3rlpy's own
    evaluation loop does."""

    def __init__(self, algo: Any, target_return: float):
        self.algo, self.target_return = algo, target_return
        self.wrappers: dict[int, Any] = {}
        self.last_reward: dict[int, float] = {}

    def begin(self, rows, obs, infos) -> None:
        for r in rows:
            self.wrappers[int(r)] = self.algo.as_stateful_wrapper(target_return=self.target_return)
            self.last_reward[int(r)] = 0.0

    def act(self, rows, obs) -> np.ndarray:
        return np.stack([np.asarray(self.wrappers[int(r)].predict(np.asarray(o, np.float32), self.last_reward[int(r)]),
                                    np.float32) for r, o in zip(rows, obs)])

    def observe(self, rows, obs, rewards) -> None:
        for r, rew in zip(rows, rewards):
            self.last_reward[int(r)] = float(rew)

    def finish(self, row) -> dict[str, Any]:
        return {}


def make_dt_algo(d3rlpy, settings: D3rlpyDTSettings, dt: dict[str, Any], budget: Any, device: str):
    """d3rlpy's DecisionTransformer with `settings`, the shape of our DT config `dt` (a DTConfig dict) and the
    budget's batch, lr and warmup."""
    optim = d3rlpy.optimizers.AdamWFactory(
        weight_decay=settings.weight_decay, clip_grad_norm=settings.clip_grad_norm,
        lr_scheduler_factory=d3rlpy.optimizers.WarmupSchedulerFactory(warmup_steps=budget.train.warmup_steps))
    return d3rlpy.algos.DecisionTransformerConfig(
        batch_size=budget.train.batch_size, learning_rate=budget.train.lr, optim_factory=optim,
        encoder_factory=d3rlpy.models.VectorEncoderFactory([dt["embed_dim"]], exclude_last_activation=True),
        observation_scaler=d3rlpy.preprocessing.StandardObservationScaler(),
        reward_scaler=d3rlpy.preprocessing.MultiplyRewardScaler(settings.reward_multiplier),
        position_encoding_type=d3rlpy.PositionEncodingType(settings.position_encoding),
        context_size=dt["context_len"], num_heads=dt["n_head"], num_layers=dt["n_layer"],
        max_timestep=dt["max_ep_len"], attn_dropout=dt["dropout"], resid_dropout=dt["dropout"],
        embed_dropout=dt["dropout"], activation_type=dt["activation"],
    ).create(device=device)

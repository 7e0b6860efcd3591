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

On the Atari datasets the same method is d3rlpy's `DiscreteDecisionTransformer` (as `cql` is DiscreteCQL there), with
d3rlpy's `reproductions/offline/discrete_decision_transformer.py` settings at v2.8.0 (`D3rlpyDiscreteDTSettings`):
the Nature-DQN pixel encoder (`PixelEncoderFactory(feature_size=width, exclude_last_activation=True)`), pixels
scaled by 1/255, tanh on the embeddings, the GLOBAL position encoding, GPT-style AdamW (betas 0.9 / 0.95, weight
decay 0.1, gradient-norm clip 1.0) with a token-counted linear warmup and cosine decay. Budget and shape are our
Atari DT's (steps, batch, lr, K, width, depth, heads, dropout, activation, max timestep); d3rlpy counts its
schedule in tokens (real window positions), so the warmup and the decay horizon are our warmup and total steps
times batch times K. Frames are stacked as ours and the env's (the episode's first frame repeated in front:
`FirstFrameTrajectorySlicer`, not d3rlpy's zero-padding slicer). Acting samples from the softmax at the Atari
protocol's temperature (d3rlpy's script: 1.0), from a generator seeded with the evaluation seed (d3rlpy's sampler
draws from numpy's global one).

Where d3rlpy's DT differs from ours by construction (read from its source, v2.8.0; docs/results/README.md
measures what they do): a training window ends at a uniformly drawn transition and is zero-padded in front
(ours: a uniformly drawn start); the loss is the squared error summed over action dimensions and averaged over
all B x K positions, padding included as zeros (ours: mean over dimensions and real positions); timesteps count
from 1 (ours: 0); it never sees the last action token of its context when acting; and it initialises its GPT-2
blocks and timestep embedding N(0, 0.02) but leaves the state encoder, the return and action embeddings and the
action head at PyTorch's defaults, as the paper's gym code leaves its embeddings and heads (our default
`DTConfig.init=gpt2` initialises every layer N(0, 0.02), as Hugging Face's DecisionTransformerModel does;
`init=official` is the paper code's). Method `d3rlpy-dt-gpt2-init` (gym only) is the peer with every layer
initialised as our default (`gpt2_init_peer`), everything else d3rlpy's: the converse of our `dt-official-init`.
"""

from __future__ import annotations

import dataclasses
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


@dataclass(frozen=True)
class D3rlpyDiscreteDTSettings:
    """What d3rlpy's discrete DT reproduction script (Atari) sets beyond the shared budget and model shape."""

    embed_activation: str = "tanh"
    """Activation on the token embeddings (d3rlpy's `embed_activation_type`; the original Atari code's tanh)."""
    position_encoding: str = "global"
    """d3rlpy PositionEncodingType: global (the original Atari code's: a global timestep embedding plus a position
    within the context) or simple."""
    beta1: float = 0.9
    """GPTAdamW beta1."""
    beta2: float = 0.95
    """GPTAdamW beta2."""
    weight_decay: float = 0.1
    """GPTAdamW weight decay (on weight matrices)."""
    clip_grad_norm: float = 1.0
    """Gradient-norm clip."""
    frame_stack: int = 4
    """Frames per observation (the env's and our sampler's stack)."""


@dataclass
class PeerDTPolicy:
    """A trained d3rlpy DT; `agent(target, seed, temperature)` gives the runner's agent that acts at that target
    return (a discrete one samples at `temperature` from a generator seeded with `seed`)."""

    algo: Any
    discrete: bool = False

    def agent(self, target_return: float, seed: int = 0, temperature: float = 1.0) -> "StatefulDTAgent":
        sampler = SeededSoftmax(np.random.default_rng(seed), temperature) if self.discrete else None
        return StatefulDTAgent(self.algo, float(target_return), sampler)


class SeededSoftmax:
    """d3rlpy's transformer action-sampler interface (logits -> action) sampling from softmax(logits / temperature)
    with a given generator (d3rlpy's SoftmaxTransformerActionSampler draws from numpy's global RNG); temperature 0
    takes the argmax."""

    def __init__(self, rng: np.random.Generator, temperature: float):
        self.rng, self.temperature = rng, float(temperature)

    def __call__(self, logits: np.ndarray) -> int:
        if self.temperature == 0:
            return int(np.argmax(logits))
        z = np.asarray(logits, np.float64) / self.temperature
        probs = np.exp(z - z.max())
        return int(self.rng.choice(len(probs), p=probs / probs.sum()))


class StatefulDTAgent:
    """The runner's agent protocol (runner.py) over d3rlpy's StatefulTransformerWrapper: one wrapper per env row,
    fed each step's observation and the reward of the step before (0 at the episode's start), as d3rlpy's own
    evaluation loop does."""

    def __init__(self, algo: Any, target_return: float, sampler: SeededSoftmax | None = None):
        self.algo, self.target_return, self.sampler = algo, target_return, sampler
        self.wrappers: dict[int, Any] = {}
        self.last_reward: dict[int, float] = {}

    def begin(self, rows, obs, infos) -> None:
        for r in rows:
            self.wrappers[int(r)] = self.algo.as_stateful_wrapper(target_return=self.target_return,
                                                                  action_sampler=self.sampler)
            self.last_reward[int(r)] = 0.0

    def act(self, rows, obs) -> np.ndarray:
        actions = np.stack([np.asarray(self.wrappers[int(r)].predict(np.asarray(o, np.float32), self.last_reward[int(r)]))
                            for r, o in zip(rows, obs)])
        return actions.astype(np.int64 if self.sampler is not None else np.float32)

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


def gpt2_init_peer(algo: Any, mdp: Any) -> None:
    """Build d3rlpy's DT networks now (d3rlpy builds them at its first `fit`, which then keeps them) and initialise
    every layer as our DT's default does (`gpt2_init_`: N(0, 0.02) everywhere), where d3rlpy leaves its state
    encoder, return and action embeddings and action head at PyTorch's defaults (method d3rlpy-dt-gpt2-init)."""
    from decision_transformer.model import gpt2_init_

    algo.build_with_dataset(mdp)
    algo.impl.modules.transformer.apply(gpt2_init_)  # in place: the optimiser built with them keeps its parameters


def make_discrete_dt_algo(d3rlpy, settings: D3rlpyDiscreteDTSettings, dt: dict[str, Any], budget: Any, device: str):
    """d3rlpy's DiscreteDecisionTransformer with `settings`, the shape of our Atari DT config `dt` (a DTConfig dict)
    and the Atari budget's batch, lr, warmup and steps (the last two in tokens: steps x batch x K)."""
    tokens = budget.train.batch_size * dt["context_len"]  # real positions per step, at most (d3rlpy counts masks)
    optim = d3rlpy.optimizers.GPTAdamWFactory(betas=(settings.beta1, settings.beta2),
                                              weight_decay=settings.weight_decay, clip_grad_norm=settings.clip_grad_norm)
    return d3rlpy.algos.DiscreteDecisionTransformerConfig(
        batch_size=budget.train.batch_size, learning_rate=budget.train.lr, optim_factory=optim,
        encoder_factory=d3rlpy.models.PixelEncoderFactory(feature_size=dt["embed_dim"], exclude_last_activation=True),
        observation_scaler=d3rlpy.preprocessing.PixelObservationScaler(),
        position_encoding_type=d3rlpy.PositionEncodingType(settings.position_encoding),
        context_size=dt["context_len"], num_heads=dt["n_head"], num_layers=dt["n_layer"],
        max_timestep=dt["max_ep_len"], attn_dropout=dt["dropout"], resid_dropout=dt["dropout"],
        embed_dropout=dt["dropout"], activation_type=dt["activation"], embed_activation_type=settings.embed_activation,
        warmup_tokens=budget.train.warmup_steps * tokens, final_tokens=budget.train.steps * tokens,
    ).create(device=device)


class FirstFrameTrajectorySlicer:
    """A d3rlpy trajectory slicer for episodes of single frames (T, H, W): d3rlpy's basic slicing (the window ending
    at `end_index`, zero-padded in front to `size`), each observation the step's last `stack` frames with the
    episode's first frame repeated in front (data/frames.py's convention, the env's; d3rlpy's
    FrameStackTrajectorySlicer pads with zero frames)."""

    def __init__(self, stack: int):
        from d3rlpy.dataset import BasicTrajectorySlicer  # the [baselines] extra, imported where used

        from decision_transformer.data.frames import stack_rows  # (here: the frame sampler loads torch)

        self.stack, self.basic, self.stack_rows = stack, BasicTrajectorySlicer(), stack_rows

    def __call__(self, episode, end_index: int, size: int):  # once per window of every batch: nothing built here
        window = self.basic(episode, end_index, size)
        start = max(end_index + 1 - size, 0)
        frames = np.asarray(episode.observations)[self.stack_rows(np.arange(start, end_index + 1), 0, self.stack)]
        stacked = np.zeros((size, *frames.shape[1:]), frames.dtype)  # (size, stack, H, W), front padding zeros
        stacked[size - len(frames):] = frames
        return dataclasses.replace(window, observations=stacked)

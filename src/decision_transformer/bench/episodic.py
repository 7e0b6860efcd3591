"""Whole-episode training for short-episode tasks (the paper's Key-to-Door: "the entire episode as context").

`train.Trainer` samples windows with a uniform start, as the paper's gym code does; a window then holds
the steps from its start to the end of the episode, so an episode's first steps are seen in few
windows. When the context covers the whole episode the paper trains on whole episodes instead, and
so does this trainer: every batch row is one complete episode, left-padded to `context_len` (the
padding convention of `data/sampler.py`). Because padded tokens are masked and there is no positional
embedding other than the timestep, the prediction at step t of a whole episode is exactly the
prediction evaluation makes with the first t steps in context, so every step of every episode is a
training target. The optimiser is the trainer's (AdamW, Linear-only weight decay, linear warmup,
gradient clipping).

With `return_loss_weight > 0` (and `predict_return=True` in the config) the return head is trained
too, with a binary cross-entropy on the episode's return (a success indicator in [0, 1]): the critic
of the paper's credit-assignment analysis.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..config import DTConfig, MLPBCConfig
from ..data.trajectories import DatasetError, TrajectoryDataset
from ..evaluate import RolloutPolicy
from ..model import build_model
from ..train import action_loss, param_groups


@dataclass(frozen=True)
class EpisodicTrainConfig:
    """Optimisation settings of whole-episode training."""

    steps: int = 2000
    """Gradient steps."""
    batch_size: int = 64
    """Episodes per gradient step."""
    lr: float = 1e-3
    """AdamW learning rate after warmup."""
    weight_decay: float = 1e-4
    """AdamW weight decay (Linear weights only)."""
    warmup_steps: int = 200
    """Linear learning-rate warmup."""
    grad_clip: float = 0.25
    """Gradient-norm clip."""
    seed: int = 0
    """Seeds the model init, dropout and the episode sampler."""
    action_loss_weight: float = 1.0
    """Weight of the action cross-entropy / MSE."""
    return_loss_weight: float = 0.0
    """Weight of the return-head binary cross-entropy (needs predict_return=True)."""
    return_balanced: bool = False
    """Draw each batch row from a uniformly chosen distinct episode return, then an episode with that return
    uniformly, instead of an episode uniformly (not in the paper; meant for a few distinct returns, such as
    success / failure). For DT this leaves the fitted target p(a_t | context) unchanged, because the weight
    depends only on the episode return, which the whole-episode context shows as its first return-to-go;
    it only shows a rare return (Key-to-Door's ~3% successes) more often. For BC, which sees no return,
    it changes the target (to a return-reweighted BC)."""


class EpisodeBatcher:
    """A dataset as (E, K, ...) left-padded tensors; `sample` draws whole episodes uniformly."""

    def __init__(self, dataset: TrajectoryDataset, context_len: int, max_ep_len: int):
        lengths = dataset.episode_lengths
        if lengths.max() > context_len:
            raise DatasetError(
                f"{dataset.source}: field 'episode_starts' gives an episode of {int(lengths.max())} steps; "
                f"whole-episode training needs context_len >= the longest episode (context_len={context_len})"
            )
        E, K = dataset.num_episodes, context_len
        mean, std = dataset.state_stats
        pad = K - lengths  # (E,)
        row = np.arange(K)[None, :] - pad[:, None]  # (E, K) step index within the episode
        real = row >= 0
        flat = dataset.episode_starts[:, None] + np.where(real, row, 0)  # (E, K)
        states = (dataset.observations[flat].astype(np.float32) - mean) / std
        states[~real] = 0.0
        actions = np.where(real.reshape(real.shape + (1,) * (dataset.actions.ndim - 1)), dataset.actions[flat], 0)
        rtg = np.where(real, dataset.returns_to_go[flat] / dataset.reward_scale, 0.0).astype(np.float32)
        self.states = torch.from_numpy(states)  # (E, K, S)
        self.actions = torch.from_numpy(np.ascontiguousarray(actions))  # (E, K) or (E, K, A)
        self.returns_to_go = torch.from_numpy(rtg[..., None])  # (E, K, 1)
        self.timesteps = torch.from_numpy(np.where(real, np.minimum(row, max_ep_len - 1), 0).astype(np.int64))
        self.attention_mask = torch.from_numpy(real.astype(np.int64))  # (E, K)
        self.episode_returns = torch.from_numpy(dataset.episode_returns.astype(np.float32))  # (E,)
        self.num_episodes = E
        # episodes grouped by their return, for return-balanced sampling: group g (return value g) is
        # by_return[group_start[g] : group_start[g] + group_size[g]]
        self.return_values, group, self.group_size = np.unique(dataset.episode_returns, return_inverse=True, return_counts=True)
        self.by_return = np.argsort(group, kind="stable")  # (E,) episode indices, grouped
        self.group_start = np.cumsum(self.group_size) - self.group_size  # (G,)

    def sample_indices(self, batch_size: int, rng: np.random.Generator, return_balanced: bool = False) -> np.ndarray:
        """(B,) episode indices drawn with replacement: uniformly, or with `return_balanced` a uniformly drawn
        distinct return first and then an episode with that return (see `EpisodicTrainConfig.return_balanced`)."""
        if not return_balanced:
            return rng.integers(0, self.num_episodes, size=batch_size)
        g = rng.integers(0, len(self.return_values), size=batch_size)  # (B,) a return group per row
        return self.by_return[self.group_start[g] + rng.integers(0, self.group_size[g])]

    def sample(self, batch_size: int, rng: np.random.Generator, return_balanced: bool = False) -> tuple[torch.Tensor, ...]:
        idx = torch.from_numpy(self.sample_indices(batch_size, rng, return_balanced))
        return (self.states[idx], self.actions[idx], self.returns_to_go[idx], self.timesteps[idx],
                self.attention_mask[idx], self.episode_returns[idx])


def train_episodic(
    kind: str,
    model_config: DTConfig | MLPBCConfig,
    dataset: TrajectoryDataset,
    cfg: EpisodicTrainConfig,
    progress: bool = True,
    desc: str = "train",
    callback: Callable[[int, torch.nn.Module], None] | None = None,
    callback_every: int = 0,
) -> tuple[torch.nn.Module, RolloutPolicy, list[float]]:
    """Train a model of `kind` ('dt', 'bc', 'mlp-bc') on whole episodes. Returns the model (eval mode),
    a `RolloutPolicy` for `evaluate`, and the mean loss of every 100 steps. `callback(step, model)` is
    called every `callback_every` steps (model in eval mode during the call)."""
    if cfg.return_loss_weight > 0 and not getattr(model_config, "predict_return", False):
        raise ValueError("EpisodicTrainConfig.return_loss_weight > 0 needs a model config with predict_return=True")
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    discrete = dataset.discrete_actions
    state_dim = dataset.observation_shape[0]
    act_dim = dataset.act_dim
    model = build_model(kind, model_config, state_dim, act_dim)
    batcher = EpisodeBatcher(dataset, model_config.context_len, model_config.max_ep_len)
    opt = torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / cfg.warmup_steps))
    history: list[float] = []
    running: list[float] = []
    model.train()
    for step in tqdm(range(1, cfg.steps + 1), desc=desc, disable=not progress, leave=False, dynamic_ncols=True):
        states, actions, rtg, timesteps, mask, returns = batcher.sample(cfg.batch_size, rng, cfg.return_balanced)
        loss = torch.zeros(())
        if kind == "mlp-bc" or cfg.return_loss_weight == 0:
            preds = model(states, actions, rtg, timesteps, mask)
            loss = cfg.action_loss_weight * action_loss(preds, actions, mask, discrete)
        else:
            out = model.forward_all(states, actions, rtg, timesteps, mask)
            if cfg.action_loss_weight:
                loss = loss + cfg.action_loss_weight * action_loss(out.action_preds, actions, mask, discrete)
            target = returns.clamp(0, 1)[:, None].expand_as(mask).float()  # (B, K) episode success
            bce = F.binary_cross_entropy_with_logits(out.return_preds[..., 0], target, reduction="none")
            loss = loss + cfg.return_loss_weight * bce[mask.bool()].mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        sched.step()
        running.append(loss.item())
        if len(running) == 100:
            history.append(float(np.mean(running)))
            running = []
        if callback is not None and callback_every and step % callback_every == 0:
            model.eval()
            callback(step, model)
            model.train()
    model.eval()
    return model, rollout_policy(model, model_config, dataset), history


def rollout_policy(model: torch.nn.Module, model_config: DTConfig | MLPBCConfig, dataset: TrajectoryDataset) -> RolloutPolicy:
    """The `RolloutPolicy` of a model trained by `train_episodic` on `dataset` (its state statistics and reward scale)."""
    mean, std = dataset.state_stats
    return RolloutPolicy(model=model, context_len=model_config.context_len, state_mean=np.asarray(mean, np.float32),
                         state_std=np.asarray(std, np.float32), reward_scale=float(dataset.reward_scale),
                         max_ep_len=model_config.max_ep_len, discrete=dataset.discrete_actions, act_dim=dataset.act_dim)

"""The training objective of a model, and the state it keeps besides the model (trainer.py's `Trainer.loss`, and the
online fine-tuning of online.py):

    action          MSE (continuous), cross-entropy (discrete); or, for a stochastic policy
                    (`DTConfig.stochastic_policy`), nll - temperature * entropy (losses.policy_nll_and_entropy)
    + return head   return_head_weight * the expectile loss of the return-to-go (`DTConfig.return_head`)
    + critic        return_loss_weight * the success BCE of the return head at a_t (`TrainConfig.return_loss_weight`)

The temperature of a stochastic policy is the Lagrange multiplier of ODT's entropy constraint H[pi] >= target
(Zheng et al. 2022, Sec. 3), learned by its own Adam after every model step on
loss(log_temperature) = temperature * (entropy - target).detach(): it rises while the entropy is below the target and
falls while above. Target entropy -act_dim, initial temperature 0.1, temperature learning rate 1e-4: ODT's settings
(docs/beyond.md), the defaults of `dt train` (TrainConfig.init_temperature / temperature_lr) and `dt finetune`
(FinetuneConfig). An initial temperature of 0 drops the entropy term (maximum likelihood alone), a temperature
learning rate of 0 keeps the temperature fixed.

The per-step terms (`train/nll`, `train/entropy`, `train/temperature`, `train/return_loss`) are averaged between log rows
like `train/loss`; they and the temperature's state are checkpointed (`state_dict`), so a resumed run logs exactly
what an uninterrupted one does.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from .run_config import ODT_INIT_TEMPERATURE, ODT_TEMPERATURE_LR
from .losses import action_loss, expectile_loss, policy_nll_and_entropy, success_loss
from .common.precision import precision_context

ENTROPY_SAMPLES = 1
"""Reparameterised samples per real step for the Monte Carlo entropy (averaged over the batch's B x K steps)."""


class Objective:
    """The loss of one model config, plus the temperature of a stochastic policy and its optimiser."""

    def __init__(self, model_config: Any, act_dim: int, device: torch.device | str = "cpu", action_weight: float = 1.0,
                 critic_weight: float = 0.0, init_temperature: float = ODT_INIT_TEMPERATURE,
                 temperature_lr: float = ODT_TEMPERATURE_LR):
        self.discrete = bool(getattr(model_config, "discrete_actions", False))
        self.stochastic = bool(getattr(model_config, "stochastic_policy", False))
        self.return_head = getattr(model_config, "return_head", "none") != "none"
        self.expectile = float(getattr(model_config, "return_expectile", 0.5))
        self.return_weight = float(getattr(model_config, "return_head_weight", 0.0))
        self.return_normalized = bool(getattr(model_config, "return_loss_normalized", False))
        self.action_weight, self.critic_weight = float(action_weight), float(critic_weight)
        self.uses_all = self.critic_weight > 0 or self.stochastic or self.return_head  # needs forward_all's heads
        self.target_entropy = -float(act_dim)
        # init_temperature 0: no entropy term (maximum likelihood alone); temperature_lr 0: a fixed temperature
        self.entropy_term = init_temperature > 0
        self.learn_temperature = self.entropy_term and temperature_lr > 0
        self.log_temperature = torch.tensor(math.log(init_temperature) if self.entropy_term else 0.0, device=device,
                                            requires_grad=True)
        self.temperature_optimizer = torch.optim.Adam([self.log_temperature], lr=temperature_lr)
        self.pending: dict[str, list[float]] = {}  # per-step terms since the last log row
        self._last: dict[str, torch.Tensor] = {}  # the terms of the last `loss` call (detached)

    @property
    def temperature(self) -> float:
        return float(self.log_temperature.detach().exp()) if self.entropy_term else 0.0

    def loss(self, model: torch.nn.Module, forward_model: torch.nn.Module, batch: Any, precision: str = "fp32",
             device: torch.device | str = "cpu") -> torch.Tensor:
        """The weighted loss of `batch` (a data/sampler.py Batch), on fp32 predictions (the forward pass runs in
        `precision`). Only the action-only case goes through `forward_model` (compiled / DDP)."""
        b = batch
        with precision_context(precision, torch.device(device)):
            if not self.uses_all:
                preds = forward_model(b.states, b.actions, b.returns_to_go, b.timesteps, b.attention_mask)
            else:
                out = model.forward_all(b.states, b.actions, b.returns_to_go, b.timesteps, b.attention_mask)
        if not self.uses_all:
            return self.action_weight * action_loss(preds.float(), b.actions, b.attention_mask, self.discrete)
        last: dict[str, torch.Tensor] = {}
        loss = torch.zeros((), device=b.states.device)
        if self.stochastic:
            from .distributions import TanhNormal

            policy = TanhNormal(out.policy.mean.float(), out.policy.log_std.float())
            nll, entropy = policy_nll_and_entropy(policy, b.actions, b.attention_mask, ENTROPY_SAMPLES)
            temperature = self.log_temperature.exp().detach() if self.entropy_term else 0.0  # no entropy term
            loss = loss + self.action_weight * (nll - temperature * entropy)
            last.update({"train/nll": nll.detach(), "train/entropy": entropy.detach(), "train/temperature": temperature})
        elif self.action_weight:
            loss = loss + self.action_weight * action_loss(out.action_preds.float(), b.actions, b.attention_mask,
                                                           self.discrete)
        if self.return_head:
            ret = expectile_loss(out.rtg_preds.float(), b.returns_to_go, b.attention_mask, self.expectile,
                                 self.return_normalized)
            loss = loss + self.return_weight * ret
            last["train/return_loss"] = ret.detach()
        if self.critic_weight:
            loss = loss + self.critic_weight * success_loss(out.return_preds.float(), b.episode_returns, b.attention_mask)
        self._last = last
        return loss

    def update(self) -> None:
        """After a model step: keep the last terms for the next log row and take the temperature's step."""
        for k, v in self._last.items():
            self.pending.setdefault(k, []).append(float(v))
        if self.stochastic and self.learn_temperature and "train/entropy" in self._last:
            gap = (self._last["train/entropy"] - self.target_entropy).detach()
            temperature_loss = self.log_temperature.exp() * gap
            self.temperature_optimizer.zero_grad(set_to_none=True)
            temperature_loss.backward()
            self.temperature_optimizer.step()
        self._last = {}

    def log_row(self) -> dict[str, float]:
        """The means of the terms since the last row (and clears them)."""
        row = {k: float(np.mean(v)) for k, v in self.pending.items() if v}
        self.pending = {}
        return row

    def state_dict(self) -> dict[str, Any]:
        return {"log_temperature": self.log_temperature.detach().cpu().clone(),
                "temperature_optimizer": self.temperature_optimizer.state_dict(),
                "pending": {k: torch.tensor(v, dtype=torch.float64) for k, v in self.pending.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        with torch.no_grad():
            self.log_temperature.copy_(state["log_temperature"])
        self.temperature_optimizer.load_state_dict(state["temperature_optimizer"])
        self.pending = {k: v.tolist() for k, v in state.get("pending", {}).items()}

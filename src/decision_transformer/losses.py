"""Training losses. Every mean runs over real steps only (`attention_mask` 1)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def action_loss(action_preds: torch.Tensor, actions: torch.Tensor, attention_mask: torch.Tensor, discrete: bool) -> torch.Tensor:
    """Squared error averaged over action dims, or cross-entropy on logits."""
    real = attention_mask.bool()  # (B, K)
    if discrete:
        return F.cross_entropy(action_preds[real], actions[real])  # (M, A) logits vs (M,) targets
    return ((action_preds - actions) ** 2)[real].mean()  # (M, A) -> scalar


def success_loss(return_preds: torch.Tensor, episode_returns: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The critic of the paper's credit-assignment study: binary cross-entropy of the return head's logit at
    every real step against the episode's return clipped to [0, 1] (a success indicator)."""
    target = episode_returns.clamp(0, 1)[:, None].expand_as(attention_mask).float()  # (B, K)
    bce = F.binary_cross_entropy_with_logits(return_preds[..., 0], target, reduction="none")  # (B, K)
    return bce[attention_mask.bool()].mean()


def expectile_loss(rtg_preds: torch.Tensor, returns_to_go: torch.Tensor, attention_mask: torch.Tensor,
                   expectile: float, normalized: bool = False) -> torch.Tensor:
    """The return head's loss (Reinformer, Zhuang et al. 2024): |m - 1(u < 0)| u^2 with u = R - R_pred, averaged over
    real steps. Its minimiser is the m-expectile of the return-to-go given the history: m = 0.5 the mean, m -> 1 the
    highest return the data show after such a history. `normalized`: u is divided by the batch's mean |R| over real
    steps (a constant for the gradient), so the loss is the same for returns in any unit."""
    real = attention_mask.bool()  # (B, K)
    u = (returns_to_go - rtg_preds)[..., 0]  # (B, K)
    if normalized:
        u = u / returns_to_go[..., 0][real].abs().mean().clamp_min(1e-6).detach()
    weight = torch.where(u < 0, 1.0 - expectile, expectile)  # (B, K)
    return (weight * u ** 2)[real].mean()


def policy_nll_and_entropy(policy, actions: torch.Tensor, attention_mask: torch.Tensor,
                           entropy_samples: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """The stochastic policy's terms (Online Decision Transformer, Zheng et al. 2022, Sec. 3): the negative
    log-likelihood of the data's actions and the policy's entropy (a Monte Carlo estimate: distributions.py), each
    averaged over real steps. The loss is nll - temperature * entropy (objective.py)."""
    real = attention_mask.bool()  # (B, K)
    nll = -policy.log_prob(actions)[real].mean()
    entropy = policy.entropy_estimate(entropy_samples)[real].mean()
    return nll, entropy

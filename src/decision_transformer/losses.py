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

"""The optimiser's settings that training shares: AdamW parameter groups and the learning-rate schedule.

Weight decay is applied to the weight matrices of Linear and Conv2d layers only. Biases, LayerNorm
parameters and embedding tables (timestep, discrete action) are not decayed (the GPT convention;
decaying an embedding row would shrink rarely-seen timesteps towards zero).
"""

from __future__ import annotations

import math
from typing import Any

import torch.nn as nn

from .run_config import TrainConfig


def lr_factor(cfg: TrainConfig, step: int) -> float:
    """The learning rate at `step` (0-based) as a fraction of cfg.lr: linear warmup, then constant or cosine."""
    if step + 1 < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    if cfg.lr_decay == "none":
        return 1.0
    progress = min(1.0, (step + 1 - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps))
    return cfg.lr_min_ratio + (1 - cfg.lr_min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    decay, no_decay = [], []
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            if name == "weight" and isinstance(module, (nn.Linear, nn.Conv2d)):
                decay.append(p)
            else:
                no_decay.append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]

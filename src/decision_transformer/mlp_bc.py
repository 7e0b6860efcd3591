"""MLP behaviour cloning, the paper's gym baseline beside the Decision Transformer (model.py's conventions hold:
`attention_mask` 1 = real, left padding; tensors in, tensors out)."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import MLPBCConfig
from .model_checks import check_inputs, check_model_args


class MLPBC(nn.Module):
    """MLP behaviour cloning (the paper's gym code): the action at step t from states t-K+1..t.

    It returns (B, K, A) like the transformer, one prediction per position, each from the window of
    the K states ending there (zeros before the start and at padded steps), so the same masked loss and
    the same evaluation loop serve both. `actions`, `returns_to_go` and `timesteps` are ignored.
    """

    def __init__(self, config: MLPBCConfig, state_dim: int, act_dim: int):
        super().__init__()
        self.config = config
        self.state_dim, self.act_dim = state_dim, act_dim = check_model_args(config, state_dim, act_dim, pixels=False)
        layers: list[nn.Module] = []
        width = config.context_len * state_dim
        for _ in range(config.n_layer):
            layers += [nn.Linear(width, config.hidden_dim), nn.ReLU(), nn.Dropout(config.dropout)]
            width = config.hidden_dim
        layers.append(nn.Linear(width, act_dim))
        if not config.discrete_actions:
            layers.append(nn.Tanh())
        self.net = nn.Sequential(*layers)

    def forward(self, states, actions=None, returns_to_go=None, timesteps=None, attention_mask=None) -> torch.Tensor:
        check_inputs(self, states, actions, returns_to_go, timesteps, attention_mask)
        B, K, S = states.shape
        L = self.config.context_len
        if attention_mask is not None:
            states = torch.where(attention_mask.bool()[..., None], states, states.new_zeros(()))
        padded = F.pad(states, (0, 0, L - 1, 0))  # (B, L-1+K, S): zeros before the first step
        windows = padded.unfold(1, L, 1)  # (B, K, S, L): window ending at each position
        windows = windows.permute(0, 1, 3, 2).reshape(B, K, L * S)  # (B, K, L*S): oldest state first
        return self.net(windows)  # (B, K, A)

    def act(self, states, actions=None, returns_to_go=None, timesteps=None, attention_mask=None) -> torch.Tensor:
        """The action at the newest step only, (B, A)."""
        check_inputs(self, states, actions, returns_to_go, timesteps, attention_mask, acting=True)
        return self.forward(states[:, -self.config.context_len:], attention_mask=None if attention_mask is None
                            else attention_mask[:, -self.config.context_len:])[:, -1]

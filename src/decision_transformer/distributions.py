"""The tanh-squashed diagonal Gaussian of the stochastic policy (`DTConfig.stochastic_policy`).

An action is a = tanh(x), x ~ N(mean, diag(std^2)), so it lies in (-1, 1) like the deterministic head's tanh output.
Its log-density is the Gaussian's at x = atanh(a) minus log |da/dx| = sum_i log(1 - tanh(x_i)^2), computed as
2 (log 2 - x - softplus(-2x)) (no cancellation near |a| = 1). The entropy of the squashed distribution has no closed
form; `entropy_estimate` is the Monte Carlo estimate -E[log p(a)] over reparameterised samples a = tanh(mean + std * eps),
so that its gradient reaches the mean and std (Online Decision Transformer, Zheng et al. 2022, estimates the policy
entropy by sampling in the same way; docs/beyond.md).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


class TanhNormal:
    """tanh(N(mean, std^2)) per action dimension; log-probabilities and entropies sum over the last dim (A)."""

    def __init__(self, mean: torch.Tensor, log_std: torch.Tensor):
        self.mean, self.log_std = mean, log_std  # (..., A) each
        self.std = log_std.exp()

    @property
    def mode(self) -> torch.Tensor:
        """tanh(mean): the action `dt eval` takes (ODT evaluates with the mean action)."""
        return torch.tanh(self.mean)

    def _log_prob_pre_tanh(self, x: torch.Tensor) -> torch.Tensor:
        z = (x - self.mean) / self.std
        gauss = -0.5 * z ** 2 - self.log_std - _LOG_SQRT_2PI  # (..., A)
        log_det = 2.0 * (math.log(2.0) - x - F.softplus(-2.0 * x))  # log(1 - tanh(x)^2)
        return (gauss - log_det).sum(-1)  # (...)

    def log_prob(self, actions: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
        """(...,) log-density of actions (..., A) in [-1, 1], clipped to [-1 + eps, 1 - eps] (data at the bounds)."""
        a = actions.clamp(-1.0 + eps, 1.0 - eps)
        return self._log_prob_pre_tanh(torch.atanh(a))

    def rsample(self, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(actions (..., A), their log-densities (...,)): a reparameterised sample, differentiable in mean and std."""
        device = generator.device if generator is not None else self.mean.device  # a CPU generator: noise drawn there
        eps = torch.randn(self.mean.shape, generator=generator, device=device, dtype=self.mean.dtype).to(self.mean.device)
        x = self.mean + self.std * eps
        return torch.tanh(x), self._log_prob_pre_tanh(x)

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        with torch.no_grad():
            return self.rsample(generator)[0]

    def entropy_estimate(self, samples: int = 1) -> torch.Tensor:
        """(...,) Monte Carlo entropy -mean log p(a) over `samples` reparameterised draws per position."""
        return -torch.stack([self.rsample()[1] for _ in range(samples)]).mean(0)

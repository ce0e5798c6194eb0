"""Gaussian mixtures with diagonal covariances: the referee.

The density and score are exact for the data and for every perturbed marginal
p_t(x) = ∫ p(x0) N(x; α x0, σ² I) dx0, which is again a mixture with means α μ_k and
variances α² s_k² + σ². Everything synthetic in scorebench is such a mixture.
"""
from __future__ import annotations

import math

import torch

from ..errors import ConfigError

WEIGHT_TOLERANCE = 1e-6  # explicit weights must sum to 1 within this (the parse checks it too: spec.rules)


class GaussianMixture:
    """p(x) = Σ_k w_k N(x; μ_k, diag(s_k²)), with `groups` labelling which components form a mode."""

    def __init__(self, means, stds, weights, groups=None):
        self.means = torch.as_tensor(means, dtype=torch.float64)
        if self.means.ndim != 2 or self.means.shape[1] < 1:
            raise ConfigError("means: expected a (components, d) array with d >= 1")
        k, d = self.means.shape
        stds = torch.as_tensor(stds, dtype=torch.float64)
        self.stds = stds.reshape(k, 1).expand(k, d).clone() if stds.numel() == k else stds.reshape(k, d)
        self.weights = torch.as_tensor(weights, dtype=torch.float64).reshape(k)
        if (self.stds <= 0).any():
            raise ConfigError("stds: every component standard deviation must be > 0")
        if (self.weights < 0).any() or abs(float(self.weights.sum()) - 1.0) > WEIGHT_TOLERANCE:
            raise ConfigError(f"weights: must be non-negative and sum to 1 within {WEIGHT_TOLERANCE:g} (sum is {float(self.weights.sum()):.6g})")
        self.groups = torch.arange(k) if groups is None else torch.as_tensor(groups, dtype=torch.long)
        self.n_groups = int(self.groups.max()) + 1

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    def group_weights(self) -> torch.Tensor:
        """Total weight of each mode (group of components)."""
        return torch.zeros(self.n_groups, dtype=torch.float64).index_add_(0, self.groups, self.weights)

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        comp = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        z = torch.randn(n, self.dim, generator=generator, dtype=torch.float64)
        return (self.means[comp] + self.stds[comp] * z).float()

    def _component_logits(self, x: torch.Tensor, alpha, sigma):
        """log w_k + log N(x; α μ_k, α² s_k² + σ²) per row and component, plus the residuals."""
        x = x.reshape(x.shape[0], -1)
        dt = x.dtype
        alpha = torch.as_tensor(alpha, dtype=dt).reshape(-1, 1, 1)
        sigma = torch.as_tensor(sigma, dtype=dt).reshape(-1, 1, 1)
        var = alpha**2 * self.stds.to(dt) ** 2 + sigma**2  # (B|1, K, d)
        diff = x[:, None, :] - alpha * self.means.to(dt)  # (B, K, d)
        logits = (
            torch.log(self.weights.to(dt))
            - 0.5 * (diff**2 / var).sum(-1)
            - 0.5 * torch.log(2 * math.pi * var).sum(-1)
        )
        return logits, diff, var

    def log_prob(self, x: torch.Tensor, alpha=1.0, sigma=0.0) -> torch.Tensor:
        """log p_t(x) of the marginal α x0 + σ z (α=1, σ=0: the data density)."""
        logits, _, _ = self._component_logits(x, alpha, sigma)
        return torch.logsumexp(logits, dim=1)

    def score(self, x: torch.Tensor, alpha=1.0, sigma=0.0) -> torch.Tensor:
        """∇ₓ log p_t(x) in closed form: Σ_k r_k(x) · (α μ_k − x) / v_k."""
        logits, diff, var = self._component_logits(x, alpha, sigma)
        resp = torch.softmax(logits, dim=1)
        return (resp[..., None] * (-diff / var)).sum(1).reshape(x.shape)

    def condition(self, observed, values) -> "GaussianMixture":
        """The exact law of the unobserved coordinates given x[observed] = values: again a mixture
        (diagonal covariances keep coordinates independent within a component), each weight
        multiplied by its component's likelihood of the observation and renormalised, the means
        and stds restricted to the unobserved coordinates; the mode labels are kept."""
        observed = torch.as_tensor(observed, dtype=torch.long).reshape(-1)
        values = torch.as_tensor(values, dtype=torch.float64).reshape(-1)
        missing = torch.tensor([i for i in range(self.dim) if i not in set(observed.tolist())], dtype=torch.long)
        if len(observed) != len(values) or not len(missing) or not len(observed):
            raise ConfigError(f"condition: observe between 1 and {self.dim - 1} of {self.dim} coordinates, one value each "
                              f"(got {len(observed)} indices, {len(values)} values)")
        mu, s = self.means[:, observed], self.stds[:, observed]
        loglik = (-0.5 * ((values - mu) / s) ** 2 - torch.log(s) - 0.5 * math.log(2 * math.pi)).sum(1)
        weights = torch.softmax(torch.log(self.weights) + loglik, dim=0)
        return GaussianMixture(self.means[:, missing], self.stds[:, missing], weights, self.groups)

    def assign_modes(self, x: torch.Tensor) -> torch.Tensor:
        """Mode (group) of highest posterior mass for each row of x."""
        logits, _, _ = self._component_logits(x.double(), 1.0, 0.0)
        group_logits = torch.full((x.shape[0], self.n_groups), -math.inf, dtype=torch.float64)
        for g in range(self.n_groups):
            group_logits[:, g] = torch.logsumexp(logits[:, self.groups == g], dim=1)
        return group_logits.argmax(1)

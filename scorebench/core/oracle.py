"""The oracle: the exact score of the perturbed marginal of a synthetic dataset.

It has the score model's signature s(x, t), so samplers, likelihood and metrics take it wherever
they take a trained network; the gap between the two is the score-estimation error.
"""
from __future__ import annotations

import torch

from ..errors import ConfigError
from .mixture import GaussianMixture
from .sde import NoiseProcess


class OracleScore:
    """∇ₓ log p_t(x) of a Gaussian mixture under the process's marginal α(t) x0 + σ(t) z."""

    def __init__(self, mixture: GaussianMixture | None, process: NoiseProcess):
        if mixture is None:
            raise ConfigError("objective oracle: needs a synthetic dataset with a known density")
        self.mixture, self.process = mixture, process

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        alpha, sigma = self.process.marginal(t)
        return self.mixture.score(x.double(), alpha.double(), sigma.double()).to(x.dtype)

    def log_prob(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        alpha, sigma = self.process.marginal(t)
        return self.mixture.log_prob(x.double(), alpha.double(), sigma.double()).to(x.dtype)

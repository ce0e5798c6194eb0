"""Metrics: ground truth for synthetic data (Fisher divergence, mode weights, sliced Wasserstein)."""
from __future__ import annotations

import torch

from .data import Dataset
from .objectives import ScoreFn
from .oracle import OracleScore
from .sde import NoiseProcess, _bcast


def fisher_divergence(score_fn: ScoreFn, dataset: Dataset, process: NoiseProcess, *, n: int = 4096,
                      generator: torch.Generator) -> float:
    """E_t E_{x_t ~ p_t} ½ σ(t)² ‖s(x_t, t) − ∇log p_t(x_t)‖², t from the schedule's training law.

    The σ² weight is the training weight λ, so the number is scale-free and comparable across levels.
    """
    truth = OracleScore(dataset.mixture, process)
    x0 = dataset.mixture.sample(n, generator)
    t = process.sample_time(n, generator)
    alpha, sigma = process.marginal(t)
    xt = _bcast(alpha, x0) * x0 + _bcast(sigma, x0) * torch.randn(x0.shape, generator=generator)
    with torch.no_grad():
        diff = (score_fn(xt, t) - truth(xt, t)).reshape(n, -1)
    return float((0.5 * sigma**2 * diff.pow(2).sum(1)).mean())

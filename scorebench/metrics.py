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


def mode_weight_tv(samples: torch.Tensor, dataset: Dataset) -> float:
    """Total variation ½ Σ_g |occupancy_g − w_g| between the samples' mode occupancy and the true weights.

    Each sample is assigned to the mode (group of mixture components) of highest posterior mass.
    """
    mix = dataset.mixture
    modes = mix.assign_modes(samples.reshape(samples.shape[0], -1))
    occupancy = torch.bincount(modes, minlength=mix.n_groups).double() / len(modes)
    return float(0.5 * (occupancy - mix.group_weights()).abs().sum())


def sliced_wasserstein(a: torch.Tensor, b: torch.Tensor, *, n_projections: int = 256,
                       generator: torch.Generator) -> float:
    """Sliced 2-Wasserstein distance √(E_θ W₂²(θᵀa, θᵀb)) over random unit directions θ.

    One-dimensional W₂ between equal-size empirical measures is the distance of sorted projections.
    """
    a, b = a.reshape(a.shape[0], -1).double(), b.reshape(b.shape[0], -1).double()
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    theta = torch.randn(a.shape[1], n_projections, generator=generator, dtype=torch.float64)
    theta = theta / theta.norm(dim=0, keepdim=True)
    pa, pb = (a @ theta).sort(0).values, (b @ theta).sort(0).values
    return float((pa - pb).pow(2).mean().sqrt())

"""Metrics: ground truth for synthetic data (Fisher divergence, mode weights, sliced Wasserstein, C2ST,
kernel Stein discrepancy)."""
from __future__ import annotations

import math

import torch

from .data import Dataset
from .objectives import ScoreFn
from .oracle import OracleScore
from .sde import NoiseProcess, _bcast

CURVE_SEED = 20_191_021  # of the curve probes: no run uses it


class FisherProbe:
    """E ½ σ(t)² ‖s(x_t, t) − ∇log p_t(x_t)‖² on a fixed set of perturbed points, t from the training law.

    The σ² weight is the training weight λ, so the number is scale-free and comparable across levels.
    The points are drawn once, so the same probe scores every step of every run alike."""

    def __init__(self, dataset: Dataset, process: NoiseProcess, *, n: int, generator: torch.Generator):
        truth = OracleScore(dataset.mixture, process)
        x0 = dataset.mixture.sample(n, generator)
        self.t = process.sample_time(n, generator)
        alpha, self.sigma = process.marginal(self.t)
        self.xt = _bcast(alpha, x0) * x0 + _bcast(self.sigma, x0) * torch.randn(x0.shape, generator=generator)
        self.target = truth(self.xt, self.t)

    def __call__(self, score_fn: ScoreFn) -> float:
        return _weighted_mse(score_fn, self.xt, self.t, self.sigma, self.target)


class DenoisingProbe:
    """The denoising score-matching loss ½ σ² ‖s(x_t, t) + z/σ‖² of held-out data at fixed noise levels.

    Where the true score is unknown (real data) this is the one truth-anchored number that every
    objective can be scored by: it equals the Fisher divergence up to a constant of the data."""

    def __init__(self, dataset: Dataset, process: NoiseProcess, *, n: int, generator: torch.Generator, levels: int = 8):
        x0 = dataset.dequantize(dataset.test[:n], generator)
        times = process.time_grid(levels)
        self.t = times.repeat_interleave(len(x0))
        x0 = x0.repeat(len(times), *([1] * (x0.ndim - 1)))
        alpha, self.sigma = process.marginal(self.t)
        z = torch.randn(x0.shape, generator=generator)
        self.xt = _bcast(alpha, x0) * x0 + _bcast(self.sigma, x0) * z
        self.target = -z / _bcast(self.sigma, z)

    def __call__(self, score_fn: ScoreFn) -> float:
        return _weighted_mse(score_fn, self.xt, self.t, self.sigma, self.target)


def _weighted_mse(score_fn, xt, t, sigma, target) -> float:
    """Mean over rows of ½ σ² ‖s(x_t, t) − target‖², evaluated without a graph, in batches of 4096."""
    with torch.no_grad():
        parts = [(0.5 * s**2 * (score_fn(x, tt) - y).reshape(len(x), -1).pow(2).sum(1)).double()
                 for x, tt, s, y in zip(xt.split(4096), t.split(4096), sigma.split(4096), target.split(4096))]
    return float(torch.cat(parts).mean())


def fisher_divergence(score_fn: ScoreFn, dataset: Dataset, process: NoiseProcess, *, n: int = 4096,
                      generator: torch.Generator) -> float:
    """The σ²-weighted Fisher divergence to the true perturbed score on `n` fresh points (FisherProbe)."""
    return FisherProbe(dataset, process, n=n, generator=generator)(score_fn)


def curve_probe(dataset: Dataset, process: NoiseProcess, n: int = 1024):
    """(metric name, probe) that training records at its curve steps: the Fisher divergence where the
    data's score is known, else the held-out DSM loss; seeded apart from any run, so shared by all."""
    generator = torch.Generator().manual_seed(CURVE_SEED)
    if dataset.synthetic:
        return "fisher_divergence", FisherProbe(dataset, process, n=n, generator=generator)
    return "heldout_dsm_loss", DenoisingProbe(dataset, process, n=n, generator=generator)


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


def c2st(samples: torch.Tensor, reference: torch.Tensor, *, folds: int = 5, features: int = 256, ridge: float = 0.1,
         generator: torch.Generator) -> float:
    """Classifier two-sample test (Lopez-Paz & Oquab 2017, as sbibm scores samplers): the `folds`-fold
    cross-validated accuracy of a kernel classifier told samples (+1) from true ones (−1) in balanced folds:
    ridge least squares on `features` random Fourier features of a Gaussian kernel whose bandwidth is the
    median pairwise distance (one closed-form solve per fold, so it costs milliseconds); 0.5: indistinguishable."""
    a, b = samples.reshape(len(samples), -1).double(), reference.reshape(len(reference), -1).double()
    n = min(len(a), len(b))
    x = torch.cat([a[:n], b[:n]])
    y = torch.cat([torch.ones(n, dtype=torch.float64), -torch.ones(n, dtype=torch.float64)])
    bandwidth = torch.pdist(x).median().clamp_min(1e-12)
    w = torch.randn(x.shape[1], features, generator=generator, dtype=torch.float64) / bandwidth
    phase = 2 * math.pi * torch.rand(features, generator=generator, dtype=torch.float64)
    phi = torch.cat([math.sqrt(2 / features) * torch.cos(x @ w + phase), torch.ones(2 * n, 1, dtype=torch.float64)], 1)
    fold = torch.empty(2 * n, dtype=torch.long)
    for rows in (torch.arange(n), torch.arange(n, 2 * n)):  # each class dealt round the folds in a random order
        fold[rows[torch.randperm(n, generator=generator)]] = torch.arange(n) % folds
    correct = 0
    for k in range(folds):
        train, test = fold != k, fold == k
        gram = phi[train].T @ phi[train] + ridge * torch.eye(phi.shape[1], dtype=torch.float64)
        coef = torch.linalg.solve(gram, phi[train].T @ y[train])
        correct += int((torch.sign(phi[test] @ coef) == y[test]).sum())
    return correct / (2 * n)


def kernel_stein_discrepancy(samples: torch.Tensor, score_fn) -> tuple[float, float]:
    """(KSD², its standard deviation when the samples follow p): the U-statistic mean over pairs i ≠ j of the
    Stein kernel u(x, y) = k s(x)·s(y) + ∇ₓk·(s(y) − s(x)) + tr ∇ₓ∇ᵧk (Liu et al. 2016) with the exact score
    s = ∇log p, IMQ kernel k = (1 + ‖x − y‖²/h²)^(−1/2) (Gorham & Mackey 2017), h the median pairwise distance.
    Under p the U-statistic is degenerate: mean 0, variance 2 E[u²] / (n(n − 1)), estimated from the same pairs."""
    x = samples.reshape(len(samples), -1).double()
    n, d = x.shape
    s = score_fn(x).reshape(n, d).double()
    xs = x @ s.T  # x_i · s_j
    own = xs.diagonal()  # x_i · s_i
    r2 = ((x * x).sum(1)[:, None] + (x * x).sum(1)[None, :] - 2 * x @ x.T).clamp_min(0)
    off = ~torch.eye(n, dtype=torch.bool)
    h2 = r2[off].median().clamp_min(1e-12)
    q = 1 + r2 / h2
    beta = -0.5
    # ∇ₓk(x_i, x_j) = (2β/h²) q^(β−1) (x_i − x_j), dotted with s_j − s_i without forming the (n, n, d) differences
    r_dot = (xs - own[None, :]) - (own[:, None] - xs.T)
    trace = -2 * beta * d / h2 * q ** (beta - 1) - 4 * beta * (beta - 1) * r2 * q ** (beta - 2) / h2**2
    u = q**beta * (s @ s.T) + (2 * beta / h2) * q ** (beta - 1) * r_dot + trace
    return float(u[off].mean()), math.sqrt(2 * float(u[off].pow(2).mean()) / (n * (n - 1)))

"""The referee itself: closed-form mixture densities and scores against autograd and torch.distributions."""
import math

import pytest
import torch

from scorebench.core.mixture import GaussianMixture
from scorebench.core.sde import VE, VP, SubVP


def mixture(d=3, k=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    means = 3 * torch.randn(k, d, generator=g, dtype=torch.float64)
    stds = 0.3 + torch.rand(k, d, generator=g, dtype=torch.float64)  # diagonal covariances
    weights = torch.softmax(torch.randn(k, generator=g, dtype=torch.float64), 0)
    return GaussianMixture(means, stds, weights)


def test_data_density_matches_torch_distributions():
    mix = mixture()
    comps = torch.distributions.Independent(torch.distributions.Normal(mix.means, mix.stds), 1)
    ref = torch.distributions.MixtureSameFamily(torch.distributions.Categorical(mix.weights), comps)
    x = torch.randn(64, 3, dtype=torch.float64) * 3
    # float64 throughout: agreement to 1e-10 is round-off level for log-densities of order 10
    torch.testing.assert_close(mix.log_prob(x), ref.log_prob(x), atol=1e-10, rtol=0)


@pytest.mark.parametrize("process", [VE(sigma_min=0.01, sigma_max=20.0), VP(), SubVP()], ids=["ve", "vp", "subvp"])
def test_perturbed_score_is_gradient_of_perturbed_log_density(process):
    mix = mixture()
    t = torch.rand(128, dtype=torch.float64) * 0.98 + 0.01
    alpha, sigma = process.marginal(t)
    x = (alpha[:, None] * mix.sample(128, torch.Generator().manual_seed(1)).double()
         + sigma[:, None] * torch.randn(128, 3, dtype=torch.float64)).requires_grad_(True)
    (auto,) = torch.autograd.grad(mix.log_prob(x, alpha, sigma).sum(), x)
    closed = mix.score(x.detach(), alpha, sigma)
    # the bound: 1e-5 absolute; both sides are float64, so the real gap is ~1e-12
    torch.testing.assert_close(closed, auto, atol=1e-5, rtol=0)


def test_perturbed_marginal_is_the_convolution():
    """p_t by Monte Carlo of ∫ p(x0) N(x; αx0, σ²) dx0 at a few points equals the closed form."""
    mix = mixture(d=2, k=3)
    alpha, sigma = 0.8, 0.7
    x0 = mix.sample(400000, torch.Generator().manual_seed(2)).double()
    x = torch.tensor([[0.0, 0.0], [1.0, -2.0], [2.5, 1.0]], dtype=torch.float64)
    kern = torch.exp(-((x[:, None] - alpha * x0[None]) ** 2).sum(-1) / (2 * sigma**2)) / (2 * math.pi * sigma**2)
    mc = kern.mean(1)
    se = kern.std(1) / math.sqrt(x0.shape[0])
    closed = mix.log_prob(x, alpha, sigma).exp()
    assert ((mc - closed).abs() < 4 * se + 1e-12).all(), (mc, closed, se)  # 4 standard errors


def test_mode_assignment_recovers_components():
    mix = GaussianMixture([[-5.0, -5.0], [5.0, 5.0]], [1.0, 1.0], [0.2, 0.8])
    x = mix.sample(20000, torch.Generator().manual_seed(0))
    freq = torch.bincount(mix.assign_modes(x), minlength=2).double() / len(x)
    # modes 10√2/1 = 14 std apart: misassignment is negligible; binomial sd of 0.2 at n=2e4 is 0.003
    torch.testing.assert_close(freq, mix.group_weights(), atol=0.012, rtol=0)

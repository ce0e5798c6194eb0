"""Objectives against analytic truth on a Gaussian mixture at a fixed noise level.

With s* the true perturbed score and any smooth s, integration by parts gives
J_exact(s) − J_exact(s*) = ½ E‖s − s*‖², DSM(s) − DSM(s*) = ½ E‖s − s*‖², and
E_v SSM = J_exact. Each is checked by Monte Carlo on common samples, within 4 standard errors
of the per-sample differences (a false alarm once in ~16 000 runs); the identities fail by many
standard errors if a trace, a sign or a weight is wrong.
"""
import math
from functools import partial

import pytest
import torch

from scorebench.core.objectives import DenoisingSM, ExactSM, SlicedSM, SlicedSMVR, jacobian_trace, jacobian_trace_loop
from scorebench.core.oracle import OracleScore
from scorebench.core.mixture import GaussianMixture
from scorebench.core.nets import MLP, ScoreModel
from scorebench.core.sde import VE, VP

N = 20000


def setup(process, d=2):
    g = torch.Generator().manual_seed(0)
    mix = GaussianMixture(2 * torch.randn(3, d, generator=g, dtype=torch.float64), [0.5, 0.8, 1.0], [0.3, 0.3, 0.4])
    truth = OracleScore(mix, process)
    w = torch.randn(d, d, generator=g, dtype=torch.float64)

    def wrong(x, t):  # s* plus a smooth, non-conservative error with a non-trivial Jacobian
        return truth(x, t) + 0.7 * torch.tanh(x @ w) - 0.2 * x

    x0 = mix.sample(N, torch.Generator().manual_seed(1)).double()
    t = torch.full((N,), 0.5, dtype=torch.float64)
    return truth, wrong, x0, t


def per_sample(objective, score_fn, x0, process, t, seed=3):
    return objective(score_fn, x0, process, generator=torch.Generator().manual_seed(seed), t=t).detach()


def fisher_term(truth, wrong, x0, process, t, seed=3):
    """σ² · ½‖s − s*‖² at the same x_t the objectives draw (same generator stream)."""
    g = torch.Generator().manual_seed(seed)
    alpha, sigma = process.marginal(t)
    xt = alpha[:, None] * x0 + sigma[:, None] * torch.randn(x0.shape, generator=g, dtype=x0.dtype)
    return sigma**2 * 0.5 * (wrong(xt, t) - truth(xt, t)).pow(2).sum(1)


def assert_mean_zero(diff: torch.Tensor) -> float:
    se = diff.std() / math.sqrt(len(diff))
    assert abs(diff.mean()) < 4 * se, f"mean {diff.mean():.5f} vs 4·SE {4 * se:.5f}"
    return float(se)


PROCESSES = [VE(sigma_min=0.01, sigma_max=10.0), VP()]


@pytest.mark.parametrize("process", PROCESSES, ids=["ve", "vp"])
def test_exact_sm_gap_is_the_fisher_divergence(process):
    truth, wrong, x0, t = setup(process)
    gap = per_sample(ExactSM(), wrong, x0, process, t) - per_sample(ExactSM(), truth, x0, process, t)
    fisher = fisher_term(truth, wrong, x0, process, t)
    se = assert_mean_zero(gap - fisher)
    assert fisher.mean() > 20 * se  # the error is far above the test's resolution, so it can fail


@pytest.mark.parametrize("process", PROCESSES, ids=["ve", "vp"])
def test_dsm_gap_is_the_fisher_divergence(process):
    truth, wrong, x0, t = setup(process)
    gap = per_sample(DenoisingSM(), wrong, x0, process, t) - per_sample(DenoisingSM(), truth, x0, process, t)
    assert_mean_zero(gap - fisher_term(truth, wrong, x0, process, t))


@pytest.mark.parametrize("cls", [SlicedSM, SlicedSMVR], ids=["ssm", "ssm_vr"])
@pytest.mark.parametrize("distribution", ["rademacher", "gaussian"])
def test_sliced_estimator_is_unbiased_for_exact(cls, distribution):
    process = PROCESSES[0]
    _, wrong, x0, t = setup(process, d=3)
    exact = per_sample(ExactSM(), wrong, x0, process, t)
    sliced = per_sample(cls(n_projections=2, distribution=distribution), wrong, x0, process, t)
    assert_mean_zero(sliced - exact)


def test_variance_reduction_reduces_variance():
    process = PROCESSES[0]
    _, wrong, x0, t = setup(process, d=3)
    exact = per_sample(ExactSM(), wrong, x0, process, t)
    plain = (per_sample(SlicedSM(), wrong, x0, process, t) - exact).var()
    vr = (per_sample(SlicedSMVR(), wrong, x0, process, t) - exact).var()
    assert vr < plain  # the ½‖s‖² term is exact in SSM-VR, so only vᵀ∇s v remains noisy


@pytest.mark.parametrize("d,chunk_size", [(1, 32), (2, 32), (7, 3), (32, 32), (40, 32)])
def test_vectorised_trace_equals_the_loop(d, chunk_size):
    torch.manual_seed(0)
    model = ScoreModel(MLP((d,), width=32, depth=2), VE(0.01, 10.0), data_std=1.0).double()
    x = torch.randn(16, d, dtype=torch.float64)
    t = torch.rand(16, dtype=torch.float64)
    vec = partial(jacobian_trace, chunk_size=chunk_size)  # (7, 3) and (40, 32): a ragged last chunk
    s_vec, tr_vec = vec(model, x, t)
    s_loop, tr_loop = jacobian_trace_loop(model, x, t)
    # the same sums of the same products in float64: agreement to 1e-10 is float precision
    torch.testing.assert_close(tr_vec, tr_loop, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(s_vec, s_loop, rtol=1e-12, atol=1e-12)
    # and both are differentiable in the parameters, with equal gradients
    grads = []
    for fn in (vec, jacobian_trace_loop):
        model.zero_grad()
        fn(model, x, t)[1].sum().backward()
        grads.append(torch.cat([(torch.zeros_like(p) if p.grad is None else p.grad).flatten() for p in model.parameters()]))
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-9, atol=1e-9)


def test_trace_on_images_sums_over_all_pixels():
    from scorebench.core.nets import UNet

    torch.manual_seed(0)
    model = ScoreModel(UNet((1, 4, 4), channels=(8,)), VE(0.01, 10.0), data_std=1.0).double()
    x = torch.randn(3, 1, 4, 4, dtype=torch.float64)
    t = torch.rand(3, dtype=torch.float64)
    torch.testing.assert_close(jacobian_trace(model, x, t, chunk_size=5)[1], jacobian_trace_loop(model, x, t)[1],
                               rtol=1e-10, atol=1e-10)

"""Noise processes: marginals solve the SDE's moment equations; NCSN levels follow the recipe."""
import pytest
import torch

from scorebench.errors import ConfigError
from scorebench.core.sde import EDM, NCSN, VE, VP, SubVP, build_process, max_pairwise_distance

PROCESSES = [VE(sigma_min=0.01, sigma_max=50.0), VP(), SubVP(), NCSN(sigma_min=0.01, sigma_max=50.0, levels=10),
             EDM(sigma_min=0.002, sigma_max=50.0)]


@pytest.mark.parametrize("process", PROCESSES, ids=lambda p: p.kind)
def test_marginals_solve_the_moment_odes(process):
    """For dx = f(t) x dt + g dw: dα/dt = f α and d(σ²)/dt = 2 f σ² + g² (central differences)."""
    t = torch.linspace(0.05, 0.95, 19, dtype=torch.float64)
    h = 1e-5
    alpha, sigma = process.marginal(t)
    dalpha = (process.marginal(t + h)[0] - process.marginal(t - h)[0]) / (2 * h)
    dvar = (process.marginal(t + h)[1] ** 2 - process.marginal(t - h)[1] ** 2) / (2 * h)
    f, g = process.drift_coef(t), process.diffusion(t)
    # central differences in float64 with h=1e-5: truncation ~h²·|d³/dt³| ≪ 1e-5 relative
    torch.testing.assert_close(dalpha, f * alpha, rtol=1e-5, atol=1e-8)
    torch.testing.assert_close(dvar, 2 * f * sigma**2 + g**2, rtol=1e-5, atol=1e-8)


def test_prior_matches_the_terminal_marginal():
    for p in PROCESSES:
        alpha, sigma = p.marginal(torch.tensor(1.0, dtype=torch.float64))
        assert float(alpha) < 0.01 or p.kind in ("ve", "ncsn", "edm")
        assert abs(float(sigma) - p.prior_std) / p.prior_std < 0.01  # σ(1) is the prior's std within 1 %


def test_ncsn_levels_are_geometric_from_the_data():
    x = torch.randn(500, 2, generator=torch.Generator().manual_seed(0)) * 3
    p = build_process("ncsn", {"kind": "ncsn", "sigma_min": 0.01, "levels": 8}, train=x)
    brute = float((x.double()[:, None] - x.double()[None]).norm(dim=-1).max())  # all pairs, by broadcasting
    assert abs(p.sigma_max - brute) < 1e-9 * brute  # σ₁ = the largest pairwise distance, exactly
    s = p.sigmas().double()
    assert len(s) == 8 and abs(s[0] - brute) < 1e-4 * brute and abs(s[-1] - 0.01) < 1e-9
    ratios = s[1:] / s[:-1]
    torch.testing.assert_close(ratios, ratios.mean().expand_as(ratios), rtol=1e-5, atol=0)
    assert "max pairwise distance over 500" in p.notes["sigma_max_source"]
    t = p.sample_time(1000, torch.Generator().manual_seed(0))
    assert set(t.tolist()) <= set(p.level_times().tolist())  # trains on the L levels only


def test_max_pairwise_distance_is_exact_across_blocks():
    """The farthest pair sits in different row blocks (chunk 64): the blocked, upper-triangle search
    returns the brute-force maximum over all pairs to float64 rounding."""
    x = torch.randn(500, 3, generator=torch.Generator().manual_seed(1))
    x[10], x[470] = torch.tensor([40.0, 0, 0]), torch.tensor([-40.0, 1, 0])
    brute = float((x.double()[:, None] - x.double()[None]).norm(dim=-1).max())
    d, rows = max_pairwise_distance(x, chunk=64)
    assert rows == 500 and abs(d - brute) < 1e-12 * brute and brute > 80


def test_max_pairwise_distance_subsamples_large_sets():
    d, rows = max_pairwise_distance(torch.randn(50, 3), max_points=20)
    assert rows == 20 and d > 0


@pytest.mark.parametrize("spec,field", [
    ({"kind": "ncsn", "sigma_min": 5.0, "sigma_max": 1.0}, "sigma_min"),
    ({"kind": "ncsn", "sigma_max": 1.0, "levels": 1}, "levels"),
    ({"kind": "vp", "beta_min": 30.0}, "beta_min"),
    ({"kind": "ve", "sigma_max": 1.0, "sigma_typo": 2}, "sigma_typo"),
    ({"kind": "vee"}, "vee"),
])
def test_bad_schedules_name_the_field(spec, field):
    with pytest.raises(ConfigError, match=field):
        build_process("s", spec)


@pytest.mark.parametrize("process", PROCESSES, ids=lambda p: p.kind)
def test_diffusion_integral_is_the_integral_of_g_squared(process):
    t, t_next = torch.tensor([0.9, 0.5, 0.2], dtype=torch.float64), torch.tensor([0.7, 0.45, 0.01], dtype=torch.float64)
    s = torch.linspace(0, 1, 20001, dtype=torch.float64)
    quad = torch.stack([torch.trapezoid(process.diffusion(a + (b - a) * s) ** 2, a + (b - a) * s) for a, b in zip(t_next, t)])
    # trapezoid with 2e4 panels on smooth integrands: relative error ~1e-9
    torch.testing.assert_close(process.diffusion_integral(t, t_next), quad, rtol=1e-6, atol=0)


def test_edm_time_grid_is_karras_sigma_discretisation():
    """A uniform t grid from 1 to 0 is Karras et al.'s eq. 5 σ_i = (σ_max^{1/ρ} + i/(N−1)(σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ,
    from σ_max to σ_min exactly."""
    p = build_process("edm", {"kind": "edm", "sigma_min": 0.002, "sigma_max": 80.0, "rho": 7.0})
    i = torch.arange(18, dtype=torch.float64)
    karras = (80.0 ** (1 / 7) + i / 17 * (0.002 ** (1 / 7) - 80.0 ** (1 / 7))) ** 7
    torch.testing.assert_close(p.marginal_std(torch.linspace(1, 0, 18, dtype=torch.float64)), karras, rtol=1e-12, atol=0)
    torch.testing.assert_close(p.marginal_std(p.time_grid(18).double()), karras, rtol=1e-6, atol=0)  # the float32 grid
    assert p.eps == 0.0 and p.prior_std == 80.0

"""Conditional generation: the exact conditional of a mixture, and inpainting scored against it."""
import math

import pytest
import torch
from test_samplers import COARSE, DEFAULT, SCHEDULES

from scorebench.spec.benchmark import Benchmark
from scorebench.core.conditioning import build_method, conditional_metrics, exact_conditional
from scorebench.core.mixture import GaussianMixture
from scorebench.core.oracle import OracleScore
from scorebench.core.samplers import SAMPLERS, build_sampler
from scorebench.core.sde import PROCESSES, build_process


def mixture_d4() -> GaussianMixture:
    """Three components in d = 4 whose observed coordinates (0, 2) separate them unevenly."""
    means = [[-2.0, 1.0, 0.0, 3.0], [2.0, -1.0, 1.0, 0.0], [0.5, 2.0, -2.0, -1.0]]
    stds = [[1.0, 0.5, 0.8, 1.2], [0.6, 1.0, 1.0, 0.7], [0.9, 0.8, 0.5, 1.0]]
    return GaussianMixture(means, stds, [0.5, 0.3, 0.2])


def test_condition_matches_importance_weighted_joint_samples():
    """Brute force, independent of the closed form: draw the unobserved coordinates from their own
    marginal mixture and weight each draw by p(y | x_M) = p(y, x_M) / p(x_M), both from the joint's
    `log_prob`. Weighted moments and mode occupancy estimate the conditional; they must agree with
    `condition()` within 5 standard errors at the weights' effective sample size (the error of a
    self-normalised estimate of E f is about sd(f)/√ESS)."""
    mix, observed, y = mixture_d4(), [0, 2], torch.tensor([0.3, -0.5], dtype=torch.float64)
    cond = mix.condition(observed, y)
    missing = [1, 3]
    gen = torch.Generator().manual_seed(0)
    n = 400_000
    marginal = GaussianMixture(mix.means[:, missing], mix.stds[:, missing], mix.weights)
    xm = marginal.sample(n, gen).double()
    full = torch.empty(n, 4, dtype=torch.float64)
    full[:, observed], full[:, missing] = y, xm
    logw = mix.log_prob(full) - marginal.log_prob(xm)
    w = torch.softmax(logw, 0)
    ess = float(1 / (w**2).sum())
    assert ess > 20_000, ess  # the proposal covers the conditional: a meaningful check
    truth = cond.sample(200_000, torch.Generator().manual_seed(1)).double()
    for f in (lambda x: x, lambda x: x**2):
        est, exact = (w[:, None] * f(xm)).sum(0), f(truth).mean(0)
        se = f(truth).std(0) / math.sqrt(ess)
        assert ((est - exact).abs() < 5 * se).all(), (est, exact, se)
    # the component posteriors: closed-form weights against the weighted responsibilities
    resp = torch.softmax(mix._component_logits(full, 1.0, 0.0)[0], 1)
    est_weights = (w[:, None] * resp).sum(0)
    se = (cond.weights * (1 - cond.weights) / ess).sqrt()
    assert ((est_weights - cond.weights).abs() < 5 * se + 1e-9).all(), (est_weights, cond.weights)
    assert float(cond.weights.max()) < 0.95  # not a degenerate case: more than one component matters


# The referee of tests/core/test_samplers.py (three far-apart anisotropic components in d = 2) with its
# second coordinate observed at -2: components 0 and 1 both explain it, 2 does not, so the exact
# conditional of the first coordinate is N(-4, 1) and N(6, 0.25) with weights 0.24 / 0.76.
REFEREE = GaussianMixture([[-4.0, -3.0], [6.0, -1.0], [1.0, 9.0]], [[1.0, 0.4], [0.5, 1.2], [0.7, 0.7]], [0.5, 0.3, 0.2])
MASK, Y = torch.tensor([False, True]), torch.tensor([0.0, -2.0])
CASES = [(schedule, sampler) for schedule in SCHEDULES for sampler in DEFAULT["samplers"]
         if not (SAMPLERS.get(DEFAULT["samplers"][sampler]["kind"]).continuous
                 and PROCESSES.get(SCHEDULES[schedule]["kind"]).discrete)]


def inpaint(method: str, schedule: str, sampler: str, n: int, seed: int = 1):
    """cond_* metrics of n completions of Y. On VE and EDM the reverse-time samplers get σ_max = 100: the
    conditional's mean is 3.6, and VE's prior N(0, σ_max²) at the auto σ_max (≈ 16) moves 0.04–0.07 of
    mode mass by itself (measured: em, ode, heun), the prior error test_samplers isolates the same way.
    ALD keeps the auto σ_max its levels are designed around (at 100 its 10 levels are 5.6× apart)."""
    far = SCHEDULES[schedule]["kind"] in ("ve", "edm") and DEFAULT["samplers"][sampler]["kind"] != "ald"
    spec = SCHEDULES[schedule] | ({"sigma_max": 100.0} if far else {})
    process = build_process(schedule, spec, REFEREE.sample(2000, torch.Generator().manual_seed(0)))
    draw = build_sampler(sampler, DEFAULT["samplers"][sampler])
    x, stats = build_method("m", {"kind": method}).draw(draw, OracleScore(REFEREE, process), process, MASK, Y, n,
                                                        generator=torch.Generator().manual_seed(seed), mixture=REFEREE)
    assert stats["status"] == "ok" and torch.equal(x[:, 1], torch.full((n,), -2.0))
    return conditional_metrics(x, exact_conditional(REFEREE, MASK, Y), MASK, generator=torch.Generator().manual_seed(2))


def floor(n: int) -> float:
    """Sliced W₂ between two independent draws of n exact conditional samples: the metric's noise at n."""
    cond = exact_conditional(REFEREE, MASK, Y)
    return sum(conditional_metrics(cond.sample(n, torch.Generator().manual_seed(10 + s)).reshape(n, 1).repeat(1, 2),
                                   cond, MASK, generator=torch.Generator().manual_seed(s))["cond_sliced_wasserstein"]
               for s in range(5)) / 5


# ALD on the 10 NCSN levels puts 0.05 too much mass on the rarer completion (n = 2000, 5 SEs) even with
# the exact conditional score: its own mode-weight error on a 1-d target with modes 10 apart.
KNOWN = {**{case: "a reverse step per NCSN level over-disperses (test_samplers.COARSE)" for case in COARSE},
         ("ncsn", "ald"): "ALD's mode weights on 10 NCSN levels: TV 0.05 with the exact conditional score"}


@pytest.mark.parametrize("schedule,sampler", [
    pytest.param(sc, sa, id=f"{sc}-{sa}", marks=[pytest.mark.xfail(strict=True, reason=KNOWN[sc, sa])]
                 if (sc, sa) in KNOWN else []) for sc, sa in CASES if DEFAULT["samplers"][sa]["kind"] != "langevin"])
def test_exact_conditional_method_with_the_oracle_is_within_sampling_noise(schedule, sampler):
    """n = 2000 with the exact conditional score: mode-weight TV within 4 binomial SEs of the 0.24
    weight (0.038), sliced W₂ below twice the exact-vs-exact floor at the same n. Every sampler of the
    default × every schedule kind, except plain Langevin (it cannot move mass between modes: the
    pitfall test) and the NCSN reverse-step samplers the referee also marks."""
    n = 2000
    got = inpaint("exact", schedule, sampler, n)
    w = float(exact_conditional(REFEREE, MASK, Y).weights[0])
    assert got["cond_mode_weight_tv"] <= 4 * math.sqrt(w * (1 - w) / n), got
    assert got["cond_sliced_wasserstein"] < 2 * floor(n), got


@pytest.mark.parametrize("schedule", ["vp", "ve", "subvp"])
def test_replacement_is_biased_even_with_the_exact_score(schedule):
    """Replacement (score_sde's inpainter) never conditions the free coordinate on how likely the
    observation is under each mode until the noise is small: measured with EM at the default's
    settings, n = 2000: TV 0.37–0.38 and sliced W₂ 5.3–5.4 (VP, VE, sub-VP) against 0.008–0.028 and
    0.51–0.74 for the exact method (the rarer completion, weight 0.24, gets almost none or too much);
    asserted > 0.1 and > 5× exact."""
    replaced, exact = inpaint("replacement", schedule, "em", 2000), inpaint("exact", schedule, "em", 2000)
    assert replaced["cond_mode_weight_tv"] > max(0.1, 5 * exact["cond_mode_weight_tv"]), (replaced, exact)
    assert replaced["cond_sliced_wasserstein"] > 3 * exact["cond_sliced_wasserstein"], (replaced, exact)


DIGITS = {"name": "dg", "datasets": {"digits": {"kind": "digits"}}, "objectives": ["dsm"],
          "schedules": {"vp": {"kind": "vp"}}, "samplers": {"em": {"kind": "em", "steps": 50}},
          "train": {"steps": 30, "batch_size": 64, "net": {"kind": "mlp", "width": 64}},
          "conditioning": {"masks": {"left": {"kind": "half", "side": "left"}},
                           "methods": {"replacement": {"kind": "replacement"}}, "observations": 2, "n_samples": 300}}


def test_completion_fid_sits_near_zero_for_the_originals_and_far_above_for_noise(tmp_path):
    """cond_fid's yardstick, in the digits classifier's features: the 300 test digits against a second
    dequantisation of themselves (a perfect completion) and against the same digits with their right
    half replaced by uniform noise (a useless one). Measured over three seeds 0.024–0.027 and 207–215:
    asserted < 0.5 and > 100."""
    from scorebench.spec.config import validate
    from scorebench.core.data import build_dataset
    from scorebench.spec.settings import EvaluateConfig
    from scorebench.jobs.reference import completion_fid

    config, data = validate(dict(DIGITS)), build_dataset("digits", {"kind": "digits"})
    originals = data.test[:300]
    truth = data.dequantize(originals, torch.Generator().manual_seed(1))
    perfect = data.dequantize(originals, torch.Generator().manual_seed(2))
    noise = perfect.clone()
    noise[..., 4:] = 2 * torch.rand(noise[..., 4:].shape, generator=torch.Generator().manual_seed(3)) - 1
    good, detail = completion_fid(Benchmark.of(config), "digits", EvaluateConfig(), perfect, truth, tmp_path)
    bad, _ = completion_fid(Benchmark.of(config), "digits", EvaluateConfig(), noise, truth, tmp_path)
    assert good < 0.5 and bad > 100, (good, bad)
    assert "300 test images each completed once" in detail


@pytest.mark.slow
def test_digits_inpainting_rows_carry_label_agreement_and_completion_fid(tmp_path):
    """A barely trained digits model completes the left halves: every image metric is an ok, finite row."""
    from scorebench.spec.config import validate
    from scorebench.spec.grid import RunSpec
    from scorebench.jobs.condition import conditional_rows
    from scorebench.jobs.build import train_batch

    config, run = validate(dict(DIGITS)), RunSpec("digits", "dsm", "vp", 0)
    train_batch(Benchmark.of(config), [run], tmp_path)
    rows = {r["metric"]: r for r in conditional_rows(Benchmark.of(config), [run], "em", tmp_path)}
    assert set(rows) == {"cond_label_agreement", "cond_fid"}, rows
    assert all(r["status"] == "ok" and math.isfinite(r["value"]) and r["sampler"] == "em/replacement/left"
               for r in rows.values()), rows
    assert 0 <= rows["cond_label_agreement"]["value"] <= 1 and rows["cond_fid"]["value"] > 0
    assert "300 test images each completed once" in rows["cond_fid"]["detail"]

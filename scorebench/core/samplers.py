"""Samplers with one head (after k-diffusion): hyper-parameters in the constructor, then
`sampler(score_fn, process, shape, *, generator, callback=None) -> (samples, stats)`.

`stats` holds `nfe` (score evaluations), `seconds`, `status` ("ok" or "diverged") and, when a
sampler produced a non-finite state, `diverged_step`: a diverging sampler never raises.
`callback` receives {"x", "i", "t"} after every step. Any callable s(x, t) is a valid score.
`project(x, t)`, where a sampler `projects` (every fixed-step one), replaces the state after every
step and at the start (t = 1), and `project(x, None)` the final samples: inpainting by replacement.
"""
from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from typing import Annotated, Callable

import torch

from ..errors import ConfigError
from ..spec.registry import COUNT, SCALE, OneOf, Range, Registry, build
from .rng import Streams, randn
from .sde import NoiseProcess, _bcast

SAMPLERS: Registry = Registry("sampler")
# torchdiffeq's solvers (its odeint SOLVERS) that need no options of their own: samplers.ode.method's values
ODE_METHODS = ("dopri8", "dopri5", "bosh3", "fehlberg2", "adaptive_heun", "euler", "midpoint", "heun2", "heun3", "rk4",
               "explicit_adams", "implicit_adams", "fixed_adams")


class _Diverged(Exception):
    def __init__(self, step: int):
        self.step = step


class _Counted:
    """Wrap a score function to count evaluations (NFE, in samples of the batch: per call)."""

    def __init__(self, score_fn):
        self.score_fn, self.nfe = score_fn, 0

    def __call__(self, x, t):
        self.nfe += 1
        t = t.to(x.device)
        return self.score_fn(x, t.expand(x.shape[0]) if t.ndim == 0 else t)


class Sampler(ABC):
    """Times the run, counts NFE and turns a non-finite state into a recorded divergence; a sampler
    gives `run`, its facts (`continuous`, `stepped`) and its parameters as constructor keywords."""

    continuous = False  # needs a score at every t (an ODE), not just a schedule's levels
    denoise = True
    # rows never interact (fixed steps, per-row noise), so several runs can be drawn as one batch with
    # the same result per run; an adaptive solver's step sizes depend on every row of its batch
    batches_runs = True
    stepped = True  # takes `project` after every step (an adaptive ODE solve has no steps to replace in)
    sweeps = "steps"  # the step-count parameter a config may give as a list: one grid cell per count (spec.sweeps)

    def __call__(self, score_fn, process: NoiseProcess, shape, *, generator: torch.Generator | Streams,
                 callback: Callable | None = None, device="cpu", project: Callable | None = None):
        if self.continuous and process.discrete:
            raise ConfigError(f"sampler {self.kind}: needs a continuous-time schedule; {process.kind} is discrete (use ve)")
        if project is not None and not self.stepped:
            raise ConfigError(f"sampler {self.kind}: cannot replace the state between steps (inpainting by replacement)")
        score = _Counted(score_fn)
        start = time.perf_counter()
        status, step = "ok", None
        x = process.prior_sample(shape, generator, device=device)
        try:
            with torch.no_grad():
                if project is not None:
                    x = project(x, torch.tensor(1.0))
                x = self.run(score, process, x, generator, self._checker(callback, project))
                if project is not None:
                    x = project(x, None)
        except _Diverged as err:
            status, step = "diverged", err.step
        stats = {"nfe": score.nfe, "seconds": time.perf_counter() - start, "status": status, "diverged_step": step}
        return x, stats

    @staticmethod
    def _checker(callback, project=None):
        """check(x, i, t) after step i: a non-finite state is a divergence; returns the (projected) state."""
        def check(x, i, t):
            if not torch.isfinite(x).all():
                raise _Diverged(i + 1)
            if project is not None:
                x = project(x, t)
            if callback is not None:
                callback({"x": x, "i": i, "t": t})
            return x

        return check

    def final_denoise(self, score, process, x, t):
        """Tweedie's formula at the last level: E[x0 | x_t] = (x + σ² s(x, t)) / α."""
        return denoised(score, process, x, t) if self.denoise else x

    @abstractmethod
    def run(self, score, process, x, generator, check) -> torch.Tensor:
        """The samples from prior draws `x`, calling `check(x, i, t)` after every step i."""


def _noise(x, generator):
    return randn(x.shape, generator, device=x.device, dtype=x.dtype)


def _level_times(process, levels: int, sigma_min: float) -> torch.Tensor:
    """Annealing levels: a discrete schedule's own; else geometric in σ/α (σ for VE) from t = 1 down to
    sigma_min, the spacing NCSN uses, transported to VP-type processes through their σ/α."""
    if process.discrete:
        return process.time_grid(levels)
    top = float(process.noise_to_signal(torch.tensor(1.0, dtype=torch.float64)))
    ratios = torch.logspace(math.log10(top), math.log10(sigma_min), levels, dtype=torch.float64)
    return torch.tensor([1.0] + [process.time_of(float(r)) for r in ratios[1:]])


@SAMPLERS.register("langevin")
class Langevin(Sampler):
    """Plain Langevin MCMC with the score at one small noise level (Song & Ermon 2019, §3.2).

    The level is σ_L on a discrete schedule, else the t where σ/α = `sigma` (default 0.01, NCSN's σ_L).
    """


    def __init__(self, steps: COUNT = 1000, step_size: SCALE = 0.01, sigma: SCALE = 0.01,
                 denoise: bool = True):
        self.steps, self.step_size, self.sigma, self.denoise = steps, float(step_size), float(sigma), denoise

    def run(self, score, process, x, generator, check):
        t = _level_times(process, 2, self.sigma)[-1]
        for i in range(self.steps):
            x = x + 0.5 * self.step_size * score(x, t) + self.step_size**0.5 * _noise(x, generator)
            x = check(x, i, t)
        return self.final_denoise(score, process, x, t)


@SAMPLERS.register("ald")
class AnnealedLangevin(Sampler):
    """Annealed Langevin dynamics (Song & Ermon 2019, Alg. 1): α_i = ε σ_i²/σ_L², T steps per level.

    On a continuous schedule the `levels` levels are geometric in σ/α from t = 1 to `sigma_min` (NCSN's 0.01).
    Entering level i the state is scaled by α(t_i)/α(t_{i−1}): on VP/sub-VP the level's data sit at α(t_i) x₀,
    and 50 Langevin steps do not cover that shift by mixing alone (samples drift to the origin); on VE it is 1.
    """

    sweeps = "steps_per_level"  # an NFE sweep varies the steps per level; the levels keep the annealing's geometry

    def __init__(self, steps_per_level: COUNT = 100, epsilon: SCALE = 2e-5, levels: Annotated[int, Range(2)] = 10,
                 sigma_min: SCALE = 0.01, denoise: bool = True):
        self.steps_per_level, self.epsilon, self.levels, self.denoise = steps_per_level, float(epsilon), levels, denoise
        self.sigma_min = float(sigma_min)

    def run(self, score, process, x, generator, check):
        times = _level_times(process, self.levels, self.sigma_min)
        sigmas = process.marginal(times)[1]
        ratio = self.epsilon / float(sigmas[-1]) ** 2  # α_i / σ_i², the same at every level
        if ratio >= 2:  # Langevin on N(0, σ²) diverges for α ≥ 4σ²; stay clear of it
            raise ConfigError(
                f"sampler ald: epsilon={self.epsilon:g} gives α/σ² = {ratio:.3g} ≥ 2 (unstable) with this schedule's "
                f"σ_L = {float(sigmas[-1]):.3g}; set epsilon below {0.2 * float(sigmas[-1]) ** 2:.3g} (α/σ² = 0.2 as in NCSN)")
        means = process.marginal(times)[0]
        i = 0
        for level, (t, sigma) in enumerate(zip(times, sigmas)):
            if level:
                x = x * (means[level] / means[level - 1])
            step = self.epsilon * sigma**2 / sigmas[-1] ** 2
            for _ in range(self.steps_per_level):
                x = x + 0.5 * step * score(x, t) + step.sqrt() * _noise(x, generator)
                x = check(x, i, t)
                i += 1
        return self.final_denoise(score, process, x, times[-1])


def _reverse_step(score, process, x, t, t_next, generator):
    """Reverse-SDE Euler–Maruyama step t → t_next with the exact ∫g² (ancestral on NCSN levels)."""
    var = process.diffusion_integral(t, t_next)
    mean = x - process.drift(x, t) * (t - t_next) + var * score(x, t)
    return mean + var.sqrt() * _noise(x, generator)


@SAMPLERS.register("em")
class EulerMaruyama(Sampler):
    """Reverse-time SDE (Song et al. 2021, eq. 6) by Euler–Maruyama, Tweedie denoising at the end."""


    def __init__(self, steps: Annotated[int, Range(2)] = 1000, denoise: bool = True):
        self.steps, self.denoise = steps, denoise

    def run(self, score, process, x, generator, check):
        times = process.time_grid(self.steps)
        for i, (t, t_next) in enumerate(zip(times[:-1], times[1:])):
            x = _reverse_step(score, process, x, t, t_next, generator)
            x = check(x, i, t_next)
        return self.final_denoise(score, process, x, times[-1])


@SAMPLERS.register("pc")
class PredictorCorrector(Sampler):
    """Predictor–corrector (Song et al. 2021, Alg. 2–3): EM predictor, Langevin corrector at a target snr.

    The corrector's step is 2 (snr σ(t))²: score_sde's 2 (snr ‖z‖/‖s‖)² with both norms at their
    expected ratio σ(t). The realised-norm version biases low-d samples (the step grows with the
    very noise it multiplies) and its batch mean couples samples; this one does neither.
    """


    def __init__(self, steps: Annotated[int, Range(2)] = 500, snr: SCALE = 0.16,
                 corrector_steps: Annotated[int, Range(0)] = 1, denoise: bool = True):
        self.steps, self.snr, self.corrector_steps, self.denoise = steps, float(snr), corrector_steps, denoise

    def run(self, score, process, x, generator, check):
        times = process.time_grid(self.steps)
        for i, (t, t_next) in enumerate(zip(times[:-1], times[1:])):
            x = _reverse_step(score, process, x, t, t_next, generator)
            step = 2 * (self.snr * process.marginal_std(t_next)) ** 2
            for _ in range(self.corrector_steps):
                x = x + step * score(x, t_next) + (2 * step).sqrt() * _noise(x, generator)
            x = check(x, i, t_next)
        return self.final_denoise(score, process, x, times[-1])


def solve_ode(rhs, y0: torch.Tensor, ts: torch.Tensor, *, rtol: float, atol: float, method: str) -> torch.Tensor:
    """The state at ts[-1] by torchdiffeq; an adaptive solver is made to land on ts[-1] (`step_t`)
    instead of stepping past it and interpolating back: past t = 1 the velocity is clamped, which cost
    dopri5 extra rejected steps (134 NFE vs scipy RK45's 110 on the oracle toy) and accuracy."""
    from torchdiffeq import odeint

    options = {"step_t": ts[-1:]} if adaptive(method) else None
    return odeint(rhs, y0, ts, rtol=rtol, atol=atol, method=method, options=options)[-1]


def adaptive(method: str) -> bool:
    """Whether torchdiffeq's `method` chooses its own step sizes (an embedded Runge–Kutta pair)."""
    from torchdiffeq._impl.odeint import SOLVERS
    from torchdiffeq._impl.rk_common import RKAdaptiveStepsizeODESolver

    return method in SOLVERS and issubclass(SOLVERS[method], RKAdaptiveStepsizeODESolver)


def ode_velocity(score, process, x, t):
    """Probability-flow ODE (Song et al. 2021, eq. 13): dx/dt = f(x, t) − ½ g(t)² s(x, t).

    t is clamped to [eps, 1]: adaptive solvers overshoot the end of the interval and interpolate
    back, and the VP marginals are undefined below t = 0.
    """
    t = t.clamp(process.eps, 1.0).expand(x.shape[0])
    return process.drift(x, t) - 0.5 * _bcast(process.diffusion(t) ** 2, x) * score(x, t)


@SAMPLERS.register("ode")
class ProbabilityFlowODE(Sampler):
    """Probability-flow ODE from t = 1 to eps by a torchdiffeq solver, adaptive (default dopri5, its own steps)
    or fixed-grid (euler, midpoint, rk4, …) on a uniform grid of `steps` times."""

    continuous = True
    stepped = False

    def __init__(self, rtol: SCALE = 1e-5, atol: SCALE = 1e-5, method: Annotated[str, OneOf(*ODE_METHODS)] = "dopri5",
                 steps: Annotated[int, Range(2)] = 50, denoise: bool = True):
        self.rtol, self.atol, self.method, self.steps, self.denoise = float(rtol), float(atol), method, steps, denoise

    @property
    def batches_runs(self) -> bool:
        return not adaptive(self.method)

    def run(self, score, process, x, generator, check):
        ts = (torch.tensor([1.0, process.eps]) if adaptive(self.method) else process.time_grid(self.steps)).to(x)
        try:
            x = solve_ode(lambda t, y: ode_velocity(score, process, y, t), x, ts, rtol=self.rtol, atol=self.atol,
                          method=self.method)
        except AssertionError:  # torchdiffeq asserts on an underflowing step: the state blew up
            raise _Diverged(score.nfe) from None
        check(x, score.nfe - 1, ts[-1])
        return self.final_denoise(score, process, x, ts[-1])


DISCRETISATIONS = ("time", "sigma")
RHO = 7.0  # Karras et al.'s ρ: σ-levels uniform in σ^{1/ρ}


def sampling_times(process, steps: int, discretisation: str) -> torch.Tensor:
    """Times 1 = t_0 > … > t_{steps−1} = eps: the process's uniform time grid ("time"), or the t of Karras
    et al.'s σ levels (eq. 5, ρ = 7) in σ/α between its values at t = 1 and eps ("sigma")."""
    if discretisation == "time":
        return process.time_grid(steps)
    ends = process.noise_to_signal(torch.tensor([1.0, process.eps], dtype=torch.float64)) ** (1 / RHO)
    levels = torch.linspace(float(ends[0]), float(ends[1]), steps, dtype=torch.float64) ** RHO
    return torch.tensor([1.0] + [process.time_of(float(s)) for s in levels[1:-1]] + [process.eps])


def denoised(score, process, x, t):
    """The data prediction x̂0 = E[x0 | x_t] = (x + σ² s(x, t)) / α (Tweedie)."""
    alpha, sigma = process.marginal(t)
    return (x + _bcast(sigma**2, x) * score(x, t)) / _bcast(alpha, x)


@SAMPLERS.register("heun")
class Heun(Sampler):
    """Heun's 2nd-order method on the probability-flow ODE (Karras et al. 2022, Alg. 1), Euler last step:
    in t (`discretisation: time`), or on Karras' σ levels in the data-prediction form dx̃/dσ̃ = (x̃ − x̂0)/σ̃
    with x̃ = x/α, σ̃ = σ/α (`sigma`)."""

    continuous = True

    def __init__(self, steps: Annotated[int, Range(2)] = 50,
                 discretisation: Annotated[str, OneOf(*DISCRETISATIONS)] = "time", denoise: bool = True):
        self.steps, self.discretisation, self.denoise = steps, discretisation, denoise

    def run(self, score, process, x, generator, check):
        times = sampling_times(process, self.steps, self.discretisation)
        step = self._sigma_step if self.discretisation == "sigma" else self._time_step
        for i, (t, t_next) in enumerate(zip(times[:-1], times[1:])):
            x = step(score, process, x, t, t_next, last=i == len(times) - 2)
            x = check(x, i, t_next)
        return self.final_denoise(score, process, x, times[-1])

    @staticmethod
    def _time_step(score, process, x, t, t_next, last):
        dt = t_next - t
        d = ode_velocity(score, process, x, t)
        x_euler = x + dt * d
        return x_euler if last else x + dt * 0.5 * (d + ode_velocity(score, process, x_euler, t_next))

    @staticmethod
    def _sigma_step(score, process, x, t, t_next, last):
        (alpha, sigma), (alpha_next, sigma_next) = process.marginal(t), process.marginal(t_next)
        level, level_next = sigma / alpha, sigma_next / alpha_next
        y = x / alpha
        d = (y - denoised(score, process, x, t)) / level
        y_euler = y + (level_next - level) * d
        if not last:
            d_next = (y_euler - denoised(score, process, alpha_next * y_euler, t_next)) / level_next
            y_euler = y + (level_next - level) * 0.5 * (d + d_next)
        return alpha_next * y_euler


@SAMPLERS.register("dpmpp_2m")
class DPMSolverPP2M(Sampler):
    """DPM-Solver++(2M) (Lu et al. 2022, Alg. 2), multistep in λ = log(α/σ) on the data prediction x̂0 from
    the score: x' = (σ'/σ) x − α' (e^{−h} − 1) D, D = x̂0 (first step), then (1 + 1/2r) x̂0 − (1/2r) x̂0_prev."""

    continuous = True

    def __init__(self, steps: Annotated[int, Range(2)] = 50,
                 discretisation: Annotated[str, OneOf(*DISCRETISATIONS)] = "sigma", denoise: bool = True):
        self.steps, self.discretisation, self.denoise = steps, discretisation, denoise

    def run(self, score, process, x, generator, check):
        times = sampling_times(process, self.steps, self.discretisation)
        previous, h_previous = None, None
        for i, (t, t_next) in enumerate(zip(times[:-1], times[1:])):
            (alpha, sigma), (alpha_next, sigma_next) = process.marginal(t), process.marginal(t_next)
            h = torch.log(alpha_next / sigma_next) - torch.log(alpha / sigma)
            now = denoised(score, process, x, t)
            d = now if previous is None else now + (now - previous) * (h / (2 * h_previous))
            x = (sigma_next / sigma) * x - alpha_next * torch.expm1(-h) * d
            previous, h_previous = now, h
            x = check(x, i, t_next)
        return self.final_denoise(score, process, x, times[-1])


def build_sampler(name: str, spec: dict) -> Sampler:
    """Sampler `name` from its config entry `{kind: ..., **params}`; `sweep` (the NFE sweep the entry
    belongs to, spec.sweeps) only groups the report's curves and is no parameter."""
    return build(SAMPLERS, {k: v for k, v in spec.items() if k != "sweep"}, where=f"samplers.{name}")

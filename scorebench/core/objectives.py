"""Score-matching objectives: small callables returning the unreduced per-sample loss (after EDM).

Every objective is multi-scale: it draws t from the process (or takes the given t), perturbs
x_t = α x0 + σ z, and weights by λ = σ(t)² (Song & Ermon 2019 eq. 6; score_sde's continuous
weighting). Objectives differ only in how they estimate the Fisher divergence at x_t:

- exact: Hyvärinen (2005), ½‖s‖² + tr ∇ₓs, with the full Jacobian trace.
- dsm:   Vincent (2011), ½‖s − ∇ log p(x_t | x0)‖².
- ssm / ssm_vr: Song et al. (2019), vᵀ∇ₓs v + ½(vᵀs)² (or ½‖s‖² for the variance-reduced form).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from functools import partial
from typing import Annotated, Callable

import torch

from ..errors import ConfigError
from ..spec.registry import COUNT, OneOf, Registry, build
from .rng import Generator, randn
from .sde import NoiseProcess, _bcast

ScoreFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
OBJECTIVES: Registry = Registry("objective")


def _flat_sq(v: torch.Tensor) -> torch.Tensor:
    return v.reshape(v.shape[0], -1).pow(2).sum(1)


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a * b).reshape(a.shape[0], -1).sum(1)


def jacobian_trace(score_fn: ScoreFn, x: torch.Tensor, t: torch.Tensor,
                   chunk_size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """(s(x, t), tr ∇ₓ s(x, t)) per sample: the d backward passes of the loop, `chunk_size` basis
    vectors at a time as one vmapped pass (autograd's is_grads_batched), so ⌈d / chunk_size⌉ passes.

    Differentiable in the parameters when grad mode is on (training); under no_grad (the likelihood)
    no graph is kept. Chunks bound memory: one pass over all d at once was slower than the loop at
    d = 1024 on CPU (memory-bound); 32 was fastest there (benchmarks/results/scaling_cpu.csv).
    """
    keep = torch.is_grad_enabled()
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        s = score_fn(x, t)
        b, d = x.shape[0], x[0].numel()
        eye = torch.eye(d, dtype=s.dtype, device=s.device)
        trace = torch.zeros(b, dtype=s.dtype, device=s.device)
        for start in range(0, d, chunk_size):
            k = torch.arange(start, min(start + chunk_size, d), device=s.device)
            basis = eye[k].reshape(len(k), 1, *s.shape[1:]).expand(len(k), b, *s.shape[1:])
            (grad,) = torch.autograd.grad(s, x, basis, create_graph=keep, retain_graph=True, is_grads_batched=True)
            trace = trace + grad.reshape(len(k), b, d)[torch.arange(len(k), device=s.device), :, k].sum(0)
    return (s, trace) if keep else (s.detach(), trace.detach())


def jacobian_trace_loop(score_fn: ScoreFn, x: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Reference: the trace by one autograd backward pass per dimension (O(d) passes)."""
    x = x.detach().requires_grad_(True)
    s = score_fn(x, t)
    flat = s.reshape(s.shape[0], -1)
    trace = torch.zeros(x.shape[0], dtype=s.dtype, device=s.device)
    for k in range(flat.shape[1]):
        (grad,) = torch.autograd.grad(flat[:, k].sum(), x, create_graph=True)
        trace = trace + grad.reshape(x.shape[0], -1)[:, k]
    return s, trace


class Objective(ABC):
    """Draw t (unless given) and x_t, then weight the per-sample estimate by λ = σ(t)²; an objective
    gives `estimate` and its facts (the grid reads them from the generated catalog)."""

    trains = True  # False: nothing is trained (the oracle: the exact score)
    needs_density = False  # needs the exact score of a known density: synthetic data only
    max_dim = None  # default of objectives.<name>.max_dim: above it a step costs too much

    def __call__(self, score_fn: ScoreFn, x0: torch.Tensor, process: NoiseProcess, *,
                 generator: Generator, t: torch.Tensor | None = None,
                 projection_generator: Generator | None = None) -> torch.Tensor:
        """`generator` draws t and z; `projection_generator` (default: the same) the estimator's own
        randomness, so that training runs of different objectives can share t and z step by step."""
        if t is None:
            t = process.sample_time(x0.shape[0], generator, device=x0.device)
        alpha, sigma = process.marginal(t)
        z = randn(x0.shape, generator, device=x0.device, dtype=x0.dtype)
        sigma_x = _bcast(sigma, x0)
        xt = _bcast(alpha, x0) * x0 + sigma_x * z
        return sigma**2 * self.estimate(score_fn, xt, t, z / sigma_x, projection_generator or generator)

    @abstractmethod
    def estimate(self, score_fn, xt, t, noise_over_sigma, generator) -> torch.Tensor:
        """The per-sample loss at x_t (before the σ² weight); `noise_over_sigma` is z/σ."""


@OBJECTIVES.register("exact")
class ExactSM(Objective):
    """Hyvärinen score matching with the full Jacobian trace: vectorised (`jacobian_trace`), the
    reference loop, or `auto`: the loop only at d = 1, where it is one backward pass and vmap only
    adds overhead; from d = 2 up the vectorised trace was never slower, timed interleaved in one
    process (1 thread, MLP width 64, batch 128, one and three members): loop/vectorised 1.04 at d = 2,
    1.3-1.4 at d = 4, 1.4-2.6 from d = 8 to 64."""

    max_dim = 32  # d backward passes per step: slow on CPU beyond d = 32

    def __init__(self, vectorized: bool | Annotated[str, OneOf("auto")] = "auto", chunk_size: COUNT = 32):
        if vectorized not in (True, False, "auto"):
            raise ConfigError(f"objectives.exact.vectorized: must be true, false or auto (got {vectorized!r})")
        self.vectorized = vectorized
        self.batched = partial(jacobian_trace, chunk_size=chunk_size)

    def estimate(self, score_fn, xt, t, noise_over_sigma, generator):
        vectorized = self.vectorized if self.vectorized != "auto" else xt[0].numel() > 1
        s, trace = (self.batched if vectorized else jacobian_trace_loop)(score_fn, xt, t)
        return 0.5 * _flat_sq(s) + trace


@OBJECTIVES.register("dsm")
class DenoisingSM(Objective):
    """Denoising score matching: target ∇ log p(x_t | x0) = −z/σ."""

    def estimate(self, score_fn, xt, t, noise_over_sigma, generator):
        return 0.5 * _flat_sq(score_fn(xt, t) + noise_over_sigma)


PROJECTIONS = ("rademacher", "gaussian")


@OBJECTIVES.register("ssm")
class SlicedSM(Objective):
    """Sliced score matching: M random projections v with E[v vᵀ] = I, one backward pass."""

    variance_reduced = False

    def __init__(self, n_projections: COUNT = 1, distribution: Annotated[str, OneOf(*PROJECTIONS)] = "rademacher"):
        if distribution not in PROJECTIONS:
            raise ConfigError(f"distribution: unknown {distribution!r}; valid: {', '.join(PROJECTIONS)}")
        self.n_projections, self.distribution = n_projections, distribution

    def projections(self, like: torch.Tensor, generator: Generator) -> torch.Tensor:
        v = randn(like.shape, generator, device=like.device, dtype=like.dtype)
        return v.sign() if self.distribution == "rademacher" else v

    def estimate(self, score_fn, xt, t, noise_over_sigma, generator):
        m, b = self.n_projections, xt.shape[0]
        x, tt = (xt.detach(), t) if m == 1 else (xt.detach().repeat(m, *([1] * (xt.ndim - 1))), t.repeat(m))
        x.requires_grad_(True)
        v = self.projections(x, generator)
        s = score_fn(x, tt)
        sv = _dot(s, v)
        (grad_sv,) = torch.autograd.grad(sv.sum(), x, create_graph=True)
        quad = 0.5 * _flat_sq(s) if self.variance_reduced else 0.5 * sv**2
        loss = _dot(grad_sv, v) + quad
        return loss if m == 1 else loss.reshape(m, b).mean(0)  # one projection: no copy of the batch


@OBJECTIVES.register("ssm_vr")
class SlicedSMVR(SlicedSM):
    """Sliced score matching with variance reduction: ½‖s‖² replaces ½(vᵀs)² in closed form."""

    variance_reduced = True


@OBJECTIVES.register("oracle")
class Oracle(Objective):
    """The exact score of a synthetic dataset (`core.oracle.OracleScore`), trained by nothing: beside the
    trained objectives it separates a sampler's error from training error."""

    trains = False
    needs_density = True

    def estimate(self, score_fn, xt, t, noise_over_sigma, generator):
        raise ConfigError("objectives.oracle: the exact score is not trained; it has no loss")


def build_objective(name: str, params: dict | None = None) -> Objective:
    """Objective `name` with its parameters from the config."""
    return build(OBJECTIVES, {"kind": name, **(params or {})}, where=f"objectives.{name}")

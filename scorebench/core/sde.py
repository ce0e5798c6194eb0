"""Noise processes behind one interface (after score_sde's `SDE`).

Every process perturbs data as x_t = α(t) x_0 + σ(t) z for t ∈ [eps, 1] and is the marginal law of
the forward SDE dx = f(x, t) dt + g(t) dw. NCSN's geometric σ₁ > … > σ_L is the VE process
restricted to the L times where σ(t) = σ_i (`discrete = True`): it trains and samples there only.
"""
from __future__ import annotations

import inspect
import math
from abc import ABC, abstractmethod
from typing import Annotated

import torch

from ..errors import ConfigError
from ..spec.registry import SCALE, Range, Registry, build
from .rng import rand, randint, randn

PROCESSES: Registry = Registry("schedule")


def max_pairwise_distance(x: torch.Tensor, max_points: int = 10000, chunk: int = 1024) -> tuple[float, int]:
    """Largest Euclidean distance between two training points (Song & Ermon 2020, technique 1).

    Exact over the first `max_points` rows (all rows when fewer); returns (distance, rows used). Each
    block of rows meets only the rows from its own on (the pairs i ≤ j), as squared distances
    ‖a‖² + ‖b‖² − 2ab in float64 (one matrix product), with one square root at the end: half the
    pairs and none of cdist's per-pair roots.
    """
    x = x.reshape(x.shape[0], -1)[:max_points].double()
    sq = (x * x).sum(1)
    best = 0.0
    for i in range(0, len(x), chunk):
        d2 = torch.addmm(sq[i : i + chunk, None] + sq[None, i:], x[i : i + chunk], x[i:].T, alpha=-2)
        best = max(best, float(d2.max()))
    return math.sqrt(best), len(x)


class Perturbation(ABC):
    """What training reads of a process: the marginal x_t = α(t) x0 + σ(t) z and the training times
    (a noise process, or an ensemble's per-member view of several: `core.ensemble.MemberProcesses`)."""

    discrete = False
    eps = 1e-3
    notes: dict = {}

    def marginal(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(α(t), σ(t)): mean coefficient and standard deviation of p(x_t | x_0). The last answer is
        kept for the same `t` tensor: a training or sampler step asks once for x_t and once in the
        network (treat the result as read-only)."""
        memo = self.__dict__.get("_last")
        if memo is not None and memo[0] is t and memo[1] == t._version:
            return memo[2]
        out = self._marginal(t)
        self._last = (t, t._version, out)
        return out

    @abstractmethod
    def _marginal(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(α(t), σ(t)), computed."""

    def sample_time(self, n: int, generator, device="cpu") -> torch.Tensor:
        """Training times: uniform on [eps, 1]."""
        return self.eps + (1 - self.eps) * rand((n,), generator, device=device)


class NoiseProcess(Perturbation):
    """x_t = α(t) x0 + σ(t) z and its SDE; a process gives `log_alpha`, `marginal_std`, its prior's
    std, g and g's integral (f is linear: `drift_coef`, zero unless the process says otherwise)."""

    @abstractmethod
    def log_alpha(self, t: torch.Tensor) -> torch.Tensor:
        """log α(t)."""

    @abstractmethod
    def marginal_std(self, t: torch.Tensor) -> torch.Tensor:
        """σ(t)."""

    @property
    @abstractmethod
    def prior_std(self) -> float:
        """The std of the prior N(0, prior_std² I) the reverse process starts from."""

    @abstractmethod
    def diffusion(self, t: torch.Tensor) -> torch.Tensor:
        """g(t)."""

    @abstractmethod
    def diffusion_integral(self, t: torch.Tensor, t_next: torch.Tensor) -> torch.Tensor:
        """∫ g(s)² ds from t_next to t (t > t_next): the variance a reverse step adds, in closed form."""

    def _marginal(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.exp(self.log_alpha(t)), self.marginal_std(t)

    def drift(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return _bcast(self.drift_coef(t), x) * x

    def drift_coef(self, t: torch.Tensor) -> torch.Tensor:
        """f(x, t) = drift_coef(t) · x for all processes here (linear drift)."""
        return torch.zeros_like(t)

    def prior_sample(self, shape, generator, device="cpu") -> torch.Tensor:
        """Draws from N(0, prior_std² I); `generator` is a torch.Generator or an rng.Streams."""
        return self.prior_std * randn(shape, generator, device=device)

    def prior_logp(self, z: torch.Tensor) -> torch.Tensor:
        """log N(z; 0, prior_std² I), summed over all non-batch dims."""
        d = z[0].numel()
        flat = z.reshape(z.shape[0], -1)
        return -0.5 * (flat**2).sum(1) / self.prior_std**2 - d * (0.5 * math.log(2 * math.pi) + math.log(self.prior_std))

    def time_grid(self, steps: int) -> torch.Tensor:
        """Sampling times 1 = t_0 > … > t_{steps-1} = eps."""
        if steps < 2:
            raise ConfigError(f"steps: must be >= 2 for a time grid (got {steps})")
        return torch.linspace(1.0, self.eps, steps)

    def noise_to_signal(self, t: torch.Tensor) -> torch.Tensor:
        """σ(t)/α(t): the VE-equivalent noise level of x_t/α (EDM's σ); equals σ(t) for VE."""
        return self.marginal_std(t) * torch.exp(-self.log_alpha(t))

    def time_of(self, noise_to_signal: float) -> float:
        """The t in [eps, 1] where σ(t)/α(t) = noise_to_signal (bisection: it increases with t), clipped."""
        lo, hi = torch.tensor(self.eps, dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64)
        for _ in range(60):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if self.noise_to_signal(mid) < noise_to_signal else (lo, mid)
        return float(hi)

    def spec(self) -> dict:
        """The config entry with every value resolved (`sigma_max: auto` → the number): rebuilds it."""
        names = inspect.signature(type(self).__init__).parameters
        return {"kind": self.kind} | {n: getattr(self, n) for n in names if n not in ("self", "train")}


def _bcast(coef: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Reshape a per-sample (B,) or scalar coefficient to broadcast over x's non-batch dims."""
    if not isinstance(coef, torch.Tensor) or coef.dtype != x.dtype or coef.device != x.device:
        coef = torch.as_tensor(coef, dtype=x.dtype, device=x.device)  # a float, or another dtype/device
    return coef.reshape(-1, *([1] * (x.ndim - 1))) if coef.ndim else coef


def _resolve_sigma_max(sigma_max, train: torch.Tensor | None) -> tuple[float, dict]:
    """σ_max as given, or for 'auto' the largest pairwise training distance, with how it was found."""
    if sigma_max != "auto":
        return float(sigma_max), {"sigma_max_source": "config"}
    if train is None:
        raise ConfigError("sigma_max: 'auto' needs the training data")
    dist, rows = max_pairwise_distance(train)
    return dist, {"sigma_max_source": f"max pairwise distance over {rows} training points"}


@PROCESSES.register("ve")
class VE(NoiseProcess):
    """Variance exploding: σ(t) = σ_min (σ_max/σ_min)^t, α = 1, g = σ(t) √(2 log(σ_max/σ_min))."""

    def __init__(self, sigma_min: SCALE = 0.01, sigma_max: float | str = "auto", train=None):
        self.sigma_max, provenance = _resolve_sigma_max(sigma_max, train)
        self.sigma_min = float(sigma_min)
        if not 0 < self.sigma_min < self.sigma_max:
            raise ConfigError(f"sigma_min: must satisfy 0 < sigma_min < sigma_max (got {self.sigma_min} and {self.sigma_max:.4g})")
        self.notes = provenance
        self.eps = 0.0 if self.discrete else 1e-5

    @property
    def prior_std(self) -> float:
        return self.sigma_max

    def log_alpha(self, t):
        return torch.zeros_like(t)

    def _marginal(self, t):
        """(1, σ(t)): α ≡ 1, without exponentiating zeros on every step."""
        return torch.ones_like(t), self.marginal_std(t)

    def marginal_std(self, t):
        return self.sigma_min * (self.sigma_max / self.sigma_min) ** t

    def diffusion(self, t):
        return self.marginal_std(t) * math.sqrt(2 * math.log(self.sigma_max / self.sigma_min))

    def diffusion_integral(self, t, t_next):
        return self.marginal_std(t) ** 2 - self.marginal_std(t_next) ** 2


@PROCESSES.register("ncsn")
class NCSN(VE):
    """NCSN's L geometric levels σ₁ > … > σ_L (σ₁ = σ_max, σ_L = σ_min) on the VE process."""

    discrete = True

    def __init__(self, sigma_min: SCALE = 0.01, sigma_max: float | str = "auto",
                 levels: Annotated[int, Range(2)] = 10, train=None):
        super().__init__(sigma_min, sigma_max, train)
        self.levels = int(levels)

    def level_times(self) -> torch.Tensor:
        """t_i of σ_1 > … > σ_L, i.e. 1 = t_1 > … > t_L = 0."""
        return torch.linspace(1.0, 0.0, self.levels)

    def sigmas(self) -> torch.Tensor:
        return self.marginal_std(self.level_times())

    def sample_time(self, n, generator, device="cpu"):
        idx = randint(self.levels, (n,), generator, device=device)
        return self.level_times().to(device)[idx]

    def time_grid(self, steps=None):
        """The L levels themselves: a discrete schedule is never queried between them."""
        return self.level_times()


@PROCESSES.register("edm")
class EDM(VE):
    """Karras et al. (2022)'s σ-schedule as a VE process: σ(t) = (σ_min^{1/ρ} + t (σ_max^{1/ρ} − σ_min^{1/ρ}))^ρ,
    α = 1, g² = dσ²/dt; t ∈ [0, 1], so a uniform time grid is EDM's σ discretisation (eq. 5)."""

    def __init__(self, sigma_min: SCALE = 0.002, sigma_max: float | str = "auto", rho: SCALE = 7.0, train=None):
        super().__init__(sigma_min, sigma_max, train)
        self.rho, self.eps = float(rho), 0.0

    def _root(self, t):
        """σ(t)^{1/ρ}, linear in t."""
        low = self.sigma_min ** (1 / self.rho)
        return low + t * (self.sigma_max ** (1 / self.rho) - low)

    def marginal_std(self, t):
        return self._root(t) ** self.rho

    def diffusion(self, t):
        """√(dσ²/dt) = √(2ρ σ(t)^{2 − 1/ρ} (σ_max^{1/ρ} − σ_min^{1/ρ}))."""
        slope = self.sigma_max ** (1 / self.rho) - self.sigma_min ** (1 / self.rho)
        return torch.sqrt(2 * self.rho * slope * self._root(t) ** (2 * self.rho - 1))


@PROCESSES.register("vp")
class VP(NoiseProcess):
    """Variance preserving (DDPM limit): β(t) linear, α = exp(−½∫β), σ = √(1 − α²)."""

    prior_std = 1.0

    def __init__(self, beta_min: SCALE = 0.1, beta_max: SCALE = 20.0,
                 eps: Annotated[float, Range(0, 1, low_open=True, high_open=True)] = 1e-3, train=None):
        self.beta_min, self.beta_max, self.eps = float(beta_min), float(beta_max), float(eps)
        if not self.beta_min < self.beta_max:
            raise ConfigError(f"beta_min: must satisfy 0 < beta_min < beta_max (got {beta_min}, {beta_max})")

    def beta(self, t):
        return self.beta_min + t * (self.beta_max - self.beta_min)

    def log_alpha(self, t):
        return -0.25 * t**2 * (self.beta_max - self.beta_min) - 0.5 * t * self.beta_min

    def _marginal(self, t):
        """(α(t), σ(t)) from one evaluation of log α (the training step's hot path)."""
        log_alpha = self.log_alpha(t)
        return torch.exp(log_alpha), self.std_of(log_alpha)

    def marginal_std(self, t):
        return self.std_of(self.log_alpha(t))

    def std_of(self, log_alpha):
        """σ as a function of log α: √(1 − α²)."""
        return torch.sqrt(-torch.expm1(2 * log_alpha))

    def drift_coef(self, t):
        return -0.5 * self.beta(t)

    def diffusion(self, t):
        return torch.sqrt(self.beta(t))

    def diffusion_integral(self, t, t_next):
        return -2 * (self.log_alpha(t) - self.log_alpha(t_next))


@PROCESSES.register("subvp")
class SubVP(VP):
    """Sub-VP (Song et al. 2021, eq. 29): VP's drift, g² = β(1 − α⁴), σ = 1 − α²."""

    def std_of(self, log_alpha):
        """σ as a function of log α: 1 − α²."""
        return -torch.expm1(2 * log_alpha)

    def diffusion(self, t):
        return torch.sqrt(self.beta(t) * -torch.expm1(4 * self.log_alpha(t)))

    def diffusion_integral(self, t, t_next):
        a4, a4_next = torch.exp(4 * self.log_alpha(t)), torch.exp(4 * self.log_alpha(t_next))
        return super().diffusion_integral(t, t_next) - 0.5 * (a4_next - a4)


def build_process(name: str, spec: dict, train: torch.Tensor | None = None) -> NoiseProcess:
    """Build the schedule named `name` from its config entry; `train` resolves `sigma_max: auto`."""
    return build(PROCESSES, spec, where=f"schedules.{name}", train=train)

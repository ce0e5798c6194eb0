"""Rules across a config's values that no single parameter states, checked torch-free in the parse (so
`snakemake -n`, `scorebench grid` and every verb refuse the same configs): explicit mixture parameters,
schedule bounds, the annealed-Langevin step at the smallest noise level, a sampler's noise level
against the schedules', and names Snakemake can use as wildcard values. What needs the data (a
`sigma_max: auto` resolved from the training set) is checked when the components are built (onstart).
"""
from __future__ import annotations

import math
import re

from . import catalog
from ..errors import ConfigError

PERIODIC = re.compile(r"(.+)\1{19,}$")  # snakemake.io.PeriodicityDetector(min_repeat=20): a suffix repeated 20 times
# a sampler's noise level up to this factor below a schedule's smallest runs at that smallest (time_of clips
# it: the default langevin.sigma 0.01 against VP's 0.0105); further below, or above the largest, it is outside
LEVEL_FACTOR = 2.0
UNSTABLE = 2.0  # Langevin on N(0, σ²) with step α diverges for α ≥ 4σ²; ALD's α_L = ε: refused from ε/σ_L² ≥ 2
VE_EPS = 1e-5  # sde.VE's smallest t (its continuous form)


def check(config: dict) -> None:
    """Every rule of this module on a config that passed the schemas (defaults from the generated one)."""
    for section in catalog.WILDCARD_SECTIONS:
        for name in config[section]:
            check_name(f"{section}.{name}", name)
    for name, spec in config["datasets"].items():
        if spec["kind"] == "gaussian_mixture":
            check_mixture(f"datasets.{name}", spec)
    schedules = {name: _with_defaults("schedules", spec) for name, spec in config["schedules"].items()
                 if spec["kind"] in catalog.SCHEDULES}  # an unknown kind is the names check's
    for name, spec in schedules.items():
        check_schedule(f"schedules.{name}", spec)
    for name, spec in config["samplers"].items():
        if spec["kind"] in catalog.SAMPLERS:
            check_sampler(f"samplers.{name}", _with_defaults("samplers", spec), schedules)


def _with_defaults(section: str, spec: dict) -> dict:
    from .config import components

    properties = components()[section].get(spec["kind"], {}).get("properties", {})
    return {k: v["default"] for k, v in properties.items() if "default" in v} | spec


def check_name(where: str, name: str) -> None:
    """A name Snakemake takes as a wildcard value: its periodic-wildcard check refuses a value that ends
    in one piece repeated 20 times or more (it guards against rules that recurse)."""
    match = PERIODIC.search(name)
    if match:
        raise ConfigError(f"{where}: the name ends in {match.group(1)!r} repeated {len(match.group(0)) // len(match.group(1))} "
                          "times, which Snakemake refuses as a wildcard value (20 or more repeats); vary the name")


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_mixture(where: str, spec: dict) -> None:
    """Explicit `means` (k rows of d numbers), `stds` (k numbers, or k rows of d, all > 0) and `weights`
    (k numbers >= 0 summing to 1 within catalog.WEIGHT_TOLERANCE), as mixture.GaussianMixture takes them."""
    means, stds, weights = spec.get("means"), spec.get("stds"), spec.get("weights")
    k, d = spec.get("n_components", 4), spec.get("dim", 2)
    if means is not None:
        if not means or not all(isinstance(row, list) and row for row in means):
            raise ConfigError(f"{where}.means: must be a non-empty list of rows of numbers, one row per component")
        d, k = len(means[0]), len(means)
        _numbers(f"{where}.means", means, d, "its row 0")
        if "dim" in spec and spec["dim"] != d:
            raise ConfigError(f"{where}.dim: {spec['dim']} disagrees with the {d} numbers of each row of means")
    if stds is not None:
        if len(stds) != k:
            raise ConfigError(f"{where}.stds: {len(stds)} values for {k} components")
        rows = [row if isinstance(row, list) else [row] for row in stds]
        _numbers(f"{where}.stds", rows, d if isinstance(stds[0], list) else 1, "d" if isinstance(stds[0], list) else "one")
        bad = next(((i, v) for i, row in enumerate(rows) for v in row if v <= 0), None)
        if bad:
            raise ConfigError(f"{where}.stds.{bad[0]}: must be > 0 (got {bad[1]!r})")
    if weights is not None:
        if len(weights) != k:
            raise ConfigError(f"{where}.weights: {len(weights)} weights for {k} components")
        _numbers(f"{where}.weights", [[w] for w in weights], 1, "one")
        bad = next((i for i, w in enumerate(weights) if w < 0), None)
        if bad is not None:
            raise ConfigError(f"{where}.weights.{bad}: must be >= 0 (got {weights[bad]!r})")
        if abs(sum(weights) - 1.0) > catalog.WEIGHT_TOLERANCE:
            raise ConfigError(f"{where}.weights: must sum to 1 within {catalog.WEIGHT_TOLERANCE:g} "
                              f"(sum is {sum(weights):.6g})")


def _numbers(where: str, rows: list, width: int, what: str) -> None:
    """Each row a list of `width` numbers; else one line naming the row (or the item)."""
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != width:
            got = len(row) if isinstance(row, list) else "no list of"
            raise ConfigError(f"{where}.{i}: {got} numbers where {what} has {width}: every component needs the same")
        for j, value in enumerate(row):
            if not _number(value):
                raise ConfigError(f"{where}.{i}{'.' + str(j) if width > 1 else ''}: must be a number (got {value!r})")


def check_schedule(where: str, spec: dict) -> None:
    """σ_min < σ_max (a number or `auto`) and β_min < β_max."""
    if spec["kind"] in ("ve", "ncsn", "edm"):
        top = spec["sigma_max"]
        if isinstance(top, str) and top != "auto":
            raise ConfigError(f"{where}.sigma_max: must be a number or auto (got {top!r})")
        if not isinstance(top, str) and not spec["sigma_min"] < top:
            raise ConfigError(f"{where}.sigma_min: must be below sigma_max (got {spec['sigma_min']} and {top})")
    elif not spec["beta_min"] < spec["beta_max"]:
        raise ConfigError(f"{where}.beta_min: must be below beta_max (got {spec['beta_min']} and {spec['beta_max']})")


def process(spec: dict):
    """(eps, log α(t), σ(t)) of a continuous schedule as math functions, or None where σ needs the data."""
    if spec["kind"] in ("ve", "ncsn"):
        low, top = spec["sigma_min"], spec["sigma_max"]
        return None if isinstance(top, str) else (VE_EPS, lambda t: 0.0, lambda t: low * (top / low) ** t)
    if spec["kind"] == "edm":
        low, top, rho = spec["sigma_min"], spec["sigma_max"], spec["rho"]
        return None if isinstance(top, str) else (
            0.0, lambda t: 0.0, lambda t: (low ** (1 / rho) + t * (top ** (1 / rho) - low ** (1 / rho))) ** rho)
    b0, b1 = spec["beta_min"], spec["beta_max"]

    def log_alpha(t):
        return -0.25 * t**2 * (b1 - b0) - 0.5 * t * b0

    if spec["kind"] == "subvp":
        return spec["eps"], log_alpha, lambda t: -math.expm1(2 * log_alpha(t))
    return spec["eps"], log_alpha, lambda t: math.sqrt(-math.expm1(2 * log_alpha(t)))


def noise_range(spec: dict) -> tuple[float, float]:
    """(smallest, largest) σ/α of a schedule (the largest is inf where `sigma_max: auto`)."""
    found = process(spec)
    if found is None:
        return spec["sigma_min"], math.inf
    eps, log_alpha, std = found
    return std(eps) / math.exp(log_alpha(eps)), std(1.0) / math.exp(log_alpha(1.0))


def smallest_sigma(spec: dict, ratio: float) -> float | None:
    """σ at the t where σ/α = `ratio` (clipped to the schedule), as samplers._level_times finds it (its
    levels on a discrete schedule: σ_min); None where that needs the data."""
    if catalog.discrete(spec["kind"]):
        return spec["sigma_min"]
    found = process(spec)
    if found is None:
        return None
    eps, log_alpha, std = found
    lo, hi = eps, 1.0
    for _ in range(60):  # sde.NoiseProcess.time_of's bisection
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if std(mid) / math.exp(log_alpha(mid)) < ratio else (lo, mid)
    return std(hi)


def check_sampler(where: str, spec: dict, schedules: dict[str, dict]) -> None:
    """An annealed-Langevin step stable at every schedule's smallest level (where knowable); a sampler's
    noise level (langevin.sigma, ald.sigma_min) inside some continuous schedule's range."""
    if spec["kind"] == "ald":
        for name, schedule in schedules.items():
            sigma = smallest_sigma(schedule, spec["sigma_min"])
            if sigma is not None and spec["epsilon"] / sigma**2 >= UNSTABLE:
                raise ConfigError(
                    f"{where}.epsilon: {spec['epsilon']:g} is unstable on schedule {name}: epsilon/sigma_L^2 = "
                    f"{spec['epsilon'] / sigma**2:.3g} >= {UNSTABLE:g} at its smallest level sigma_L = {sigma:.3g}; "
                    f"set epsilon below {0.2 * sigma**2:.3g} (NCSN's ratio 0.2)")
    key = {"langevin": "sigma", "ald": "sigma_min"}.get(spec["kind"])
    ranges = {n: noise_range(s) for n, s in schedules.items() if not catalog.discrete(s["kind"])}
    if key is None or not ranges:
        return
    level = spec[key]
    inside = [n for n, (low, top) in ranges.items()
              if level <= top and (spec["kind"] == "ald" or level >= low / LEVEL_FACTOR)]
    if not inside:
        spans = ", ".join(f"{n}: [{low:.3g}, {top:.3g}]" for n, (low, top) in ranges.items())
        raise ConfigError(f"{where}.{key}: {level:g} lies outside the noise range (sigma/alpha) of every continuous "
                          f"schedule ({spans})")

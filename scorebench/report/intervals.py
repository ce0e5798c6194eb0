"""Interval estimates over seeds and the family-wise control of the calls made from them.

A percentile bootstrap of n values never reaches past their range, and the range of 3 draws holds
the mean only 1 − 2·(½)³ = 75 % of the time; at the few seeds a grid can afford the Student-t
interval is the calibrated one (exact for normal values, and on the log scale for values that
spread multiplicatively), so every interval here is a t-interval: of the mean, of the mean of logs
(a geometric mean), or of a mean over groups with Welch–Satterthwaite degrees of freedom (datasets
of unequal seed noise). `tests/report/test_calibration.py` measures their coverage through the project's
own aggregation. A call ("better", "best") is a rejected two-sided t-test whose Holm-adjusted
p-value over the family of calls a page makes is below `FAMILY_ERROR`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
FAMILY_ERROR = 0.05  # family-wise error of the calls one page makes about one dataset (Holm)
MIN_N = 2  # a t-interval needs two values; fewer give an estimate alone
T = "t"  # the interval methods, as the tables name them
T_LOG = "t on logs"
WELCH = "t (Welch-Satterthwaite)"
NONE = "none"


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its 95 % interval, the n behind it, the method, and the p-value of a zero mean."""

    estimate: float
    low: float = math.nan
    high: float = math.nan
    n: int = 1
    method: str = NONE
    p_value: float = math.nan


def mean_interval(values, log: bool = False) -> Estimate:
    """The mean of `values` (the geometric mean with `log`: a t-interval of the mean of logs), its
    95 % Student-t interval and the t-test's p-value of a zero mean (of logs: a ratio of 1)."""
    v = np.asarray(values, dtype=float)
    if log and len(v) >= MIN_N:
        if not (v > 0).all():
            return mean_interval(v)  # a non-positive value has no log: the arithmetic mean serves
        return exponentiated(mean_interval(np.log(v)))
    mean = float(v.mean())
    if len(v) < MIN_N:
        return Estimate(mean, n=len(v))
    half, p = _t(mean, float(v.std(ddof=1)) / math.sqrt(len(v)), len(v) - 1)
    return Estimate(mean, mean - half, mean + half, len(v), T, p)


def exponentiated(e: Estimate) -> Estimate:
    """An estimate made on the log scale, carried back: a geometric mean or ratio and its interval."""
    with np.errstate(over="ignore"):  # a bound past exp(709) is inf, not an error
        back = [float(np.exp(v)) for v in (e.estimate, e.low, e.high)]
    return Estimate(*back, e.n, {T: T_LOG, WELCH: f"{WELCH} on logs"}.get(e.method, e.method), e.p_value)


def mean_of_means(groups: list, log: bool = False) -> Estimate:
    """The mean over groups of each group's mean (equal weight per group: per dataset, the seeds
    nested within it) with a Welch–Satterthwaite t-interval: a claim about these groups whose
    members vary by group. Groups of fewer than `MIN_N` values leave no interval."""
    arrays = [np.log(np.asarray(g, float)) if log else np.asarray(g, float) for g in groups]
    mean, n = float(np.mean([a.mean() for a in arrays])), sum(len(a) for a in arrays)
    if any(len(a) < MIN_N for a in arrays):
        e = Estimate(mean, n=n)
    else:
        terms = np.array([a.var(ddof=1) / len(a) for a in arrays]) / len(arrays) ** 2
        dof = terms.sum() ** 2 / np.sum(terms ** 2 / np.array([len(a) - 1 for a in arrays])) if terms.sum() > 0 else 1.0
        half, p = _t(mean, math.sqrt(terms.sum()), dof)
        e = Estimate(mean, mean - half, mean + half, n, WELCH, p)
    return exponentiated(e) if log else e


def _t(mean: float, se: float, dof: float) -> tuple[float, float]:
    """Half-width of the 95 % t-interval and the two-sided p-value of a zero mean; a zero standard
    error (every value the same) gives a zero width and p = 1 at zero, 0 elsewhere."""
    if se == 0:
        return 0.0, 1.0 if mean == 0 else 0.0
    return float(stats.t.ppf(0.5 + CONFIDENCE / 2, dof) * se), float(2 * stats.t.sf(abs(mean) / se, dof))


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjusted p-values (NaN stays NaN and is not counted in the family)."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, math.nan)
    tested = np.flatnonzero(np.isfinite(p))
    order = tested[np.argsort(p[tested], kind="stable")]
    m = len(order)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out

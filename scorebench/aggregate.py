"""Numbers over seeds: 95 % bootstrap intervals, paired comparisons against DSM, time to a target.

Seeds are the unit of replication: a grid cell's n is its number of seeds that finished, except
for wall-clocks of seeds timed as one batch (`batch_seeds`), which are one measurement and count
once (`independent`); the step-cost and timing comparisons then replicate over cells. Intervals
are scipy's percentile bootstrap of the mean (BCa's jackknife would rest on three points at the
default n = 3); at such n they show what these seeds say, not a population claim, so the report
calls two cells different only when their intervals are disjoint. Runs of different objectives
with the same seed share data batches, noise draws and prior draws, so objective-vs-DSM
comparisons are paired per seed (Agarwal et al. 2021, rliable: interval estimates and the
probability of improvement instead of point ranks).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from .metric_info import METRIC_INFO, shared_timing

CONFIDENCE = 0.95
RESAMPLES = 9999
SEED = 0  # of every bootstrap: the same results give the same intervals
REFERENCE = "dsm"  # the objective every other one is compared with
CELL = ["dataset", "objective", "schedule", "sampler"]
AGGREGATE_COLUMNS = (*CELL, "metric", "estimate", "ci_low", "ci_high", "n_seeds", "unit", "status")
PAIRED_COLUMNS = ("dataset", "metric", "objective", "reference", "comparison", "estimate", "ci_low", "ci_high",
                  "n_seeds", "n_cells", "prob_improvement", "verdict")
CURVE_COLUMNS = ("dataset", "objective", "schedule", "seed", "step", "train_seconds", "metric", "value")


def interval(values) -> tuple[float, float, float]:
    """(mean, low, high): the 95 % percentile-bootstrap interval of the mean; NaN bounds for n < 2."""
    v = np.asarray(values, dtype=float)
    mean = float(v.mean())
    if len(v) < 2:
        return mean, math.nan, math.nan
    if np.all(v == v[0]):  # every resample is the same: scipy refuses a degenerate distribution
        return mean, mean, mean
    ci = stats.bootstrap((v,), np.mean, confidence_level=CONFIDENCE, n_resamples=RESAMPLES, method="percentile",
                         random_state=np.random.default_rng(SEED)).confidence_interval
    return mean, float(ci.low), float(ci.high)


def independent(rows: pd.DataFrame) -> pd.DataFrame:
    """`rows` with each shared timing kept once: the seeds of a batch carry one wall-clock between them."""
    shared = np.array([shared_timing(m, d) for m, d in zip(rows.metric, rows.detail)], dtype=bool)
    if not shared.any():
        return rows
    keys = [c for c in ("dataset", "objective", "schedule", "sampler", "metric", "value") if c in rows]
    return pd.concat([rows[~shared], rows[shared].drop_duplicates(subset=keys)]).sort_index()


def aggregate(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per grid cell and metric: the mean over the seeds whose row is `ok`, its interval and n
    (a batch's shared timing counts once).

    A cell with no `ok` seed keeps the status its rows share (skipped, diverged, failed) and no value."""
    out = []
    for key, part in summary.groupby([*CELL, "metric"], sort=False):
        ok = independent(part[(part.status == "ok") & np.isfinite(part.value.astype(float))])
        if len(ok):
            estimate, low, high = interval(ok.value)
            status = "ok"
        else:
            estimate = low = high = math.nan
            status = part.status.mode().iloc[0]
        out.append((*key, estimate, low, high, len(ok), part.unit.iloc[0], status))
    return pd.DataFrame(out, columns=list(AGGREGATE_COLUMNS))


def resolved(low: float, high: float, null: float) -> bool:
    """Whether an interval excludes the null value (a finite interval from n >= 2 only)."""
    return math.isfinite(low) and math.isfinite(high) and not low <= null <= high


def _prob_improvement(x: np.ndarray, y: np.ndarray, lower_is_better: bool) -> float:
    """P(a seed of x beats a seed of y), ties counted half: the Mann–Whitney U over n·m (rliable's)."""
    u = stats.mannwhitneyu(y, x).statistic if lower_is_better else stats.mannwhitneyu(x, y).statistic
    return float(u) / (len(x) * len(y))


def _units(per_cell: pd.Series, part: pd.DataFrame, timing: bool) -> pd.Series:
    """The replicates of a paired comparison: per seed the mean over cells; for a timing that seed
    batches share, one value per (cell, distinct timing pair)."""
    if not (timing and len(independent(part)) < len(part)):
        return per_cell.groupby(level="seed").mean()
    flat = per_cell.rename("value").reset_index()
    return flat.drop_duplicates(subset=["schedule", "sampler", "value"]).value


def paired(summary: pd.DataFrame, reference: str = REFERENCE) -> pd.DataFrame:
    """Every objective against `reference` per dataset and metric, paired by (schedule, sampler, seed).

    Per seed, the mean over the cells both have of log(x / ref) (a metric spanning decades: the
    result is a geometric-mean ratio) or of x − ref; then the mean over seeds with its interval. The
    probability of improvement is averaged over cells (rliable's per-task average). A wall-clock
    shared by a seed batch is one measurement: such a metric replicates over cells instead (`_units`),
    and its `n_seeds` counts independent timings."""
    ok = summary[(summary.status == "ok") & ~summary.objective.isin(["data"])]
    out = []
    for (dataset, metric), part in ok.groupby(["dataset", "metric"], sort=False):
        info = METRIC_INFO.get(metric)
        if info is None or reference not in set(part.objective):
            continue
        table = part.pivot_table(index=["schedule", "sampler", "seed"], columns="objective", values="value")
        for objective in table.columns:
            both = pd.concat([table[objective].rename("x"), table[reference].rename("ref")], axis=1).dropna()
            if info.log_scale:
                both = both[(both > 0).all(axis=1)]
                per_cell = np.log(both.x / both.ref)
            else:
                per_cell = both.x - both.ref
            if per_cell.empty:
                continue
            per_seed = _units(per_cell, part, info.timing)
            estimate, low, high = interval(per_seed)
            if info.log_scale:
                estimate, low, high = (math.exp(v) if math.isfinite(v) else v for v in (estimate, low, high))
            cells = both.groupby(level=["schedule", "sampler"])
            poi = float(np.mean([_prob_improvement(c.x.to_numpy(), c.ref.to_numpy(), info.lower_is_better)
                                 for _, c in cells]))
            null = 1.0 if info.log_scale else 0.0
            if len(per_seed) < 2:
                verdict = "n = 1, no interval"
            elif not resolved(low, high, null):
                verdict = f"no difference at n = {len(per_seed)}"
            else:
                verdict = "better" if (estimate < null) == info.lower_is_better else "worse"
            out.append((dataset, metric, objective, reference, "ratio" if info.log_scale else "difference",
                        estimate, low, high, len(per_seed), cells.ngroups, poi, verdict))
    return pd.DataFrame(out, columns=list(PAIRED_COLUMNS))


def time_to_reach(curves: pd.DataFrame) -> pd.DataFrame:
    """Training seconds until each run's curve first reaches X, per (dataset, schedule, metric),
    interpolated between probes (`_crossing`).

    X is the worst final value among the trained objectives' seeds, so every run has an entry.
    Non-finite values (a run that diverged) are left out; a run with none has no entry.
    Columns: dataset, schedule, metric, target, objective, seed, seconds."""
    trained = curves[(curves.objective != "oracle") & np.isfinite(curves.value.astype(float))]
    out = []
    for (dataset, schedule, metric), part in trained.groupby(["dataset", "schedule", "metric"], sort=False):
        last = part.sort_values("step").groupby(["objective", "seed"]).value.last()
        target = float(last.max())
        for (objective, seed), run in part.sort_values("step").groupby(["objective", "seed"]):
            out.append((dataset, schedule, metric, target, objective, seed, _crossing(run, target)))
    return pd.DataFrame(out, columns=["dataset", "schedule", "metric", "target", "objective", "seed", "seconds"])


def _crossing(run: pd.DataFrame, target: float) -> float:
    """Training seconds at which a curve first reaches `target`, interpolated between its two probes
    around the crossing (log–log, the axes it is read on): the probe grid is coarse, and seeds trained
    as one batch share its clock, so the first probe at or below X alone would tie them."""
    seconds, values = run.train_seconds.to_numpy(float), run.value.to_numpy(float)
    i = int(np.argmax(values <= target))
    if i == 0:
        return float(seconds[0])
    (t0, t1), (v0, v1) = seconds[i - 1:i + 1], values[i - 1:i + 1]
    if min(t0, t1, v0, v1, target) > 0 and v0 != v1:
        frac = math.log(v0 / target) / math.log(v0 / v1)
        return float(math.exp(math.log(t0) + frac * math.log(t1 / t0)))
    return float(t0 + (t1 - t0) * (v0 - target) / (v0 - v1)) if v0 != v1 else float(t1)


def fmt(value: float) -> str:
    """Three significant digits, the same format everywhere on the page."""
    if value is None or not math.isfinite(value):
        return ""
    return f"{value:.3g}" if 1e-3 <= abs(value) < 1e4 or value == 0 else f"{value:.2e}"


def fmt_interval(estimate: float, low: float, high: float, n: int) -> str:
    """`value [low, high]`, or `value (n = 1, no interval)`."""
    if n < 2 or not math.isfinite(low):
        return f"{fmt(estimate)} (n = {n}, no interval)"
    return f"{fmt(estimate)} [{fmt(low)}, {fmt(high)}]"

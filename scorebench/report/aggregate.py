"""Numbers over seeds: 95 % t-intervals, paired comparisons, the page's calls under Holm, time to a target.

Seeds are the unit of replication: a grid cell's n is its number of seeds that finished, except
for wall-clocks of seeds timed as one batch (`batch_seeds`), which are one measurement and count
once (`independent`); the step-cost and timing comparisons then replicate over cells. Intervals
are Student-t (`intervals`: calibrated at the few seeds a grid has, where a bootstrap is not), of
the mean for metrics on a linear scale and of the mean of logs (a geometric mean) for metrics
spanning decades. Runs of different objectives with the same seed share data batches, noise draws
and prior draws, so comparisons are paired per seed (Agarwal et al. 2021, rliable: interval
estimates and the probability of improvement instead of point ranks); every call a dataset's page
makes is one test of the dataset's family, Holm-adjusted (`comparisons`).
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd

from .intervals import FAMILY_ERROR, exponentiated, holm, mean_interval
from ..spec.grid import untrained
from ..spec.metric_info import HEADLINE, METRIC_INFO, QUALITY, shared_timing

REFERENCE_OBJECTIVE = "dsm"  # the objective every other one is compared with
CELL = ["dataset", "objective", "schedule", "sampler"]
AGGREGATE_COLUMNS = (*CELL, "metric", "estimate", "ci_low", "ci_high", "n_seeds", "unit", "status", "method")
PAIRED_COLUMNS = ("dataset", "metric", "objective", "reference", "comparison", "estimate", "ci_low", "ci_high",
                  "n_seeds", "n_cells", "prob_improvement", "verdict", "method", "p_value", "p_holm", "n_tests")


def log_scale(metric: str) -> bool:
    """Whether a metric spans decades: estimated as a geometric mean, compared as a ratio."""
    info = METRIC_INFO.get(metric)
    return bool(info and info.log_scale)


def independent(rows: pd.DataFrame) -> pd.DataFrame:
    """`rows` with each shared timing kept once: the seeds of a batch carry one wall-clock between them."""
    shared = np.array([shared_timing(m, d) for m, d in zip(rows.metric, rows.detail)], dtype=bool)
    if not shared.any():
        return rows
    keys = [c for c in ("dataset", "objective", "schedule", "sampler", "metric", "value") if c in rows]
    return pd.concat([rows[~shared], rows[shared].drop_duplicates(subset=keys)]).sort_index()


def aggregate(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per grid cell and metric: the mean over the seeds whose row is `ok` (geometric for a
    metric spanning decades), its t-interval, n and method (a batch's shared timing counts once).

    A cell with no `ok` seed keeps the status its rows share (skipped, diverged, failed) and no value."""
    out = []
    for key, part in summary.groupby([*CELL, "metric"], sort=False):
        ok = independent(part[(part.status == "ok") & np.isfinite(part.value.astype(float))])
        if len(ok):
            e = mean_interval(ok.value, log_scale(key[-1]))
            out.append((*key, e.estimate, e.low, e.high, len(ok), part.unit.iloc[0], "ok", e.method))
        else:
            out.append((*key, math.nan, math.nan, math.nan, 0, part.unit.iloc[0], part.status.mode().iloc[0], ""))
    return pd.DataFrame(out, columns=list(AGGREGATE_COLUMNS))


def _prob_improvement(x: np.ndarray, y: np.ndarray, lower_is_better: bool) -> float:
    """P(a seed of x beats a seed of y), ties counted half: the Mann–Whitney U over n·m (rliable's)."""
    wins = (x[:, None] < y[None, :]) if lower_is_better else (x[:, None] > y[None, :])
    return float(np.mean(wins + 0.5 * (x[:, None] == y[None, :])))


def wide(part: pd.DataFrame) -> pd.DataFrame:
    """One metric's values as (schedule, sampler, seed) × objective: the pairing of a comparison."""
    return part.groupby(["schedule", "sampler", "seed", "objective"]).value.mean().unstack("objective")


def replicates(table: pd.DataFrame, objective: str, reference: str, metric: str, batched: bool) -> tuple[np.ndarray, np.ndarray]:
    """The replicates of `objective` against `reference` from `wide`: per seed the mean over the cells
    both have of log(x / ref) or x − ref (for a timing that batches share, one value per distinct timing
    pair, however many cells its batch spans); and the probability of improvement over those cells (NaN with none)."""
    x, ref = table[objective].to_numpy(float), table[reference].to_numpy(float)
    keep = np.isfinite(x) & np.isfinite(ref) & ((x > 0) & (ref > 0) if log_scale(metric) else True)
    if not keep.any():
        return np.array([]), math.nan
    x, ref = x[keep], ref[keep]
    per_cell = np.log(x / ref) if log_scale(metric) else x - ref
    index = table.index[keep]
    cell = index.droplevel("seed").to_flat_index()
    cells = pd.unique(cell)
    lower = METRIC_INFO[metric].lower_is_better if metric in METRIC_INFO else True
    poi = float(np.mean([_prob_improvement(x[cell == c], ref[cell == c], lower) for c in cells]))
    if batched:
        distinct = pd.DataFrame({"x": x, "ref": ref}).duplicated().to_numpy()  # one batch may span cells
        return per_cell[~distinct], poi
    seeds = index.get_level_values("seed")
    return pd.Series(per_cell).groupby(np.asarray(seeds)).mean().to_numpy(), poi


def _compare(dataset: str, metric: str, table: pd.DataFrame, objective: str, reference: str, batched: bool) -> tuple | None:
    """One paired comparison as a row of PAIRED_COLUMNS (p_holm, n_tests and verdict filled per family)."""
    info = METRIC_INFO[metric]
    units, poi = replicates(table, objective, reference, metric, batched)
    if not len(units):
        return None
    e = exponentiated(mean_interval(units)) if info.log_scale else mean_interval(units)
    n_cells = table[[objective, reference]].dropna().index.droplevel("seed").nunique()
    p = math.nan if objective == reference else e.p_value  # an objective against itself is no test
    return (dataset, metric, objective, reference, "ratio" if info.log_scale else "difference", e.estimate, e.low,
            e.high, e.n, n_cells, poi, "", e.method, p, math.nan, 0)


def _call(row: dict) -> str:
    """`better`, `worse`, or why not: the family's Holm-adjusted p-value decides, not the interval alone."""
    if row["n_seeds"] < 2 or not math.isfinite(row["ci_low"]):
        return f"n = {row['n_seeds']}, no interval"
    if not row["p_holm"] < FAMILY_ERROR:
        return f"no difference at n = {row['n_seeds']}"
    null = 1.0 if row["comparison"] == "ratio" else 0.0
    return "better" if (row["estimate"] < null) == METRIC_INFO[row["metric"]].lower_is_better else "worse"


def headline_metrics(metrics) -> list[str]:
    """The metrics a dataset's verdict ranks: Fisher divergence, NLL and its sample-quality metric (the
    first of QUALITY it has)."""
    have = set(metrics)
    quality = next((m for m in QUALITY if m in have), None)
    return [m for m in HEADLINE if m in have] + ([quality] if quality else [])


def comparisons(summary: pd.DataFrame, reference: str = REFERENCE_OBJECTIVE) -> pd.DataFrame:
    """Every call a dataset's page can make, as paired tests, Holm-adjusted per dataset.

    The family of a dataset: every objective against `reference` on every metric (the paired table),
    and every pair of trained objectives on its headline metrics (the leaderboard's best and tied).
    A wall-clock shared by a seed batch is one measurement: such a metric replicates over cells
    instead, and its `n_seeds` counts independent timings."""
    ok = summary[(summary.status == "ok") & (summary.objective != "data")]
    out = []
    for dataset, rows in ok.groupby("dataset", sort=False):
        family = []
        headline = headline_metrics(rows.metric)
        for metric, part in rows.groupby("metric", sort=False):
            if metric not in METRIC_INFO:
                continue
            table = wide(part)
            batched = METRIC_INFO[metric].timing and len(independent(part)) < len(part)
            pairs = [(o, reference) for o in table.columns] if reference in table.columns else []
            if metric in headline:
                trained = sorted(o for o in table.columns if o != reference and not untrained(o))
                pairs += list(itertools.combinations(trained, 2))
            family += [r for o, ref in pairs if (r := _compare(dataset, metric, table, o, ref, batched))]
        frame = pd.DataFrame(family, columns=list(PAIRED_COLUMNS))
        frame["p_holm"] = holm(frame.p_value)
        frame["n_tests"] = int(frame.p_value.notna().sum())
        frame["verdict"] = [_call(r) for r in frame.to_dict("records")]
        out.append(frame)
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=list(PAIRED_COLUMNS))


def paired(summary: pd.DataFrame, reference: str = REFERENCE_OBJECTIVE) -> pd.DataFrame:
    """Every objective against `reference` per dataset and metric (the rows of `comparisons` the
    paired table shows), its call made within the dataset's whole family."""
    pairs = comparisons(summary, reference)
    return pairs[pairs.reference == reference].reset_index(drop=True)


def time_to_reach(curves: pd.DataFrame) -> pd.DataFrame:
    """Training seconds until each run's curve first reaches X, per (dataset, schedule, metric),
    interpolated between probes (`_crossing`).

    X is the worst final value among the trained objectives' seeds, so every run has an entry.
    Non-finite values (a run that diverged) are left out; a run with none has no entry.
    Columns: dataset, schedule, metric, target, objective, seed, seconds."""
    trained = curves[~curves.objective.map(untrained) & np.isfinite(curves.value.astype(float))]
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


REACH_FACTOR = 1.1  # "NFE to reach X": X is this factor times the oracle's converged quality (`nfe_to_reach`)


def sweep_cells(agg: pd.DataFrame, sweeps: dict[str, list[str]], quality: dict[str, str]) -> pd.DataFrame:
    """Every `ok` cell of a sampler sweep: its sweep, mean NFE (the `nfe` rows) and the dataset's quality
    metric (`quality`: dataset -> metric) with its interval, sorted by NFE. Columns: CELL, sweep, metric,
    nfe, estimate, ci_low, ci_high, n_seeds."""
    sweep_of = {entry: sweep for sweep, entries in sweeps.items() for entry in entries}
    ok = agg[(agg.status == "ok") & agg.sampler.isin(sweep_of) & (agg.objective != "data")]
    nfe = ok[ok.metric == "nfe"].set_index(CELL).estimate.rename("nfe")
    good = ok[ok.metric == ok.dataset.map(quality)].set_index(CELL)
    cells = good.join(nfe, how="inner").reset_index()
    cells["sweep"] = cells.sampler.map(sweep_of)
    columns = [*CELL, "sweep", "metric", "nfe", "estimate", "ci_low", "ci_high", "n_seeds"]
    return cells[columns].sort_values([*CELL[:3], "sweep", "nfe"]).reset_index(drop=True)


def nfe_to_reach(cells: pd.DataFrame) -> pd.DataFrame:
    """Per dataset × schedule, X = REACH_FACTOR × the oracle's converged quality (the median over sweeps of
    the oracle's value at each sweep's largest NFE; without an oracle, as on real data, of every objective's),
    and per sweep × objective the smallest mean NFE whose quality is within X (None: not reached) and its
    best quality. Columns: dataset, schedule, metric, target, sweep, objective, nfe, best, best_nfe."""
    out = []
    for (dataset, schedule), part in cells.groupby(["dataset", "schedule"], sort=False):
        metric = part.metric.iloc[0]
        lower = METRIC_INFO[metric].lower_is_better
        base = part[part.objective.map(untrained)] if part.objective.map(untrained).any() else part
        finest = base.sort_values("nfe").groupby(["sweep", "objective"]).estimate.last()
        converged = float(finest.median())
        target = converged * REACH_FACTOR if lower else converged / REACH_FACTOR
        for (sweep, objective), curve in part.groupby(["sweep", "objective"], sort=False):
            within = curve[curve.estimate <= target] if lower else curve[curve.estimate >= target]
            best = curve.loc[curve.estimate.idxmin() if lower else curve.estimate.idxmax()]
            out.append((dataset, schedule, metric, target, sweep, objective,
                        float(within.nfe.min()) if len(within) else None, float(best.estimate), float(best.nfe)))
    return pd.DataFrame(out, columns=["dataset", "schedule", "metric", "target", "sweep", "objective", "nfe", "best",
                                      "best_nfe"])


DISCRETISATION_COLUMNS = ("dataset", "schedule", "objective", "metric", "sweep", "against", "step", "comparison",
                          "estimate", "ci_low", "ci_high", "n_seeds", "p_value", "p_holm", "call")


def discretisation_calls(summary: pd.DataFrame, pairs: list[tuple[str, str]], sweeps: dict[str, list[str]],
                         quality: dict[str, str]) -> pd.DataFrame:
    """Sweep against sweep at equal step counts (two discretisations of one sampler kind, e.g. Heun in σ
    against Heun in t): per (dataset, schedule, objective, k-th step count) the dataset's quality metric
    of `sweep` relative to `against`, paired by seed (the same model and seed draw both; ratio for a
    metric spanning decades, else difference), a t-interval over seeds, Holm over the whole table."""
    ok = summary[(summary.status == "ok") & (summary.objective != "data")]
    out = []
    for sweep, against in pairs:
        for step, (entry, other) in enumerate(zip(sweeps[sweep], sweeps[against]), 1):
            for dataset, metric in quality.items():
                part = ok[(ok.dataset == dataset) & (ok.metric == metric) & ok.sampler.isin([entry, other])]
                table = part.pivot_table(index=["schedule", "objective", "seed"], columns="sampler", values="value")
                if entry not in table or other not in table:
                    continue
                log = log_scale(metric)
                for (schedule, objective), rows in table.groupby(level=["schedule", "objective"]):
                    x, ref = rows[entry].to_numpy(float), rows[other].to_numpy(float)
                    keep = np.isfinite(x) & np.isfinite(ref) & ((x > 0) & (ref > 0) if log else True)
                    e = mean_interval(np.log(x[keep] / ref[keep]) if log else x[keep] - ref[keep])
                    e = exponentiated(e) if log else e
                    out.append((dataset, schedule, objective, metric, sweep, against, step,
                                "ratio" if log else "difference", e.estimate, e.low, e.high, e.n, e.p_value))
    frame = pd.DataFrame(out, columns=list(DISCRETISATION_COLUMNS[:-2]))
    frame["p_holm"] = holm(frame.p_value) if len(frame) else []
    lower = frame.metric.map(lambda m: METRIC_INFO[m].lower_is_better)
    null = np.where(frame.comparison == "ratio", 1.0, 0.0)
    better = (frame.estimate < null) == lower
    frame["call"] = np.where(~(frame.p_holm < FAMILY_ERROR), "not resolved", np.where(better, "better", "worse"))
    return frame


def discretisation_line(calls: pd.DataFrame, sweep: str, against: str) -> str:
    """One sentence: per dataset · schedule (the oracle's where it ran: the samplers' own error), at how
    many of the shared step counts `sweep` is resolved better or worse than `against`."""
    part = calls[(calls.sweep == sweep) & (calls.against == against)]
    if part.empty:
        return f"{sweep} against {against}: no cell both finished."
    exact = part[part.objective.map(untrained)]
    part = exact if len(exact) else part
    who = "the oracle's exact score" if len(exact) else "every objective"
    counts = []
    for (dataset, schedule), rows in part.groupby(["dataset", "schedule"], sort=False):
        tally = rows.call.value_counts()
        counts.append(f"{dataset} · {schedule} better at {tally.get('better', 0)}, worse at {tally.get('worse', 0)}, "
                      f"not resolved at {tally.get('not resolved', 0)} of {len(rows)}")
    return (f"{sweep} against {against} at equal step counts (equal NFE), {who}, paired over seeds, Holm over "
            f"the {len(calls)} calls of this comparison: " + "; ".join(counts) + ".")

"""The verdict at the top of the report: per dataset one line, a leaderboard and its details; one
answer across datasets.

The leaderboard compares objectives in the cells they all share (no best-cell selection): per seed
the mean over the (schedule, sampler) cells every trained objective has (geometric for a metric
spanning decades), then a t-interval over seeds. A cell is *best* only when its objective's paired
tests against every other trained objective are resolved in its favour after Holm over the
dataset's family of calls (`aggregate.comparisons`); otherwise the leader and those it is not
resolved from are *tied*. The oracle (the exact score) is shown for reference and never ranked.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..spec.grid import untrained
from .aggregate import REFERENCE_OBJECTIVE, fmt, fmt_interval, headline_metrics, replicates, wide
from .intervals import FAMILY_ERROR, Estimate, exponentiated, holm, mean_interval, mean_of_means
from ..spec.metric_info import METRIC_INFO, QUALITY

TITLES = {"fisher_divergence": "Fisher divergence", "nll_bits_per_dim": "NLL (bits/dim)"}
QUALITY_TITLE = "sample quality"
COST = "step cost vs DSM (×)"
STEPS = "training steps"
REACH = "train seconds to reach X"


@dataclass
class Cell:
    """One leaderboard entry: the estimate, its interval and n, where it came from, and its mark."""

    estimate: float
    low: float
    high: float
    n: int
    where: str = ""
    mark: str = ""  # "best", "tied" or ""
    label: str = ""  # shown instead of the number (the reference's own cost)

    @classmethod
    def of(cls, e: Estimate, where: str = "") -> "Cell":
        return cls(e.estimate, e.low, e.high, e.n, where)

    def text(self) -> str:
        return self.label or fmt_interval(self.estimate, self.low, self.high, self.n)


def quality_metric(agg: pd.DataFrame, dataset: str) -> str | None:
    """The dataset's sample-quality metric: FID where computed, else sliced Wasserstein."""
    have = set(agg[(agg.dataset == dataset) & (agg.status == "ok")].metric)
    return next((m for m in QUALITY if m in have), None)


def title(metric: str) -> str:
    """A headline metric's column title."""
    return TITLES.get(metric, f"{QUALITY_TITLE} ({metric})")


def _ok(summary: pd.DataFrame, dataset: str, metric: str) -> pd.DataFrame:
    values = summary[(summary.dataset == dataset) & (summary.metric == metric) & (summary.status == "ok")
                     & (summary.objective != "data")]
    return values[np.isfinite(values.value.astype(float))]


def _shared(summary: pd.DataFrame, dataset: str, metric: str) -> dict[str, Cell]:
    """Per objective: per seed the mean over the cells every trained objective has, then over seeds."""
    table = wide(_ok(summary, dataset, metric))
    trained = [o for o in table.columns if not untrained(o)]
    shared = table.dropna(subset=trained)
    log = METRIC_INFO[metric].log_scale
    cells = {}
    for objective in table.columns:
        values = shared[objective].dropna()
        if values.empty:
            continue
        use_log = log and bool((values > 0).all())
        per_cell = np.log(values) if use_log else values
        per_seed = per_cell.groupby(level="seed").mean()
        n_cells = per_cell.groupby(level=["schedule", "sampler"]).ngroups
        e = mean_interval(per_seed)
        cells[objective] = Cell.of(exponentiated(e) if use_log else e, f"over {n_cells} shared cell{'s' if n_cells != 1 else ''}")
    return cells


def versus(tests: pd.DataFrame, dataset: str, metric: str, a: str, b: str) -> tuple[Estimate, float] | None:
    """`a` relative to `b` (ratio or difference) from the family's paired test, and its Holm p-value."""
    rows = tests[(tests.dataset == dataset) & (tests.metric == metric)]
    for x, y, flip in ((a, b, False), (b, a, True)):
        hit = rows[(rows.objective == x) & (rows.reference == y)]
        if len(hit):
            r = hit.iloc[0]
            e = Estimate(r.estimate, r.ci_low, r.ci_high, int(r.n_seeds), r.method, r.p_value)
            if flip:
                ratio = r.comparison == "ratio"
                e = Estimate(*((1 / e.estimate, 1 / e.high, 1 / e.low) if ratio else (-e.estimate, -e.high, -e.low)),
                             e.n, e.method, e.p_value)
            return e, float(r.p_holm)
    return None


def _mark(cells: dict[str, Cell], tests: pd.DataFrame, dataset: str, metric: str) -> None:
    """Mark the leader *best* when every paired test against it is resolved in its favour, else the
    leader and every objective it is not resolved from *tied* (nothing with n < 2)."""
    ranked = {o: c for o, c in cells.items() if not untrained(o) and math.isfinite(c.estimate)}
    if len(ranked) < 2 or any(c.n < 2 or not math.isfinite(c.low) for c in ranked.values()):
        return
    info = METRIC_INFO[metric]
    leader = (min if info.lower_is_better else max)(ranked, key=lambda o: ranked[o].estimate)
    null = 1.0 if info.log_scale else 0.0
    unresolved = []
    for other in ranked:
        if other == leader:
            continue
        found = versus(tests, dataset, metric, leader, other)
        ahead = found and found[1] < FAMILY_ERROR and (found[0].estimate < null) == info.lower_is_better
        if not ahead:
            unresolved.append(other)
    ranked[leader].mark = "tied" if unresolved else "best"
    for other in unresolved:
        ranked[other].mark = "tied"


def _over_schedules(values: pd.Series, rows: pd.DataFrame) -> dict[str, Cell]:
    """Per objective of `rows`: per seed the geometric mean of its `values` over schedules, then a
    t-interval of the logs over seeds."""
    cells = {}
    for objective, part in rows.groupby("objective"):
        per_seed = np.exp(np.log(values[part.index]).groupby(part.seed).mean())
        cells[objective] = Cell.of(mean_interval(per_seed, log=True), "over schedules")
    return cells


def _steps(summary: pd.DataFrame, dataset: str) -> dict[str, Cell]:
    """Per trained objective the training steps its runs took (`train_steps`); {} without the rows."""
    part = _ok(summary, dataset, "train_steps")
    part = part[~part.objective.map(untrained).astype(bool) & (part.value.astype(float) > 0)]
    return _over_schedules(part.value.astype(float), part)


def _step_cost(tests: pd.DataFrame, steps: dict[str, Cell], dataset: str) -> dict[str, Cell]:
    """Seconds per training step relative to DSM's: the paired ratio of `train_seconds` divided by the
    ratio of the steps taken (1 where every run took `train.steps`; under `train.budget_seconds` the
    objectives take different steps). The interval is the time ratio's: a batch's members share one
    step count."""
    part = tests[(tests.dataset == dataset) & (tests.metric == "train_seconds") & (tests.reference == REFERENCE_OBJECTIVE)
                 & ~tests.objective.map(untrained)]
    cells = {}
    for r in part.itertuples():
        if r.objective == REFERENCE_OBJECTIVE:
            cells[r.objective] = Cell(1.0, 1.0, 1.0, int(r.n_seeds), label="1 (the reference)")
            continue
        have = r.objective in steps and REFERENCE_OBJECTIVE in steps
        scale = steps[REFERENCE_OBJECTIVE].estimate / steps[r.objective].estimate if have else 1.0
        cells[r.objective] = Cell(r.estimate * scale, r.ci_low * scale, r.ci_high * scale, int(r.n_seeds), "paired")
    return cells


def _reach(reach: pd.DataFrame, dataset: str) -> dict[str, Cell]:
    """Per objective: per seed the geometric mean over schedules of seconds to reach X, then over seeds."""
    part = reach[(reach.dataset == dataset) & np.isfinite(reach.seconds.astype(float))]
    return _over_schedules(part.seconds.astype(float), part)


Column = tuple[str, str | None, dict[str, Cell]]  # title, the metric it ranks (None: shown, not ranked), cells


def leaderboard(summary: pd.DataFrame, tests: pd.DataFrame, reach: pd.DataFrame, dataset: str) -> list[Column]:
    """The columns of one dataset's leaderboard (only where the dataset has the metric): the headline
    metrics, marked; the steps taken where they differ (equal compute), the step cost and the time to
    reach X, shown, not ranked."""
    have = summary[(summary.dataset == dataset) & (summary.status == "ok")].metric
    columns: list[Column] = []
    for metric in headline_metrics(have):
        cells = _shared(summary, dataset, metric)
        _mark(cells, tests, dataset, metric)
        columns.append((title(metric), metric, cells))
    steps = _steps(summary, dataset)
    if len({round(c.estimate) for c in steps.values()}) > 1:
        columns.append((STEPS, None, steps))
    if cost := _step_cost(tests, steps, dataset):
        columns.append((COST, None, cost))
    if reached := _reach(reach, dataset):
        columns.append((REACH, None, reached))
    return columns


def _ratio_text(e: Estimate, ratio: bool) -> str:
    return ("×" if ratio else "Δ ") + fmt_interval(e.estimate, e.low, e.high, e.n)


def line(dataset: str, columns: list[Column], tests: pd.DataFrame, budget: float | None = None) -> str:
    """The ten-second answer for a dataset: the winner per headline metric and by how much against the
    runner-up (paired, with interval), or what is not resolved, then the step cost against DSM; under
    a training budget, that the comparison is at equal compute and the steps each objective reached."""
    trained = {o for _, _, cells in columns for o in cells if not untrained(o)}
    if len(trained) < 2:
        return f"{dataset}: {len(trained)} trained objective{'' if len(trained) == 1 else 's'} " \
               f"({', '.join(sorted(trained)) or 'none finished'}): nothing to rank."
    wins: dict[str, list[str]] = {}  # winner -> "metric (next, runner-up: by how much)"
    parts = []
    for name, metric, cells in columns:
        if metric is None:
            continue
        ranked = {o: c for o, c in cells.items() if not untrained(o)}
        best = next((o for o, c in ranked.items() if c.mark == "best"), None)
        n = min((c.n for c in ranked.values()), default=0)
        if best:
            order = sorted(ranked, key=lambda o: ranked[o].estimate, reverse=not METRIC_INFO[metric].lower_is_better)
            runner = order[1]
            e, _ = versus(tests, dataset, metric, runner, best)
            wins.setdefault(best, []).append(f"{name} (next, {runner}: {_ratio_text(e, METRIC_INFO[metric].log_scale)})")
        elif n < 2:
            parts.append(f"{name}: not ranked (n = {n}, no interval)")
        else:
            tied = sorted(o for o, c in ranked.items() if c.mark == "tied")
            parts.append(f"{name}: not resolved between {', '.join(tied)} at n = {n}" if tied
                         else f"{name}: no call")
    parts = [f"{best} best on " + ", ".join(won) for best, won in wins.items()] + parts
    cost = next((cells for name, _, cells in columns if name == COST), {})
    if costs := [f"{o} {fmt(c.estimate)}×" for o, c in sorted(cost.items(), key=lambda kv: kv[1].estimate)
                 if o != REFERENCE_OBJECTIVE]:
        parts.append("step cost vs DSM: " + ", ".join(costs))
    if budget is not None:
        steps = next((cells for name, _, cells in columns if name == STEPS), {})
        reached = ", ".join(f"{o} {round(c.estimate):,}" for o, c in sorted(steps.items(), key=lambda kv: kv[1].estimate))
        parts.append(f"at equal compute, {fmt(budget)} s of training per run" + (f" (steps: {reached})" if reached else ""))
    return f"{dataset}: " + ("; ".join(parts) if parts else "no metric finished") + "."


def verdict(summary: pd.DataFrame, tests: pd.DataFrame, reach: pd.DataFrame,
            budgets: dict[str, float | None] | None = None) -> list[tuple[str, pd.DataFrame, str]]:
    """Per dataset: (name, leaderboard of Cells: objectives × columns, its one line); `budgets`: each
    dataset's `train.budget_seconds` (None or absent: every run took its steps)."""
    out = []
    for dataset in dict.fromkeys(summary[summary.objective != "data"].dataset):
        columns = leaderboard(summary, tests, reach, dataset)
        objectives = sorted({o for _, _, cells in columns for o in cells}, key=lambda o: (untrained(o), o))
        table = pd.DataFrame({t: dict(cells) for t, _, cells in columns}, index=objectives)
        out.append((dataset, table, line(dataset, columns, tests, (budgets or {}).get(dataset))))
    return out


OVERALL_COLUMNS = ("objective", "headline", "datasets", "comparison", "estimate", "ci_low", "ci_high", "n_seeds",
                   "prob_improvement", "same_sign", "method", "p_value", "p_holm", "verdict")


def overall(summary: pd.DataFrame) -> pd.DataFrame:
    """Each trained objective against DSM across the datasets, per headline (Fisher divergence, NLL,
    sample quality: each dataset's own quality metric): the mean over datasets of each dataset's
    paired mean log-ratio (or difference) with a Welch–Satterthwaite t-interval over the seeds nested
    in the datasets (a claim about these datasets), rliable's probability of improvement averaged
    over datasets, the datasets agreeing in sign, and a call under Holm over this table."""
    ok = summary[(summary.status == "ok") & (summary.objective != "data")]
    groups: dict[tuple[str, str], list[tuple[str, str, pd.Series]]] = {}
    for dataset, rows in ok.groupby("dataset", sort=False):
        for metric in headline_metrics(rows.metric):
            part = rows[rows.metric == metric]
            table = wide(part)
            if REFERENCE_OBJECTIVE not in table.columns:
                continue
            headline = TITLES.get(metric, QUALITY_TITLE)
            for objective in table.columns:
                if objective == REFERENCE_OBJECTIVE or untrained(objective):
                    continue
                units, poi = replicates(table, objective, REFERENCE_OBJECTIVE, metric, batched=False)
                if len(units):
                    groups.setdefault((objective, headline), []).append((dataset, metric, units, poi))
    out, lower_is_better = [], []
    for (objective, headline), members in groups.items():
        log = METRIC_INFO[members[0][1]].log_scale
        lower_is_better.append(METRIC_INFO[members[0][1]].lower_is_better)
        e = mean_of_means([u for _, _, u, _ in members])
        if len(members) < 2:
            e = Estimate(e.estimate, n=e.n)  # one dataset: no claim across datasets
        e = exponentiated(e) if log else e
        signs = [np.sign(u.mean()) for _, _, u, _ in members]
        out.append({"objective": objective, "headline": headline, "datasets": ", ".join(m[0] for m in members),
                    "comparison": "ratio" if log else "difference", "estimate": e.estimate, "ci_low": e.low,
                    "ci_high": e.high, "n_seeds": e.n, "prob_improvement": float(np.mean([m[3] for m in members])),
                    "same_sign": f"{max(signs.count(1), signs.count(-1))} of {len(signs)}", "method": e.method,
                    "p_value": e.p_value})
    frame = pd.DataFrame(out, columns=[c for c in OVERALL_COLUMNS if c not in ("p_holm", "verdict")])
    frame["p_holm"] = holm(frame.p_value)
    frame["verdict"] = [_overall_call(r, lower) for r, lower in zip(frame.itertuples(), lower_is_better)]
    return frame


def _overall_call(r, lower_is_better: bool) -> str:
    """`better`/`worse` than DSM across the datasets (in the headline metric's direction), or why not."""
    if not math.isfinite(r.ci_low):
        return "one dataset: no answer across datasets" if "," not in r.datasets else "no interval"
    if not r.p_holm < FAMILY_ERROR:
        return "not resolved across the datasets"
    null = 1.0 if r.comparison == "ratio" else 0.0
    return "better than DSM" if (r.estimate < null) == lower_is_better else "worse than DSM"


def overall_line(table: pd.DataFrame) -> str:
    """One sentence across datasets: what is resolved against DSM, or that nothing generalises."""
    datasets = {d for ds in table.datasets for d in ds.split(", ")} if len(table) else set()
    if not len(table):
        return "Across datasets: no trained objective beside DSM, so nothing to compare against it."
    if len(datasets) < 2:
        return "Across datasets: fewer than 2 datasets, so nothing generalises beyond the one shown."
    calls = [f"{r.objective} {r.verdict.split(' than')[0]} on {r.headline} "
             f"({_ratio_text(Estimate(r.estimate, r.ci_low, r.ci_high, int(r.n_seeds)), r.comparison == 'ratio')}"
             f", {r.same_sign} datasets agree)" for r in table.itertuples() if r.verdict.endswith("than DSM")]
    head = f"Across {len(datasets)} datasets, against DSM: "
    return head + ("; ".join(calls) if calls else "no objective resolved from DSM") + "."

"""The verdict at the top of the report: per dataset, a leaderboard of objectives and one sentence.

Built only from the aggregates (intervals over seeds) and the paired comparisons: a cell is *best*
when its estimate is the lowest, *tied* when its interval overlaps the best one's; with n < 2 no
cell is called either. The oracle (the exact score) is shown for reference and never ranked.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .aggregate import REFERENCE, fmt, fmt_interval, interval
from .metric_info import QUALITY

ORACLE = "oracle"


@dataclass
class Cell:
    """One leaderboard entry: the estimate, its interval and n, where it came from, and its mark."""

    estimate: float
    low: float
    high: float
    n: int
    where: str = ""
    mark: str = ""  # "best", "tied" or ""

    def text(self) -> str:
        return fmt_interval(self.estimate, self.low, self.high, self.n)


def quality_metric(agg: pd.DataFrame, dataset: str) -> str | None:
    """The dataset's sample-quality metric: FID where computed, else sliced Wasserstein."""
    have = set(agg[(agg.dataset == dataset) & (agg.status == "ok")].metric)
    return next((m for m in QUALITY if m in have), None)


def _best_per_objective(agg: pd.DataFrame, dataset: str, metric: str) -> dict[str, Cell]:
    """For each objective its best grid cell of `metric` (lowest estimate), naming schedule and sampler."""
    part = agg[(agg.dataset == dataset) & (agg.metric == metric) & (agg.status == "ok") & (agg.objective != "data")]
    cells = {}
    for objective, rows in part.groupby("objective"):
        top = rows.loc[rows.estimate.idxmin()]
        where = top.schedule if top.sampler == "-" else f"{top.sampler}, {top.schedule}"
        cells[objective] = Cell(top.estimate, top.ci_low, top.ci_high, int(top.n_seeds), where)
    return cells


def _pooled(values: pd.DataFrame, column: str) -> dict[str, Cell]:
    """Per objective: per seed the geometric mean of `column` over schedules, then over seeds with an interval."""
    cells = {}
    for objective, rows in values.groupby("objective"):
        per_seed = np.exp(np.log(rows[column]).groupby(rows.seed).mean())
        estimate, low, high = interval(per_seed)
        cells[objective] = Cell(estimate, low, high, len(per_seed), "over schedules")
    return cells


def _step_cost(pairs: pd.DataFrame, dataset: str) -> dict[str, Cell]:
    """Training seconds relative to DSM's: the paired ratio of `train_seconds` (all runs take the same steps)."""
    part = pairs[(pairs.dataset == dataset) & (pairs.metric == "train_seconds") & (pairs.objective != ORACLE)]
    return {r.objective: Cell(r.estimate, r.ci_low, r.ci_high, int(r.n_seeds), "paired") for r in part.itertuples()}


def _mark(cells: dict[str, Cell], lower_is_better: bool = True) -> None:
    """Mark the best trained objective's cell and those whose interval overlaps it (needs n >= 2)."""
    ranked = {o: c for o, c in cells.items() if o != ORACLE and math.isfinite(c.estimate)}
    if len(ranked) < 2 or any(c.n < 2 or not math.isfinite(c.low) for c in ranked.values()):
        return
    best = (min if lower_is_better else max)(ranked, key=lambda o: ranked[o].estimate)
    top = ranked[best]
    top.mark = "best"
    for objective, cell in ranked.items():
        if objective != best and cell.low <= top.high and top.low <= cell.high:
            cell.mark = "tied"


def leaderboard(agg: pd.DataFrame, pairs: pd.DataFrame, reach: pd.DataFrame, dataset: str) -> dict[str, dict[str, Cell]]:
    """Column title -> objective -> Cell for one dataset (columns only where the dataset has the metric)."""
    columns: dict[str, dict[str, Cell]] = {}
    for metric, title in (("fisher_divergence", "Fisher divergence"), ("nll_bits_per_dim", "NLL (bits/dim)")):
        cells = _best_per_objective(agg, dataset, metric)
        if cells:
            columns[title] = cells
    quality = quality_metric(agg, dataset)
    if quality:
        columns[f"best {quality}"] = _best_per_objective(agg, dataset, quality)
    cost = _step_cost(pairs, dataset)
    if cost:
        columns["step cost vs DSM (×)"] = cost
    part = reach[reach.dataset == dataset]
    if len(part):
        columns["train seconds to reach X"] = _pooled(part, "seconds")
    for title, cells in columns.items():
        _mark(cells)
    return columns


PAIRED_METRIC = {"Fisher divergence": "fisher_divergence", "NLL (bits/dim)": "nll_bits_per_dim",
                 "best fid": "fid", "best sliced_wasserstein": "sliced_wasserstein"}


def _versus_dsm(pairs: pd.DataFrame, dataset: str, metric: str | None) -> str:
    """`paired vs DSM: ssm ×1.59 [1.5, 1.75]; ...` for one metric (objectives other than DSM and the oracle)."""
    part = pairs[(pairs.dataset == dataset) & (pairs.metric == metric) & ~pairs.objective.isin([REFERENCE, ORACLE])]
    items = [f"{r.objective} {'×' if r.comparison == 'ratio' else 'Δ '}{fmt_interval(r.estimate, r.ci_low, r.ci_high, r.n_seeds)}"
             for r in part.itertuples()]
    return f" (paired vs DSM over all cells: {', '.join(items)})" if items else ""


def sentence(dataset: str, columns: dict[str, dict[str, Cell]], pairs: pd.DataFrame) -> str:
    """One sentence built only from the leaderboard's and the paired comparisons' numbers."""
    parts = []
    for title, cells in columns.items():
        if title.startswith("step cost"):
            costs = [f"{o} {fmt(c.estimate)}×" for o, c in sorted(cells.items(), key=lambda kv: kv[1].estimate) if o != REFERENCE]
            if costs:
                parts.append("per training step, relative to DSM: " + ", ".join(costs))
            continue
        best = next((o for o, c in cells.items() if c.mark == "best"), None)
        if best is None:
            n = min((c.n for o, c in cells.items() if o != ORACLE), default=0)
            if n < 2:
                parts.append(f"{title}: not ranked (n = {n} seed{'s' if n != 1 else ''}, no interval)")
            continue
        tied = [o for o, c in cells.items() if c.mark == "tied"]
        cell = cells[best]
        text = f"{title}: {best} is lowest ({cell.text()}{', ' + cell.where if cell.where else ''})"
        text += f", not resolved from {', '.join(tied)} at n = {cell.n}" if tied else f", ahead of every other objective at n = {cell.n}"
        parts.append(text + _versus_dsm(pairs, dataset, PAIRED_METRIC.get(title)))
    trained = {o for cells in columns.values() for o in cells if o != ORACLE}
    if len(trained) < 2:
        return f"{dataset}: {len(trained)} trained objective{'' if len(trained) == 1 else 's'} " \
               f"({', '.join(sorted(trained)) or 'none finished'}): nothing to rank."
    return f"{dataset}: " + ("; ".join(parts) if parts else "no metric finished") + "."


def verdict(summary: pd.DataFrame, agg: pd.DataFrame, pairs: pd.DataFrame,
            reach: pd.DataFrame) -> list[tuple[str, pd.DataFrame, str]]:
    """Per dataset: (name, leaderboard of Cells: objectives × columns, sentence)."""
    out = []
    for dataset in dict.fromkeys(summary[summary.objective != "data"].dataset):
        columns = leaderboard(agg, pairs, reach, dataset)
        objectives = sorted({o for cells in columns.values() for o in cells}, key=lambda o: (o == ORACLE, o))
        table = pd.DataFrame({title: {o: cells[o] for o in cells} for title, cells in columns.items()}, index=objectives)
        out.append((dataset, table, sentence(dataset, columns, pairs)))
    return out


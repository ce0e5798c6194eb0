"""Two results of one benchmark side by side: what changed between them, cell by cell.

The everyday loop of method development: change an objective's setting, rerun, ask what moved. Each
cell (dataset, objective, schedule, sampler, metric) the two summary.csv files share is compared over
the seeds both ran, paired by seed (the runs of one seed share batches, noises and prior draws), with
the verdict's interval methods: the mean of the per-seed log-ratios for metrics that span decades,
else of the differences (`intervals.mean_interval`), Holm-adjusted over every cell compared, so a
"better" or "worse" survives the number of comparisons the table makes. A cell whose values are equal
seed for seed is `identical` (same code and seeds are bit-reproducible on one machine); one that moved
but whose interval does not resolve a direction is `changed`. Timings are left out: they measure the
machine as much as the method.
"""
from __future__ import annotations

import html
import math
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import ArtefactError
from ..spec.layout import SUMMARY
from ..spec.metric_info import METRIC_INFO
from .intervals import FAMILY_ERROR, holm, mean_interval

CELL = ["dataset", "objective", "schedule", "sampler", "metric"]
COLUMNS = (*CELL, "n_seeds", "a", "b", "ratio_or_difference", "low", "high", "p_holm", "call")


def read_summary(results: str | Path) -> pd.DataFrame:
    """The ok rows of a results directory's summary.csv (results/<name>/, or the file itself)."""
    path = Path(results)
    path = path / SUMMARY if path.is_dir() else path
    try:
        table = pd.read_csv(path)
    except (FileNotFoundError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise ArtefactError(f"{path}: no readable summary.csv ({type(err).__name__}); run `scorebench report` "
                            "for that benchmark first") from None
    missing = (set(CELL) | {"seed", "value", "status"}) - set(table.columns)
    if missing:
        raise ArtefactError(f"{path}: lacks the summary columns {', '.join(sorted(missing))}; not a scorebench summary.csv")
    timing = table.metric.map(lambda m: getattr(METRIC_INFO.get(m), "timing", False))
    return table[(table.status == "ok") & ~timing & np.isfinite(table.value.astype(float))]


def compare(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """One row per cell both summaries have, B against A over their shared seeds, with its call."""
    paired = a.merge(b, on=[*CELL, "seed"], suffixes=("_a", "_b"))
    rows = []
    for cell, part in paired.groupby(CELL, sort=True):
        va, vb = part.value_a.to_numpy(float), part.value_b.to_numpy(float)
        info = METRIC_INFO.get(cell[-1])
        log = bool(info and info.log_scale) and (va > 0).all() and (vb > 0).all()
        est = mean_interval(np.log(vb / va) if log else vb - va)
        back = (lambda v: float(np.exp(v))) if log else float
        rows.append({**dict(zip(CELL, cell)), "n_seeds": len(part), "a": float(va.mean()), "b": float(vb.mean()),
                     "ratio_or_difference": back(est.estimate),
                     "low": back(est.low) if est.low is not None else math.nan,
                     "high": back(est.high) if est.high is not None else math.nan,
                     "identical": bool(np.array_equal(va, vb)), "p": est.p_value, "log": log})
    table = pd.DataFrame(rows, columns=[*COLUMNS[:-2], "identical", "p", "log"])
    tested = table.p.notna() & ~table.identical
    table["p_holm"] = math.nan
    table.loc[tested, "p_holm"] = holm(table.loc[tested, "p"].to_numpy(float))
    table["call"] = [_call(r) for r in table.itertuples()]
    return table[list(COLUMNS)]


def _call(r) -> str:
    """identical, better, worse (B against A, the metric's direction, Holm-adjusted), or changed."""
    if r.identical:
        return "identical"
    if not (r.p_holm <= FAMILY_ERROR):
        return "changed" if r.n_seeds >= 2 else "changed (n = 1, no interval)"
    up = r.low > (1.0 if r.log else 0.0)
    lower_is_better = getattr(METRIC_INFO.get(r.metric), "lower_is_better", True)
    return "worse" if up == lower_is_better else "better"


def summary_lines(table: pd.DataFrame, a: str, b: str) -> list[str]:
    """A few lines for the terminal: how many cells moved, and each better, worse or changed one."""
    counts = table.call.str.split(" ").str[0].value_counts()
    lines = [f"B = {b} against A = {a}: {len(table)} shared cells; "
             + ", ".join(f"{counts.get(c, 0)} {c}" for c in ("better", "worse", "changed", "identical"))
             + f" (paired over shared seeds, Holm over the {int(table.p_holm.notna().sum())} cells tested)"]
    for r in table[table.call != "identical"].itertuples():
        what = "×" if METRIC_INFO.get(r.metric) and METRIC_INFO[r.metric].log_scale else "Δ"
        interval = f" [{r.low:.4g}, {r.high:.4g}]" if math.isfinite(r.low) else ""
        lines.append(f"  {r.call:<8} {r.dataset}/{r.objective}/{r.schedule}/{r.sampler} {r.metric}: "
                     f"{r.a:.4g} -> {r.b:.4g} ({what}{r.ratio_or_difference:.4g}{interval}, n = {r.n_seeds})")
    return lines


def html_page(table: pd.DataFrame, a: str, b: str) -> str:
    """The comparison as one self-contained HTML page: the summary line, then the cells that moved."""
    moved = table[table.call != "identical"]
    head = html.escape(summary_lines(table, a, b)[0])
    body = moved.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="—", border=0)
    return (f"<!doctype html><meta charset='utf-8'><title>scorebench compare</title><h1>What changed</h1>"
            f"<p>{head}</p>{body}")

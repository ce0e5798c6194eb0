"""The comparison report: summary.csv (per seed) → aggregate.csv, paired.csv, overall.csv, curves.csv → one HTML page.

Built only from artefacts on disk (metrics files, curves and saved samples), so regenerating it never
trains or samples. The page opens with the verdict (a leaderboard per dataset and one sentence built
from its numbers), then the convergence curves, the paired comparisons, the figures and the tables;
every number is an estimate over seeds with its 95 % interval and n. Figures are PNGs under figures/,
embedded in report.html as data. This module computes what the page shows; templates/report.html.j2
lays it out (autoescaped, so every value is text).
"""
from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pandas as pd
import yaml
from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from . import export
from . import figures as figs
from . import scaling as scaling_report
from .aggregate import (REACH_FACTOR, REFERENCE_OBJECTIVE, aggregate, comparisons, discretisation_calls,
                        discretisation_line, fmt, fmt_interval, nfe_to_reach, sweep_cells, time_to_reach)
from ..spec.benchmark import Benchmark
from .damage import read_metrics
from ..spec.rows import CURVES_COLUMNS, DATA, MODEL, ROW_COLUMNS
from ..spec.grid import untrained
from ..io import provenance, save_bytes, save_text
from .intervals import mean_interval
from ..spec.layout import (AGGREGATE, CONDITIONING_FIGURES, CURVE, CURVES, FIGURES, GRID_FIGURES, METRICS, OVERALL, PAIRED,
                     REPORT, RESULTS, SCALING_FIGURES, SUMMARY, SWEEP_FIGURES, TABLES, Layout)
from ..spec.metric_info import BATCHED, METRIC_INFO
from .verdict import Cell, overall, overall_line, quality_metric, verdict


def collect(bench: Benchmark, results: str | Path) -> tuple[pd.DataFrame, list[str]]:
    """Every metric row of the benchmark as one tidy table (columns: ROW_COLUMNS), an expected metric
    file that is missing, damaged or short of cells standing as failed rows for the cells it should hold
    (`damage.read_metrics`); and those files, each with what is wrong and the job that rebuilds it."""
    layout = bench.layout(results)
    rows, absent = [], []
    for dataset in bench.datasets:
        for name in bench.metric_files(dataset):
            found, problem = read_metrics(bench, dataset, name, layout.path(METRICS, dataset=dataset, name=name))
            rows += found
            absent += [problem] if problem else []
    return pd.DataFrame(rows, columns=list(ROW_COLUMNS)), absent


def collect_curves(bench: Benchmark, results: str | Path) -> pd.DataFrame:
    """Every run's curve.csv in one table (columns: CURVES_COLUMNS); runs without one are left out."""
    layout = bench.layout(results)
    tables = []
    for run in bench.runs:
        path = layout.path(CURVE, **run.fields())
        if path.exists() and path.stat().st_size:
            tables.append(pd.read_csv(path).assign(**run.fields()))
    return pd.concat(tables)[list(CURVES_COLUMNS)] if tables else pd.DataFrame(columns=list(CURVES_COLUMNS))


def _html_table(frame: pd.DataFrame, index: bool = True, float_format=None) -> Markup:
    """A table in a box that scrolls sideways rather than widen the page (the template's `table` filter)."""
    table = frame.to_html(index=index, border=0, escape=True, na_rep="", float_format=float_format)
    return Markup(f'<div class="scroll">{table}</div>')



TEMPLATE = "report.html.j2"  # under templates/, shipped as package data
_TEMPLATES = Environment(loader=PackageLoader(__package__, "templates"), autoescape=True, trim_blocks=True,
                         lstrip_blocks=True, undefined=StrictUndefined)
_TEMPLATES.filters["table"] = _html_table
_TEMPLATES.globals["fmt"] = fmt


def _cell(r) -> str:
    """An aggregate row as text: `value [low, high]`, with n where a seed is missing, or why it is empty."""
    if r.status != "ok":
        return r.status
    return fmt_interval(r.estimate, r.ci_low, r.ci_high, int(r.n_seeds))


def _with_n(agg: pd.DataFrame) -> pd.DataFrame:
    """Cell texts, marking `(n = k)` where fewer seeds finished than the benchmark ran."""
    top = int(agg.n_seeds.max()) if len(agg) else 0
    text = [(_cell(r) + (f" (n = {int(r.n_seeds)})" if r.status == "ok" and 1 < r.n_seeds < top else ""))
            for r in agg.itertuples()]
    return agg.assign(cell=text)


def _verdict(boards: list, summary: pd.DataFrame, across: pd.DataFrame, n_seeds: int) -> dict:
    """The answer first: one line per dataset and one across datasets, whether timings were batched,
    each dataset's leaderboard (a None cell: not run) and the table across datasets."""
    return {"lines": [(dataset, text[len(dataset):]) for dataset, _, text in boards],
            "sentence": overall_line(across), "n_seeds": n_seeds,
            "batched": bool(summary.detail.astype(str).str.startswith(BATCHED).any()),
            "boards": [{"dataset": dataset, "columns": list(table.columns),
                        "rows": [(objective, [c if isinstance(c, Cell) else None for c in row])
                                 for objective, row in table.iterrows()]} for dataset, table, _ in boards],
            "across": _across(across) if len(across) else None}


def _across(across: pd.DataFrame) -> pd.DataFrame:
    """The table across datasets as shown: each objective against DSM with its interval, P(improvement) and call."""
    shown = across.assign(**{"vs DSM": [("×" if r.comparison == "ratio" else "Δ") + " " + fmt_interval(
        r.estimate, r.ci_low, r.ci_high, int(r.n_seeds)) for r in across.itertuples()],
        "P(improvement)": across.prob_improvement.map(fmt), "p (Holm)": across.p_holm.map(fmt)})
    return shown[["objective", "headline", "datasets", "vs DSM", "same_sign", "P(improvement)", "p (Holm)", "verdict"]]


def _convergence(reach: pd.DataFrame, drawn: figs.Picture) -> dict:
    """The convergence figure and, per dataset, the training seconds to reach X (objective × schedule)."""
    tables = []
    for dataset, part in reach.groupby("dataset", sort=False):
        rows = []
        for (schedule, objective), r in part.groupby(["schedule", "objective"], sort=False):
            e = mean_interval(r.seconds, log=True)
            rows.append({"schedule": f"{schedule} (X = {fmt(r.target.iloc[0])})", "objective": objective,
                         "cell": fmt_interval(e.estimate, e.low, e.high, e.n)})
        tables.append((dataset, pd.DataFrame(rows).pivot(index="objective", columns="schedule", values="cell")))
    return {"figure": _figure("convergence.png", drawn), "reach": tables}


TRUTH = {"c2st": 0.5, "ksd": 0.0}  # the ground-truth sample metrics drawn against NFE, and the truth's own value


def _sweeps(bench: Benchmark, agg: pd.DataFrame, quality: dict[str, str]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The sweep cells (quality and mean NFE per step count), the NFE to reach X of the sampler sweeps, and
    the cells of the ground-truth metrics (C2ST, KSD: their panels labelled `<dataset> · <metric>`)."""
    cells = sweep_cells(agg, bench.sweeps, quality)
    have = agg[agg.status == "ok"]
    truth = [sweep_cells(agg, bench.sweeps, {d: m}).assign(dataset=f"{d} · {m}") for m in TRUTH
             for d in dict.fromkeys(agg.dataset) if ((have.dataset == d) & (have.metric == m)).any()]
    return cells, nfe_to_reach(cells), pd.concat(truth, ignore_index=True) if truth else cells.iloc[:0]


def _truth_figure(truth: pd.DataFrame) -> figs.Picture:
    targets = truth[["dataset", "schedule", "metric"]].drop_duplicates().assign(target=lambda f: f.metric.map(TRUTH))
    return figs.quality_vs_nfe(truth, targets, target_label="the truth (C2ST 0.5, KSD 0)",
                               missing="no C2ST or KSD rows (synthetic data with metrics c2st and ksd)")


def discretisation_pairs(bench: Benchmark) -> list[tuple[str, str]]:
    """(sweep, against): sweeps of one sampler kind and the same step counts that differ only in their
    `discretisation` (Heun in σ against Heun in t), the later-listed one against the earlier."""
    def signature(sweep: str) -> tuple:  # each entry's kind, parameters and count, its discretisation left out
        return tuple(json.dumps({k: v for k, v in bench.sampler(e).items() if k not in ("sweep", "discretisation")},
                                sort_keys=True) for e in bench.sweeps[sweep])

    names = list(bench.sweeps)
    return [(b, a) for i, a in enumerate(names) for b in names[i + 1:] if signature(a) == signature(b)
            and bench.sampler(bench.sweeps[a][0]).get("discretisation") != bench.sampler(bench.sweeps[b][0]).get("discretisation")]


def _discretisation_lines(bench: Benchmark, summary: pd.DataFrame, quality: dict[str, str]) -> list[str]:
    """One sentence per pair of a sampler kind's discretisations, compared at equal step counts."""
    pairs = discretisation_pairs(bench)
    calls = discretisation_calls(summary, pairs, bench.sweeps, quality) if pairs else None
    return [discretisation_line(calls, sweep, against) for sweep, against in pairs]


def _nfe(reach: pd.DataFrame, drawn: figs.Picture, truth: figs.Picture, discretisations: list[str]) -> dict:
    """The quality-against-NFE figure and, per dataset, the NFE each sweep × objective needs to reach X;
    the ground-truth metrics' figure; a sentence per pair of discretisations compared at equal NFE."""
    tables = []
    for dataset, part in reach.groupby("dataset", sort=False):
        rows = [{"schedule": f"{r.schedule} (X = {fmt(r.target)})", "sweep / objective": f"{r.sweep} / {r.objective}",
                 "cell": fmt(r.nfe) if r.nfe is not None and r.nfe == r.nfe
                 else f"not reached (best {fmt(r.best)} at {fmt(r.best_nfe)})"} for r in part.itertuples()]
        tables.append((f"{dataset} ({part.metric.iloc[0]})",
                       pd.DataFrame(rows).pivot(index="sweep / objective", columns="schedule", values="cell")))
    return {"figure": _figure("quality_vs_nfe.png", drawn), "reach": tables, "factor": fmt(REACH_FACTOR),
            "truth": _figure("truth_vs_nfe.png", truth), "discretisations": discretisations}


def _paired(pairs: pd.DataFrame) -> list[tuple[str, pd.DataFrame]] | None:
    """Per dataset, every objective against DSM per metric; None when there are no DSM runs."""
    if pairs.empty:
        return None
    return [(dataset, pd.DataFrame({
        "metric": part.metric, "objective": part.objective,
        "vs DSM": [("×" if c == "ratio" else "Δ") + " " + fmt_interval(e, lo, hi, n)
                   for c, e, lo, hi, n in zip(part.comparison, part.estimate, part.ci_low, part.ci_high, part.n_seeds)],
        "n seeds": part.n_seeds, "cells": part.n_cells, "P(improvement)": part.prob_improvement.map(fmt),
        "p (Holm)": part.p_holm.map(fmt), "tests": part.n_tests, "verdict": part.verdict}))
        for dataset, part in pairs[pairs.objective != pairs.reference].groupby("dataset", sort=False)]


def _floor(summary: pd.DataFrame, agg: pd.DataFrame) -> dict | None:
    """The FID/KID floor per dataset (real vs real, mean and interval over the held-out draws, with its
    detail) and how many FID/KID values are biased; None without a floor."""
    floor = agg[agg.objective == DATA]
    if floor.empty:
        return None
    biased = summary[(summary.metric.isin(["fid", "kid"])) & summary.detail.fillna("").str.contains("biased")]
    table = _with_n(floor)[["dataset", "metric", "cell", "n_seeds"]].rename(columns={"cell": "mean [95 % interval]",
                                                                                       "n_seeds": "draws"})
    details = summary[summary.objective == DATA].drop_duplicates(["dataset", "metric"])[["dataset", "metric", "detail"]]
    return {"table": table.merge(details, on=["dataset", "metric"]), "biased": len(biased)}


def _metric_tables(agg: pd.DataFrame) -> list[dict]:
    """Per metric: model metrics as dataset/objective × schedule; sample metrics one table per schedule
    (dataset/objective × sampler), so no table outgrows the page."""
    blocks = []
    for metric, part in _with_n(agg[agg.objective != DATA]).groupby("metric", sort=True):
        if (part.sampler == MODEL).all():
            tables = [(None, part.pivot_table(index=["dataset", "objective"], columns="schedule", values="cell",
                                              aggfunc="first", sort=False))]
        else:
            tables = [(f"schedule {schedule}", rows.pivot_table(index=["dataset", "objective"], columns="sampler",
                                                                values="cell", aggfunc="first", sort=False))
                      for schedule, rows in part.groupby("schedule", sort=False)]
        blocks.append({"metric": metric, "unit": str(part.unit.iloc[0]), "tables": tables})
    return blocks


def _conditional_metrics() -> list[str]:
    """The inpainting metrics (level `conditional` in the metric registry): their own section."""
    return [m for m, info in METRIC_INFO.items() if info.level == "conditional"]


def _conditional(agg: pd.DataFrame, figures: dict[str, figs.Picture]) -> dict:
    """Inpainting metrics per dataset (objective/schedule × sampler/method/mask), the conditioning
    methods' own bias with the exact score (the oracle's rows), and the figures."""
    blocks = []
    for (dataset, metric), part in _with_n(agg[agg.metric.isin(_conditional_metrics())]).groupby(["dataset", "metric"],
                                                                                                  sort=True):
        methods, cells = _methods_with_the_exact_score(part)
        blocks.append({"dataset": dataset, "metric": metric, "unit": str(part.unit.iloc[0]), "methods": methods,
                       "cells": cells, "table": part.pivot_table(index=["objective", "schedule"], columns="sampler",
                                                                 values="cell", aggfunc="first", sort=False)})
    return {"blocks": blocks,
            "figures": [_figure(name, figures[name]) for name in CONDITIONING_FIGURES if name in figures]}


def _methods_with_the_exact_score(part: pd.DataFrame) -> tuple[list[tuple[str, str]], int]:
    """The oracle's mean per conditioning method (best first) over the cells every method ran in, and
    how many cells those are; nothing with fewer than two methods, so the gap is the method's own error."""
    cells = {}  # (schedule, sampler, mask) -> method -> estimate
    for r in part[part.objective.map(untrained) & (part.status == "ok")].itertuples():
        sampler, method, mask = r.sampler.split("/")
        cells.setdefault((r.schedule, sampler, mask), {})[method] = r.estimate
    methods = set().union(*cells.values()) if cells else set()
    shared = [c for c in cells.values() if set(c) == methods]  # cells every method ran in
    if len(methods) < 2 or not shared:
        return [], 0
    means = {m: sum(c[m] for c in shared) / len(shared) for m in methods}
    return [(m, fmt(v)) for m, v in sorted(means.items(), key=lambda kv: kv[1])], len(shared)


def _figure(name: str, drawn: figs.Picture) -> dict[str, str]:
    """A figure for the page: its caption (layout's, the workflow report's too) and the PNG as base64."""
    captions = {**GRID_FIGURES, **SWEEP_FIGURES, **SCALING_FIGURES, **CONDITIONING_FIGURES}
    return {"caption": captions[name], "data": base64.b64encode(drawn.png).decode()}


def _grid_figures(bench: Benchmark, results, summary: pd.DataFrame, agg: pd.DataFrame, curves: pd.DataFrame) -> dict[str, figs.Picture]:
    from ..core.data import build_dataset

    datasets = {}
    for name in bench.dataset_entries:
        try:
            datasets[name] = build_dataset(name, bench.dataset(name))
        except Exception:  # noqa: BLE001 - a missing dataset leaves its figures out, not the report
            continue
    conditional = ({"conditional.png": figs.conditional(bench, results, datasets),
                    "inpainting.png": figs.inpainting(bench, results, datasets)} if bench.conditioning else {})
    return {"convergence.png": figs.convergence(curves), "quality_vs_cost.png": figs.quality_vs_cost(
                agg, {e: sweep for sweep, entries in bench.sweeps.items() for e in entries}),
            "fisher_divergence.png": figs.fisher(agg), "mode_weights.png": figs.mode_weights(bench, results, datasets),
            "samples.png": figs.samples(bench, results, datasets, summary), **conditional}


def _scaling_figures(rows: pd.DataFrame) -> dict[str, figs.Picture]:
    if not (rows.status == "ok").any():
        return {name: figs.empty("no scaling cell ran (see the scaling table)") for name in SCALING_FIGURES}
    return {name: figs.picture(fig) for name, fig in scaling_report.figures(rows).items()}


def _scaling(rows: pd.DataFrame, slopes: pd.DataFrame, figures: dict[str, figs.Picture]) -> dict:
    """The scaling study's slopes, its step times relative to DSM, its cells and its figures."""
    return {"slopes": slopes, "ratios": scaling_report.ratios(rows), "cells": rows,
            "figures": [_figure(name, figures[name]) for name in SCALING_FIGURES]}


def _save_csv(frame: pd.DataFrame, path: Path) -> None:
    with io.StringIO() as buf:
        frame.to_csv(buf, index=False)
        save_text(buf.getvalue(), path)


def build_report(bench: Benchmark, results: str | Path = RESULTS) -> tuple[Path, list[str]]:
    """Write summary.csv, aggregate.csv, paired.csv, overall.csv, curves.csv, figures/*.png (and .svg),
    tables/*.tex and *.md (leaderboards, paired comparisons) and report.html for `bench` from the results on disk; return the page and the damaged metric files."""
    layout = bench.layout(results)
    summary, absent = collect(bench, results)
    # the calls (paired table, verdict, across datasets) see each NFE sweep at its finest count only:
    # its coarse counts are the quality-against-NFE section's, not cells to average into a ranking
    coarse = {e for entries in bench.sweeps.values() for e in entries} - set(bench.shown)
    ranked = summary[~summary.sampler.isin(coarse)]
    agg, tests, curves = aggregate(summary), comparisons(ranked), collect_curves(bench, results)
    pairs, reach, across = tests[tests.reference == REFERENCE_OBJECTIVE], time_to_reach(curves), overall(ranked)
    budgets = {d: bench.train(d).budget_seconds for d in bench.datasets}
    for frame, name in ((summary, SUMMARY), (agg, AGGREGATE), (pairs, PAIRED), (curves, CURVES), (across, OVERALL)):
        _save_csv(frame, layout.path(name))
    scaling = scaling_report.read(layout) if bench.scaling else None  # (cells, slopes)
    swept = bench.has_grid and bool(bench.sweeps)
    quality = {d: m for d in dict.fromkeys(agg.dataset) if (m := quality_metric(agg, d))}  # each dataset's
    cells, nfe_reach, truth = _sweeps(bench, agg, quality) if swept else (None, None, None)
    figures = {**(_grid_figures(bench, results, summary, agg, curves) if bench.has_grid else {}),
               **({"quality_vs_nfe.png": figs.quality_vs_nfe(cells, nfe_reach), "truth_vs_nfe.png": _truth_figure(truth)}
                  if swept else {}),
               **(_scaling_figures(scaling[0]) if scaling else {})}
    for name, drawn in figures.items():  # figures/<name>.png for the page, .svg beside it for a paper
        save_bytes(drawn.png, layout.path(FIGURES) / name)
        save_bytes(drawn.svg, (layout.path(FIGURES) / name).with_suffix(".svg"))
    grid, conditional = bench.has_grid, bench.has_grid and bench.conditioning is not None
    boards = verdict(ranked, tests, reach, budgets) if grid else []
    for name, text in (export.tables(boards, pairs) if grid else {}).items():
        save_text(text, layout.path(TABLES) / name)
    skipped = bench.skipped
    failed = summary[~summary.status.isin(["ok", "skipped"])]
    page = _TEMPLATES.get_template(TEMPLATE).render(
        name=bench.name, absent=absent, grid=grid, toc=_contents(grid, conditional, bool(scaling), swept),
        nfe=_nfe(nfe_reach, figures["quality_vs_nfe.png"], figures["truth_vs_nfe.png"], _discretisation_lines(
            bench, summary, quality)) if swept else None,
        verdict=_verdict(boards, ranked, across, len(bench.seeds)) if grid else None,
        convergence=_convergence(reach, figures["convergence.png"]) if grid else None,
        paired=_paired(pairs) if grid else None,
        grid_figures=[_figure(n, figures[n]) for n in GRID_FIGURES if n != "convergence.png"] if grid else [],
        floor=_floor(summary, agg) if grid else None,
        metric_tables=_metric_tables(agg[~agg.metric.isin(_conditional_metrics())]) if grid else [],
        conditional=_conditional(agg, figures) if conditional else None,
        scaling=_scaling(*scaling, figures) if scaling else None,
        skipped={"runs": pd.DataFrame([{"run": r.id, "reason": why} for r, why in skipped], columns=["run", "reason"]),
                 "rows": summary[summary.status == "skipped"][["dataset", "objective", "schedule", "sampler",
                                                               "detail"]].drop_duplicates()},
        failed=failed[["dataset", "objective", "schedule", "sampler", "seed", "metric", "status", "detail"]]
        if len(failed) else None,
        provenance=yaml.safe_dump(provenance()), config=yaml.safe_dump(bench.config, sort_keys=False))
    out = layout.path(REPORT)
    save_text(page, out)
    return out, absent


def _contents(grid: bool, conditional: bool, scaling: bool, swept: bool = False) -> list[tuple[str, str]]:
    """The contents list: (section id, title) of every section the page has, in its order."""
    toc = [("verdict", "Verdict"), ("convergence", "Convergence"), ("paired", "Paired comparisons"),
           *([("nfe", "Quality against NFE")] if swept else []),
           ("figures", "Figures"), ("floor", "FID/KID floor"), ("tables", "Tables")] if grid else []
    toc += [("conditional", "Conditional generation")] if conditional else []
    toc += [("scaling", "Scaling study")] if scaling else []
    return toc + [("skipped", "Skipped combinations"), ("failed", "Failed or diverged"),
                  ("provenance", "Provenance and config")]

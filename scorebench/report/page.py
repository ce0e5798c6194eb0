"""The comparison report: summary.csv (per seed) → aggregate.csv, paired.csv, overall.csv, curves.csv → one HTML page.

Built only from artefacts on disk (metrics files, curves and saved samples), so regenerating it never
trains or samples. The page opens with the verdict (a leaderboard per dataset and one sentence built
from its numbers), then the convergence curves, the paired comparisons, the figures and the tables;
every number is an estimate over seeds with its 95 % interval and n. Figures are PNGs under figures/,
embedded in report.html as data.
"""
from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import pandas as pd
import yaml

from . import figures as figs
from . import scaling as scaling_report
from .aggregate import CURVE_COLUMNS, REFERENCE, aggregate, comparisons, fmt, fmt_interval, time_to_reach
from ..spec.config import dataset_params, has_grid
from .damage import read_metrics
from ..spec.rows import DATA, MODEL, ROW_COLUMNS
from ..spec.grid import ORACLE, metric_files, runs
from ..io import provenance, save_text
from .intervals import mean_interval
from ..spec.layout import (AGGREGATE, CONDITIONING_FIGURES, CURVE, CURVES, FIGURES, GRID_FIGURES, METRICS, OVERALL, PAIRED,
                     REPORT, RESULTS, SCALING_FIGURES, SUMMARY, Layout)
from ..spec.metric_info import BATCHED, METRIC_INFO
from .verdict import Cell, overall, overall_line, verdict

def collect(config: dict, results: str | Path) -> tuple[pd.DataFrame, list[str]]:
    """Every metric row of the benchmark as one tidy table (columns: ROW_COLUMNS), an expected metric
    file that is missing, damaged or short of cells standing as failed rows for the cells it should hold
    (`damage.read_metrics`); and those files, each with what is wrong and the job that rebuilds it."""
    layout = Layout(results, config["name"])
    rows, absent = [], []
    for dataset in sorted({r.dataset for r in runs(config)[0]}):
        for name in metric_files(config, dataset):
            found, problem = read_metrics(config, dataset, name, layout.path(METRICS, dataset=dataset, name=name))
            rows += found
            absent += [problem] if problem else []
    return pd.DataFrame(rows, columns=list(ROW_COLUMNS)), absent


def collect_curves(config: dict, results: str | Path) -> pd.DataFrame:
    """Every run's curve.csv in one table (columns: CURVE_COLUMNS); runs without one are left out."""
    layout = Layout(results, config["name"])
    tables = []
    for run in runs(config)[0]:
        path = layout.path(CURVE, **run.fields())
        if path.exists() and path.stat().st_size:
            tables.append(pd.read_csv(path).assign(**run.fields()))
    return pd.concat(tables)[list(CURVE_COLUMNS)] if tables else pd.DataFrame(columns=list(CURVE_COLUMNS))


def _html_table(frame: pd.DataFrame, index: bool = True) -> str:
    """A table in a box that scrolls sideways rather than widen the page."""
    return f'<div class="scroll">{frame.to_html(index=index, border=0, escape=True, na_rep="")}</div>'


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


def _verdict_section(summary, tests, reach, across: pd.DataFrame, n_seeds: int) -> str:
    """The answer first: one line per dataset and one across datasets, then how to read them, then
    each dataset's leaderboard and the table across datasets."""
    boards = verdict(summary, tests, reach)
    parts = ['<section id="verdict"><h2>Verdict</h2><ul class="lines">'
             + "".join(f"<li><b>{html.escape(dataset)}</b>{html.escape(text[len(dataset):])}</li>"
                       for dataset, _, text in boards)
             + f"</ul><p class='sentence'>{html.escape(overall_line(across))}</p>",
             f"<p class='how'>Over {n_seeds} seed{'s' if n_seeds != 1 else ''} per run. Each cell: mean (geometric for "
             "metrics spanning decades) [95 % Student-t interval over seeds], over the schedule × sampler cells every "
             "trained objective has, so no objective is credited with its luckiest cell. <span class='best'>best"
             "</span>: its paired tests against every other trained objective are resolved in its favour; "
             "<span class='tied'>tied</span>: the leader and those it is not resolved from. A call (best, better, "
             "worse) needs a Holm-adjusted p-value below 0.05 over every call the dataset's page makes, so the "
             "page's family-wise error is at most 5 %; the interval alone is a per-number 95 %. \"Next\" is the "
             "runner-up's paired ratio (or difference) to the winner. Step cost: the paired ratio of training "
             "seconds to DSM's. Coverage of these intervals, measured by simulation through this code: 95 % for "
             "normal and log-normal seed values at 3 to 10 seeds; about 91 % for a strongly skewed linear metric "
             "(gamma-distributed seeds) at 5. The oracle is the exact score: a reference, never ranked.</p>"]
    if summary.detail.astype(str).str.startswith(BATCHED).any():
        parts.append("<p>The members of an ensemble (a dataset and objective's schedules × seeds) were trained, and "
                     "the seeds of a run sampled, as one batch (<code>batch_seeds</code>): their seconds are one "
                     "wall-clock shared between them, counted once (n = 1, no interval), so the step cost is one "
                     "measurement per dataset; <code>benchmarks/throughput.py</code> and the scaling study time steps "
                     "interleaved, with their spread.</p>")
    for dataset, table, _ in boards:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in ["objective", *table.columns])
        body = ""
        for objective, row in table.iterrows():
            cells = "".join(f"<td class='{c.mark}'>{html.escape(c.text())}<br><small>{html.escape(c.where)}</small></td>"
                            if isinstance(c, Cell) else "<td>not run</td>" for c in row)
            body += f"<tr><th>{html.escape(objective)}</th>{cells}</tr>"
        parts.append(f"<h3>{html.escape(dataset)}</h3><div class='scroll'><table class='verdict'><tr>{head}</tr>{body}"
                     "</table></div>")
    if len(across):
        shown = across.assign(**{"vs DSM": [("×" if r.comparison == "ratio" else "Δ") + " " + fmt_interval(
            r.estimate, r.ci_low, r.ci_high, int(r.n_seeds)) for r in across.itertuples()],
            "P(improvement)": across.prob_improvement.map(fmt), "p (Holm)": across.p_holm.map(fmt)})
        parts.append("<h3>Across datasets</h3><p>Each objective against DSM: the mean over datasets of each "
                     "dataset's paired mean log-ratio (or difference), with a Welch–Satterthwaite t-interval over the "
                     "seeds nested in the datasets — a claim about these datasets, with their seed noise; the sign "
                     "agreement says how far it generalises. P(improvement) is averaged over datasets; calls are "
                     "Holm-adjusted over this table.</p>"
                     + _html_table(shown[["objective", "headline", "datasets", "vs DSM", "same_sign", "P(improvement)",
                                          "p (Holm)", "verdict"]], index=False))
    return "".join(parts) + "</section>"


def _convergence_section(reach: pd.DataFrame, png: bytes) -> str:
    parts = ['<section id="convergence"><h2>Convergence against wall-clock</h2>', _figure("convergence.png", png),
             "<p>The truth metric is the Fisher divergence to the true perturbed score on synthetic data and the "
             "held-out denoising loss at fixed noise levels on real data, measured on the EMA weights at about ten "
             "log-spaced steps on a fixed probe set; its evaluation time is not counted as training time.</p>"]
    if reach.empty:
        return "".join(parts) + "</section>"
    parts.append("<h3>Training seconds to reach X <small>(X: the worst trained objective's final value on that "
                 "dataset and schedule; geometric mean [95 % t-interval] over seeds)</small></h3>")
    for dataset, part in reach.groupby("dataset", sort=False):
        rows = []
        for (schedule, objective), r in part.groupby(["schedule", "objective"], sort=False):
            e = mean_interval(r.seconds, log=True)
            rows.append({"schedule": f"{schedule} (X = {fmt(r.target.iloc[0])})", "objective": objective,
                         "cell": fmt_interval(e.estimate, e.low, e.high, e.n)})
        table = pd.DataFrame(rows).pivot(index="objective", columns="schedule", values="cell")
        parts.append(f"<h4>{html.escape(dataset)}</h4>" + _html_table(table))
    return "".join(parts) + "</section>"


def _paired_section(pairs: pd.DataFrame) -> str:
    parts = ['<section id="paired"><h2>Paired comparisons against DSM</h2>',
             "<p>Per seed, every objective against DSM over the grid cells both have (same schedule, sampler and "
             "seed, so the same data batches and prior draws): a geometric-mean ratio for metrics spanning decades, "
             "a difference otherwise; then mean [95 % Student-t interval] over seeds. P(improvement): the chance that "
             "a seed of the objective beats a seed of DSM in the same cell (ties count half), averaged over cells. "
             "<em>better</em>/<em>worse</em> need the Holm-adjusted p-value (over every call this dataset's page "
             "makes, <em>tests</em> of them) below 0.05; otherwise the table says <em>no difference at this n</em>."
             "</p>"]
    if pairs.empty:
        return "".join(parts) + "<p>no DSM runs to compare with</p></section>"
    for dataset, part in pairs[pairs.objective != pairs.reference].groupby("dataset", sort=False):
        table = pd.DataFrame({
            "metric": part.metric, "objective": part.objective,
            "vs DSM": [("×" if c == "ratio" else "Δ") + " " + fmt_interval(e, lo, hi, n)
                       for c, e, lo, hi, n in zip(part.comparison, part.estimate, part.ci_low, part.ci_high, part.n_seeds)],
            "n seeds": part.n_seeds, "cells": part.n_cells, "P(improvement)": part.prob_improvement.map(fmt),
            "p (Holm)": part.p_holm.map(fmt), "tests": part.n_tests, "verdict": part.verdict})
        parts.append(f"<h3>{html.escape(dataset)}</h3>" + _html_table(table, index=False))
    return "".join(parts) + "</section>"


def _fidelity_notes(summary: pd.DataFrame, agg: pd.DataFrame) -> str:
    """The FID/KID floor per dataset (real vs real, mean and interval over the held-out draws), the
    feature net's accuracy, biased values, and how to read KID."""
    floor = agg[agg.objective == DATA]
    if floor.empty:
        return ""
    biased = summary[(summary.metric.isin(["fid", "kid"])) & summary.detail.fillna("").str.contains("biased")]
    note = (f"<p><b>{len(biased)} FID/KID values come from no more samples than feature dimensions</b> and are "
            "biased upward (their detail says so); compare them only at equal n, and prefer KID.</p>"
            if len(biased) else "<p>No FID/KID value here comes from n ≤ the feature dimension.</p>")
    table = _with_n(floor)[["dataset", "metric", "cell", "n_seeds"]].rename(columns={"cell": "mean [95 % interval]",
                                                                                       "n_seeds": "draws"})
    details = summary[summary.objective == DATA].drop_duplicates(["dataset", "metric"])[["dataset", "metric", "detail"]]
    return ('<section id="floor"><h2>FID/KID: the real-vs-real floor</h2><p>Held-out real data scored against the '
            "same reference with the generated samples' n (fresh draws of a synthetic distribution; the test split "
            "of real data, one draw, at most its size): a model cannot be told apart from the data within this "
            "band. FID is biased upward at small n, so a value below the floor's mean is within its noise, not "
            "better than the data. KID is unbiased: values scatter around 0 for samples from the data distribution "
            "and may be negative; only values clearly above the floor's interval mean a difference.</p>"
            + _html_table(table.merge(details, on=["dataset", "metric"]), index=False) + note + "</section>")


def _metric_tables(agg: pd.DataFrame) -> str:
    """Per metric: model metrics as dataset/objective × schedule; sample metrics one table per schedule
    (dataset/objective × sampler), so no table outgrows the page."""
    parts = ['<section id="tables"><h2>Tables</h2><p>Each cell: mean (geometric for metrics spanning decades) [95 % '
             "Student-t interval] over seeds; <code>(n = k)</code> where only k seeds finished. An empty cell names why: <b>skipped</b> (the combination is invalid; "
             "see Skipped combinations), <b>diverged</b> (non-finite loss or samples), <b>failed</b> (an error; see "
             "Failed or diverged).</p>"]
    cells = _with_n(agg[agg.objective != DATA])
    for metric, part in cells.groupby("metric", sort=True):
        unit = part.unit.iloc[0]
        parts.append(f"<h3>{html.escape(metric)} <small>({html.escape(str(unit))})</small></h3>")
        if (part.sampler == MODEL).all():
            parts.append(_html_table(part.pivot_table(index=["dataset", "objective"], columns="schedule", values="cell",
                                                      aggfunc="first", sort=False)))
            continue
        for schedule, rows in part.groupby("schedule", sort=False):
            parts.append(f"<h4>schedule {html.escape(schedule)}</h4>" + _html_table(
                rows.pivot_table(index=["dataset", "objective"], columns="sampler", values="cell", aggfunc="first",
                                 sort=False)))
    return "".join(parts) + "</section>"


def _conditional_metrics() -> list[str]:
    """The inpainting metrics (level `conditional` in the metric registry): their own section."""
    return [m for m, info in METRIC_INFO.items() if info.level == "conditional"]


def _conditional_section(agg: pd.DataFrame, figures: dict[str, bytes]) -> str:
    """Inpainting metrics per dataset (objective/schedule × sampler/method/mask), the conditioning
    methods' own bias with the exact score (the oracle's rows), and the figures."""
    parts = ['<section id="conditional"><h2>Conditional generation (inpainting)</h2><p>Each test point is '
             "completed with the observed coordinates fixed; columns read <code>sampler/method/mask</code>. On "
             "synthetic data the completions are scored against the exact conditional (a mixture in closed form): "
             "mode-weight total variation and sliced W₂ to fresh exact conditional samples; on images, the feature "
             "classifier's label agreement between completion and original. Each cell: mean [95 % interval] over "
             "seeds of the mean over test points. The oracle's rows separate the method's own error (the exact score, "
             "so only the sampler and the conditioning method remain) from the trained score's.</p>"]
    cond = _with_n(agg[agg.metric.isin(_conditional_metrics())])
    for (dataset, metric), part in cond.groupby(["dataset", "metric"], sort=True):
        parts.append(f"<h3>{html.escape(dataset)}: {html.escape(metric)} <small>({html.escape(str(part.unit.iloc[0]))}"
                     ")</small></h3>" + _html_table(part.pivot_table(index=["objective", "schedule"], columns="sampler",
                                                                     values="cell", aggfunc="first", sort=False)))
        oracle = part[(part.objective == ORACLE) & (part.status == "ok")]
        cells = {}  # (schedule, sampler, mask) -> method -> estimate
        for r in oracle.itertuples():
            sampler, method, mask = r.sampler.split("/")
            cells.setdefault((r.schedule, sampler, mask), {})[method] = r.estimate
        methods = set().union(*cells.values()) if cells else set()
        shared = [c for c in cells.values() if set(c) == methods]  # cells every method ran in
        if len(methods) > 1 and shared:
            means = {m: sum(c[m] for c in shared) / len(shared) for m in methods}
            parts.append("<p class='sentence'>With the exact score, " + "; ".join(
                f"{html.escape(m)} scores {fmt(v)}" for m, v in sorted(means.items(), key=lambda kv: kv[1]))
                + f" (mean over the {len(shared)} sampler × schedule cells where every method ran): the gap is "
                "the conditioning method's own error.</p>")
    parts += [_figure(name, figures[name]) for name in CONDITIONING_FIGURES if name in figures]
    return "".join(parts) + "</section>"


def _figure(name: str, png: bytes) -> str:
    captions = {**GRID_FIGURES, **SCALING_FIGURES, **CONDITIONING_FIGURES}
    data = base64.b64encode(png).decode()
    return (f'<figure><img alt="{html.escape(captions[name])}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(captions[name])}</figcaption></figure>")


def _grid_figures(config: dict, results, summary: pd.DataFrame, agg: pd.DataFrame, curves: pd.DataFrame) -> dict[str, bytes]:
    from ..core.data import build_dataset

    datasets = {}
    for name in config["datasets"]:
        try:
            datasets[name] = build_dataset(name, dataset_params(config, name))
        except Exception:  # noqa: BLE001 - a missing dataset leaves its figures out, not the report
            continue
    conditional = ({"conditional.png": figs.conditional(config, results, datasets),
                    "inpainting.png": figs.inpainting(config, results, datasets)} if "conditioning" in config else {})
    return {"convergence.png": figs.convergence(curves), "quality_vs_cost.png": figs.quality_vs_cost(agg),
            "fisher_divergence.png": figs.fisher(agg), "mode_weights.png": figs.mode_weights(config, results, datasets),
            "samples.png": figs.samples(config, results, datasets, summary), **conditional}


def _scaling_figures(rows: pd.DataFrame) -> dict[str, bytes]:
    if not (rows.status == "ok").any():
        return {name: figs.empty("no scaling cell ran (see the scaling table)") for name in SCALING_FIGURES}
    return {name: figs.png(fig) for name, fig in scaling_report.figures(rows).items()}


def _scaling_tables(rows: pd.DataFrame, slopes: pd.DataFrame) -> str:
    fmt_ = {"float_format": fmt, "border": 0, "na_rep": ""}
    return ('<section id="scaling"><h2>Scaling study</h2><h3>Log–log slopes of seconds per step against d <small>'
            "(slope_over_ssm: in units of one backward pass)</small></h3>"
            + '<div class="scroll">' + slopes.to_html(index=False, **fmt_) + "</div>"
            + '<h3>Step time relative to DSM (×)</h3><div class="scroll">' + scaling_report.ratios(rows).to_html(**fmt_)
            + '</div><h3>Cells</h3><div class="scroll">' + rows.to_html(index=False, **fmt_) + "</div>")


def _save_csv(frame: pd.DataFrame, path: Path) -> None:
    with io.StringIO() as buf:
        frame.to_csv(buf, index=False)
        save_text(buf.getvalue(), path)


def build_report(config: dict, results: str | Path = RESULTS) -> tuple[Path, list[str]]:
    """Write summary.csv, aggregate.csv, paired.csv, overall.csv, curves.csv, figures/*.png and
    report.html for `config` from the results on disk; return the page and the damaged metric files."""
    layout = Layout(results, config["name"])
    summary, absent = collect(config, results)
    agg, tests, curves = aggregate(summary), comparisons(summary), collect_curves(config, results)
    pairs, reach, across = tests[tests.reference == REFERENCE], time_to_reach(curves), overall(summary)
    for frame, name in ((summary, SUMMARY), (agg, AGGREGATE), (pairs, PAIRED), (curves, CURVES), (across, OVERALL)):
        _save_csv(frame, layout.path(name))
    scaling = scaling_report.read(layout) if "scaling" in config else None  # (cells, slopes)
    figures = {**(_grid_figures(config, results, summary, agg, curves) if has_grid(config) else {}),
               **(_scaling_figures(scaling[0]) if scaling else {})}
    for name, png in figures.items():
        path = layout.path(FIGURES) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png)
    _, skipped = runs(config)
    failed = summary[~summary.status.isin(["ok", "skipped"])]
    grid = has_grid(config)
    toc = [("verdict", "Verdict"), ("convergence", "Convergence"), ("paired", "Paired comparisons"),
           ("figures", "Figures"), ("floor", "FID/KID floor"), ("tables", "Tables")] if grid else []
    conditional = grid and "conditioning" in config
    toc += [("conditional", "Conditional generation")] if conditional else []
    toc += [("scaling", "Scaling study")] if scaling else []
    toc += [("skipped", "Skipped combinations"), ("failed", "Failed or diverged"), ("provenance", "Provenance and config")]
    sections = [f"<h1>scorebench report: {html.escape(config['name'])}</h1>",
                "<p>Exact vs denoising vs sliced score matching across noise schedules and samplers. The "
                "<em>oracle</em> rows use the exact score of the synthetic data: they measure the sampler alone.</p>"]
    if absent:
        sections.append(f"<p class='warning'><b>{len(absent)} expected metric files are missing, damaged or short of "
                        "cells</b>; every cell they should hold stands as a <em>failed</em> row in the tables below "
                        "(the grid keeps its shape). Each line names the job that rebuilds it:</p><ul>"
                        + "".join(f"<li>{html.escape(a)}</li>" for a in absent) + "</ul>")
    if grid:
        sections.append(_verdict_section(summary, tests, reach, across, len(config["seeds"])))
    sections.append('<nav><b>Contents</b><ul>' + "".join(f'<li><a href="#{i}">{t}</a></li>' for i, t in toc) + "</ul></nav>")
    if grid:
        sections.append(_convergence_section(reach, figures["convergence.png"]))
        sections.append(_paired_section(pairs))
        sections.append('<section id="figures"><h2>Figures</h2>' + "".join(
            _figure(n, figures[n]) for n in GRID_FIGURES if n != "convergence.png") + "</section>")
        sections.append(_fidelity_notes(summary, agg))
        sections.append(_metric_tables(agg[~agg.metric.isin(_conditional_metrics())]))
    if conditional:
        sections.append(_conditional_section(agg, figures))
    if scaling:
        sections.append(_scaling_tables(*scaling) + "".join(_figure(n, figures[n]) for n in SCALING_FIGURES)
                        + "</section>")
    skipped_rows = summary[summary.status == "skipped"][["dataset", "objective", "schedule", "sampler", "detail"]]
    sections.append('<section id="skipped"><h2>Skipped combinations</h2>'
                    + _html_table(pd.DataFrame([{"run": r.id, "reason": why} for r, why in skipped],
                                               columns=["run", "reason"]), index=False)
                    + _html_table(skipped_rows.drop_duplicates(), index=False) + "</section>")
    sections.append('<section id="failed"><h2>Failed or diverged</h2>' + (
        _html_table(failed[["dataset", "objective", "schedule", "sampler", "seed", "metric", "status", "detail"]],
                    index=False) if len(failed) else "<p>none</p>") + "</section>")
    sections.append('<section id="provenance"><h2>Provenance</h2><pre>' + html.escape(yaml.safe_dump(provenance()))
                    + "</pre><h2>Config</h2><pre>" + html.escape(yaml.safe_dump(config, sort_keys=False))
                    + "</pre></section>")
    page = ("<!doctype html><html><head><meta charset='utf-8'><title>scorebench: "
            f"{html.escape(config['name'])}</title><style>{STYLE}</style></head><body>"
            + "\n".join(sections) + "</body></html>")
    out = layout.path(REPORT)
    save_text(page, out)
    return out, absent


STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 1200px; padding: 0 1em; color: #222; }
figure { margin: 1em 0; } img { max-width: 100%; height: auto; } figcaption { color: #555; font-size: 0.9em; }
.scroll { max-width: 100%; overflow-x: auto; }
table { border-collapse: collapse; font-size: 0.8em; margin-bottom: 1em; }
td, th { padding: 2px 6px; border-bottom: 1px solid #ddd; text-align: right; white-space: nowrap; }
table.verdict td, table.verdict th { font-size: 1.05em; padding: 4px 8px; white-space: normal; }
.warning { background: #fdecea; padding: 0.5em 0.8em; border-left: 4px solid #c0392b; }
.best { background: #cdeccd; font-weight: bold; } .tied { background: #eef7d8; }
ul.lines li { font-size: 1.05em; margin: 0.3em 0; } p.how { font-size: 0.85em; color: #444; }
p.sentence { font-size: 1.05em; background: #f4f6fb; padding: 0.5em 0.8em; border-left: 4px solid #4a6fb3; }
nav ul { columns: 3; } pre { background: #f6f6f6; padding: 1em; font-size: 0.8em; overflow-x: auto; }
"""

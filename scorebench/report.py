"""The comparison report: one long table (summary.csv) → seaborn figures → a self-contained HTML.

Built only from artefacts on disk (metrics files and saved samples), so regenerating it never
trains or samples. Every figure is a PNG under figures/ and is embedded in report.html as data.
"""
from __future__ import annotations

import base64
import html
import io
import math
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402

from . import scaling_report  # noqa: E402
from .config import dataset_params, has_grid  # noqa: E402
from .evaluate import DATA, MODEL, ROW_COLUMNS, read_rows  # noqa: E402
from .grid import ORACLE, runs, sample_compatible  # noqa: E402
from .io import provenance, save_text  # noqa: E402
from .layout import DATA_METRICS, FIGURES, METRICS, MODEL_METRICS, REPORT, RESULTS, SAMPLE, SUMMARY, Layout  # noqa: E402

# figure file name -> caption: the report's and the workflow's contract
GRID_FIGURES = {
    "quality_vs_cost.png": "Sample quality against sampling wall-clock",
    "fisher_divergence.png": "Fisher divergence to the true perturbed score, per objective",
    "mode_weights.png": "Mode weights: plain vs annealed Langevin (the low-density pitfall)",
    "samples.png": "Samples per dataset and sampler",
}
QUALITY = ("fid", "sliced_wasserstein", "nll_bits_per_dim")  # the cost figure's y axis, first that exists
LOG_SCALE = ("fid", "sliced_wasserstein")  # distances spanning decades; NLL stays linear


def figure_files(config: dict) -> list[str]:
    """The figures a config's report draws: the grid's when it has one, the scaling study's when asked."""
    return [*(GRID_FIGURES if has_grid(config) else ()), *(scaling_report.FIGURES if "scaling" in config else ())]


def collect(config: dict, results: str | Path) -> pd.DataFrame:
    """Every metric row of the benchmark as one tidy table (columns: ROW_COLUMNS)."""
    layout = Layout(results, config["name"])
    rows = []
    for dataset in config["datasets"]:
        for name in [DATA_METRICS, MODEL_METRICS, *config["samplers"]]:
            path = layout.path(METRICS, dataset=dataset, name=name)
            if path.exists():
                rows += read_rows(path)
    return pd.DataFrame(rows, columns=list(ROW_COLUMNS))


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _empty(message: str) -> bytes:
    fig, ax = plt.subplots(figsize=(5, 1.2))
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True)
    return _png(fig)


def quality_vs_cost(df: pd.DataFrame) -> bytes:
    """Sample quality against sampling wall-clock, one panel per dataset."""
    ok = df[df.status == "ok"]
    panels = []
    for dataset, part in ok.groupby("dataset"):
        metric = next((m for m in QUALITY if m in set(part.metric)), None)
        if metric is None:
            continue
        key = ["objective", "schedule", "sampler", "seed"]
        cost = part[part.metric == "sample_seconds"].set_index(key).value.rename("sample_seconds")
        if metric == "nll_bits_per_dim":  # a model metric: pair it with every sampler's cost
            quality = part[part.metric == metric].set_index(["objective", "schedule", "seed"]).value.rename(metric)
            table = cost.reset_index().join(quality, on=["objective", "schedule", "seed"])
        else:
            table = cost.to_frame().join(part[part.metric == metric].set_index(key).value.rename(metric)).reset_index()
        floor = part[(part.objective == DATA) & (part.metric == metric)].value
        panels.append((dataset, metric, table.dropna(), floor.iloc[0] if len(floor) else None))
    if not panels:
        return _empty("no sample-quality metric computed yet")
    fig, axes = plt.subplots(1, len(panels), figsize=(5.6 * len(panels), 4.4), squeeze=False, layout="constrained")
    for ax, (dataset, metric, table, floor) in zip(axes[0], panels):
        sns.scatterplot(data=table, x="sample_seconds", y=metric, hue="objective", style="sampler", s=60, ax=ax)
        ax.set_xscale("log")
        if metric in LOG_SCALE:
            ax.set_yscale("log")
        if floor is not None:
            ax.axhline(floor, color="grey", ls="--", lw=1, label="real vs real")
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set(title=dataset, xlabel="sample_seconds (log)")
        ax.legend(fontsize=7)
    return _png(fig)


def fisher_figure(df: pd.DataFrame) -> bytes:
    """σ²-weighted Fisher divergence to the true perturbed score, per objective and schedule."""
    part = df[(df.metric == "fisher_divergence") & (df.status == "ok") & (df.objective != ORACLE)]
    if part.empty:
        return _empty("no Fisher divergence (it needs a synthetic dataset and a trained objective)")
    grid = sns.catplot(data=part, x="objective", y="value", hue="schedule", col="dataset", kind="bar",
                       height=3.6, aspect=1.2, sharey=False, errorbar=("ci", 95))
    grid.set(yscale="log", ylabel="Fisher divergence (σ²-weighted)")
    return _png(grid.figure)


def _load_samples(layout: Layout, run, sampler: str):
    path = layout.path(SAMPLE, sampler=sampler, **run.fields())
    if not path.exists():
        return None
    rec = torch.load(path, weights_only=False)
    return rec["samples"] if rec["status"] == "ok" else None


def mode_weights_figure(config: dict, results, datasets: dict) -> bytes:
    """Mode occupancy of plain vs annealed Langevin against the true weights: the low-density pitfall."""

    layout = Layout(results, config["name"])
    kinds = {name: spec["kind"] for name, spec in config["samplers"].items()}
    chosen = [n for n in kinds if kinds[n] in ("langevin", "ald")]
    records = []
    valid, _ = runs(config)
    for dataset, ds in datasets.items():
        if ds.mixture is None or ds.mixture.n_groups > 8:
            continue
        candidates = [r for r in valid if r.dataset == dataset]
        preferred = [r for r in candidates if r.objective == ORACLE] or candidates
        for run in preferred:
            for sampler in chosen:
                x = _load_samples(layout, run, sampler)
                if x is None:
                    continue
                occupancy = torch.bincount(ds.mixture.assign_modes(x), minlength=ds.mixture.n_groups) / len(x)
                for mode, w in enumerate(occupancy.tolist()):
                    records.append({"dataset": dataset, "mode": mode, "weight": w,
                                    "source": f"{sampler} ({run.objective}, {run.schedule})"})
            for mode, w in enumerate(ds.mixture.group_weights().tolist()):
                records.append({"dataset": dataset, "mode": mode, "weight": w, "source": "true weights"})
    if not records or not chosen:
        return _empty("no Langevin / annealed Langevin samples of a synthetic mixture")
    table = pd.DataFrame(records).drop_duplicates()
    grid = sns.catplot(data=table, x="mode", y="weight", hue="source", col="dataset", kind="bar",
                       height=3.6, aspect=1.6, sharex=False)
    grid.set(ylabel="fraction of samples")
    return _png(grid.figure)


def samples_figure(config: dict, results, datasets: dict) -> bytes:
    """Samples per dataset (rows) and sampler (columns) from the best-trained non-oracle run."""
    layout = Layout(results, config["name"])
    valid, _ = runs(config)
    samplers = list(config["samplers"])
    if not samplers:
        return _empty("no samplers configured")
    fig, axes = plt.subplots(len(datasets), len(samplers), figsize=(2.6 * len(samplers), 2.6 * len(datasets)),
                             squeeze=False)
    for i, (dataset, ds) in enumerate(datasets.items()):
        candidates = [r for r in valid if r.dataset == dataset]
        trained = [r for r in candidates if r.objective != ORACLE] or candidates
        for j, sampler in enumerate(samplers):
            ax = axes[i][j]
            ax.set_xticks([])
            ax.set_yticks([])
            run = next((r for r in trained if sample_compatible(config, r, sampler)[0]
                        and _load_samples(layout, r, sampler) is not None), None)
            if j == 0:
                ax.set_ylabel(dataset)
            if run is None:
                ax.set_title(f"{sampler}: none", fontsize=8)
                continue
            x = _load_samples(layout, run, sampler)
            ax.set_title(f"{sampler}\n{run.objective}/{run.schedule}", fontsize=8)
            if ds.is_image:
                tiles = x[:16].clamp(-1, 1).add(1).div(2)
                c, h, w = tiles.shape[1:]
                grid = tiles.reshape(4, 4, c, h, w).permute(0, 3, 1, 4, 2).reshape(4 * h, 4 * w, c)
                ax.imshow(grid.squeeze(-1).numpy(), cmap="gray" if c == 1 else None)
            else:
                flat = x.reshape(len(x), -1)[:, :2]
                ref = ds.test.reshape(len(ds.test), -1)[:, :2]
                ax.scatter(ref[:, 0], ref[:, 1], s=1, c="lightgrey")
                ax.scatter(flat[:, 0], flat[:, 1], s=1, c="tab:blue")
                lim = 1.5 * float(ref.abs().max())
                ax.set_xlim(-lim, lim)
                ax.set_ylim(-lim, lim)
    return _png(fig)


def _fidelity_notes(df: pd.DataFrame) -> str:
    """The FID/KID noise floor per dataset (real vs real), feature-net accuracy, and biased values."""
    floor = df[df.objective == DATA][["dataset", "metric", "value", "status", "detail"]]
    if floor.empty:
        return ""
    biased = df[(df.metric.isin(["fid", "kid"])) & df.detail.fillna("").str.contains("biased")]
    note = (f"<p><b>{len(biased)} FID/KID values come from no more samples than feature dimensions</b> and are "
            "biased upward (their detail says so); compare them only at equal n, and prefer KID.</p>"
            if len(biased) else "<p>No FID/KID value here comes from n ≤ the feature dimension.</p>")
    return ("<h2>FID/KID: the real-vs-real floor</h2><p>Held-out real data scored against the same reference "
            "with the generated samples' n where the held-out data has that many (the detail gives n): a model "
            "cannot be told apart from the data below these values. A floor from fewer rows than the samples "
            "is higher than the floor at their n (FID's bias grows as n shrinks).</p>"
            + floor.to_html(index=False, border=0, float_format=lambda v: f"{v:.4g}") + note)


def _table(df: pd.DataFrame, metric: str) -> str:
    part = df[df.metric == metric]
    if part.empty:
        return ""
    values = part.assign(value=part.value.where(part.status == "ok"))
    pivot = values.pivot_table(index=["dataset", "objective"], columns=["schedule", "sampler"], values="value",
                               aggfunc="mean", dropna=False)
    unit = part.unit.iloc[0]
    return f"<h3>{html.escape(metric)} <small>({html.escape(unit)}; mean over seeds; blank: not ok)</small></h3>" + \
        pivot.to_html(float_format=lambda v: f"{v:.4g}", na_rep="", border=0, classes="metric")


def _grid_figures(config: dict, results, df: pd.DataFrame) -> dict[str, bytes]:
    from .data import build_dataset

    datasets = {}
    for name in config["datasets"]:
        try:
            datasets[name] = build_dataset(name, dataset_params(config, name))
        except Exception:  # noqa: BLE001 - a missing dataset leaves its figures out, not the report
            continue
    return {"quality_vs_cost.png": quality_vs_cost(df), "fisher_divergence.png": fisher_figure(df),
            "mode_weights.png": mode_weights_figure(config, results, datasets),
            "samples.png": samples_figure(config, results, datasets)}


def _scaling_figures(rows: pd.DataFrame) -> dict[str, bytes]:
    if not (rows.status == "ok").any():
        return {name: _empty("no scaling cell ran (see the scaling table)") for name in scaling_report.FIGURES}
    return {name: _png(fig) for name, fig in scaling_report.figures(rows).items()}


def _scaling_tables(rows: pd.DataFrame, slopes: pd.DataFrame) -> str:
    fmt = {"float_format": lambda v: f"{v:.3g}", "border": 0, "na_rep": ""}
    return ("<h2>Scaling study</h2><h3>Log–log slopes of seconds per step against d <small>(slope_over_ssm: "
            "in units of one backward pass)</small></h3>" + slopes.to_html(index=False, **fmt)
            + "<h3>Step time relative to DSM (×)</h3>" + scaling_report.ratios(rows).to_html(**fmt)
            + "<h3>Cells</h3>" + rows.to_html(index=False, **fmt))


def build_report(config: dict, results: str | Path = RESULTS) -> Path:
    """Write summary.csv, figures/*.png and report.html for `config` from the results on disk."""
    layout = Layout(results, config["name"])
    df = collect(config, results)
    with io.StringIO() as buf:
        df.to_csv(buf, index=False)
        save_text(buf.getvalue(), layout.path(SUMMARY))
    scaling = scaling_report.read(layout) if "scaling" in config else None  # (cells, slopes)
    figures = {**(_grid_figures(config, results, df) if has_grid(config) else {}),
               **(_scaling_figures(scaling[0]) if scaling else {})}
    for name, png in figures.items():
        path = layout.path(FIGURES) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png)
    _, skipped = runs(config)
    failed = df[~df.status.isin(["ok", "skipped"])]
    sections = [
        f"<h1>scorebench report: {html.escape(config['name'])}</h1>",
        "<p>Exact vs denoising vs sliced score matching across noise schedules and samplers. "
        "The <em>oracle</em> rows use the exact score of the synthetic data: they measure the sampler alone.</p>",
        "<h2>Figures</h2>",
    ]
    captions = {**GRID_FIGURES, **scaling_report.FIGURES}
    for name, png in figures.items():
        data = base64.b64encode(png).decode()
        sections.append(f'<figure><img alt="{html.escape(captions[name])}" src="data:image/png;base64,{data}">'
                        f"<figcaption>{html.escape(captions[name])}</figcaption></figure>")
    if scaling:
        sections.append(_scaling_tables(*scaling))
    sections.append(_fidelity_notes(df))
    sections.append("<h2>Tables</h2>")
    sections += [_table(df, m) for m in sorted(df.metric.unique())]
    sections.append("<h2>Skipped combinations</h2>")
    sections.append(pd.DataFrame([{"run": r.id, "reason": why} for r, why in skipped], columns=["run", "reason"])
                    .to_html(index=False, border=0))
    skipped_rows = df[df.status == "skipped"][["dataset", "objective", "schedule", "sampler", "detail"]].drop_duplicates()
    sections.append(skipped_rows.to_html(index=False, border=0))
    sections.append("<h2>Failed or diverged</h2>")
    sections.append(failed[["dataset", "objective", "schedule", "sampler", "seed", "metric", "status", "detail"]]
                    .to_html(index=False, border=0) if len(failed) else "<p>none</p>")
    sections.append("<h2>Provenance</h2><pre>" + html.escape(yaml.safe_dump(provenance())) + "</pre>")
    sections.append("<h2>Config</h2><pre>" + html.escape(yaml.safe_dump(config, sort_keys=False)) + "</pre>")
    page = ("<!doctype html><html><head><meta charset='utf-8'><title>scorebench: "
            f"{html.escape(config['name'])}</title><style>{STYLE}</style></head><body>"
            + "\n".join(sections) + "</body></html>")
    out = layout.path(REPORT)
    save_text(page, out)
    return out


STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
figure { margin: 1em 0; } img { max-width: 100%; } figcaption { color: #555; font-size: 0.9em; }
table { border-collapse: collapse; font-size: 0.8em; margin-bottom: 1em; }
td, th { padding: 2px 6px; border-bottom: 1px solid #ddd; text-align: right; }
pre { background: #f6f6f6; padding: 1em; font-size: 0.8em; overflow-x: auto; }
"""

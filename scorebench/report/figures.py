"""The grid's figures, drawn from the aggregates (estimate and 95 % interval over seeds) and the curves.

Every figure puts its legends outside the axes and shows intervals as error bars or bands; a panel
with nothing to show says why.
"""
from __future__ import annotations

import io
import itertools
from dataclasses import dataclass

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
import torch  # noqa: E402

from ..errors import ArtefactError  # noqa: E402
from ..spec.benchmark import Benchmark  # noqa: E402
from ..spec.grid import untrained  # noqa: E402
from ..spec.rows import DATA  # noqa: E402
from ..io import load_torch  # noqa: E402
from ..spec.layout import COMPLETIONS, SAMPLE  # noqa: E402
from ..spec.metric_info import METRIC_INFO, QUALITY  # noqa: E402
from .verdict import quality_metric  # noqa: E402

MARKERS = "osD^vP*Xhp"


@dataclass(frozen=True)
class Picture:
    """A drawn figure in both forms the report writes: PNG for the page, SVG (vector) for a paper."""

    png: bytes
    svg: bytes


def picture(fig) -> Picture:
    """Render `fig` as PNG and SVG (fonts as text in the SVG, so a paper's editor can restyle them), then close it."""
    out = {}
    for kind in ("png", "svg"):
        buf = io.BytesIO()
        fig.savefig(buf, format=kind, dpi=100, bbox_inches="tight", metadata={"Date": None} if kind == "svg" else None)
        out[kind] = buf.getvalue()
    plt.close(fig)
    return Picture(**out)


def empty(message: str) -> Picture:
    fig, ax = plt.subplots(figsize=(5, 1.2))
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True)
    return picture(fig)


def _palette(names) -> dict:
    names = list(dict.fromkeys(names))
    return dict(zip(names, sns.color_palette("colorblind", n_colors=max(len(names), 1))))


def _log_axes(ax, x: bool, y: bool) -> None:
    if x:
        ax.set_xscale("log")
    if y:
        ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_minor_formatter(matplotlib.ticker.NullFormatter())


def _grid(rows: list, cols: list, width: float = 3.3, height: float = 2.8):
    fig, axes = plt.subplots(len(rows), len(cols), figsize=(width * len(cols), height * len(rows)), squeeze=False,
                             layout="constrained")
    return fig, axes


def _panels(frame: pd.DataFrame, missing: str):
    """A figure of one panel per dataset × schedule of `frame`, and (axis, dataset, schedule, rows) of
    each panel that has rows; a panel without any says so (`missing`)."""
    datasets, schedules = list(dict.fromkeys(frame.dataset)), list(dict.fromkeys(frame.schedule))
    fig, axes = _grid(datasets, schedules)
    panels = []
    for i, dataset in enumerate(datasets):
        for j, schedule in enumerate(schedules):
            part = frame[(frame.dataset == dataset) & (frame.schedule == schedule)]
            if part.empty:
                axes[i][j].axis("off")
                axes[i][j].text(0.5, 0.5, f"{dataset} · {schedule}: {missing}", ha="center", va="center")
            else:
                panels.append((axes[i][j], dataset, schedule, part))
    return fig, panels


def convergence(curves: pd.DataFrame) -> Picture:
    """One panel per dataset × schedule: the probe against training seconds, a line per objective."""
    values = curves.value.astype(float)
    trained = curves[~curves.objective.map(untrained) & np.isfinite(values) & (values > 0)]  # log axes; diverged runs out
    if trained.empty:
        return empty("no finite training curve (curve.csv) to draw")
    colours = _palette(trained.objective)
    fig, panels = _panels(trained, "no run")
    for ax, dataset, schedule, part in panels:
        for objective, rows in part.groupby("objective"):
            g = rows.groupby("step").agg(seconds=("train_seconds", "mean"), mean=("value", "mean"),
                                         low=("value", "min"), high=("value", "max"))
            ax.plot(g.seconds, g["mean"], color=colours[objective], label=objective, lw=1.5)
            ax.fill_between(g.seconds, g.low, g.high, color=colours[objective], alpha=0.2, lw=0)
        _log_axes(ax, True, True)
        ax.set(title=f"{dataset} · {schedule}", xlabel="training seconds", ylabel=part.metric.iloc[0].replace("_", " "))
    handles = [plt.Line2D([], [], color=c, lw=2, label=o) for o, c in colours.items()]
    fig.legend(handles=handles, loc="outside right upper", title="objective")
    return picture(fig)


def quality_vs_cost(agg: pd.DataFrame, sweep_of: dict[str, str] | None = None) -> Picture:
    """One panel per dataset × schedule: each (objective, sampler) cell's quality against its sampling
    seconds, with the real-vs-real floor as a dashed line and grey band; the entries of one NFE sweep
    (`sweep_of`: entry -> sweep) share its marker."""
    group = (sweep_of or {}).get
    cells = agg[(agg.status == "ok") & (agg.objective != "data")]
    panels = [(d, quality_metric(agg, d)) for d in dict.fromkeys(cells.dataset)]
    panels = [(d, m) for d, m in panels if m]
    if not panels:
        return empty("no sample-quality metric (FID or sliced Wasserstein) computed yet")
    schedules = list(dict.fromkeys(cells[cells.sampler != "-"].schedule))
    colours = _palette(cells.objective)
    markers = dict(zip(dict.fromkeys(group(s, s) for s in cells[cells.sampler != "-"].sampler), itertools.cycle(MARKERS)))
    fig, axes = _grid(panels, schedules)
    for i, (dataset, metric) in enumerate(panels):
        floor = agg[(agg.dataset == dataset) & (agg.objective == "data") & (agg.metric == metric) & (agg.status == "ok")]
        for j, schedule in enumerate(schedules):
            ax = axes[i][j]
            key = ["objective", "sampler"]
            part = cells[(cells.dataset == dataset) & (cells.schedule == schedule)]
            quality = part[part.metric == metric].set_index(key)
            cost = part[part.metric == "sample_seconds"].set_index(key).estimate.rename("cost")
            table = quality.join(cost, how="inner").reset_index()
            if table.empty:
                ax.axis("off")
                ax.text(0.5, 0.5, f"{dataset} · {schedule}: no samples", ha="center", va="center")
                continue
            for _, r in table.iterrows():
                err = np.array([[r.estimate - r.ci_low], [r.ci_high - r.estimate]]) if r.n_seeds > 1 else None
                ax.errorbar(r.cost, r.estimate, yerr=err, fmt=markers[group(r.sampler, r.sampler)], color=colours[r.objective], ms=5,
                            capsize=2, lw=1)
            if len(floor):
                f = floor.iloc[0]
                ax.axhline(f.estimate, color="grey", ls="--", lw=1)
                if f.n_seeds > 1:
                    ax.axhspan(f.ci_low, f.ci_high, color="grey", alpha=0.15, lw=0)
            _log_axes(ax, True, METRIC_INFO[metric].log_scale)
            ax.set(title=f"{dataset} · {schedule}", xlabel="sampling seconds", ylabel=metric)
    handles = ([plt.Line2D([], [], color=c, marker="o", ls="", label=o) for o, c in colours.items()]
               + [plt.Line2D([], [], color="k", marker=m, ls="", label=s) for s, m in markers.items()]
               + [plt.Line2D([], [], color="grey", ls="--", label="real vs real (band: 95 %)")])
    fig.legend(handles=handles, loc="outside right upper")
    return picture(fig)


LINES = ("-", "--", ":", "-.")  # one per objective on the NFE figure: the oracle's first


def quality_vs_nfe(cells: pd.DataFrame, reach: pd.DataFrame, target_label: str = "X (NFE-to-reach target)",
                   missing: str = "no sweep cell with a sample-quality metric and an nfe row") -> Picture:
    """One panel per dataset × schedule: a line per sampler sweep (colour) and objective (line style, the
    oracle's solid) of a metric against mean NFE (log axis) with 95 % intervals, `reach`'s target
    (X of `nfe_to_reach`, or the truth's value) dotted."""
    if cells.empty:
        return empty(missing)
    colours = _palette(cells.sweep)
    objectives = sorted(dict.fromkeys(cells.objective), key=lambda o: not untrained(o))
    styles = dict(zip(objectives, LINES * len(objectives)))
    fig, panels = _panels(cells, "no sweep cell")
    for ax, dataset, schedule, part in panels:
        for (sweep, objective), curve in part.groupby(["sweep", "objective"], sort=False):
            spread = curve.n_seeds > 1
            err = np.vstack([np.where(spread, curve.estimate - curve.ci_low, 0),
                             np.where(spread, curve.ci_high - curve.estimate, 0)])
            ax.errorbar(curve.nfe, curve.estimate, yerr=np.nan_to_num(err), color=colours[sweep],
                        ls=styles[objective], marker="o", ms=3, capsize=2, lw=1.2)
        line = reach[(reach.dataset == dataset) & (reach.schedule == schedule)].target
        if len(line):
            ax.axhline(float(line.iloc[0]), color="grey", ls=":", lw=1)
        metric = part.metric.iloc[0]
        log = METRIC_INFO[metric].log_scale
        _log_axes(ax, True, log)
        low, high = float(part.estimate.min()), float(part.estimate.max())  # the curves, not a 2-seed interval, set the range
        if log and low > 0:
            ax.set_ylim(low / 3, high * 3)
        elif high > low:
            ax.set_ylim(low - 0.1 * (high - low), high + 0.1 * (high - low))
        ax.set(title=f"{dataset} · {schedule}", xlabel="NFE", ylabel=metric)
    handles = ([plt.Line2D([], [], color=c, lw=2, label=s) for s, c in colours.items()]
               + [plt.Line2D([], [], color="k", ls=styles[o], label=o) for o in objectives]
               + [plt.Line2D([], [], color="grey", ls=":", label=target_label)])
    fig.legend(handles=handles, loc="outside right upper")
    return picture(fig)


def fisher(agg: pd.DataFrame) -> Picture:
    """Per dataset, each objective's Fisher divergence per schedule as a point with its interval (log axis)."""
    part = agg[(agg.metric == "fisher_divergence") & (agg.status == "ok") & ~agg.objective.map(untrained)]
    if part.empty:
        return empty("no Fisher divergence (it needs a synthetic dataset and a trained objective)")
    datasets = list(dict.fromkeys(part.dataset))
    colours = _palette(part.schedule)
    fig, axes = _grid([0], datasets, width=4.2, height=3.2)
    for ax, dataset in zip(axes[0], datasets):
        rows = part[part.dataset == dataset]
        objectives = list(dict.fromkeys(rows.objective))
        for k, schedule in enumerate(colours):
            cell = rows[rows.schedule == schedule].set_index("objective").reindex(objectives)
            x = np.arange(len(objectives)) + (k - (len(colours) - 1) / 2) * 0.15
            err = np.vstack([cell.estimate - cell.ci_low, cell.ci_high - cell.estimate])
            ax.errorbar(x, cell.estimate, yerr=np.nan_to_num(err), fmt="o", color=colours[schedule], ms=4, capsize=2)
        ax.set_xticks(range(len(objectives)), objectives)
        _log_axes(ax, False, True)
        ax.set(title=dataset, ylabel="Fisher divergence (σ²-weighted)")
    fig.legend(handles=[plt.Line2D([], [], color=c, marker="o", ls="", label=s) for s, c in colours.items()],
               loc="outside right upper", title="schedule")
    return picture(fig)


def load_samples(layout: Layout, fields: dict, sampler: str):
    path = layout.path(SAMPLE, sampler=sampler, **fields)
    if not path.exists():
        return None
    rec = load_torch(path)
    return rec["samples"] if rec["status"] == "ok" else None


def mode_weights(bench: Benchmark, results, datasets: dict) -> Picture:
    """Mode occupancy of plain vs annealed Langevin against the true weights: the low-density pitfall."""
    layout = bench.layout(results)
    chosen = [n for n in bench.shown if bench.sampler(n)["kind"] in ("langevin", "ald")]  # of a sweep its finest count
    records = []
    valid = bench.runs
    for dataset, ds in datasets.items():
        if ds.mixture is None or ds.mixture.n_groups > 8:
            continue
        candidates = [r for r in valid if r.dataset == dataset]
        preferred = [r for r in candidates if untrained(r.objective)] or candidates
        for run in preferred:
            for sampler in chosen:
                x = load_samples(layout, run.fields(), sampler)
                if x is None:
                    continue
                occupancy = torch.bincount(ds.mixture.assign_modes(x), minlength=ds.mixture.n_groups) / len(x)
                for mode, w in enumerate(occupancy.tolist()):
                    records.append({"dataset": dataset, "mode": mode, "weight": w, "seed": run.seed,
                                    "source": f"{sampler} ({run.objective}, {run.schedule})"})
            for mode, w in enumerate(ds.mixture.group_weights().tolist()):
                records.append({"dataset": dataset, "mode": mode, "weight": w, "seed": 0, "source": "true weights"})
    if not records or not chosen:
        return empty("no Langevin / annealed Langevin samples of a synthetic mixture")
    table = pd.DataFrame(records).drop_duplicates()
    grid = sns.catplot(data=table, x="mode", y="weight", hue="source", col="dataset", kind="point", dodge=0.5,
                       linestyle="none", errorbar=("ci", 95), height=3.4, aspect=1.4, sharex=False)
    grid.set(ylabel="fraction of samples (95 % interval over seeds)")
    return picture(grid.figure)


def samples(bench: Benchmark, results, datasets: dict, summary: pd.DataFrame) -> Picture:
    """Samples per dataset (rows) and sampler (columns; of an NFE sweep its finest step count) from the
    trained run scoring best on the dataset's quality metric with that sampler; an empty panel gives the reason."""
    layout = bench.layout(results)
    samplers = bench.shown
    if not samplers:
        return empty("no samplers configured")
    fig, axes = plt.subplots(len(datasets), len(samplers), figsize=(2.3 * len(samplers), 2.4 * len(datasets)),
                             squeeze=False)
    keys = ["objective", "schedule", "seed"]
    for i, (dataset, ds) in enumerate(datasets.items()):
        part = summary[(summary.dataset == dataset) & ~summary.objective.map(untrained) & (summary.objective != DATA)]
        metric = next((m for m in QUALITY if ((part.metric == m) & (part.status == "ok")).any()), None)
        for j, sampler in enumerate(samplers):
            ax = axes[i][j]
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                ax.set_ylabel(dataset)
            rows = part[(part.sampler == sampler) & (part.metric == (metric or "sample_seconds"))]
            ok = rows[rows.status == "ok"].sort_values("value")
            if ok.empty:
                why = rows.status.mode().iloc[0] if len(rows) else "not run"
                ax.set_title(f"{sampler}: none ({why})", fontsize=8)
                continue
            best = ok.iloc[0]
            x = load_samples(layout, {k: best[k] for k in keys} | {"dataset": dataset}, sampler)
            if x is None:
                ax.set_title(f"{sampler}: samples file missing", fontsize=8)
                continue
            ax.set_title(f"{sampler}: {best.objective}/{best.schedule}/s{best.seed}", fontsize=8)
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
    return picture(fig)


def _completions(bench: Benchmark, results, dataset: str):
    """{(objective, schedule, sampler): {label: completions record}} of a dataset's saved inpaintings,
    first seed only."""
    layout, found = bench.layout(results), {}
    for run in bench.runs:
        if run.dataset != dataset or run.seed != bench.seeds[0]:
            continue
        for sampler in bench.conditioning["samplers"]:
            path = layout.path(COMPLETIONS, sampler=sampler, **run.fields())
            if path.exists():
                try:
                    found[run.objective, run.schedule, sampler] = load_torch(path)
                except ArtefactError:
                    continue
    return found


def conditional(bench: Benchmark, results, datasets: dict) -> Picture:
    """Per 2-d synthetic dataset (rows) and sampler/method/mask (columns): the free coordinate's
    completions of the first test point, oracle and one trained objective, against the exact
    conditional density."""
    from ..core.conditioning import exact_conditional

    panels = []
    for dataset, ds in datasets.items():
        if ds.mixture is None or ds.dim != 2:
            continue
        for (objective, schedule, _), kept in sorted(_completions(bench, results, dataset).items()):
            panels += [(dataset, ds, objective, schedule, label, rec) for label, rec in kept.items()]
    if not panels:
        return empty("no 2-d synthetic dataset was inpainted")
    labels = sorted({p[4] for p in panels})
    rows = sorted({(p[0], p[3]) for p in panels})
    fig, axes = plt.subplots(len(rows), len(labels), figsize=(3.2 * len(labels), 2.6 * len(rows)), squeeze=False)
    colours = _palette(sorted({p[2] for p in panels}))
    for dataset, ds, objective, schedule, label, rec in panels:
        ax = axes[rows.index((dataset, schedule))][labels.index(label)]
        mask, y = rec["mask"], rec["y"]
        free = rec["x"].reshape(len(rec["x"]), -1)[:, ~mask.reshape(-1)].reshape(-1).double()
        cond = exact_conditional(ds.mixture, mask, y)
        grid = torch.linspace(float(cond.means.min() - 4 * cond.stds.max()), float(cond.means.max() + 4 * cond.stds.max()),
                              400, dtype=torch.float64)
        ax.plot(grid.numpy(), cond.log_prob(grid[:, None]).exp().numpy(), color="black", lw=1)
        ax.hist(free.clamp(float(grid[0]), float(grid[-1])).numpy(), bins=40, density=True, alpha=0.45,
                color=colours[objective], label=objective)
        observed = ", ".join(f"x{i} = {float(v):.2f}" for i, v in zip(mask.nonzero().reshape(-1).tolist(),
                                                                     y.reshape(-1)[mask.reshape(-1)]))
        ax.set_title(f"{dataset}/{schedule}: {label}\n{observed}", fontsize=8)
        ax.legend(fontsize=7)
    return picture(fig)


def inpainting(bench: Benchmark, results, datasets: dict) -> Picture:
    """Per image dataset and sampler/method/mask (rows): the masked input, completions of the first
    trained objective's seed, and the original."""
    strips = []
    for dataset, ds in datasets.items():
        if not ds.is_image:
            continue
        for (objective, schedule, _), kept in sorted(_completions(bench, results, dataset).items()):
            strips += [(f"{dataset} {objective}/{schedule}: {label}", rec) for label, rec in kept.items()]
    if not strips:
        return empty("no image dataset was inpainted")
    shown = 8
    fig, axes = plt.subplots(len(strips), shown + 2, figsize=(1.1 * (shown + 2), 1.3 * len(strips)), squeeze=False)
    for i, (title, rec) in enumerate(strips):
        y, mask = rec["y"], rec["mask"]
        images = [torch.where(mask, y, torch.full_like(y, -1.0)), *rec["x"][:shown], y]
        for j, ax in enumerate(axes[i]):
            ax.set_xticks([])
            ax.set_yticks([])
            if j < len(images):
                ax.imshow(images[j].clamp(-1, 1).add(1).div(2).permute(1, 2, 0).squeeze(-1).numpy(), cmap="gray")
        axes[i][0].set_ylabel(title, fontsize=6, rotation=0, ha="right", va="center")
        if i == 0:
            axes[i][0].set_title("observed", fontsize=7)
            axes[i][-1].set_title("original", fontsize=7)
    return picture(fig)

"""The scaling study in the report: time and memory against d (log–log), slopes and cost ratios.

Reads every `scaling/<device>.csv` on disk, so CPU and GPU studies of one benchmark share the figures.
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from ..spec.layout import Layout  # noqa: E402
from .aggregate import REFERENCE_OBJECTIVE  # noqa: E402  the ratios' denominator: no derivative of the network at all
from ..spec.rows import SCALING_COLUMNS as COLUMNS, SLOPE_COLUMNS  # noqa: E402



def read(layout: Layout) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(every scaling row, every slope row) found under the benchmark's scaling/ folder."""
    folder = layout.root / "scaling"
    tables = sorted(p for p in folder.glob("*.csv") if not p.stem.endswith("_slopes")) if folder.exists() else []
    rows = [pd.read_csv(p) for p in tables]
    slopes = [pd.read_csv(p.with_name(f"{p.stem}_slopes.csv")) for p in tables if p.with_name(f"{p.stem}_slopes.csv").exists()]
    return (pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=list(COLUMNS)),
            pd.concat(slopes, ignore_index=True) if slopes else pd.DataFrame(columns=list(SLOPE_COLUMNS)))


def ratios(rows: pd.DataFrame) -> pd.DataFrame:
    """Each objective's seconds_per_step divided by DSM's at the same device and d (columns: objectives)."""
    ok = rows[rows.status == "ok"].pivot_table(index=["device", "dim"], columns="objective",
                                               values="seconds_per_step", aggfunc="first")
    if REFERENCE_OBJECTIVE not in ok:
        return pd.DataFrame()
    return ok.drop(columns=REFERENCE_OBJECTIVE).div(ok[REFERENCE_OBJECTIVE], axis=0).add_suffix(f"/{REFERENCE_OBJECTIVE}")


def _loglog(rows: pd.DataFrame, y: str, label: str):
    ok = rows[rows.status == "ok"]
    fig, ax = plt.subplots(figsize=(6.4, 4.4), layout="constrained")
    sns.lineplot(data=ok, x="dim", y=y, hue="objective", style="device", markers=True, ax=ax)
    ax.set(xscale="log", yscale="log", xlabel="data dimension d", ylabel=label)
    ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    return fig


def figures(rows: pd.DataFrame) -> dict[str, object]:
    """The three scaling figures as matplotlib figures, keyed by file name."""
    table = ratios(rows).reset_index().melt(id_vars=["device", "dim"], var_name="ratio", value_name="times")
    fig, ax = plt.subplots(figsize=(6.4, 4.4), layout="constrained")
    sns.lineplot(data=table, x="dim", y="times", hue="ratio", style="device", markers=True, ax=ax)
    ax.axhline(2.0, color="grey", lw=0.8, ls="--")
    ax.set(xscale="log", yscale="log", xlabel="data dimension d", ylabel="step time relative to DSM (×)")
    ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    return {"scaling_time.png": _loglog(rows, "seconds_per_step", "seconds per step (median)"),
            "scaling_memory.png": _loglog(rows.assign(peak_memory_mib=rows.peak_memory_bytes / 2**20),
                                          "peak_memory_mib", "peak memory (MiB)"),
            "scaling_ratios.png": fig}

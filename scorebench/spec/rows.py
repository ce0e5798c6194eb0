"""The metric-row contract: the columns of every row a job writes to metrics/<dataset>/<name>.json,
the values that mark model-level and data rows, and reading such a file back (torch-free: the report
and the damage check read rows without the jobs)."""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import ArtefactError, artefact_error
from .grid import RunSpec
from .metric_info import METRIC_INFO

ROW_COLUMNS = ("dataset", "objective", "schedule", "sampler", "seed", "metric", "value", "unit", "status", "detail")
MODEL = "-"  # the sampler column of metrics that belong to the model, not to a sampler
DATA = "data"  # the objective column of the real-vs-real baseline rows


def row(run: RunSpec, sampler: str, metric: str, value: float, status: str = "ok", detail: str = "") -> dict:
    return {"dataset": run.dataset, "objective": run.objective, "schedule": run.schedule, "sampler": sampler,
            "seed": run.seed, "metric": metric, "value": float(value), "unit": METRIC_INFO[metric].unit,
            "status": status, "detail": detail}


def read_rows(path: str | Path) -> list[dict]:
    """The metric rows of a metrics/<dataset>/<name>.json; a missing or damaged file is an ArtefactError."""
    try:
        rows = json.loads(Path(path).read_text())["rows"]
    except (FileNotFoundError, ValueError, KeyError, TypeError) as err:
        raise artefact_error(path, err) from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) and set(ROW_COLUMNS) <= set(r) for r in rows):
        raise ArtefactError(f"{path}: its rows lack the columns {', '.join(ROW_COLUMNS)}; delete it and rerun its job")
    return rows


# the scaling study's tables (scaling.csv, scaling_slopes.csv)
SCALING_COLUMNS = ("objective", "dim", "device", "seconds_per_step", "seconds_iqr", "peak_memory_bytes", "memory_method",
           "repeats", "batch_size", "width", "status", "detail")
SLOPE_COLUMNS = ("objective", "device", "slope", "slope_over_ssm", "dims_fitted")

# a run's curve.csv (the truth probe against training seconds), and curves.csv (every run's, with its run)
RUN_CURVE_COLUMNS = ("step", "train_seconds", "metric", "value")
CURVES_COLUMNS = ("dataset", "objective", "schedule", "seed", *RUN_CURVE_COLUMNS)

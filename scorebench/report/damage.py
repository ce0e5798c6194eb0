"""A metrics file read back for the report, its damage made visible: the grid keeps its shape.

A file that is missing, unreadable (garbage, truncated) or of the wrong shape (not a list of rows with
the columns, rows of another dataset, a seed or value of the wrong type) stands as `failed` rows, one
for every cell it should have held, each naming the file and the Snakemake job that rebuilds it; a
readable model or sampler file that lacks some of its cells gets failed rows for those.
"""
from __future__ import annotations

import math
from pathlib import Path

from ..errors import ArtefactError
from ..spec.rows import DATA, MODEL, read_rows
from ..spec.benchmark import Benchmark
from ..spec.grid import RunSpec, conditional_file
from ..spec.layout import DATA_METRICS, MODEL_METRICS
from ..spec.metric_info import METRIC_INFO

TEXT = ("dataset", "objective", "schedule", "sampler", "metric", "unit", "status", "detail")
CONDITIONAL = conditional_file("")  # the {name} prefix of a sampler's inpainting file


def rule(name: str) -> str:
    """The workflow rule whose job writes metrics/<dataset>/<name>.json."""
    if name.startswith(f"{MODEL_METRICS}."):
        return "train"
    return "reference" if name == DATA_METRICS else "condition" if name.startswith(CONDITIONAL) else "sample"


def cells(bench: Benchmark, dataset: str, name: str) -> list[dict]:
    """(dataset, objective, schedule, sampler, seed, metric) of every row metrics/<dataset>/<name>.json
    should hold (a real-vs-real file: one per metric, its draws not counted)."""
    names = lambda level: bench.metric_names(level, dataset)  # noqa: E731
    mine = [run for run in bench.runs if run.dataset == dataset]
    if name == DATA_METRICS:
        return [_cell(RunSpec(dataset, DATA, MODEL, 0), MODEL, m) for m in ("fid", "kid") if not bench.metrics or m in bench.metrics]
    if name.startswith(CONDITIONAL):
        sampler = name.removeprefix(CONDITIONAL)
        return [_cell(run, f"{sampler}/{method}/{mask}", m) for run in mine
                for mask, method, _, _ in bench.conditional_cases(run, sampler) for m in names("conditional")]
    if name.startswith(f"{MODEL_METRICS}."):
        objective = name.removeprefix(f"{MODEL_METRICS}.")
        return [_cell(run, MODEL, m) for run in mine if run.objective == objective for m in names("model")]
    return [_cell(run, name, m) for run in mine for m in names("sample")]


def _cell(run: RunSpec, sampler: str, metric: str) -> dict:
    return {**run.fields(), "sampler": sampler, "metric": metric}


def _key(row: dict) -> tuple:
    return tuple(row[k] for k in ("objective", "schedule", "sampler", "seed", "metric"))


def _shape(rows: list[dict], dataset: str) -> str | None:
    """What is wrong with the shape of a file's rows, or None."""
    for i, r in enumerate(rows):
        if not all(isinstance(r[k], str) for k in TEXT) or isinstance(r["seed"], bool) or not isinstance(r["seed"], int) \
                or not (r["value"] is None or isinstance(r["value"], (int, float)) and not isinstance(r["value"], bool)):
            return f"row {i} has a value of the wrong type"
        if r["dataset"] != dataset:
            return f"row {i} belongs to dataset {r['dataset']!r}"
    return None


def read_metrics(bench: Benchmark, dataset: str, name: str, path: Path) -> tuple[list[dict], str | None]:
    """(rows, problem): the file's rows, with failed rows for the cells it should hold and does not;
    `problem` says what was wrong and how to rebuild it (None for a whole file)."""
    expected = cells(bench, dataset, name)
    try:
        rows = read_rows(path)
        problem = _shape(rows, dataset)
    except ArtefactError as err:
        rows, problem = [], str(err)
    if problem is not None and not problem.startswith(str(path)):
        rows, problem = [], f"{path}: wrong shape ({problem})"
    if problem is None and (name == DATA_METRICS or name.startswith(CONDITIONAL)):
        return rows, None  # their draws and cases are the job's to count; only damage is refused
    held = {_key(r) for r in rows}
    lacking = [c for c in expected if _key(c) not in held]
    if problem is None and not lacking:
        return rows, None
    if problem is None:
        problem = f"{path}: holds no row for {len(lacking)} of its {len(expected)} cells"
    problem += f"; rebuild it: snakemake --cores all --forcerun {path} (rule {rule(name)}, dataset {dataset})"
    return rows + [failed(c, problem) for c in lacking], problem


def failed(cell: dict, detail: str) -> dict:
    """The failed row standing for a cell its metrics file does not hold."""
    return {**cell, "value": math.nan, "unit": METRIC_INFO[cell["metric"]].unit, "status": "failed", "detail": detail}

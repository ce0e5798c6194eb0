"""A damaged metrics file is failed rows, never a shorter table: garbage, truncated, reshaped, short of
cells or deleted, its cells stand as failed rows naming the file and the job that rebuilds it."""
from __future__ import annotations

import json

import pytest

from scorebench.spec.benchmark import Benchmark
from scorebench.report.damage import cells
from scorebench.spec.grid import metric_files
from scorebench.spec.layout import METRICS, Layout
from scorebench.report.page import collect

CONFIG = {"name": "dmg", "seeds": [0, 1], "datasets": {"toy": {"kind": "ncsn_toy"}, "two": {"kind": "ring"}},
          "objectives": ["dsm", "oracle"], "schedules": {"vp": {"kind": "vp"}, "ncsn": {"kind": "ncsn"}},
          "samplers": {"em": {"kind": "em"}, "ode": {"kind": "ode"}}, "metrics": []}


def healthy(tmp_path, raw: dict = CONFIG) -> dict:
    """Every expected metrics file of `raw` written with ok rows: its validated config."""
    config = Benchmark.of(raw).config
    layout = Layout(tmp_path, "dmg")
    for dataset in ("toy", "two"):
        for name in metric_files(config, dataset):
            rows = [{**c, "value": 1.0, "unit": "u", "status": "ok", "detail": ""} for c in cells(Benchmark.of(config), dataset, name)]
            path = layout.path(METRICS, dataset=dataset, name=name)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"rows": rows, "provenance": {}}))
    return config


def _rows(path):
    return json.loads(path.read_text())["rows"]


DAMAGE = {
    "garbage": lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n not json at all"),
    "truncated": lambda p: p.write_text(p.read_text()[: len(p.read_text()) // 2]),
    "rows-not-a-list": lambda p: p.write_text(json.dumps({"rows": {"a": 1}})),
    "no-rows-key": lambda p: p.write_text(json.dumps([1, 2, 3])),
    "row-lacks-a-column": lambda p: p.write_text(json.dumps({"rows": [{k: v for k, v in r.items() if k != "value"}
                                                                     for r in _rows(p)]})),
    "seed-as-text": lambda p: p.write_text(json.dumps({"rows": [{**r, "seed": "zero"} for r in _rows(p)]})),
    "another-dataset": lambda p: p.write_text(json.dumps({"rows": [{**r, "dataset": "elsewhere"} for r in _rows(p)]})),
    "short-of-a-row": lambda p: p.write_text(json.dumps({"rows": _rows(p)[1:]})),
    "deleted": lambda p: p.unlink(),
}


@pytest.mark.parametrize("name,rule", [("em", "sample"), ("model.dsm", "train"), ("ode", "sample")])
@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_file_is_failed_rows_naming_it_and_the_grid_keeps_its_shape(tmp_path, damage, name, rule):
    config = healthy(tmp_path)
    whole, absent = collect(Benchmark.of(config), tmp_path)
    assert not absent and (whole.status == "ok").all() and len(whole) > 0
    path = Layout(tmp_path, "dmg").path(METRICS, dataset="toy", name=name)
    expected = len(cells(Benchmark.of(config), "toy", name))
    DAMAGE[damage](path)
    summary, absent = collect(Benchmark.of(config), tmp_path)
    assert len(summary) == len(whole), (len(summary), len(whole))  # the full shape
    key = ["dataset", "objective", "schedule", "sampler", "seed", "metric"]
    assert sorted(map(tuple, summary[key].values.tolist())) == sorted(map(tuple, whole[key].values.tolist()))
    bad = summary[summary.status == "failed"]
    assert len(bad) == (1 if damage == "short-of-a-row" else expected), (len(bad), expected)
    assert all(str(path) in d and f"--forcerun {path}" in d and f"rule {rule}" in d for d in bad.detail), bad.detail.iloc[0]
    assert len(absent) == 1 and absent[0].startswith(str(path)) and "--forcerun" in absent[0], absent
    assert (summary[summary.status != "failed"].status == "ok").all()


@pytest.mark.parametrize("name", ["data", "conditional.em"])
def test_a_damaged_floor_or_inpainting_file_is_failed_rows_too(tmp_path, name):
    config = healthy(tmp_path, {**CONFIG, "conditioning": {"masks": {"x0": {"kind": "coordinates", "observed": [0]}},
                                                           "methods": {"r": {"kind": "replacement"}}, "samplers": ["em"]}})
    path = Layout(tmp_path, "dmg").path(METRICS, dataset="toy", name=name)
    path.write_text("{")
    summary, absent = collect(Benchmark.of(config), tmp_path)
    bad = summary[summary.status == "failed"]
    assert len(bad) == len(cells(Benchmark.of(config), "toy", name)) > 0 and all(str(path) in d for d in bad.detail)
    assert len(absent) == 1 and "--forcerun" in absent[0]

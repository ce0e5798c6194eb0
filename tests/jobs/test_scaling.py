"""`scorebench scaling`: cells run for real in subprocesses, skips are rows, slopes are fitted exactly."""
import csv
import math
import time

import pandas as pd
import pytest
import torch

from conftest import run_cli
from scorebench.errors import ConfigError
from scorebench.jobs.scaling import COLUMNS, fit_slopes, run_scaling
from scorebench.spec.settings import ScalingConfig
from scorebench.report.scaling import ratios

CONFIG = {"name": "sc", "datasets": {"toy": {"kind": "ncsn_toy"}}, "objectives": ["dsm"],
          "schedules": {"vp": {"kind": "vp"}},
          "scaling": {"dims": [2, 8], "objectives": ["exact", "exact_loop", "dsm"], "warmup": 1, "repeats": 2}}


def test_slopes_recover_known_power_laws():
    """t = c·d^k is a straight line of slope k in log–log: the fit must return k to float precision,
    and ignore cells below fit_from_dim and cells that did not run."""
    rows = [{"objective": name, "device": "cpu", "dim": d, "status": "ok", "seconds_per_step": c * d**k}
            for name, c, k in (("exact", 3e-4, 1.0), ("dsm", 2e-3, 0.0), ("quad", 1e-6, 2.0)) for d in (64, 128, 512)]
    rows += [{"objective": "exact", "device": "cpu", "dim": 4, "status": "ok", "seconds_per_step": 1.0},
             {"objective": "exact", "device": "cpu", "dim": 1024, "status": "oom", "seconds_per_step": math.nan}]
    slopes = {s["objective"]: s for s in fit_slopes(rows, fit_from_dim=64)}
    assert slopes["exact"]["slope"] == pytest.approx(1.0, abs=1e-9) and slopes["exact"]["dims_fitted"] == "64-512"
    assert slopes["dsm"]["slope"] == pytest.approx(0.0, abs=1e-9)
    assert slopes["quad"]["slope"] == pytest.approx(2.0, abs=1e-9)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA path")
def test_an_unavailable_device_is_a_recorded_skip():
    rows = run_scaling(ScalingConfig(dims=[2, 4], objectives=["dsm"], device="cuda"))
    assert [r["status"] for r in rows] == ["skipped", "skipped"] and "no CUDA" in rows[0]["detail"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_memory_of_a_variant_is_its_own_in_the_shared_process():
    """On CUDA all variants of a d are measured in one process: DSM reads the same peak whether it is
    measured alone or after exact, with 256 MiB held by the caller all along (only its own tensors
    count, within 1 % for the allocator's block rounding), and every variant is timed."""
    from scorebench.jobs.scaling import measure_cell

    cfg = ScalingConfig(dims=[256], objectives=["exact", "dsm"], warmup=1, repeats=2, device="cuda")
    held = torch.empty(64 << 20, device="cuda")
    alone = measure_cell(cfg, ["dsm"], 256)["rows"]["dsm"]["peak_memory_bytes"]
    cell = measure_cell(cfg, ["exact", "dsm"], 256)
    assert cell["rows"]["dsm"]["peak_memory_bytes"] == pytest.approx(alone, rel=0.01)
    assert 0 < alone < cell["rows"]["exact"]["peak_memory_bytes"] < held.numel() * 4
    assert set(cell["times"]) == {"exact", "dsm"}


def test_bad_scaling_key_is_named():
    with pytest.raises(ConfigError, match="scaling.repeat"):
        ScalingConfig.from_dict({"repeat": 3})
    with pytest.raises(ConfigError, match="scaling.objectives"):
        ScalingConfig.from_dict({"objectives": ["hutchinson"]})


def test_cli_measures_every_cell(tmp_path, write_config):
    out = run_cli("scaling", write_config(CONFIG), "--results", tmp_path)
    assert out.returncode == 0, out.stderr
    with open(tmp_path / "sc/scaling/cpu.csv") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == COLUMNS and len(rows) == 6
    assert all(r["status"] == "ok" and float(r["seconds_per_step"]) > 0 and float(r["peak_memory_bytes"]) >= 0
               for r in rows)
    assert (tmp_path / "sc/scaling/cpu_slopes.csv").exists()


def test_slope_over_ssm_counts_backward_passes():
    """Exact = d passes whose cost grows like SSM's: its slope over SSM is the pass count's, 1."""
    rows = [{"objective": name, "device": "cpu", "dim": d, "status": "ok", "seconds_per_step": c * d**k}
            for name, c, k in (("ssm", 1e-3, 0.3), ("exact", 1e-4, 1.3)) for d in (64, 256, 1024)]
    slopes = {s["objective"]: s for s in fit_slopes(rows, fit_from_dim=64)}
    assert slopes["exact"]["slope"] == pytest.approx(1.3) and slopes["exact"]["slope_over_ssm"] == pytest.approx(1.0)
    assert slopes["ssm"]["slope_over_ssm"] == pytest.approx(0.0, abs=1e-12)


def test_a_variant_too_slow_at_one_dimension_skips_the_larger_ones_without_running():
    rows = run_scaling(ScalingConfig(dims=[4, 2, 8], objectives=["dsm"], warmup=1, repeats=1, max_seconds=0.0))
    assert [(r["dim"], r["status"]) for r in rows] == [(2, "skipped"), (4, "skipped"), (8, "skipped")]
    assert "max_seconds" in rows[0]["detail"] and rows[1]["detail"] == "dsm was too slow at d=2 already"


def test_ratios_divide_by_dsm_at_the_same_dimension():
    rows = pd.DataFrame([{"objective": o, "device": "cpu", "dim": d, "status": "ok", "seconds_per_step": t * d}
                         for o, t in (("dsm", 1.0), ("ssm", 1.5), ("exact", 10.0)) for d in (2, 4)])
    table = ratios(rows)
    assert list(table.columns) == ["exact/dsm", "ssm/dsm"] and (table["ssm/dsm"] == 1.5).all()
    assert (table["exact/dsm"] == 10.0).all()


def test_variants_are_timed_interleaved_in_one_process():
    """measure_times steps every variant once per round in a rotated order: each gets `repeats` times."""
    from scorebench.jobs.scaling import measure_times

    times = measure_times(ScalingConfig(dims=[4], objectives=["dsm", "ssm", "exact"], warmup=1, repeats=4),
                          ["dsm", "ssm", "exact"], 4)
    assert set(times) == {"dsm", "ssm", "exact"}
    assert all(median > 0 and iqr >= 0 for median, iqr in times.values())


def test_a_timing_covers_whole_steps_for_block_seconds():
    """One timing runs as many steps as last `block_seconds` (a step here sleeps ≥ 10 ms, so 0.2 s are
    at most 20; fewer than 2 only if one sleep overran to 0.1 s), and exactly one step at 0."""
    from scorebench.jobs.scaling import _block_steps

    calls = []

    def step():
        calls.append(1)
        time.sleep(0.01)

    assert _block_steps(step, 0.0) == 1
    assert 2 <= _block_steps(step, 0.2) <= 20
    assert len(calls) == 2  # each estimate costs one step

"""Benchmark: the Jacobian-cost scaling study on this machine.

Run on demand: `.venv/bin/python benchmarks/scaling.py [cpu|cuda]`; writes
benchmarks/results/scaling_<device>.csv, its slopes, and scaling_<device>_machine.json (CPU model or
GPU name, and the settings). CUDA uses config/benchmarks/scaling.yaml (d up to 16384, until exact
runs out of memory); CPU uses the scorebench.jobs.scaling defaults (d up to 1024) with 15 repeats. The
study runs twice in a row; the machine file records how far the two agree per cell.
"""
from __future__ import annotations

import sys
from dataclasses import asdict, replace
from pathlib import Path

from machine import RESULTS, record

from scorebench.spec.benchmark import Benchmark
from scorebench.jobs.scaling import fit_slopes, run_scaling, save_tables
from scorebench.spec.settings import ScalingConfig

STUDY = Path(__file__).resolve().parents[1] / "config/benchmarks/scaling.yaml"


def agreement(first: list[dict], second: list[dict]) -> dict:
    """Per timed cell of two consecutive runs, |a − b| / min(a, b) of the median step time: the
    largest, the cell it is in, and the median over cells (target: every cell within 15 %)."""
    b = {(r["objective"], r["dim"]): r["seconds_per_step"] for r in second if r["status"] == "ok"}
    gaps = {f"{r['objective']}@{r['dim']}": abs(r["seconds_per_step"] - b[k]) / min(r["seconds_per_step"], b[k])
            for r in first if r["status"] == "ok" and (k := (r["objective"], r["dim"])) in b}
    worst = max(gaps, key=gaps.get)
    return {"two_runs_max_gap": round(gaps[worst], 3), "two_runs_max_gap_cell": worst,
            "two_runs_median_gap": round(sorted(gaps.values())[len(gaps) // 2], 3), "two_runs_target_gap": 0.15}


def main(device: str = "cpu") -> int:
    kind = device.split(":")[0]
    # on CPU, millisecond cells on a shared 2-core VM jump by 2x now and then: 15 repeats keep their medians steady
    cfg = (replace(Benchmark.read(STUDY).scaling, device=device) if kind == "cuda"
           else ScalingConfig(device=device, repeats=15))
    rows = run_scaling(cfg)
    slopes = fit_slopes(rows, cfg.fit_from_dim)
    save_tables(rows, slopes, RESULTS / f"scaling_{kind}.csv", RESULTS / f"scaling_{kind}_slopes.csv")
    again = run_scaling(cfg)  # a second, consecutive run: how far each cell moves between two runs
    record(f"scaling_{kind}_machine", {"config": asdict(cfg), **agreement(rows, again)}, device)
    for s in slopes:
        print(f"{s['objective']:>10} {s['device']}: slope {s['slope']:.2f}, over ssm {s['slope_over_ssm']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))

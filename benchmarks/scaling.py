"""Benchmark: the Jacobian-cost scaling study on this machine.

Run on demand: `.venv/bin/python benchmarks/scaling.py [cpu|cuda]`; writes
benchmarks/results/scaling_<device>.csv, its slopes, and scaling_<device>_machine.json (CPU model or
GPU name, and the settings). CUDA uses config/benchmarks/scaling.yaml (d up to 16384, until exact
runs out of memory); CPU uses the scorebench.scaling defaults (d up to 1024) with 15 repeats.
"""
from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path

from machine import RESULTS, record

from scorebench.config import load
from scorebench.scaling import ScalingConfig, fit_slopes, run_scaling, save_tables

STUDY = Path(__file__).resolve().parents[1] / "config/benchmarks/scaling.yaml"


def main(device: str = "cpu") -> int:
    kind = device.split(":")[0]
    # on CPU, millisecond cells on a shared 2-core VM jump by 2x now and then: 15 repeats keep their medians steady
    cfg = ScalingConfig.from_dict({**load(STUDY)["scaling"], "device": device} if kind == "cuda"
                                  else {"device": device, "repeats": 15})
    rows = run_scaling(cfg)
    slopes = fit_slopes(rows, cfg.fit_from_dim)
    save_tables(rows, slopes, RESULTS / f"scaling_{kind}.csv", RESULTS / f"scaling_{kind}_slopes.csv")
    record(f"scaling_{kind}_machine", {"config": asdict(cfg)}, device)
    for s in slopes:
        print(f"{s['objective']:>10} {s['device']}: slope {s['slope']:.2f}, over ssm {s['slope_over_ssm']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))

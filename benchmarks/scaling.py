"""Benchmark: the Jacobian-cost scaling study on this machine (`scorebench.scaling` defaults).

Run on demand: `.venv/bin/python benchmarks/scaling.py [cpu|cuda]`; writes
benchmarks/results/scaling_<device>.csv, its slopes and the machine (CPU model or GPU name).
"""
from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

import pandas as pd
import torch

from scorebench.scaling import COLUMNS, SLOPE_COLUMNS, ScalingConfig, fit_slopes, run_scaling

OUT = Path(__file__).resolve().parent / "results"


def machine(device: str) -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "")
    info = {"platform": platform.platform(), "cpus": os.cpu_count(), "cpu": cpu, "torch": torch.__version__,
            "date": time.strftime("%Y-%m-%d")}
    if device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    return info


def main(device: str = "cpu") -> int:
    cfg = ScalingConfig(device=device)
    rows = run_scaling(cfg)
    slopes = fit_slopes(rows, cfg.fit_from_dim)
    kind = device.split(":")[0]
    pd.DataFrame(rows, columns=list(COLUMNS)).to_csv(OUT / f"scaling_{kind}.csv", index=False)
    pd.DataFrame(slopes, columns=list(SLOPE_COLUMNS)).to_csv(OUT / f"scaling_{kind}_slopes.csv", index=False)
    (OUT / f"scaling_{kind}_machine.json").write_text(json.dumps(machine(device), indent=2) + "\n")
    print(pd.DataFrame(slopes).to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))

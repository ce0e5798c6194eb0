"""Benchmark: wall-clock of `snakemake --dry-run` on a grid of over 1,000 jobs (target ≤ 5 s).

Run on demand: `.venv/bin/python benchmarks/dry_run.py [repeats]`; writes benchmarks/results/dry_run.json
(median and range over the repeats) with the machine it ran on. Nothing is trained: a dry run only
validates, expands and plans.
"""
from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from machine import record

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def grid_config() -> dict:
    """96 datasets × 4 objectives × 4 schedules × 3 seeds = 4,608 runs: a training job per dataset ×
    objective (and its model metrics), a sampling job per dataset × sampler (draws and their metrics), a
    reference job per dataset: 1,058 jobs in all."""
    return {
        "name": "dryrun1000",
        "seeds": [0, 1, 2],
        "datasets": {f"gmm{d}_{k}": {"kind": "gaussian_mixture", "dim": d, "seed": k}
                     for d in (2, 4, 8, 16, 32, 64) for k in range(16)},
        "objectives": ["dsm", "ssm", "ssm_vr", "oracle"],
        "schedules": {"ncsn": {"kind": "ncsn"}, "ve": {"kind": "ve"}, "vp": {"kind": "vp"}, "subvp": {"kind": "subvp"}},
        "samplers": {k: {"kind": k} for k in ("langevin", "ald", "em", "pc", "ode", "heun")},
    }


def main(repeats: str = "5") -> int:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "grid.yaml"
        path.write_text(yaml.safe_dump(grid_config()))
        env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
        cmd = [str(BIN / "snakemake"), "--dry-run", "--snakefile", str(ROOT / "Snakefile"), "--directory", tmp,
               "--configfile", str(path)]
        seconds = []
        for _ in range(int(repeats)):
            start = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
            seconds.append(time.perf_counter() - start)
            if proc.returncode != 0:
                print(proc.stderr[-2000:], file=sys.stderr)
                return 1
    jobs = int(re.search(r"^total\s+(\d+)$", proc.stdout, re.M)[1])
    record("dry_run", {"jobs": jobs, "seconds": round(statistics.median(seconds), 2),
                       "seconds_range": [round(min(seconds), 2), round(max(seconds), 2)], "repeats": int(repeats),
                       "target_seconds": 5})
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))

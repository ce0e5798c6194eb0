"""Benchmark: wall-clock of `snakemake --dry-run` on a grid of about 1,000 jobs (target ≤ 10 s).

Run on demand: `.venv/bin/python benchmarks/dry_run.py`; writes benchmarks/results/dry_run.json
with the machine it ran on. Nothing is trained: a dry run only validates, expands and plans.
"""
from __future__ import annotations

import os
import re
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
    """5 datasets × 4 objectives × 4 schedules × 12 seeds = 960 runs, plus sampling/evaluation jobs."""
    return {
        "name": "dryrun1000",
        "seeds": list(range(12)),
        "datasets": {f"gmm{d}": {"kind": "gaussian_mixture", "dim": d} for d in (2, 4, 8, 16, 32)},
        "objectives": ["dsm", "ssm", "ssm_vr", "oracle"],
        "schedules": {"ncsn": {"kind": "ncsn"}, "ve": {"kind": "ve"}, "vp": {"kind": "vp"}, "subvp": {"kind": "subvp"}},
        "samplers": {k: {"kind": k} for k in ("langevin", "ald", "em", "pc", "ode", "heun")},
    }


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "grid.yaml"
        path.write_text(yaml.safe_dump(grid_config()))
        env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
        cmd = [str(BIN / "snakemake"), "--dry-run", "--snakefile", str(ROOT / "Snakefile"), "--directory", tmp,
               "--configfile", str(path)]
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        seconds = time.perf_counter() - start
    if proc.returncode != 0:
        print(proc.stderr[-2000:], file=sys.stderr)
        return 1
    jobs = int(re.search(r"^total\s+(\d+)$", proc.stdout, re.M)[1])
    record("dry_run", {"jobs": jobs, "seconds": round(seconds, 2), "target_seconds": 10})
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: wall-clock of the embedded default grid, as `make run` runs it (target ≤ 10 min on 2 cores).

Run on demand: `.venv/bin/python benchmarks/default_grid.py`; runs `snakemake --cores all` on
config/default.yaml in a fresh temporary directory and writes benchmarks/results/default_grid.json
(total wall time, the summed per-rule seconds from Snakemake's own benchmark records, row counts)
and the grid's summary.csv as benchmarks/results/default_summary.csv.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from machine import RESULTS, record

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def main() -> int:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        proc = subprocess.run([str(BIN / "snakemake"), "--cores", "all", "--snakefile", str(ROOT / "Snakefile"),
                               "--directory", tmp, "--configfile", str(ROOT / "config/default.yaml")], capture_output=True, text=True, env=env)
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            print(proc.stderr[-3000:], file=sys.stderr)
            return 1
        root = Path(tmp) / "results/default"
        jobs = pd.concat([pd.read_csv(p, sep="\t").assign(job=str(p.relative_to(root / "benchmarks"))[:-4])
                          for p in sorted((root / "benchmarks").rglob("*.tsv"))])
        per_rule = jobs.groupby(jobs.job.str.split("/").str[0]).s.sum().round(1).to_dict()
        slowest = jobs.nlargest(10, "s").set_index("job").s.round(1).to_dict()
        summary = pd.read_csv(root / "summary.csv")
        shutil.copy(root / "summary.csv", RESULTS / "default_summary.csv")
    record("default_grid", {"seconds": round(seconds, 1), "target_seconds": 600, "cores": os.cpu_count(),
                            "job_seconds_per_rule": per_rule, "slowest_jobs_seconds": slowest, "summary_rows": len(summary),
                            "rows_by_status": summary.status.value_counts().to_dict()})
    return 0


if __name__ == "__main__":
    sys.exit(main())

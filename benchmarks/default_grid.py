"""Benchmark: wall-clock of the embedded default grid as `make run` runs it, three seeds against one.

Run on demand: `.venv/bin/python benchmarks/default_grid.py`. In one invocation, on the same
machine, it runs `snakemake --cores all` on config/default.yaml (three seeds) and on the same
config with `seeds: [0]`, each in a fresh temporary directory, one after the other, and writes
benchmarks/results/default_grid.json: per variant the wall time, the summed per-rule job-seconds
from Snakemake's benchmark records, the slowest jobs, row counts and the start-up share, plus the
3-seed/1-seed ratio (targets: 3 seeds ≤ 600 s on 2 cores, ratio ≤ 1.5, start-up ≤ 10 %). The
3-seed grid's summary.csv is kept as benchmarks/results/default_summary.csv.

Start-up share: a job's start-up is its wall-clock (Snakemake's benchmark `s`, which covers the
shell, interpreter, imports, work and exit) minus the work its `scorebench` verb reports on its last
log line (`... s of work after ... s of imports`); the share is Σ start-up / Σ job-seconds.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml
from machine import RESULTS, record

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
WORK = re.compile(r"scorebench \w+: ([\d.]+) s of work after")


def run_grid(config: dict, keep_summary: bool) -> dict:
    """One `snakemake --cores all` of `config` in a fresh directory: its timings and rows."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.yaml"
        path.write_text(yaml.safe_dump(config))
        start = time.perf_counter()
        proc = subprocess.run([str(BIN / "snakemake"), "--cores", "all", "--snakefile", str(ROOT / "Snakefile"),
                               "--directory", tmp, "--configfile", str(path)], capture_output=True, text=True, env=env)
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr[-3000:])
        root = Path(tmp) / "results" / config["name"]
        jobs = pd.concat([pd.read_csv(p, sep="\t").assign(job=str(p.relative_to(root / "benchmarks"))[:-4])
                          for p in sorted((root / "benchmarks").rglob("*.tsv"))])
        jobs["work"] = [_work(root / "logs" / f"{job}.log") for job in jobs.job]
        timed = jobs.dropna(subset=["work"])
        summary = pd.read_csv(root / "summary.csv")
        if keep_summary:
            shutil.copy(root / "summary.csv", RESULTS / "default_summary.csv")
    return {"seeds": config["seeds"], "seconds": round(seconds, 1), "jobs": len(jobs),
            "job_seconds": round(float(jobs.s.sum()), 1),
            "job_seconds_per_rule": jobs.groupby(jobs.job.str.split("/").str[0]).s.sum().round(1).to_dict(),
            "startup_share": round(float((timed.s - timed.work).sum() / timed.s.sum()), 3),
            "startup_seconds_per_job_median": round(float((timed.s - timed.work).median()), 2),
            "slowest_jobs_seconds": jobs.nlargest(10, "s").set_index("job").s.round(1).to_dict(),
            "summary_rows": len(summary), "rows_by_status": summary.status.value_counts().to_dict()}


def _work(log: Path) -> float | None:
    """The seconds of work a job's `scorebench` verb reported on its log (None if it did not)."""
    found = WORK.findall(log.read_text()) if log.exists() else []
    return float(found[-1]) if found else None


def main() -> int:
    config = yaml.safe_load((ROOT / "config/default.yaml").read_text())
    three = run_grid(config, keep_summary=True)
    one = run_grid({**config, "seeds": config["seeds"][:1]}, keep_summary=False)
    record("default_grid", {"target_seconds": 600, "target_ratio": 1.5, "target_startup_share": 0.10,
                            "cores": os.cpu_count(), "ratio_3_to_1_seed": round(three["seconds"] / one["seconds"], 2),
                            "three_seeds": three, "one_seed": one})
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: wall-clock of the embedded default grid as `make run` runs it, against the old shape
and a fixed plain-torch workload, all in one invocation on the same code.

Run on demand: `.venv/bin/python benchmarks/default_grid.py`. In one invocation, on the same
machine, it times the fixed reference workload (`reference_seconds`), runs `snakemake --cores all`
on config/default.yaml (four schedule kinds, five seeds) and on the old shape (the same config with
schedules ncsn and vp and seeds [0, 1, 2]), each in a fresh temporary directory, one after the
other, then times the reference again, and writes benchmarks/results/default_grid.json: per
variant the wall time, the same divided by the mean reference time (comparable between machines of
different speed), the summed per-rule job-seconds from Snakemake's benchmark records, the slowest
jobs, row counts and the start-up share, plus the new/old ratio (targets: the default ≤ 600 s on
2 cores, ratio ≤ 1.5). The default's summary.csv is kept as benchmarks/results/default_summary.csv.

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
import torch
import yaml
from machine import RESULTS, record

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
WORK = re.compile(r"scorebench \w+: ([\d.]+) s of work after")
RUN_KEY = ["dataset", "objective", "schedule", "seed"]
OLD_SHAPE = ("ncsn", "vp"), [0, 1, 2]  # the default before members = schedules × seeds


def run_grid(config: dict, summary_to: Path | None = None, workdir: Path | None = None) -> dict:
    """One `snakemake --cores all` of `config` in a fresh directory (`workdir`, kept, else a temporary
    one): its timings and rows; its summary.csv copied to `summary_to` when given."""
    if workdir is None:
        with tempfile.TemporaryDirectory() as tmp:
            return run_grid(config, summary_to, Path(tmp))
    if workdir.exists() and any(workdir.iterdir()):
        raise SystemExit(f"{workdir}: not empty; a grid is timed in a fresh directory")
    workdir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    start = time.perf_counter()
    proc = subprocess.run([str(BIN / "snakemake"), "--cores", "all", "--snakefile", str(ROOT / "Snakefile"),
                           "--directory", str(workdir), "--configfile", str(path)], capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    root = workdir / "results" / config["name"]
    jobs = pd.concat([pd.read_csv(p, sep="\t").assign(job=str(p.relative_to(root / "benchmarks"))[:-4])
                      for p in sorted((root / "benchmarks").rglob("*.tsv"))])
    jobs["work"] = [_work(root / "logs" / f"{job}.log") for job in jobs.job]
    timed = jobs.dropna(subset=["work"])
    summary = pd.read_csv(root / "summary.csv")
    if summary_to is not None:
        shutil.copy(root / "summary.csv", summary_to)
    return {"schedules": list(config["schedules"]), "seeds": config["seeds"], "runs": len(summary[summary.objective != "data"].groupby(RUN_KEY)),
            "seconds": round(seconds, 1), "jobs": len(jobs),
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


def reference_seconds(steps: int = 3000) -> float:
    """Wall-clock of a fixed plain-torch workload on one thread (as each grid job runs): Adam on a
    width-128, 4-layer SiLU MLP, batch 256 of 8-d Gaussian rows, `steps` steps. No scorebench code:
    the machine's speed alone."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(8, 128), torch.nn.SiLU(), torch.nn.Linear(128, 128), torch.nn.SiLU(),
                              torch.nn.Linear(128, 128), torch.nn.SiLU(), torch.nn.Linear(128, 8))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x = torch.randn(256, 8, generator=torch.Generator().manual_seed(0))
    start = time.perf_counter()
    for _ in range(steps):
        loss = (net(x) - x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    seconds = time.perf_counter() - start
    torch.set_num_threads(threads)
    return seconds


def main() -> int:
    config = yaml.safe_load((ROOT / "config/default.yaml").read_text())
    schedules, seeds = OLD_SHAPE
    old_config = {**config, "schedules": {s: config["schedules"][s] for s in schedules}, "seeds": seeds}
    before = reference_seconds()
    new = run_grid(config, summary_to=RESULTS / "default_summary.csv")
    old = run_grid(old_config)
    after = reference_seconds()
    reference = (before + after) / 2
    for grid in (new, old):
        grid["seconds_over_reference"] = round(grid["seconds"] / reference, 2)
    record("default_grid", {"target_seconds": 600, "target_ratio": 1.5, "cores": os.cpu_count(),
                            "reference_seconds": [round(before, 2), round(after, 2)],
                            "ratio_new_to_old": round(new["seconds"] / old["seconds"], 2),
                            "default": new, "old_shape": old})
    return 0


if __name__ == "__main__":
    sys.exit(main())

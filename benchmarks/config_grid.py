"""Benchmark: wall-clock of one benchmark config's whole grid, `snakemake --cores all` in a fresh directory.

Run on demand: `.venv/bin/python benchmarks/config_grid.py config/benchmarks/mnist5k.yaml 1800 [--keep DIR]`
writes benchmarks/results/<name>_grid.json (wall time against the target seconds, per-rule
job-seconds, the slowest jobs, row counts, the machine) and copies the grid's summary.csv and
report.html beside it as <name>_summary.csv and <name>_report.html; `--keep DIR` runs in DIR (which
must be empty) and keeps it, so the report can be rebuilt from its artefacts.
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import yaml
from default_grid import run_grid
from machine import RESULTS, record


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("target_seconds", type=float)
    parser.add_argument("--keep", type=Path, help="run in this empty directory and keep it")
    parser.add_argument("--note", default="", help="what the machine was doing besides")
    args = parser.parse_args()
    config = yaml.safe_load(args.config.read_text())
    name = config["name"]
    grid = run_grid(config, summary_to=RESULTS / f"{name}_summary.csv", workdir=args.keep)
    if args.keep:
        shutil.copy(args.keep / "results" / name / "report.html", RESULTS / f"{name}_report.html")
    record(f"{name}_grid", {"command": f"snakemake --cores all --configfile {args.config}",
                            "target_seconds": args.target_seconds, "met": grid["seconds"] <= args.target_seconds,
                            "note": args.note, **grid})
    return 0


if __name__ == "__main__":
    sys.exit(main())

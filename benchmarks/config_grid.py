"""Benchmark: wall-clock of one benchmark config's whole grid, `snakemake --cores all` in a fresh directory.

Run on demand:

    .venv/bin/python benchmarks/config_grid.py config/benchmarks/mnist5k.yaml 1800 [--keep DIR]
    .venv/bin/python benchmarks/config_grid.py config/benchmarks/mnist5k.yaml --rebuild DIR

The first writes benchmarks/results/<name>_grid.json (wall time against the target seconds, per-rule
job-seconds, the slowest jobs, row counts, the report's verdict lines and sentences, the machine) and copies the
grid's summary.csv and report.html beside it as <name>_summary.csv and <name>_report.html; `--keep DIR`
runs in DIR (which must be empty) and keeps it. The second rebuilds the report of a kept run with the
code as it is now (`scorebench report`, nothing trained or sampled) and updates the verdict lines and
the copies, leaving the timings as they were measured.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import yaml
from default_grid import BIN, run_grid
from machine import RESULTS, record


class _Verdict(HTMLParser):
    """The text of the report's verdict lines (`<ul class="lines">`'s items) and its sentences (`<p class="sentence">`:
    the one across datasets, those comparing discretisations at equal NFE)."""

    def __init__(self):
        super().__init__()
        self.lines, self.in_list, self.open = [], False, None

    def handle_starttag(self, tag, attrs):
        if tag == "ul" and ("class", "lines") in attrs:
            self.in_list = True
        elif (tag == "li" and self.in_list) or (tag == "p" and ("class", "sentence") in attrs):
            self.open = tag
            self.lines.append("")

    def handle_endtag(self, tag):
        if tag == "ul":
            self.in_list = False
        if tag == self.open:
            self.open = None

    def handle_data(self, data):
        if self.open:
            self.lines[-1] += data


def verdict_lines(report: Path) -> list[str]:
    parser = _Verdict()
    parser.feed(report.read_text())
    return [" ".join(line.split()) for line in parser.lines if line.strip()]


def keep(name: str, workdir: Path) -> list[str]:
    """Copy a kept run's summary and report beside the results; its verdict lines."""
    root = workdir / "results" / name
    shutil.copy(root / "summary.csv", RESULTS / f"{name}_summary.csv")
    shutil.copy(root / "report.html", RESULTS / f"{name}_report.html")
    return verdict_lines(root / "report.html")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("target_seconds", type=float, nargs="?")
    parser.add_argument("--keep", type=Path, help="run in this empty directory and keep it")
    parser.add_argument("--rebuild", type=Path, help="rebuild the report of the run kept in this directory")
    parser.add_argument("--note", default="", help="what the machine was doing besides")
    args = parser.parse_args()
    config = yaml.safe_load(args.config.read_text())
    name = config["name"]
    if args.rebuild:
        subprocess.run([str(BIN / "scorebench"), "report", f".snakemake/scorebench/{name}.yaml"], cwd=args.rebuild,
                       check=True)
        path = RESULTS / f"{name}_grid.json"
        result = json.loads(path.read_text())
        result["verdict"] = keep(name, args.rebuild)
        path.write_text(json.dumps(result, indent=2) + "\n")
        return 0
    if args.target_seconds is None:
        parser.error("target_seconds: required unless --rebuild")
    grid = run_grid(config, workdir=args.keep)
    lines = keep(name, args.keep) if args.keep else []
    record(f"{name}_grid", {"command": f"snakemake --cores all --configfile {args.config}",
                            "target_seconds": args.target_seconds, "met": grid["seconds"] <= args.target_seconds,
                            "note": args.note, **grid, "verdict": lines})
    return 0


if __name__ == "__main__":
    sys.exit(main())

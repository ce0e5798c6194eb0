"""Benchmark: wall-clock of `snakemake --dry-run` on a grid of over 1,000 jobs (target ≤ 5 s).

Run on demand: `.venv/bin/python benchmarks/dry_run.py [repeats]`; writes benchmarks/results/dry_run.json
(median and range over the repeats) with the machine it ran on. Nothing is trained: a dry run only
validates, expands and plans. Beside it, interleaved, the dry run of a floor Snakefile with the same
jobs and files and nothing else: the part of the time that is Snakemake's own.
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


def floor_snakefile(config: dict) -> str:
    """A Snakefile of the same jobs and files as the benchmark's DAG and nothing else (no config
    parse, checks, params, logs, benchmarks or resources): what Snakemake itself spends on the grid."""
    datasets, objectives, samplers = list(config["datasets"]), config["objectives"], list(config["samplers"])
    metrics = [f"m/{d}/{n}.json" for d in datasets for n in [*(f"model.{o}" for o in objectives), *samplers, "data"]]
    return f"""
D, O, S, M = {datasets!r}, {objectives!r}, {samplers!r}, {metrics!r}
wildcard_constraints:
    dataset="|".join(D),
    sampler="|".join(S),
rule all:
    input: "summary.csv"
rule report:
    input: M
    output: "summary.csv"
    shell: "touch {{output}}"
rule train:
    output: "g/{{dataset}}/{{objective}}.json", "m/{{dataset}}/model.{{objective}}.json"
    shell: "touch {{output}}"
rule reference:
    output: "r/{{dataset}}.pt", "m/{{dataset}}/data.json"
    shell: "touch {{output}}"
rule sample:
    input: lambda w: [f"g/{{w.dataset}}/{{o}}.json" for o in O], "r/{{dataset}}.pt"
    output: "m/{{dataset}}/{{sampler}}.json"
    shell: "touch {{output}}"
"""


def main(repeats: str = "5") -> int:
    """Time the dry run of the benchmark's Snakefile and of the floor Snakefile, interleaved."""
    config = grid_config()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "grid.yaml"
        path.write_text(yaml.safe_dump(config))
        floor = Path(tmp) / "floor" / "Snakefile"
        floor.parent.mkdir()
        floor.write_text(floor_snakefile(config))
        env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
        cmds = {"scorebench": ["--snakefile", str(ROOT / "Snakefile"), "--directory", tmp, "--configfile", str(path)],
                "floor": ["--snakefile", str(floor), "--directory", str(floor.parent)]}
        seconds, jobs = {name: [] for name in cmds}, {}
        for r in range(int(repeats)):
            for name in (list(cmds) if r % 2 == 0 else list(cmds)[::-1]):
                start = time.perf_counter()
                proc = subprocess.run([str(BIN / "snakemake"), "--dry-run", *cmds[name]], capture_output=True,
                                      text=True, env=env)
                seconds[name].append(time.perf_counter() - start)
                if proc.returncode != 0:
                    print(proc.stderr[-2000:], file=sys.stderr)
                    return 1
                jobs[name] = int(re.search(r"^total\s+(\d+)$", proc.stdout, re.M)[1])
    if jobs["floor"] != jobs["scorebench"]:
        print(f"the floor Snakefile has {jobs['floor']} jobs, the benchmark {jobs['scorebench']}", file=sys.stderr)
        return 1
    ours, bare = seconds["scorebench"], seconds["floor"]
    record("dry_run", {"jobs": jobs["scorebench"], "seconds": round(statistics.median(ours), 2),
                       "seconds_range": [round(min(ours), 2), round(max(ours), 2)], "repeats": int(repeats),
                       "target_seconds": 5, "floor_seconds": round(statistics.median(bare), 2),
                       "floor_seconds_range": [round(min(bare), 2), round(max(bare), 2)]})
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))

"""Benchmark: training throughput per objective on the default datasets (steps and samples per second).

Run on demand: `.venv/bin/python benchmarks/throughput.py [steps]`; trains each (dataset,
objective) of config/default.yaml on its VP schedule for `steps` steps (default 200) with the
default train settings, one thread, and writes benchmarks/results/throughput.json.
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import torch
from machine import record

from scorebench.config import load, section
from scorebench.grid import RunSpec, objective_params, runs
from scorebench.objectives import build_objective
from scorebench.run import prepare
from scorebench.train import TrainConfig, train

CONFIG = Path(__file__).resolve().parents[1] / "config/default.yaml"


def main(steps: str = "200") -> int:
    torch.set_num_threads(1)  # one job's share on the workflow's one-thread train rule
    config = load(CONFIG)
    rows = []
    for run in sorted({RunSpec(r.dataset, r.objective, "vp", 0) for r in runs(config)[0] if r.objective != "oracle"},
                      key=lambda r: (r.dataset, r.objective)):
        dataset, process = prepare(config, run)
        cfg = TrainConfig.from_dict({**section(config, "train", run.dataset), "steps": int(steps)})
        objective = build_objective(run.objective, objective_params(config, run.objective))
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            train(dataset, process, objective, cfg, seed=0, out_dir=tmp, run_spec=run.as_dict())
            seconds = time.perf_counter() - start
        rows.append({"dataset": run.dataset, "dim": dataset.dim, "objective": run.objective,
                     "steps_per_second": round(cfg.steps / seconds, 1),
                     "samples_per_second": round(cfg.steps * cfg.batch_size / seconds)})
        print(rows[-1])
    record("throughput", {"steps": int(steps), "threads": 1, "schedule": "vp", "runs": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))

"""Benchmark: training throughput per objective, and scorebench's step against a plain reference loop.

Run on demand: `.venv/bin/python benchmarks/throughput.py [steps] [rounds]`; one thread, the default
config's datasets on VP, writes benchmarks/results/throughput.json:

- `runs`: steps and samples per second of `scorebench.train.train` for every (dataset, objective).
- `versus_reference`: DSM and SSM training steps of `train` against a hand-written loop doing the
  same maths with the same network, weights, batch and optimiser (Adam, gradient clipping, EMA),
  timed interleaved — `rounds` rounds, each running both for `steps` steps in alternating order — so
  both see the same machine state; the median ratio and its interquartile range (target ≤ 1.05).
"""
from __future__ import annotations

import copy
import statistics
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
from scorebench.train import TrainConfig, make_model, train

CONFIG = Path(__file__).resolve().parents[1] / "config/default.yaml"


def reference_loop(dataset, process, cfg: TrainConfig, objective: str, steps: int) -> None:
    """The plainest training loop of the same model: VP marginals, DSM or one-projection Rademacher
    SSM, σ²-weighted, foreach Adam, clipping and EMA, no logging, no checkpoints."""
    torch.manual_seed(0)
    model = make_model(dataset, process, cfg.net)
    backbone, data_std = model.backbone, model.data_std
    ema = copy.deepcopy(model).requires_grad_(False)
    params, ema_params = list(model.parameters()), list(ema.parameters())
    opt = torch.optim.Adam(params, lr=cfg.lr, foreach=True)
    gen = torch.Generator().manual_seed(0)
    data, eps = dataset.train, process.eps
    width = process.beta_max - process.beta_min
    for step in range(steps):
        x0 = data[torch.randint(len(data), (cfg.batch_size,), generator=gen)]
        t = eps + (1 - eps) * torch.rand(cfg.batch_size, generator=gen)
        log_alpha = -0.25 * t**2 * width - 0.5 * t * process.beta_min
        alpha, sigma = log_alpha.exp()[:, None], (-torch.expm1(2 * log_alpha)).sqrt()[:, None]
        z = torch.randn(x0.shape, generator=gen)
        xt = alpha * x0 + sigma * z
        if objective == "dsm":
            s = backbone(xt * torch.rsqrt(alpha**2 * data_std**2 + sigma**2), sigma.log().squeeze(1)) / sigma
            loss = (sigma.squeeze(1) ** 2 * 0.5 * (s + z / sigma).pow(2).sum(1)).mean()
        else:
            xt = xt.detach().requires_grad_(True)
            v = torch.randn(xt.shape, generator=gen).sign()
            s = backbone(xt * torch.rsqrt(alpha**2 * data_std**2 + sigma**2), sigma.log().squeeze(1)) / sigma
            sv = (s * v).sum(1)
            (grad,) = torch.autograd.grad(sv.sum(), xt, create_graph=True)
            loss = (sigma.squeeze(1) ** 2 * ((grad * v).sum(1) + 0.5 * sv**2)).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip, foreach=True)
        opt.step()
        with torch.no_grad():
            torch._foreach_lerp_(ema_params, params, 1 - min(cfg.ema, (1 + step) / (10 + step)))


def scorebench_loop(dataset, process, cfg: TrainConfig, objective: str, steps: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        train(dataset, process, build_objective(objective), cfg, seed=0, out_dir=tmp, run_spec={"id": "bench"})


def versus_reference(config: dict, steps: int, rounds: int) -> list[dict]:
    out = []
    for dataset_name in ("toy", "gmm16"):
        dataset, process = prepare(config, RunSpec(dataset_name, "dsm", "vp", 0))
        base = TrainConfig.from_dict(section(config, "train", dataset_name))
        cfg = TrainConfig.from_dict({**section(config, "train", dataset_name), "steps": steps,
                                     "checkpoint_every": steps + 1, "log_every": steps + 1, "curve_points": 1})
        for objective in ("dsm", "ssm"):
            times = {"scorebench": [], "reference": []}
            for loop in (scorebench_loop, reference_loop):  # warm-up: first-call imports and allocations
                loop(dataset, process, cfg, objective, 5)
            for r in range(rounds):
                order = [("scorebench", scorebench_loop), ("reference", reference_loop)]
                for name, loop in (order if r % 2 == 0 else order[::-1]):
                    start = time.perf_counter()
                    loop(dataset, process, cfg, objective, steps)
                    times[name].append((time.perf_counter() - start) / steps)
            ratios = sorted(a / b for a, b in zip(times["scorebench"], times["reference"]))
            q = statistics.quantiles(ratios, n=4)
            out.append({"dataset": dataset_name, "objective": objective, "batch_size": base.batch_size,
                        "ms_per_step_scorebench": round(1e3 * statistics.median(times["scorebench"]), 3),
                        "ms_per_step_reference": round(1e3 * statistics.median(times["reference"]), 3),
                        "ratio_median": round(statistics.median(ratios), 3),
                        "ratio_iqr": [round(q[0], 3), round(q[2], 3)], "rounds": rounds})
            print(out[-1], flush=True)
    return out


def main(steps: str = "200", rounds: str = "9") -> int:
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
        print(rows[-1], flush=True)
    paired = versus_reference(config, int(steps), int(rounds))
    record("throughput", {"steps": int(steps), "threads": 1, "schedule": "vp", "runs": rows,
                          "versus_reference": paired, "target_ratio": 1.05})
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))

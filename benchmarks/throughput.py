"""Benchmark: training throughput per objective, and scorebench's step against a plain reference loop.

Run on demand: `.venv/bin/python benchmarks/throughput.py [steps] [rounds] [device]`; one thread, the
default config's datasets on VP, writes benchmarks/results/throughput.json (on `cuda`: only the
seed-batching section, to throughput_cuda.json):

- `runs`: steps and samples per second of `scorebench.jobs.trainer.train` for every (dataset, objective).
- `versus_reference`: DSM and SSM training steps of `train` against a hand-written loop doing the
  same maths with the same network, weights, batch and optimiser (Adam, gradient clipping, EMA),
  timed interleaved — `rounds` rounds, each running both for `steps` steps in alternating order — so
  both see the same machine state; a step's cost is the marginal one (a run of `steps` steps minus a
  run of one, timed in the same round), so a run's one-off set-up and final save (≈ 6 ms: model.pt,
  directories) do not count as steps; the median ratio and its interquartile range (target ≤ 1.05).
- `seed_batching`: three seeds trained as one batched ensemble against one seed alone, interleaved
  the same way: the median ratio (3 would be no gain; 1 a free second and third seed) and its IQR.
- `ensemble`: the default's 20 members of a (dataset, objective) — schedules ncsn, ve, vp, subvp ×
  seeds 0–4, each with its own process — trained as one ensemble against one member alone, MLP width
  64, interleaved the same way (target ≤ 4; 20 would be no gain).
- `sampling`: what drawing across schedules could gain at most: the 20 members of a (dataset,
  objective) drawn as 4 batches of 5 seeds (one per schedule, as the sample job does) against one
  batch of 20 members of one schedule (the bound of a cross-schedule batch), Euler–Maruyama at the
  default's steps and n_samples, interleaved the same way (1 would be no gain).
"""
from __future__ import annotations

import copy
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch
from machine import record

from scorebench.spec.benchmark import Benchmark
from scorebench.spec.grid import RunSpec
from scorebench.core.nets import stack_members
from scorebench.core.objectives import build_objective
from scorebench.core.rng import Streams
from scorebench.jobs.build import prepare
from scorebench.core.samplers import build_sampler
from scorebench.jobs.trainer import Member, make_model, train
from scorebench.spec.settings import TrainConfig

CONFIG = Path(__file__).resolve().parents[1] / "config/default.yaml"


def reference_loop(dataset, process, cfg: TrainConfig, objective: str, steps: int) -> None:
    """The plainest training loop of the same model: VP marginals, DSM or one-projection Rademacher
    SSM, σ²-weighted, fused Adam, clipping and EMA, no logging, no checkpoints."""
    torch.manual_seed(0)
    model = make_model(dataset, process, cfg.net)
    backbone, data_std = model.backbone, model.data_std
    ema = copy.deepcopy(model).requires_grad_(False)
    params, ema_params = list(model.parameters()), list(ema.parameters())
    opt = torch.optim.Adam(params, lr=cfg.lr, fused=True)
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


def scorebench_loop(dataset, process, cfg: TrainConfig, objective: str, steps: int, seeds: int = 1) -> None:
    ensemble_loop(dataset, [process] * seeds, cfg, objective, steps)


def ensemble_loop(dataset, processes: list, cfg: TrainConfig, objective: str, steps: int) -> None:
    """`train` of one member per entry of `processes` (member k: seed k mod 5), as one ensemble."""
    cfg = TrainConfig(**{**vars(cfg), "steps": steps})
    with tempfile.TemporaryDirectory() as tmp:
        train(dataset, build_objective(objective), cfg,
              [Member(k % 5, Path(tmp) / str(k), {"id": f"bench{k}"}, p) for k, p in enumerate(processes)])


def interleaved(loops: dict, steps: int, rounds: int) -> dict[str, list[float]]:
    """Seconds per step of each loop, `rounds` rounds, each loop once per round, order alternating.

    A step's cost is the marginal one, (time of `steps` steps − time of 1 step) / (steps − 1), both
    timed in the same round: what a run spends once (building the model, writing model.pt) is not a
    step's, and would otherwise weigh on short timings."""
    times = {name: [] for name in loops}
    for loop in loops.values():  # warm-up: first-call imports and allocations
        loop(5)
    for r in range(rounds):
        for name, loop in (list(loops.items()) if r % 2 == 0 else list(loops.items())[::-1]):
            start = time.perf_counter()
            loop(1)
            one = time.perf_counter() - start
            start = time.perf_counter()
            loop(steps)
            times[name].append((time.perf_counter() - start - one) / (steps - 1))
    return times


def ratio_row(times: dict, top: str, bottom: str) -> dict:
    ratios = sorted(a / b for a, b in zip(times[top], times[bottom]))
    q = statistics.quantiles(ratios, n=4)
    return {f"ms_per_step_{top}": round(1e3 * statistics.median(times[top]), 3),
            f"ms_per_step_{bottom}": round(1e3 * statistics.median(times[bottom]), 3),
            "ratio_median": round(statistics.median(ratios), 3), "ratio_iqr": [round(q[0], 3), round(q[2], 3)]}


def versus_reference(bench: Benchmark, steps: int, rounds: int) -> list[dict]:
    out = []
    for dataset_name in ("toy", "gmm8"):
        dataset, process = prepare(bench, RunSpec(dataset_name, "dsm", "vp", 0))
        cfg = replace(bench.train(dataset_name), steps=steps,
                                     checkpoint_every=steps + 1, log_every=steps + 1, curve_points=1)
        for objective in ("dsm", "ssm"):
            times = interleaved({
                "scorebench": lambda n: scorebench_loop(dataset, process, cfg, objective, n),
                "reference": lambda n: reference_loop(dataset, process, cfg, objective, n)}, steps, rounds)
            out.append({"dataset": dataset_name, "objective": objective, "batch_size": cfg.batch_size, "rounds": rounds,
                        **ratio_row(times, "scorebench", "reference")})
            print(out[-1], flush=True)
    return out


def seed_batching(bench: Benchmark, steps: int, rounds: int, device: str = "cpu") -> list[dict]:
    out = []
    for dataset_name in ("toy", "gmm8", "digits"):
        dataset, process = prepare(bench, RunSpec(dataset_name, "dsm", "vp", 0))
        cfg = replace(bench.train(dataset_name), steps=steps, device=device,
                                     checkpoint_every=steps + 1, log_every=steps + 1, curve_points=1)
        for objective in ("dsm", "ssm"):
            times = interleaved({
                "three_seeds": lambda n: scorebench_loop(dataset, process, cfg, objective, n, seeds=3),
                "one_seed": lambda n: scorebench_loop(dataset, process, cfg, objective, n, seeds=1)}, steps, rounds)
            out.append({"dataset": dataset_name, "objective": objective, "net": cfg.net, "rounds": rounds,
                        **ratio_row(times, "three_seeds", "one_seed")})
            print(out[-1], flush=True)
    return out


def ensemble(bench: Benchmark, steps: int, rounds: int) -> list[dict]:
    out = []
    for dataset_name in ("toy", "gmm8"):
        prepared = [prepare(bench, RunSpec(dataset_name, "dsm", s, 0)) for s in bench.schedules]
        dataset, processes = prepared[0][0], [p for _, p in prepared for _ in bench.seeds]
        cfg = replace(bench.train(dataset_name), steps=steps,
                                     checkpoint_every=steps + 1, log_every=steps + 1, curve_points=1)
        for objective in ("dsm", "ssm"):
            times = interleaved({
                "members": lambda n: ensemble_loop(dataset, processes, cfg, objective, n),
                "one_member": lambda n: ensemble_loop(dataset, processes[:1], cfg, objective, n)}, steps, rounds)
            out.append({"dataset": dataset_name, "objective": objective, "members": len(processes), "net": cfg.net,
                        "rounds": rounds, **ratio_row(times, "members", "one_member")})
            print(out[-1], flush=True)
    return out


def sampling(bench: Benchmark, rounds: int) -> list[dict]:
    out = []
    draw = build_sampler("em", bench.sampler("em"))
    for dataset_name in ("toy", "gmm8", "digits"):
        dataset, process = prepare(bench, RunSpec(dataset_name, "dsm", "vp", 0))
        cfg = bench.train(dataset_name)
        n = bench.evaluate(dataset_name).n_samples
        seeds = len(bench.seeds)

        def batch(members: int) -> float:
            torch.manual_seed(0)
            score = stack_members([make_model(dataset, process, cfg.net) for _ in range(members)]).requires_grad_(False)
            gens = Streams(generators=[torch.Generator().manual_seed(k) for k in range(members)])
            start = time.perf_counter()
            draw(score, process, (members * n, *dataset.shape), generator=gens)
            return time.perf_counter() - start

        times = {"per_schedule": [], "one_batch": []}
        batch(seeds)  # warm-up
        for r in range(rounds):
            for name in (["per_schedule", "one_batch"] if r % 2 == 0 else ["one_batch", "per_schedule"]):
                times[name].append(sum(batch(seeds) for _ in bench.schedules) if name == "per_schedule"
                                   else batch(seeds * len(bench.schedules)))
        ratios = sorted(a / b for a, b in zip(times["per_schedule"], times["one_batch"]))
        q = statistics.quantiles(ratios, n=4)
        out.append({"dataset": dataset_name, "sampler": "em", "members": seeds * len(bench.schedules),
                    "n_samples": n, "rounds": rounds,
                    "seconds_per_schedule_batches": round(statistics.median(times["per_schedule"]), 3),
                    "seconds_one_batch": round(statistics.median(times["one_batch"]), 3),
                    "gain_median": round(statistics.median(ratios), 3), "gain_iqr": [round(q[0], 3), round(q[2], 3)]})
        print(out[-1], flush=True)
    return out


def main(steps: str = "200", rounds: str = "9", device: str = "cpu") -> int:
    bench = Benchmark.read(CONFIG)
    if device != "cpu":  # on a GPU: only whether seed batching pays there (throughput_<device>.json)
        batching = seed_batching(bench, int(steps), int(rounds), device)
        record(f"throughput_{device.split(':')[0]}", {"steps": int(steps), "schedule": "vp", "seed_batching": batching},
               device=device)
        return 0
    torch.set_num_threads(1)  # one job's share on the workflow's one-thread train rule
    rows = []
    with tempfile.TemporaryDirectory() as tmp:  # warm-up: the first call's imports are not a run's throughput
        dataset, process = prepare(bench, RunSpec("toy", "dsm", "vp", 0))
        train(dataset, build_objective("dsm"), replace(bench.train("toy"), steps=5), [Member(0, Path(tmp), {}, process)])
    for run in sorted({RunSpec(r.dataset, r.objective, "vp", 0) for r in bench.runs if r.objective != "oracle"},
                      key=lambda r: (r.dataset, r.objective)):
        dataset, process = prepare(bench, run)
        cfg = replace(bench.train(run.dataset), steps=int(steps))
        objective = build_objective(run.objective, bench.objective_params(run.objective))
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            train(dataset, objective, cfg, [Member(0, Path(tmp), run.as_dict(), process)])
            seconds = time.perf_counter() - start
        rows.append({"dataset": run.dataset, "dim": dataset.dim, "objective": run.objective,
                     "steps_per_second": round(cfg.steps / seconds, 1),
                     "samples_per_second": round(cfg.steps * cfg.batch_size / seconds)})
        print(rows[-1], flush=True)
    paired = versus_reference(bench, int(steps), int(rounds))
    batching = seed_batching(bench, int(steps), int(rounds))
    members = ensemble(bench, int(steps), int(rounds))
    drawing = sampling(bench, int(rounds))
    record("throughput", {"steps": int(steps), "threads": 1, "schedule": "vp", "runs": rows,
                          "versus_reference": paired, "target_ratio": 1.05, "seed_batching": batching,
                          "ensemble": members, "target_ensemble_ratio": 4.0, "sampling": drawing})
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))

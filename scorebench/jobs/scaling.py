"""Cost of one training step against data dimension d: the Jacobian-trace claim, measured.

Exact score matching needs tr ∇ₓs, d backward passes (batched `chunk_size` at a time, or looped);
SSM needs one projected backward pass, DSM none. Each (variant, d) cell takes `repeats` timings of
full steps (forward + backward + Adam) after `warmup` steps, each timing a block of as many steps as
last `block_seconds`, and reports the median and the interquartile range of the seconds per step; at
each d all variants are timed interleaved in one process, so ratios between them compare like with
like. CUDA timing is synchronised and its memory is `torch.cuda.max_memory_allocated` over what was
allocated before the cell was built, per variant in the one process of its d (the allocator counts
each cell's own tensors; a fresh process per cell would pay a CUDA start-up each, 70 on the GPU
study). CPU memory is the growth of the process's peak resident set (ru_maxrss) over its resident
set before the first step, each cell in a fresh subprocess so that one cell's peak cannot hide another's.
"""
from __future__ import annotations

import gc
import json
import math
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
import torch

from ..io import save_text
from ..spec.rows import SCALING_COLUMNS as COLUMNS, SLOPE_COLUMNS
from ..spec.settings import VARIANTS, ScalingConfig

BASELINE = "ssm"  # one backward pass: slope_over_ssm counts growth in units of it (exact: about 1)




def _rss_bytes() -> int:
    """Current resident set size of this process (Linux /proc)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def _row(cfg: ScalingConfig, variant: str, dim: int, status: str, detail: str = "", seconds=math.nan, iqr=math.nan,
         memory=math.nan, method="") -> dict:
    return {"objective": variant, "dim": dim, "device": cfg.device, "seconds_per_step": seconds, "seconds_iqr": iqr,
            "peak_memory_bytes": memory, "memory_method": method, "repeats": cfg.repeats,
            "batch_size": cfg.batch_size, "width": cfg.width, "status": status, "detail": detail}


def _step(cfg: ScalingConfig, variant: str, dim: int, device: torch.device):
    """One full training step of `variant` at `dim` (forward + backward + the training loop's Adam), as a closure."""
    from ..core.nets import ScoreModel, build_backbone
    from ..core.objectives import build_objective
    from ..core.sde import build_process
    from .trainer import optimizer

    torch.manual_seed(0)
    gen = torch.Generator(device).manual_seed(0)
    process = build_process("ve", {"kind": "ve", "sigma_min": 0.01, "sigma_max": 10.0})
    model = ScoreModel(build_backbone({"kind": "mlp", "width": cfg.width, "depth": cfg.depth}, (dim,)), process,
                       data_std=1.0).to(device)
    opt = optimizer(list(model.parameters()), lr=1e-4)  # the training loop's own
    objective = build_objective(*VARIANTS[variant])
    x0 = torch.randn(cfg.batch_size, dim, device=device, generator=gen)

    def step():
        loss = objective(model, x0, process, generator=gen).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    return step


def _out_of_memory(err: BaseException) -> bool:
    return isinstance(err, torch.cuda.OutOfMemoryError) or "memory" in str(err).lower()


def _warm_up(cfg: ScalingConfig, variant: str, dim: int, step) -> dict | None:
    """`warmup` steps; a row (skipped: too slow) when the first takes longer than max_seconds, else None."""
    for i in range(cfg.warmup):
        start = time.perf_counter()
        step()
        if i == 0 and time.perf_counter() - start > cfg.max_seconds:
            return _row(cfg, variant, dim, "skipped",
                        f"one step took {time.perf_counter() - start:.1f} s > scaling.max_seconds={cfg.max_seconds}")
    return None


def measure_memory(cfg: ScalingConfig, variant: str, dim: int) -> dict:
    """Peak memory of one training step of `variant` at `dim` (on CPU in this process, which must be
    fresh; on CUDA over what is allocated before it): status ok, oom or skipped (too slow), no timing."""
    device = torch.device(cfg.device)
    base = torch.cuda.memory_allocated(device) if device.type == "cuda" else _rss_bytes()
    try:
        step = _step(cfg, variant, dim, device)
        if (slow := _warm_up(cfg, variant, dim, step)) is not None:
            return slow
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        step()
    except (torch.cuda.OutOfMemoryError, RuntimeError) as err:  # CPU allocation failures are RuntimeErrors
        if not _out_of_memory(err):
            raise
        return _row(cfg, variant, dim, "oom", str(err).splitlines()[0])
    if device.type == "cuda":
        memory = torch.cuda.max_memory_allocated(device) - base
        method = "torch.cuda.max_memory_allocated - allocated before the cell"
    else:  # ru_maxrss is in KiB on Linux
        memory = max(0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base)
        method = "peak RSS growth (ru_maxrss - RSS before the first step), own process"
    return _row(cfg, variant, dim, "ok", "", memory=memory, method=method)


def _block_steps(step, seconds: float) -> int:
    """How many steps one timing runs: as many as last `seconds`, from one more timed step (at least one)."""
    start = time.perf_counter()
    step()
    return max(1, math.ceil(seconds / max(time.perf_counter() - start, 1e-9)))


def measure_times(cfg: ScalingConfig, variants: list[str], dim: int) -> dict[str, tuple[float, float]]:
    """Median and interquartile range of seconds per step of every variant at `dim`, timed interleaved
    in this one process: `repeats` rounds, each timing one block of every variant's steps in a rotated
    order, so that all variants see the same moments of the machine (cells timed in their own processes
    at different moments differed by up to 2× on a shared CPU). A variant that runs out of memory here
    is left out."""
    device = torch.device(cfg.device)
    steps = {}
    for variant in variants:
        try:
            steps[variant] = _step(cfg, variant, dim, device)
            _warm_up(cfg, variant, dim, steps[variant])
        except (torch.cuda.OutOfMemoryError, RuntimeError) as err:
            if not _out_of_memory(err):
                raise
            steps.pop(variant, None)
    block = {variant: _block_steps(step, cfg.block_seconds) for variant, step in steps.items()}
    times: dict[str, list[float]] = {v: [] for v in steps}
    order = list(steps)
    for r in range(cfg.repeats):
        for variant in order[r % len(order):] + order[: r % len(order)]:
            start = time.perf_counter()
            for _ in range(block[variant]):
                steps[variant]()
            times[variant].append((time.perf_counter() - start) / block[variant])
    out = {}
    for variant, ts in times.items():
        q = statistics.quantiles(ts, n=4) if len(ts) > 1 else [ts[0]] * 3
        out[variant] = (statistics.median(ts), q[2] - q[0])
    return out


def _subprocess(spec: dict):
    """Run one measurement (`spec["mode"]`: memory, times or cell) in a fresh interpreter; (result, error line)."""
    proc = subprocess.run([sys.executable, "-m", "scorebench.jobs.scaling", json.dumps(spec)], capture_output=True, text=True)
    if proc.returncode != 0:
        return None, (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
    return json.loads(proc.stdout.strip().splitlines()[-1]), ""


def measure_cell(cfg: ScalingConfig, variants: list[str], dim: int) -> dict:
    """On CUDA, everything of one d in this process: each variant's memory row, one after the other
    (each freed before the next), then the times of those that fit, interleaved (`measure_times`).
    One DSM step at d = 2 runs first, so that what a process allocates once and keeps (cuBLAS's
    workspaces) is in every variant's baseline, not in the first one's peak."""
    _step(cfg, "dsm", 2, torch.device(cfg.device))()
    rows = {}
    for variant in variants:
        rows[variant] = measure_memory(cfg, variant, dim)
        gc.collect()
    return {"rows": rows, "times": measure_times(cfg, [v for v in variants if rows[v]["status"] == "ok"], dim)}


def _measure_dim(cfg: ScalingConfig, variants: list[str], dim: int) -> tuple[dict, dict | None, str]:
    """(memory row per variant, times of those that fit or None, error line) at one d: on CPU each
    memory in a fresh subprocess of its own, then the times in one more; on CUDA all in one (`measure_cell`)."""
    config = asdict(cfg)
    if cfg.device.startswith("cuda"):
        cell, error = _subprocess({"mode": "cell", "config": config, "variants": variants, "dim": dim})
        if cell is None:
            return {v: _row(cfg, v, dim, "failed", error) for v in variants}, None, error
        return cell["rows"], cell["times"], ""
    rows = {}
    for variant in variants:
        row, error = _subprocess({"mode": "memory", "config": config, "variant": variant, "dim": dim})
        rows[variant] = row or _row(cfg, variant, dim, "failed", error)
    fit = [v for v in variants if rows[v]["status"] == "ok"]
    if not fit:
        return rows, {}, ""
    times, error = _subprocess({"mode": "times", "config": config, "variants": fit, "dim": dim})
    return rows, times, error


def run_scaling(cfg: ScalingConfig) -> list[dict]:
    """Every (variant, d) cell; a cell that cannot run is a recorded row. Per d, each variant's memory
    is measured, then the variants that fit are timed interleaved (`measure_times`); on CPU each
    memory in a fresh subprocess and the times in one more, on CUDA all in one subprocess per d.

    Once a variant runs out of memory or exceeds max_seconds at some d, its larger dimensions are
    recorded as skipped without running: they can only cost more.
    """
    if cfg.device.startswith("cuda") and not torch.cuda.is_available():
        return [_row(cfg, v, d, "skipped", f"scaling.device={cfg.device} but no CUDA device is visible")
                for v in cfg.objectives for d in cfg.dims]
    rows: dict[tuple[str, int], dict] = {}
    limit: dict[str, tuple[int, str]] = {}  # variant -> the first (dim, reason) that stopped it
    for dim in sorted(cfg.dims):
        for variant in limit:
            rows[variant, dim] = _row(cfg, variant, dim, "skipped",
                                      f"{variant} was {limit[variant][1]} at d={limit[variant][0]} already")
        todo = [v for v in cfg.objectives if v not in limit]
        if not todo:
            continue
        memory, times, error = _measure_dim(cfg, todo, dim)
        for variant in todo:
            row = memory[variant]
            if row["status"] == "ok":
                row |= ({"seconds_per_step": times[variant][0], "seconds_iqr": times[variant][1]}
                        if times is not None and variant in times
                        else {"status": "failed", "detail": error or "out of memory beside the others"})
            elif row["status"] in ("oom", "skipped"):
                limit[variant] = (dim, "out of memory" if row["status"] == "oom" else "too slow")
            rows[variant, dim] = row
    return [rows[v, d] for v in cfg.objectives for d in sorted(cfg.dims)]


def _slope(pts: list[tuple[float, float]]) -> float:
    """Least-squares slope of y against x."""
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    return sum((x - mx) * (y - my) for x, y in pts) / sum((x - mx) ** 2 for x, _ in pts)


def fit_slopes(rows: list[dict], fit_from_dim: int) -> list[dict]:
    """Log–log slope of seconds_per_step against d per (objective, device), over d ≥ fit_from_dim.

    `slope_over_ssm` fits the time divided by SSM's at the same d: the growth counted in single
    backward passes, which separates "d passes" from "each pass gets dearer as d outgrows the width".
    """
    ok = {(r["objective"], r["device"], r["dim"]): r["seconds_per_step"] for r in rows
          if r["status"] == "ok" and r["dim"] >= fit_from_dim}
    out = []
    for name, device in sorted({(r["objective"], r["device"]) for r in rows}):
        dims = sorted(d for (o, dev, d) in ok if (o, dev) == (name, device))
        pts = [(math.log(d), math.log(ok[name, device, d])) for d in dims]
        rel = [(math.log(d), math.log(ok[name, device, d] / ok[BASELINE, device, d])) for d in dims
               if (BASELINE, device, d) in ok]
        out.append({"objective": name, "device": device, "slope": _slope(pts) if len(pts) > 1 else math.nan,
                    "slope_over_ssm": _slope(rel) if len(rel) > 1 else math.nan,
                    "dims_fitted": f"{dims[0]}-{dims[-1]}" if len(pts) > 1 else ""})
    return out


def save_tables(rows: list[dict], slopes: list[dict], table: Path, slopes_table: Path) -> None:
    """scaling.csv and its slopes, written atomically with the contract's columns in order."""
    import pandas as pd

    for path, data, columns in ((table, rows, COLUMNS), (slopes_table, slopes, SLOPE_COLUMNS)):
        save_text(pd.DataFrame(data, columns=list(columns)).to_csv(index=False), path)


def _main(argv: list[str]) -> int:
    spec = json.loads(argv[0])
    cfg = ScalingConfig(**spec["config"])
    if spec["mode"] == "memory":
        print(json.dumps(measure_memory(cfg, spec["variant"], spec["dim"])))
    elif spec["mode"] == "cell":
        print(json.dumps(measure_cell(cfg, spec["variants"], spec["dim"])))
    else:
        print(json.dumps(measure_times(cfg, spec["variants"], spec["dim"])))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))

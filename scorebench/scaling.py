"""Cost of one training step against data dimension d: the Jacobian-trace claim, measured.

Exact score matching needs tr ∇ₓs, d backward passes (batched `chunk_size` at a time, or looped);
SSM needs one projected backward pass, DSM none. Each (variant, d) cell times `repeats` full steps
(forward + backward + Adam) after `warmup` steps and reports the median and the interquartile
range. CUDA timing is synchronised and its memory is `torch.cuda.max_memory_allocated`. CPU memory
is the growth of the process's peak resident set (ru_maxrss) over its resident set before the first
step; every cell runs in a fresh subprocess so that one cell's peak cannot hide another's.
"""
from __future__ import annotations

import json
import math
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from .config import require_positive_ints, settings
from .errors import ConfigError
from .io import save_text

# variant name -> (objective registry key, its parameters)
VARIANTS = {
    "exact": ("exact", {"vectorized": True}),
    "exact_loop": ("exact", {"vectorized": False}),
    "dsm": ("dsm", {}),
    "ssm": ("ssm", {}),
    "ssm_vr": ("ssm_vr", {}),
}
COLUMNS = ("objective", "dim", "device", "seconds_per_step", "seconds_iqr", "peak_memory_bytes", "memory_method",
           "repeats", "batch_size", "width", "status", "detail")
SLOPE_COLUMNS = ("objective", "device", "slope", "slope_over_ssm", "dims_fitted")
BASELINE = "ssm"  # one backward pass: slope_over_ssm counts growth in units of it (exact: about 1)


@dataclass
class ScalingConfig:
    """The `scaling:` section of a benchmark config."""

    dims: list = field(default_factory=lambda: [2**k for k in range(1, 11)])  # 2 … 1024
    objectives: list = field(default_factory=lambda: list(VARIANTS))
    batch_size: int = 64
    width: int = 128  # fixed network width: DSM and SSM cost should then barely grow with d
    depth: int = 3
    warmup: int = 2
    repeats: int = 5
    device: str = "cpu"
    max_seconds: float = 30.0  # a cell whose warm-up step takes longer is recorded as skipped
    fit_from_dim: int = 64  # slopes are fitted over d ≥ this, where the per-dimension cost dominates

    @classmethod
    def from_dict(cls, values: dict | None) -> "ScalingConfig":
        cfg = settings(cls, values, "scaling")
        for name in cfg.objectives:
            if name not in VARIANTS:
                raise ConfigError(f"scaling.objectives: unknown {name!r}; valid: {', '.join(VARIANTS)}")
        if not cfg.dims or not all(isinstance(d, int) and d >= 1 for d in cfg.dims):
            raise ConfigError(f"scaling.dims: must be a non-empty list of integers >= 1 (got {cfg.dims!r})")
        require_positive_ints(cfg, "scaling", ("batch_size", "width", "depth", "warmup", "repeats", "fit_from_dim"))
        return cfg


def _rss_bytes() -> int:
    """Current resident set size of this process (Linux /proc)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def _row(cfg: ScalingConfig, variant: str, dim: int, status: str, detail: str = "", seconds=math.nan, iqr=math.nan,
         memory=math.nan, method="") -> dict:
    return {"objective": variant, "dim": dim, "device": cfg.device, "seconds_per_step": seconds, "seconds_iqr": iqr,
            "peak_memory_bytes": memory, "memory_method": method, "repeats": cfg.repeats,
            "batch_size": cfg.batch_size, "width": cfg.width, "status": status, "detail": detail}


def measure_cell(cfg: ScalingConfig, variant: str, dim: int) -> dict:
    """Time and peak memory of one training step of `variant` at dimension `dim` (in this process)."""
    from .nets import ScoreModel, build_backbone
    from .objectives import build_objective
    from .sde import build_process
    from .train import optimizer

    device = torch.device(cfg.device)
    cuda = device.type == "cuda"

    def sync():
        if cuda:
            torch.cuda.synchronize(device)

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

    base = _rss_bytes()
    try:
        for i in range(cfg.warmup):
            start = time.perf_counter()
            step()
            sync()
            if i == 0 and time.perf_counter() - start > cfg.max_seconds:
                return _row(cfg, variant, dim, "skipped",
                            f"one step took {time.perf_counter() - start:.1f} s > scaling.max_seconds={cfg.max_seconds}")
        if cuda:
            torch.cuda.reset_peak_memory_stats(device)
        times = []
        for _ in range(cfg.repeats):
            sync()
            start = time.perf_counter()
            step()
            sync()
            times.append(time.perf_counter() - start)
    except torch.cuda.OutOfMemoryError as err:
        return _row(cfg, variant, dim, "oom", str(err).splitlines()[0])
    except RuntimeError as err:  # CPU allocation failures surface as RuntimeError
        if "memory" not in str(err).lower():
            raise
        return _row(cfg, variant, dim, "oom", str(err).splitlines()[0])
    if cuda:
        memory, method = torch.cuda.max_memory_allocated(device), "torch.cuda.max_memory_allocated"
    else:  # ru_maxrss is in KiB on Linux
        memory = max(0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base)
        method = "peak RSS growth (ru_maxrss - RSS before the first step), own process"
    q = statistics.quantiles(times, n=4) if len(times) > 1 else [times[0]] * 3
    return _row(cfg, variant, dim, "ok", "", statistics.median(times), q[2] - q[0], memory, method)


def run_scaling(cfg: ScalingConfig) -> list[dict]:
    """Every (variant, d) cell, each in a fresh subprocess; a cell that cannot run is a recorded row.

    Once a variant runs out of memory or exceeds max_seconds at some d, its larger dimensions are
    recorded as skipped without running: they can only cost more.
    """
    if cfg.device.startswith("cuda") and not torch.cuda.is_available():
        return [_row(cfg, v, d, "skipped", f"scaling.device={cfg.device} but no CUDA device is visible")
                for v in cfg.objectives for d in cfg.dims]
    rows = []
    for variant in cfg.objectives:
        limit = None  # the first (dim, status) that stopped this variant
        for dim in sorted(cfg.dims):
            if limit is not None:
                rows.append(_row(cfg, variant, dim, "skipped", f"{variant} was {limit[1]} at d={limit[0]} already"))
                continue
            cell = json.dumps({"config": asdict(cfg), "variant": variant, "dim": dim})
            proc = subprocess.run([sys.executable, "-m", "scorebench.scaling", cell], capture_output=True, text=True)
            if proc.returncode == 0:
                rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            else:
                reason = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
                rows.append(_row(cfg, variant, dim, "failed", reason))
            if rows[-1]["status"] in ("oom", "skipped"):
                limit = (dim, "out of memory" if rows[-1]["status"] == "oom" else "too slow")
    return rows


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
    print(json.dumps(measure_cell(ScalingConfig(**spec["config"]), spec["variant"], spec["dim"])))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))

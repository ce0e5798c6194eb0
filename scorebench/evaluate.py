"""Sampling and evaluation of one run: artefacts per (run, sampler) and tidy metric rows.

Every row has the columns of `ROW_COLUMNS`; a run that diverged or a metric that failed is a row
whose `status` says so (value NaN), so the grid's table always has its full shape.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields
from pathlib import Path

import torch

from .config import section
from .errors import ConfigError, ScorebenchError
from .grid import RunSpec, likelihood_compatible, sample_compatible
from .io import provenance, save_json, save_torch
from .likelihood import bits_per_dim, log_likelihood
from .metrics import fisher_divergence, mode_weight_tv, sliced_wasserstein
from .oracle import OracleScore
from .run import prepare
from .samplers import build_sampler
from .train import load_model

ROW_COLUMNS = ("dataset", "objective", "schedule", "sampler", "seed", "metric", "value", "unit", "status", "detail")
MODEL = "-"  # the sampler column of metrics that belong to the model, not to a sampler
UNITS = {
    "train_seconds": "seconds", "sample_seconds": "seconds", "nfe": "evaluations",
    "nll_bits_per_dim": "bits/dim", "nll_gap_bits_per_dim": "bits/dim", "fisher_divergence": "sigma^2-weighted",
    "mode_weight_tv": "total variation", "sliced_wasserstein": "data units",
}


@dataclass
class EvaluateConfig:
    """The `evaluate:` section of a benchmark config."""

    n_samples: int = 2000
    nll_points: int = 500
    fisher_points: int = 4096
    divergence: str = "auto"  # exact up to exact_divergence_max_dim, Hutchinson above
    exact_divergence_max_dim: int = 32
    sw_projections: int = 256

    @classmethod
    def from_dict(cls, values: dict | None) -> "EvaluateConfig":
        known = {f.name for f in fields(cls)}
        for key in values or {}:
            if key not in known:
                raise ConfigError(f"evaluate.{key}: unknown key; allowed: {', '.join(sorted(known))}")
        cfg = cls(**(values or {}))
        for key in ("n_samples", "nll_points", "fisher_points", "exact_divergence_max_dim", "sw_projections"):
            if not isinstance(getattr(cfg, key), int) or getattr(cfg, key) < 1:
                raise ConfigError(f"evaluate.{key}: must be an integer >= 1 (got {getattr(cfg, key)!r})")
        if cfg.divergence not in ("auto", "exact", "hutchinson"):
            raise ConfigError(f"evaluate.divergence: unknown {cfg.divergence!r}; valid: auto, exact, hutchinson")
        return cfg


def row(run: RunSpec, sampler: str, metric: str, value: float, status: str = "ok", detail: str = "") -> dict:
    return {"dataset": run.dataset, "objective": run.objective, "schedule": run.schedule, "sampler": sampler,
            "seed": run.seed, "metric": metric, "value": float(value), "unit": UNITS.get(metric, ""),
            "status": status, "detail": detail}


def load_score(config: dict, run: RunSpec, results: str | Path, device="cpu"):
    """(score function, dataset, process, training record) of a trained or oracle run."""
    dataset, process = prepare(config, run)
    path = run.directory(results, config["name"]) / "model.pt"
    if not path.exists():
        raise ScorebenchError(f"{path}: no trained model; run `scorebench train` for {run.id} first")
    record = torch.load(path, map_location=device, weights_only=False)
    if record.get("oracle"):
        return OracleScore(dataset.mixture, process), dataset, process, record
    model, record = load_model(path, dataset, map_location=device)
    return model.to(device), dataset, model.process, record


def _seed(run: RunSpec, salt: str) -> int:
    """A stable seed per (run seed, purpose), independent of Python's hash randomisation."""
    return run.seed * 1_000_003 + sum(ord(c) * 31**i for i, c in enumerate(salt)) % 1_000_003


def sample_run(config: dict, run: RunSpec, sampler: str, results: str | Path = "results", device="cpu") -> dict:
    """Draw `evaluate.n_samples` samples of `run` with `sampler` into samples/<sampler>.pt."""
    out = run.directory(results, config["name"]) / "samples" / f"{sampler}.pt"
    record = {"run": run.as_dict(), "sampler": sampler, "spec": config["samplers"][sampler], "provenance": provenance()}
    ok, reason = sample_compatible(config, run, sampler)
    if not ok:
        save_torch(record | {"status": "skipped", "reason": reason}, out)
        return record | {"status": "skipped", "reason": reason}
    score, dataset, process, trained = load_score(config, run, results, device)
    if trained["status"] != "ok":
        reason = f"training {trained['status']} at step {trained.get('diverged_step')}"
        save_torch(record | {"status": trained["status"], "reason": reason}, out)
        return record | {"status": trained["status"], "reason": reason}
    cfg = EvaluateConfig.from_dict(section(config, "evaluate", run.dataset))
    sampler_fn = build_sampler(sampler, config["samplers"][sampler])
    try:
        x, stats = sampler_fn(score, process, (cfg.n_samples, *dataset.shape), device=device,
                              generator=torch.Generator(device).manual_seed(_seed(run, sampler)))
    except ConfigError as err:  # e.g. an ALD step size that is unstable for this schedule
        save_torch(record | {"status": "failed", "reason": str(err)}, out)
        return record | {"status": "failed", "reason": str(err)}
    reason = f"non-finite state at step {stats['diverged_step']}" if stats["status"] != "ok" else ""
    record |= {"status": stats["status"], "reason": reason, "stats": stats, "samples": x.cpu()}
    save_torch(record, out)
    return record


def sample_rows(config: dict, run: RunSpec, sampler: str, results: str | Path = "results") -> list[dict]:
    """Metric rows of one (run, sampler) from its saved samples."""
    rec = torch.load(run.directory(results, config["name"]) / "samples" / f"{sampler}.pt", weights_only=False)
    names = ["sample_seconds", "nfe"]
    dataset, _ = prepare(config, run)
    if dataset.synthetic:
        names += ["mode_weight_tv", "sliced_wasserstein"]
    if rec["status"] != "ok":
        return [row(run, sampler, m, math.nan, rec["status"], rec["reason"]) for m in names]
    stats = rec["stats"]
    rows = [row(run, sampler, "sample_seconds", stats["seconds"]), row(run, sampler, "nfe", stats["nfe"])]
    if dataset.synthetic:
        cfg = EvaluateConfig.from_dict(section(config, "evaluate", run.dataset))
        x = rec["samples"]
        ref = dataset.mixture.sample(len(x), torch.Generator().manual_seed(_seed(run, "reference")))
        sw = sliced_wasserstein(x, ref, n_projections=cfg.sw_projections, generator=torch.Generator().manual_seed(0))
        rows += [row(run, sampler, "mode_weight_tv", mode_weight_tv(x, dataset)),
                 row(run, sampler, "sliced_wasserstein", sw, detail=f"vs {len(x)} fresh true samples")]
    return rows


def model_rows(config: dict, run: RunSpec, results: str | Path = "results", device="cpu") -> list[dict]:
    """Rows that belong to the model: training time, Fisher divergence, NLL and its gap to the truth."""
    cfg = EvaluateConfig.from_dict(section(config, "evaluate", run.dataset))
    score, dataset, process, trained = load_score(config, run, results, device)
    names = ["train_seconds"] + (["fisher_divergence"] if dataset.synthetic else [])
    nll_ok, nll_reason = likelihood_compatible(config, run)
    nll_names = ["nll_bits_per_dim"] + (["nll_gap_bits_per_dim"] if dataset.synthetic else [])
    if trained["status"] != "ok":
        reason = f"training diverged at step {trained.get('diverged_step')}"
        return [row(run, MODEL, "train_seconds", trained["train_seconds"], trained["status"], reason)] + \
            [row(run, MODEL, m, math.nan, trained["status"], reason) for m in names[1:] + nll_names]
    rows = [row(run, MODEL, "train_seconds", trained["train_seconds"], detail=f"{trained['steps']} steps")]
    if dataset.synthetic:
        fd = fisher_divergence(score, dataset, process, n=cfg.fisher_points,
                               generator=torch.Generator().manual_seed(_seed(run, "fisher")))
        rows.append(row(run, MODEL, "fisher_divergence", fd))
    if not nll_ok:
        return rows + [row(run, MODEL, m, math.nan, "skipped", nll_reason) for m in nll_names]
    x = dataset.test[: cfg.nll_points].to(device)
    x = dataset.dequantize(x, torch.Generator(device).manual_seed(_seed(run, "dequantize")))
    divergence = cfg.divergence if cfg.divergence != "auto" else (
        "exact" if dataset.dim <= cfg.exact_divergence_max_dim else "hutchinson")
    logp, rec = log_likelihood(score, process, x, divergence=divergence,
                               seeds=range(_seed(run, "hutchinson"), _seed(run, "hutchinson") + len(x)))
    bpd = bits_per_dim(logp.cpu(), dataset.dim, dataset.levels)
    if not torch.isfinite(bpd).all():
        return rows + [row(run, MODEL, m, math.nan, "failed", "non-finite log-likelihood") for m in nll_names]
    detail = f"PF-ODE {rec['solver']} rtol={rec['rtol']} atol={rec['atol']}, {divergence} divergence, {len(x)} test points, nfe={rec['nfe']}"
    rows.append(row(run, MODEL, "nll_bits_per_dim", bpd.mean(), detail=detail))
    if dataset.synthetic:
        true = bits_per_dim(dataset.mixture.log_prob(x.cpu().double()).float(), dataset.dim)
        rows.append(row(run, MODEL, "nll_gap_bits_per_dim", (bpd - true).mean(), detail=detail))
    return rows


def write_rows(rows: list[dict], path: str | Path) -> None:
    """metrics/<name>.json: the rows plus the versions that made them."""
    save_json({"rows": rows, "provenance": provenance()}, path)


def read_rows(path: str | Path) -> list[dict]:
    return json.loads(Path(path).read_text())["rows"]

"""Sampling and evaluation of one run: artefacts per (run, sampler) and tidy metric rows.

Every row has the columns of `ROW_COLUMNS`; a run that diverged or a metric that failed is a row
whose `status` says so (value NaN), so the grid's table always has its full shape.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from ..spec.config import dataset_params, section
from ..spec.catalog import dataset_info, is_image
from ..core.classifier import load_classifier
from ..core.data import Dataset
from ..errors import ArtefactError, ConfigError, ScorebenchError
from ..spec.grid import RunSpec, likelihood_compatible, sample_compatible, seed_batches
from ..io import load_torch, provenance, save_json, save_torch
from ..spec.rows import DATA, MODEL, row
from ..spec.layout import MODEL_FILE, RESULTS, SAMPLE, Layout
from ..core.likelihood import bits_per_dim, log_likelihood
from ..spec.metric_info import METRIC_INFO, metric_names as info_names, summary_metrics, timing_detail
from ..core.metrics import c2st, fisher_divergence, kernel_stein_discrepancy, mode_weight_tv, sliced_wasserstein
from ..core.oracle import OracleScore
from .reference import build_reference, feature_net, needs_feature_net, sample_fidelity
from ..spec.settings import EvaluateConfig
from ..core.nets import ScoreModel, stack_members
from .progress import Progress
from ..core.rng import Streams
from .build import load_dataset, prepare
from ..core.samplers import build_sampler
from .trainer import load_model




def load_score(config: dict, run: RunSpec, results: str | Path, device="cpu"):
    """(score function or None when training did not succeed, dataset, process, training record).

    A trained model brings its process (σ_max saved with it); only the oracle resolves it anew."""
    path = Layout(results, config["name"]).path(MODEL_FILE, **run.fields())
    if not path.exists():
        raise ScorebenchError(f"{path}: no trained model; run `scorebench train` for {run.id} first")
    record = load_torch(path, device)
    if record["status"] != "ok" or record.get("oracle"):
        dataset, process = prepare(config, run)
        return (OracleScore(dataset.mixture, process) if record["status"] == "ok" else None), dataset, process, record
    dataset = load_dataset(config, run.dataset)
    model, record = load_model(path, dataset, map_location=device)
    return model.to(device), dataset, model.process, record


def trained_failure(record: dict) -> str:
    """Why a run has no usable model, from its training record."""
    if record["status"] == "diverged":
        return f"training diverged at step {record['diverged_step']}"
    return f"training failed: {record.get('reason', 'unknown error')}"


def metric_names(config: dict, run: RunSpec, sampler: str | None) -> list[str]:
    """The metrics a (run, sampler) reports (sampler None: the model's own), restricted to the
    config's `metrics` list when it has one."""
    spec = dataset_params(config, run.dataset)
    return info_names("sample" if sampler else "model", synthetic=dataset_info(spec)[0], image=is_image(spec),
                      wanted=config.get("metrics"))


SampleMetric = Callable[["Drawn"], "float | tuple[float, str]"]
SAMPLE_METRICS: dict[str, SampleMetric] = {}


@dataclass
class Drawn:
    """What a metric computed from samples sees: the samples of one (run, sampler) and their context."""

    samples: torch.Tensor
    dataset: Dataset
    run: RunSpec
    evaluate: "EvaluateConfig"


def sample_metric(name: str):
    """Register `fn(drawn) -> value or (value, detail)` as the computation of the sample-level metric
    `name` (declared in `spec.metric_info`, where the parse and the report read it) for every
    (run, sampler) it applies to."""
    info = METRIC_INFO.get(name)
    if info is None or info.level != "sample":
        raise ValueError(f"sample_metric {name!r}: declare it first in scorebench/spec/metric_info.py "
                         "(METRIC_INFO, level 'sample')")

    def add(fn: SampleMetric) -> SampleMetric:
        SAMPLE_METRICS[name] = fn
        return fn

    return add


@sample_metric("mode_weight_tv")
def _mode_weight_tv(drawn: Drawn) -> float:
    return mode_weight_tv(drawn.samples, drawn.dataset)


@sample_metric("sliced_wasserstein")
def _sliced_wasserstein(drawn: Drawn) -> tuple[float, str]:
    x = drawn.samples
    ref = drawn.dataset.mixture.sample(len(x), torch.Generator().manual_seed(seed_for(drawn.run, "reference")))
    sw = sliced_wasserstein(x, ref, n_projections=drawn.evaluate.sw_projections, generator=torch.Generator().manual_seed(0))
    return sw, f"vs {len(x)} fresh true samples"


@sample_metric("c2st")
def _c2st(drawn: Drawn) -> tuple[float, str]:
    x = drawn.samples
    ref = drawn.dataset.mixture.sample(len(x), torch.Generator().manual_seed(seed_for(drawn.run, "c2st reference")))
    return c2st(x, ref, generator=torch.Generator().manual_seed(0)), f"5-fold accuracy vs {len(x)} fresh true samples"


@sample_metric("ksd")
def _ksd(drawn: Drawn) -> tuple[float, str]:
    value, null_std = kernel_stein_discrepancy(drawn.samples, drawn.dataset.mixture.score)
    return value, f"IMQ kernel, exact score; std {null_std:.2g} under the true law"


def seed_for(run: RunSpec, salt: str) -> int:
    """A stable seed per (run seed, purpose), independent of Python's hash randomisation."""
    return run.seed * 1_000_003 + sum(ord(c) * 31**i for i, c in enumerate(salt)) % 1_000_003


def sample_runs(config: dict, runs: list[RunSpec], sampler: str, results: str | Path = RESULTS,
                device=None) -> list[dict]:
    """Draw `evaluate.n_samples` samples of every run with `sampler` (on `device`, default
    `evaluate.device`) and save each run's samples with their stats; return the records.

    With `batch_seeds`, the seeds of an (objective, schedule) are drawn as one batch where the
    sampler and network allow it (`batches_runs`, `stack_members`), each run's rows from its own generator, so its samples are
    the ones it gets alone; `seconds` is the batch's shared equally. Skips (incompatible pair),
    failed training and diverging samplers are saved as records too; a batch that diverges is
    drawn again run by run, so one run's divergence is its own row. A run whose saved samples came
    from the same draw (`draw_key`) is not drawn again: its record comes back with `reused` set.
    """
    layout, records = Layout(results, config["name"]), {}
    paths = {run.id: layout.path(SAMPLE, sampler=sampler, **run.fields()) for run in runs}
    keys = {run.id: draw_key(config, run, sampler, results, device) for run in runs}
    for run in runs:
        saved = _saved_draw(paths[run.id], keys[run.id])
        if saved is not None:
            records[run.id] = saved | {"reused": True}
    todo = [run for run in runs if run.id not in records]
    for group in seed_batches(todo) if config["batch_seeds"] else [[run] for run in todo]:
        for run, rec in zip(group, _draw_batch(config, group, sampler, results, device)):
            head = {"run": run.as_dict(), "sampler": sampler, "spec": config["samplers"][sampler],
                    "key": keys[run.id], "provenance": provenance()}
            save_torch(head | rec, paths[run.id])
            records[run.id] = head | rec
    return [records[run.id] for run in runs]


def draw_key(config: dict, run: RunSpec, sampler: str, results: str | Path, device=None) -> str:
    """What decides a run's samples and their record: the sampler's entry, the draw settings, seed
    batching (the timing's) and the model file's identity (size and modification time: a retrained
    run has a new file)."""
    cfg = section(config, "evaluate", run.dataset)
    model = Layout(results, config["name"]).path(MODEL_FILE, **run.fields())
    stat = model.stat() if model.exists() else None
    return json.dumps({"sampler": config["samplers"][sampler], "n_samples": cfg.get("n_samples"),
                       "device": str(device or cfg.get("device", "cpu")),
                       "batch_seeds": config["batch_seeds"], "model": [stat.st_size, stat.st_mtime_ns] if stat else None}, sort_keys=True)


def _saved_draw(path: Path, key: str) -> dict | None:
    """The saved record at `path` when it was drawn with `key` (a damaged file is drawn again)."""
    try:
        rec = load_torch(path) if path.exists() else None
    except ArtefactError:
        return None
    return rec if isinstance(rec, dict) and rec.get("key") == key else None


def _draw_batch(config, runs, sampler, results, device) -> list[dict]:
    """The draw records of the seeds `runs` of one (dataset, objective, schedule)."""
    cfg = EvaluateConfig.from_dict(section(config, "evaluate", runs[0].dataset))
    device = device or cfg.device
    loaded = [_load_for_sampling(config, run, sampler, results, device) for run in runs]
    ready = [k for k, item in enumerate(loaded) if not isinstance(item, dict)]
    out = [item if isinstance(item, dict) else None for item in loaded]
    if not ready:
        return out
    draw = build_sampler(sampler, config["samplers"][sampler])
    scores = [loaded[k][0] for k in ready]
    dataset, process = loaded[ready[0]][1], loaded[ready[0]][2]
    batched = len(ready) > 1 and draw.batches_runs and _stackable(scores)
    groups = [ready] if batched else [[k] for k in ready]
    for members in groups:
        gens = [torch.Generator(device).manual_seed(seed_for(runs[k], sampler)) for k in members]
        score = _stack([loaded[k][0] for k in members])
        progress = Progress(", ".join(runs[k].id for k in members) + f" {sampler}")
        try:
            x, stats = draw(
                score, process, (len(members) * cfg.n_samples, *dataset.shape), device=device,
                generator=gens[0] if len(members) == 1 else Streams(generators=gens),
                callback=lambda state: progress.update(state["i"] + 1, t=float(state["t"])))
        except ConfigError as err:  # e.g. an ALD step size that is unstable for this schedule
            for k in members:
                out[k] = {"status": "failed", "reason": str(err)}
            continue
        if stats["status"] != "ok" and len(members) > 1:  # which run diverged: draw them one by one
            for k in members:
                out[k] = _draw_batch(config, [runs[k]], sampler, results, device)[0]
            continue
        reason = f"non-finite state at step {stats['diverged_step']}" if stats["status"] != "ok" else ""
        stats = stats | {"seconds": stats["seconds"] / len(members), "batched_with": len(members)}
        for k, x_k in zip(members, x.cpu().chunk(len(members))):
            out[k] = {"status": stats["status"], "reason": reason, "stats": stats, "samples": x_k.clone()}
    return out


def _load_for_sampling(config, run, sampler, results, device):
    """(score, dataset, process) of a run to sample, or the record saying why it has none."""
    ok, reason = sample_compatible(config, run, sampler)
    if not ok:
        return {"status": "skipped", "reason": reason}
    score, dataset, process, trained = load_score(config, run, results, device)
    if score is None:
        return {"status": trained["status"], "reason": trained_failure(trained)}
    return score, dataset, process


def _stackable(scores: list) -> bool:
    """Scores that can be evaluated as one batch: networks that hold members, or the one oracle."""
    if all(isinstance(s, OracleScore) for s in scores):
        return True
    return all(isinstance(s, ScoreModel) and s.backbone.batches_members for s in scores)


def _stack(scores: list):
    """One score function for the rows of every member, member-major."""
    if len(scores) == 1 or isinstance(scores[0], OracleScore):
        return scores[0]  # the exact score is one function of (x, t), whatever the seed
    return stack_members(scores)


def sample_rows(config: dict, run: RunSpec, sampler: str, results: str | Path = RESULTS, device=None) -> list[dict]:
    """Metric rows of one (run, sampler) from its saved samples; `device` runs the FID/KID features."""
    rec = load_torch(Layout(results, config["name"]).path(SAMPLE, sampler=sampler, **run.fields()))
    if rec["status"] != "ok":
        return [row(run, sampler, m, math.nan, rec["status"], rec["reason"]) for m in metric_names(config, run, sampler)]
    names = metric_names(config, run, sampler)
    stats, x = rec["stats"], rec["samples"]
    rows = [row(run, sampler, "sample_seconds", stats["seconds"], detail=timing_detail(stats.get("batched_with", 1))),
            row(run, sampler, "nfe", stats["nfe"])]
    drawn = Drawn(x, load_dataset(config, run.dataset), run, EvaluateConfig.from_dict(section(config, "evaluate", run.dataset)))
    for name in names:
        if name in SAMPLE_METRICS:
            value = SAMPLE_METRICS[name](drawn)
            value, detail = value if isinstance(value, tuple) else (value, "")
            rows.append(row(run, sampler, name, value, detail=detail))
    if "fid" in names or "kid" in names:  # one feature pass gives both
        rows += _fidelity_rows(config, run, sampler, x, drawn.evaluate, results, device)
    order = {m: k for k, m in enumerate(names)}
    return sorted((r for r in rows if r["metric"] in order), key=lambda r: order[r["metric"]])


def _fidelity_rows(config: dict, run: RunSpec, sampler: str, x: torch.Tensor, cfg: EvaluateConfig, results,
                   device=None) -> list[dict]:
    """FID and KID of the samples; a reference or feature net that cannot be had makes them failed rows."""
    try:
        score = sample_fidelity(config, run.dataset, cfg, x, results, seed=seed_for(run, sampler), device=device or cfg.device)
    except ScorebenchError as err:
        return [row(run, sampler, m, math.nan, "failed", str(err)) for m in ("fid", "kid")]
    return [row(run, sampler, m, score[m], detail=score["detail"]) for m in ("fid", "kid")]


def baseline_rows(config: dict, dataset: str, results: str | Path = RESULTS, device=None) -> list[dict]:
    """The real-vs-real FID/KID floor of a dataset (objective `data`), building its cached reference,
    and the feature network's test accuracy where one is trained. A reference that cannot be built
    is recorded (failed rows naming the reason) and raised for the caller."""
    cfg = EvaluateConfig.from_dict(section(config, "evaluate", dataset))
    run = RunSpec(dataset, DATA, MODEL, 0)
    wanted = [m for m in ("fid", "kid") if m in (config.get("metrics") or summary_metrics())]
    try:
        ref = build_reference(config, dataset, cfg, results, device or cfg.device)
    except ScorebenchError as err:
        return [row(run, MODEL, m, math.nan, "failed", str(err)) for m in wanted]
    base = ref["baseline"]  # one row per held-out draw (its `seed`), so the floor aggregates with a spread
    rows = [row(RunSpec(dataset, DATA, MODEL, k), MODEL, m, value, detail=base["detail"])
            for m in wanted for k, value in enumerate(base[m])]
    if needs_feature_net(config, dataset, cfg):
        record = load_classifier(feature_net(config, dataset, results))[1]
        rows.append(row(run, MODEL, "feature_accuracy", record["test_accuracy"],
                        detail=f"{record['kind']} classifier on the {record['n_test']} test images"))
    return rows


def steps_detail(trained: dict) -> str:
    """The training-time row's note on its steps: and, for a run under `train.budget_seconds`, that budget."""
    budget = trained.get("budget_seconds")
    if budget is None:
        return f"{trained['steps']} steps"
    ended = "stopped by" if trained.get("stopped_by_budget") else "all steps within"
    return f"{trained['steps']} steps, {ended} a budget of {budget:g} s"


def model_rows(config: dict, run: RunSpec, results: str | Path = RESULTS, device=None) -> list[dict]:
    """Rows that belong to the model: training time, Fisher divergence, NLL and its gap to the truth."""
    cfg = EvaluateConfig.from_dict(section(config, "evaluate", run.dataset))
    device = device or cfg.device
    score, dataset, process, trained = load_score(config, run, results, device)
    if score is None:
        reason = trained_failure(trained)
        return [row(run, MODEL, m, math.nan, trained["status"], reason) for m in metric_names(config, run, None)]
    names = metric_names(config, run, None)
    rows = []
    if "train_seconds" in names:
        rows.append(row(run, MODEL, "train_seconds", trained["train_seconds"],
                        detail=timing_detail(trained.get("batched_with", 1), steps_detail(trained))))
    if "train_steps" in names:
        rows.append(row(run, MODEL, "train_steps", trained["steps"], detail=steps_detail(trained)))
    if "fisher_divergence" in names:
        fd = fisher_divergence(score, dataset, process, n=cfg.fisher_points,
                               generator=torch.Generator().manual_seed(seed_for(run, "fisher")))
        rows.append(row(run, MODEL, "fisher_divergence", fd))
    nll_names = [m for m in names if m.startswith("nll")]
    nll_ok, nll_reason = likelihood_compatible(config, run)
    if not nll_names:
        return rows
    if not nll_ok:
        return rows + [row(run, MODEL, m, math.nan, "skipped", nll_reason) for m in nll_names]
    x = dataset.test[: cfg.nll_points].to(device)
    x = dataset.dequantize(x, torch.Generator(device).manual_seed(seed_for(run, "dequantize")))
    divergence = cfg.divergence if cfg.divergence != "auto" else (
        "exact" if dataset.dim <= cfg.exact_divergence_max_dim else "hutchinson")
    first = seed_for(run, "hutchinson")
    logp, rec = log_likelihood(score, process, x, divergence=divergence, seeds=range(first, first + len(x)))
    bpd = bits_per_dim(logp.cpu(), dataset.dim, dataset.levels)
    if not torch.isfinite(bpd).all():
        return rows + [row(run, MODEL, m, math.nan, "failed", "non-finite log-likelihood") for m in nll_names]
    detail = (f"PF-ODE {rec['solver']} rtol={rec['rtol']} atol={rec['atol']}, {divergence} divergence, "
              f"{len(x)} test points, nfe={rec['nfe']}")
    if "nll_bits_per_dim" in names:
        rows.append(row(run, MODEL, "nll_bits_per_dim", bpd.mean(), detail=detail))
    if "nll_gap_bits_per_dim" in names:
        true = bits_per_dim(dataset.mixture.log_prob(x.cpu().double()).float(), dataset.dim)
        rows.append(row(run, MODEL, "nll_gap_bits_per_dim", (bpd - true).mean(), detail=detail))
    return rows


def evaluate_runs(config: dict, runs: list[RunSpec], sampler: str | None, results: str | Path = RESULTS,
                  device=None) -> list[dict]:
    """Rows of `runs` for `sampler` (None: the model rows). A run whose evaluation raises is recorded
    as failed rows naming the error; the other runs go on."""
    rows = []
    for run in runs:
        try:
            rows += model_rows(config, run, results, device) if sampler is None else sample_rows(config, run, sampler, results, device)
        except (ScorebenchError, RuntimeError, ValueError) as err:
            rows += [row(run, sampler or MODEL, m, math.nan, "failed", f"{type(err).__name__}: {err}")
                     for m in metric_names(config, run, sampler)]
    return rows


def write_rows(rows: list[dict], path: str | Path) -> None:
    """A metrics file: the rows plus the versions that made them."""
    save_json({"rows": rows, "provenance": provenance()}, path)

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

from ..core.classifier import load_classifier
from ..core.data import Dataset
from ..errors import ArtefactError, ConfigError, ScorebenchError
from ..spec.benchmark import Benchmark
from ..spec.grid import RunSpec, seed_batches
from ..io import load_torch, provenance, save_json, save_torch
from ..spec.rows import DATA, MODEL, row
from ..spec.layout import MODEL_FILE, RESULTS, SAMPLE
from ..core.likelihood import bits_per_dim, log_likelihood
from ..spec.metric_info import METRIC_INFO, summary_metrics, timing_detail
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




def load_score(bench: Benchmark, run: RunSpec, results: str | Path, device="cpu"):
    """(score function or None when training did not succeed, dataset, process, training record).

    A trained model brings its process (σ_max saved with it); only the oracle resolves it anew."""
    path = bench.layout(results).path(MODEL_FILE, **run.fields())
    if not path.exists():
        raise ScorebenchError(f"{path}: no trained model; run `scorebench train` for {run.id} first")
    record = load_torch(path, device)
    if record["status"] != "ok" or record.get("oracle"):
        dataset, process = prepare(bench, run)
        return (OracleScore(dataset.mixture, process) if record["status"] == "ok" else None), dataset, process, record
    dataset = load_dataset(bench, run.dataset)
    model, record = load_model(path, dataset, map_location=device)
    return model.to(device), dataset, model.process, record


def trained_failure(record: dict) -> str:
    """Why a run has no usable model, from its training record."""
    if record["status"] == "diverged":
        return f"training diverged at step {record['diverged_step']}"
    return f"training failed: {record.get('reason', 'unknown error')}"


@dataclass
class Drawn:
    """What a sample-level metric's computation sees: the samples of one (run, sampler) and their context."""

    samples: torch.Tensor
    stats: dict  # the draw's record: seconds, nfe, batched_with
    dataset: Dataset
    run: RunSpec
    sampler: str
    evaluate: EvaluateConfig
    bench: Benchmark
    results: str | Path
    device: str | None
    wanted: frozenset[str]


@dataclass
class Trained:
    """What a model-level metric's computation sees: one run's score function and its context."""

    score: Callable
    dataset: Dataset
    process: object
    record: dict  # the training record (model.pt)
    run: RunSpec
    evaluate: EvaluateConfig
    bench: Benchmark
    device: str
    wanted: frozenset[str]


class Unavailable(Exception):
    """A computation that cannot score this run: each of its metrics becomes a row of `status` with `reason`."""

    def __init__(self, status: str, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


Computation = Callable[[Drawn | Trained], "float | tuple[float, str] | dict"]
COMPUTATIONS: dict[str, dict[tuple[str, ...], Computation]] = {"model": {}, "sample": {}}


def computes(*names: str):
    """Register `fn(context)` as the computation of the declared metrics `names` (declared in
    `spec.metric_info`, where the parse and the report read them; all of one level: `model`, whose
    context is a `Trained`, or `sample`, a `Drawn`). It returns the value or (value, detail) of its one
    name, or {name: value or (value, detail)} of several computed together, and raises `Unavailable` for
    a run it cannot score; it runs for every run (and sampler) that wants one of its names."""
    levels = {METRIC_INFO[n].level if n in METRIC_INFO else None for n in names}
    if not names or len(levels) != 1 or not levels <= set(COMPUTATIONS):
        raise ValueError(f"computes{names!r}: declare each name first in scorebench/spec/metric_info.py "
                         "(METRIC_INFO), all of one level: model or sample")

    def add(fn: Computation) -> Computation:
        COMPUTATIONS[levels.pop()][names] = fn
        return fn

    return add


def _computed(level: str, context: Drawn | Trained, sampler: str, names: list[str]) -> list[dict]:
    """The rows of every registered computation of `level` that `names` want, in the order of `names`."""
    rows = []
    for group, fn in COMPUTATIONS[level].items():
        wanted = [n for n in group if n in names]
        if not wanted:
            continue
        try:
            values = fn(context)
        except Unavailable as why:
            rows += [row(context.run, sampler, n, math.nan, why.status, why.reason) for n in wanted]
            continue
        values = values if isinstance(values, dict) else {group[0]: values}
        for n in wanted:
            value, detail = values[n] if isinstance(values[n], tuple) else (values[n], "")
            rows.append(row(context.run, sampler, n, value, detail=detail))
    order = {m: k for k, m in enumerate(names)}
    return sorted(rows, key=lambda r: order[r["metric"]])


@computes("sample_seconds")
def _sample_seconds(drawn: Drawn) -> tuple[float, str]:
    return drawn.stats["seconds"], timing_detail(drawn.stats.get("batched_with", 1))


@computes("nfe")
def _nfe(drawn: Drawn) -> float:
    return drawn.stats["nfe"]


@computes("mode_weight_tv")
def _mode_weight_tv(drawn: Drawn) -> float:
    return mode_weight_tv(drawn.samples, drawn.dataset)


@computes("sliced_wasserstein")
def _sliced_wasserstein(drawn: Drawn) -> tuple[float, str]:
    x = drawn.samples
    ref = drawn.dataset.mixture.sample(len(x), torch.Generator().manual_seed(seed_for(drawn.run, "reference")))
    sw = sliced_wasserstein(x, ref, n_projections=drawn.evaluate.sw_projections, generator=torch.Generator().manual_seed(0))
    return sw, f"vs {len(x)} fresh true samples"


@computes("c2st")
def _c2st(drawn: Drawn) -> tuple[float, str]:
    x = drawn.samples
    ref = drawn.dataset.mixture.sample(len(x), torch.Generator().manual_seed(seed_for(drawn.run, "c2st reference")))
    return c2st(x, ref, generator=torch.Generator().manual_seed(0)), f"5-fold accuracy vs {len(x)} fresh true samples"


@computes("ksd")
def _ksd(drawn: Drawn) -> tuple[float, str]:
    value, null_std = kernel_stein_discrepancy(drawn.samples, drawn.dataset.mixture.score)
    return value, f"IMQ kernel, exact score; std {null_std:.2g} under the true law"


def seed_for(run: RunSpec, salt: str) -> int:
    """A stable seed per (run seed, purpose), independent of Python's hash randomisation."""
    return run.seed * 1_000_003 + sum(ord(c) * 31**i for i, c in enumerate(salt)) % 1_000_003


def sample_runs(bench: Benchmark, runs: list[RunSpec], sampler: str, results: str | Path = RESULTS,
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
    layout, records = bench.layout(results), {}
    paths = {run.id: layout.path(SAMPLE, sampler=sampler, **run.fields()) for run in runs}
    keys = {run.id: draw_key(bench, run, sampler, results, device) for run in runs}
    for run in runs:
        saved = _saved_draw(paths[run.id], keys[run.id])
        if saved is not None:
            records[run.id] = saved | {"reused": True}
    todo = [run for run in runs if run.id not in records]
    for group in seed_batches(todo) if bench.batch_seeds else [[run] for run in todo]:
        for run, rec in zip(group, _draw_batch(bench, group, sampler, results, device)):
            head = {"run": run.as_dict(), "sampler": sampler, "spec": bench.sampler(sampler),
                    "key": keys[run.id], "provenance": provenance()}
            save_torch(head | rec, paths[run.id])
            records[run.id] = head | rec
    return [records[run.id] for run in runs]


def draw_key(bench: Benchmark, run: RunSpec, sampler: str, results: str | Path, device=None) -> str:
    """What decides a run's samples and their record: the sampler's entry, the draw settings, seed
    batching (the timing's) and the model file's identity (size and modification time: a retrained
    run has a new file)."""
    cfg = bench.section("evaluate", run.dataset)
    model = bench.layout(results).path(MODEL_FILE, **run.fields())
    stat = model.stat() if model.exists() else None
    return json.dumps({"sampler": bench.sampler(sampler), "n_samples": cfg.get("n_samples"),
                       "device": str(device or cfg.get("device", "cpu")),
                       "batch_seeds": bench.batch_seeds, "model": [stat.st_size, stat.st_mtime_ns] if stat else None}, sort_keys=True)


def _saved_draw(path: Path, key: str) -> dict | None:
    """The saved record at `path` when it was drawn with `key` (a damaged file is drawn again)."""
    try:
        rec = load_torch(path) if path.exists() else None
    except ArtefactError:
        return None
    return rec if isinstance(rec, dict) and rec.get("key") == key else None


def _draw_batch(bench: Benchmark, runs, sampler, results, device) -> list[dict]:
    """The draw records of the seeds `runs` of one (dataset, objective, schedule)."""
    cfg = bench.evaluate(runs[0].dataset)
    device = device or cfg.device
    loaded = [_load_for_sampling(bench, run, sampler, results, device) for run in runs]
    ready = [k for k, item in enumerate(loaded) if not isinstance(item, dict)]
    out = [item if isinstance(item, dict) else None for item in loaded]
    if not ready:
        return out
    draw = build_sampler(sampler, bench.sampler(sampler))
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
                out[k] = _draw_batch(bench, [runs[k]], sampler, results, device)[0]
            continue
        reason = f"non-finite state at step {stats['diverged_step']}" if stats["status"] != "ok" else ""
        stats = stats | {"seconds": stats["seconds"] / len(members), "batched_with": len(members)}
        for k, x_k in zip(members, x.cpu().chunk(len(members))):
            out[k] = {"status": stats["status"], "reason": reason, "stats": stats, "samples": x_k.clone()}
    return out


def _load_for_sampling(bench: Benchmark, run, sampler, results, device):
    """(score, dataset, process) of a run to sample, or the record saying why it has none."""
    ok, reason = bench.sample_compatible(run, sampler)
    if not ok:
        return {"status": "skipped", "reason": reason}
    score, dataset, process, trained = load_score(bench, run, results, device)
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


def sample_rows(bench: Benchmark, run: RunSpec, sampler: str, results: str | Path = RESULTS, device=None) -> list[dict]:
    """Metric rows of one (run, sampler) from its saved samples; `device` runs the FID/KID features."""
    rec = load_torch(bench.layout(results).path(SAMPLE, sampler=sampler, **run.fields()))
    names = bench.metric_names("sample", run.dataset)
    if rec["status"] != "ok":
        return [row(run, sampler, m, math.nan, rec["status"], rec["reason"]) for m in names]
    drawn = Drawn(rec["samples"], rec["stats"], load_dataset(bench, run.dataset), run, sampler, bench.evaluate(run.dataset),
                  bench, results, device, frozenset(names))
    return _computed("sample", drawn, sampler, names)


@computes("fid", "kid")
def _fidelity(drawn: Drawn) -> dict:
    """FID and KID of the samples from one feature pass; a reference or feature net that cannot be had
    makes them failed rows."""
    cfg = drawn.evaluate
    try:
        score = sample_fidelity(drawn.bench, drawn.run.dataset, cfg, drawn.samples, drawn.results,
                                seed=seed_for(drawn.run, drawn.sampler), device=drawn.device or cfg.device)
    except ScorebenchError as err:
        raise Unavailable("failed", str(err)) from None
    return {m: (score[m], score["detail"]) for m in ("fid", "kid")}


def baseline_rows(bench: Benchmark, dataset: str, results: str | Path = RESULTS, device=None) -> list[dict]:
    """The real-vs-real FID/KID floor of a dataset (objective `data`), building its cached reference,
    and the feature network's test accuracy where one is trained. A reference that cannot be built
    is recorded (failed rows naming the reason) and raised for the caller."""
    cfg = bench.evaluate(dataset)
    run = RunSpec(dataset, DATA, MODEL, 0)
    wanted = [m for m in ("fid", "kid") if m in (bench.metrics or summary_metrics())]
    try:
        ref = build_reference(bench, dataset, cfg, results, device or cfg.device)
    except ScorebenchError as err:
        return [row(run, MODEL, m, math.nan, "failed", str(err)) for m in wanted]
    base = ref["baseline"]  # one row per held-out draw (its `seed`), so the floor aggregates with a spread
    rows = [row(RunSpec(dataset, DATA, MODEL, k), MODEL, m, value, detail=base["detail"])
            for m in wanted for k, value in enumerate(base[m])]
    if needs_feature_net(bench, dataset, cfg):
        record = load_classifier(feature_net(bench, dataset, results))[1]
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


def model_rows(bench: Benchmark, run: RunSpec, results: str | Path = RESULTS, device=None) -> list[dict]:
    """Rows that belong to the model: training time and steps, Fisher divergence, NLL and its gap to the truth."""
    cfg = bench.evaluate(run.dataset)
    device = device or cfg.device
    score, dataset, process, trained = load_score(bench, run, results, device)
    names = bench.metric_names("model", run.dataset)
    if score is None:
        reason = trained_failure(trained)
        return [row(run, MODEL, m, math.nan, trained["status"], reason) for m in names]
    context = Trained(score, dataset, process, trained, run, cfg, bench, device, frozenset(names))
    return _computed("model", context, MODEL, names)


@computes("train_seconds")
def _train_seconds(m: Trained) -> tuple[float, str]:
    return m.record["train_seconds"], timing_detail(m.record.get("batched_with", 1), steps_detail(m.record))


@computes("train_steps")
def _train_steps(m: Trained) -> tuple[float, str]:
    return m.record["steps"], steps_detail(m.record)


@computes("fisher_divergence")
def _fisher_divergence(m: Trained) -> float:
    return fisher_divergence(m.score, m.dataset, m.process, n=m.evaluate.fisher_points,
                             generator=torch.Generator().manual_seed(seed_for(m.run, "fisher")))


@computes("nll_bits_per_dim", "nll_gap_bits_per_dim")
def _nll(m: Trained) -> dict:
    """Bits/dim of held-out points through the probability-flow ODE, and (synthetic data) its gap to the
    true density's on the same points: one ODE solve for both."""
    ok, reason = m.bench.likelihood_compatible(m.run)
    if not ok:
        raise Unavailable("skipped", reason)
    cfg, dataset = m.evaluate, m.dataset
    x = dataset.test[: cfg.nll_points].to(m.device)
    x = dataset.dequantize(x, torch.Generator(m.device).manual_seed(seed_for(m.run, "dequantize")))
    divergence = cfg.divergence if cfg.divergence != "auto" else (
        "exact" if dataset.dim <= cfg.exact_divergence_max_dim else "hutchinson")
    first = seed_for(m.run, "hutchinson")
    logp, rec = log_likelihood(m.score, m.process, x, divergence=divergence, seeds=range(first, first + len(x)))
    bpd = bits_per_dim(logp.cpu(), dataset.dim, dataset.levels)
    if not torch.isfinite(bpd).all():
        raise Unavailable("failed", "non-finite log-likelihood")
    detail = (f"PF-ODE {rec['solver']} rtol={rec['rtol']} atol={rec['atol']}, {divergence} divergence, "
              f"{len(x)} test points, nfe={rec['nfe']}")
    out = {"nll_bits_per_dim": (bpd.mean(), detail)}
    if "nll_gap_bits_per_dim" in m.wanted:
        true = bits_per_dim(dataset.mixture.log_prob(x.cpu().double()).float(), dataset.dim)
        out["nll_gap_bits_per_dim"] = ((bpd - true).mean(), detail)
    return out


def evaluate_runs(bench: Benchmark, runs: list[RunSpec], sampler: str | None, results: str | Path = RESULTS,
                  device=None) -> list[dict]:
    """Rows of `runs` for `sampler` (None: the model rows). A run whose evaluation raises is recorded
    as failed rows naming the error; the other runs go on."""
    rows = []
    for run in runs:
        try:
            rows += model_rows(bench, run, results, device) if sampler is None else sample_rows(bench, run, sampler, results, device)
        except (ScorebenchError, RuntimeError, ValueError) as err:
            rows += [row(run, sampler or MODEL, m, math.nan, "failed", f"{type(err).__name__}: {err}")
                     for m in bench.metric_names("sample" if sampler else "model", run.dataset)]
    return rows


def write_rows(rows: list[dict], path: str | Path) -> None:
    """A metrics file: the rows plus the versions that made them."""
    save_json({"rows": rows, "provenance": provenance()}, path)

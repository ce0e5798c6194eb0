"""Build the pieces of a run from a Benchmark and train runs into the results layout.

`train_runs` trains a group of runs (all seeds and schedules of a dataset and objective, as one
workflow job does) in one process: the interpreter, torch and the dataset are loaded once, and with
`batch_seeds` every schedule × seed of the group trains as one batched ensemble (`train.train`,
each member with its own noise process). Each run keeps its own directory, checkpoint, record and
status; a run whose record is `ok` or `diverged` with the same parameters is not trained again, so
rerunning a group retrains only what changed (a changed schedule: only its members).
"""
from __future__ import annotations

import json
import sys
import time
from functools import lru_cache
from pathlib import Path

from ..core.data import Dataset, build_dataset
from ..errors import ArtefactError, ConfigError, ScorebenchError
from ..spec.benchmark import Benchmark
from ..spec import catalog
from ..spec.grid import RunSpec
from ..io import load_torch, provenance, save_json, save_torch
from ..spec.layout import MODEL_FILE, RESULTS, RUN, TRAIN_GROUP
from ..core.objectives import build_objective
from ..core.sde import NoiseProcess, build_process
from ..core.metrics import curve_probe
from ..core.nets import build_backbone
from ..core.oracle import OracleScore
from ..spec.rows import RUN_CURVE_COLUMNS
from .trainer import Member, curve_steps, train, write_csv


def check(bench: Benchmark, datasets: list[str] | None = None) -> Benchmark:
    """`bench` with every component built, so that a bad parameter stops here, before any work, in one
    line naming its key: objectives, samplers, conditioning, and `datasets` (default: every entry) with
    each schedule on them (files present, σ_max from the data) and their network. Built once per
    process (cached) and reused by the work that follows."""
    from ..core.samplers import build_sampler

    for name in bench.objectives:
        build_objective(name, bench.objective_params(name))
    for name in bench.samplers:
        build_sampler(name, bench.sampler(name))
    if (cond := bench.conditioning) is not None:
        from ..core.conditioning import build_mask, build_method

        for name, spec in cond["masks"].items():
            build_mask(name, spec)
        for name, spec in cond["methods"].items():
            build_method(name, spec)
    for dataset in bench.dataset_entries if datasets is None else datasets:
        train = bench.train(dataset)
        bench.evaluate(dataset)
        for schedule in bench.schedules:
            data, _ = _prepared(dataset, _key(bench.dataset(dataset)), schedule, _key(bench.schedule(schedule)))
        build_backbone(train.net, data.shape)  # the network's keys and sizes (a small MLP or U-Net: milliseconds)
    return bench


def prepare(bench: Benchmark, run: RunSpec) -> tuple[Dataset, NoiseProcess]:
    """The run's dataset and noise process (σ_max resolved from its training data), each built once
    per process for all the runs that share it."""
    bench.check_run(run)
    return _prepared(run.dataset, _key(bench.dataset(run.dataset)), run.schedule, _key(bench.schedule(run.schedule)))


def _key(entry: dict) -> str:
    return json.dumps(entry, sort_keys=True)


def load_dataset(bench: Benchmark, name: str) -> Dataset:
    """Dataset `name` of the benchmark, built once per process (a job samples or evaluates many runs)."""
    return _dataset(name, _key(bench.dataset(name)))


@lru_cache(maxsize=8)
def _dataset(name: str, params: str) -> Dataset:
    return build_dataset(name, json.loads(params))


@lru_cache(maxsize=32)
def _prepared(dataset: str, params: str, schedule: str, spec: str) -> tuple[Dataset, NoiseProcess]:
    data = _dataset(dataset, params)
    return data, build_process(schedule, json.loads(spec), data.train)


def saved_record(bench: Benchmark, run: RunSpec, results: str | Path = RESULTS) -> dict | None:
    """`run`'s saved record (model.pt) if it has a readable one."""
    path = bench.layout(results).path(MODEL_FILE, **run.fields())
    try:
        return load_torch(path, "cpu") if path.is_file() else None
    except ArtefactError:  # a damaged record is no record: the run trains again
        return None


def finished(bench: Benchmark, run: RunSpec, results: str | Path = RESULTS) -> bool:
    """Whether `run` has a record that is final (`ok` or `diverged`) for its current parameters."""
    rec = saved_record(bench, run, results)
    return bool(rec) and rec.get("status") in ("ok", "diverged") and rec.get("params") == bench.run_params(run)


def failed_attempts(bench: Benchmark, run: RunSpec, results: str | Path = RESULTS) -> tuple[int, str]:
    """(times in a row `run` failed with its current parameters, the last reason); (0, "") otherwise."""
    rec = saved_record(bench, run, results)
    if not rec or rec.get("status") != "failed" or rec.get("params") != bench.run_params(run):
        return 0, ""
    return int(rec.get("attempts", 1)), str(rec.get("reason", ""))


def train_runs(bench: Benchmark, runs: list[RunSpec], results: str | Path = RESULTS, record_failure: bool = False,
               log=sys.stdout) -> list[dict]:
    """Train every run of `runs` that is not `finished`, one after the other in this process (with
    `batch_seeds`, the schedules × seeds of a (dataset, objective) as one batch, `train.train`); a line
    per run started and finished goes to `log`. Returns the records of the runs trained."""
    todo = []
    for k, run in enumerate(runs, 1):
        if finished(bench, run, results):
            print(f"[{k}/{len(runs)}] {run.id}: up to date", file=log, flush=True)
        else:
            todo.append(run)
    records, number = [], {run.id: k for k, run in enumerate(runs, 1)}
    for batch in ensembles(todo) if bench.batch_seeds else [[run] for run in todo]:
        for run in batch:
            print(f"[{number[run.id]}/{len(runs)}] {run.id}: training (batched with {len(batch) - 1} more)"
                  if len(batch) > 1 else f"[{number[run.id]}/{len(runs)}] {run.id}: training", file=log, flush=True)
        start = time.perf_counter()
        for run, rec in zip(batch, train_batch(bench, batch, results, record_failure=record_failure)):
            detail = {"ok": "", "diverged": f" at step {rec.get('diverged_step')}", "failed": f": {rec.get('reason')}"}
            print(f"[{number[run.id]}/{len(runs)}] {run.id}: {rec['status']}{detail.get(rec['status'], '')}, "
                  f"{rec['steps']} steps, {rec['train_seconds']:.1f} s training, "
                  f"{time.perf_counter() - start:.1f} s in all for its batch", file=log, flush=True)
            records.append(rec)
    return records


def ensembles(runs: list[RunSpec]) -> list[list[RunSpec]]:
    """`runs` grouped by (dataset, objective), in first-seen order: the schedules × seeds that train as
    one batched ensemble."""
    groups: dict[tuple[str, str], list[RunSpec]] = {}
    for run in runs:
        groups.setdefault((run.dataset, run.objective), []).append(run)
    return list(groups.values())


def record_groups(bench: Benchmark, runs: list[RunSpec], results: str | Path, statuses: dict[str, str]) -> None:
    """Write each (dataset, objective) group's runs.json (run id -> status, `up to date` for runs not
    trained now): the workflow's record that the group's training job is done."""
    groups: dict[tuple[str, str], list[RunSpec]] = {}
    for run in runs:
        groups.setdefault((run.dataset, run.objective), []).append(run)
    layout = bench.layout(results)
    for (dataset, objective), members in groups.items():
        save_json({"runs": {r.id: statuses.get(r.id, "up to date") for r in members}},
                  layout.path(TRAIN_GROUP, dataset=dataset, objective=objective))


def train_run(bench: Benchmark, run: RunSpec, results: str | Path = RESULTS, record_failure: bool = False) -> dict:
    """Train one run (resuming from its checkpoint if one exists) and return its record."""
    return train_batch(bench, [run], results, record_failure)[0]


def train_batch(bench: Benchmark, runs: list[RunSpec], results: str | Path = RESULTS,
                record_failure: bool = False) -> list[dict]:
    """Train the schedules × seeds `runs` of one (dataset, objective) together and return their records.

    With `record_failure`, an error during data loading or training is saved as each run's record
    (status "failed", the reason) instead of raised, so a workflow's later stages report it as a row.
    """
    for run in runs:
        bench.check_run(run)
        ok, reason = bench.train_compatible(run.dataset, run.objective, run.schedule)
        if not ok:
            raise ConfigError(f"{run.id}: {reason}")
    if len(ensembles(runs)) != 1:
        raise ValueError("a training batch holds the runs of one dataset and objective")
    layout = bench.layout(results)
    outs = [layout.path(RUN, **run.fields()) for run in runs]
    try:
        return _train(bench, runs, outs)
    except (ScorebenchError, RuntimeError, ValueError) as err:
        if not record_failure:
            raise
        recs = [{"status": "failed", "reason": f"{type(err).__name__}: {err}", "steps": 0, "train_seconds": 0.0,
                 "attempts": failed_attempts(bench, run, results)[0] + 1, "run": run.as_dict(),
                 "params": bench.run_params(run), "provenance": provenance()} for run in runs]
        for rec, out in zip(recs, outs):
            save_torch(rec, out / "model.pt")
        return recs


def _train(bench: Benchmark, runs: list[RunSpec], outs: list[Path]) -> list[dict]:
    first = runs[0]
    cfg = bench.train(first.dataset)
    prepared = {run.schedule: prepare(bench, run) for run in runs}
    dataset = prepared[first.schedule][0]
    probes = {schedule: curve_probe(dataset, process) for schedule, (_, process) in prepared.items()}
    if not catalog.OBJECTIVES.get(first.objective).trains:  # the exact score: its curve is its probe (0) at every step
        recs = []
        for run, out in zip(runs, outs):
            process, (name, probe) = prepared[run.schedule][1], probes[run.schedule]
            value = probe(OracleScore(dataset.mixture, process))
            write_csv([{"step": s, "train_seconds": 0.0, "metric": name, "value": value}
                       for s in curve_steps(cfg.steps, cfg.curve_points)], RUN_CURVE_COLUMNS, out / "curve.csv")
            rec = {"status": "ok", "oracle": True, "steps": 0, "train_seconds": 0.0, "run": run.as_dict(),
                   "params": bench.run_params(run), "process": process.spec(), "process_notes": process.notes,
                   "provenance": provenance()}
            save_torch(rec, out / "model.pt")
            recs.append(rec)
        return recs
    objective = build_objective(first.objective, bench.objective_params(first.objective))
    members = [Member(run.seed, out, run.as_dict(), prepared[run.schedule][1], bench.run_params(run),
                      probes[run.schedule]) for run, out in zip(runs, outs)]
    return train(dataset, objective, cfg, members)

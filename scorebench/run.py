"""Build the pieces of one run from a config and train it into the results layout."""
from __future__ import annotations

from pathlib import Path

from .config import dataset_params, section
from .data import Dataset, build_dataset
from .errors import ConfigError, ScorebenchError
from .grid import ORACLE, RunSpec, check_run, objective_params, train_compatible
from .io import provenance, save_torch
from .layout import RESULTS, RUN, Layout
from .objectives import build_objective
from .sde import NoiseProcess, build_process
from .train import TrainConfig, train


def prepare(config: dict, run: RunSpec) -> tuple[Dataset, NoiseProcess]:
    """The run's dataset and noise process (σ_max resolved from its training data)."""
    check_run(config, run)
    dataset = build_dataset(run.dataset, dataset_params(config, run.dataset))
    return dataset, build_process(run.schedule, config["schedules"][run.schedule], dataset.train)


def train_run(config: dict, run: RunSpec, results: str | Path = RESULTS, record_failure: bool = False) -> dict:
    """Train `run` (resuming from its checkpoint if one exists) and return its record.

    With `record_failure`, an error during data loading or training is saved as the run's record
    (status "failed", the reason) instead of raised, so a workflow's later stages report it as a row.
    """
    check_run(config, run)
    ok, reason = train_compatible(config, run.dataset, run.objective, run.schedule)
    if not ok:
        raise ConfigError(f"{run.id}: {reason}")
    out = Layout(results, config["name"]).path(RUN, **run.fields())
    try:
        return _train(config, run, out)
    except (ScorebenchError, RuntimeError, ValueError) as err:
        if not record_failure:
            raise
        rec = {"status": "failed", "reason": f"{type(err).__name__}: {err}", "steps": 0, "train_seconds": 0.0,
               "run": run.as_dict(), "provenance": provenance()}
        save_torch(rec, out / "model.pt")
        return rec


def _train(config: dict, run: RunSpec, out: Path) -> dict:
    dataset, process = prepare(config, run)
    cfg = TrainConfig.from_dict(section(config, "train", run.dataset))
    if run.objective == ORACLE:
        rec = {"status": "ok", "oracle": True, "steps": 0, "train_seconds": 0.0, "run": run.as_dict(),
               "process": process.spec(), "process_notes": process.notes, "provenance": provenance()}
        save_torch(rec, out / "model.pt")
        return rec
    objective = build_objective(run.objective, objective_params(config, run.objective))
    return train(dataset, process, objective, cfg, seed=run.seed, out_dir=out, run_spec=run.as_dict())

"""Expand a validated config into runs, and decide which combinations are valid (and why not).

Like benchopt's `skip` hook, `compatible` returns (ok, reason); the reasons are shown by
`scorebench grid` and in the report. Nothing here loads data or imports torch (the components'
facts come from `catalog`), so the workflow's parse of a large grid takes milliseconds;
`jobs.build.check` builds every component to check its parameters, for the verbs that run work.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

from . import catalog
from .catalog import dataset_info
from .config import dataset_params, has_grid, objective_entries, section
from ..errors import ConfigError
from .layout import DATA_METRICS, MODEL_METRICS
from .metric_info import summary_metrics



@dataclass(frozen=True)
class RunSpec:
    """One trained model: dataset × objective × schedule × seed."""

    dataset: str
    objective: str
    schedule: str
    seed: int

    @property
    def id(self) -> str:
        return f"{self.dataset}/{self.objective}/{self.schedule}/seed{self.seed}"

    def fields(self) -> dict:
        return {"dataset": self.dataset, "objective": self.objective, "schedule": self.schedule, "seed": self.seed}

    def as_dict(self) -> dict:
        return self.fields() | {"id": self.id}


def run_params(config: dict, run: RunSpec) -> dict:
    """Everything that decides a run's training: the workflow's params for its group, and what a
    finished run's record must carry to be skipped."""
    return {"dataset": config["datasets"][run.dataset], "objective": objective_entries(config)[run.objective],
            "schedule": config["schedules"][run.schedule], "train": section(config, "train", run.dataset),
            "seed": run.seed}


def objective_names() -> list[str]:
    """Valid values of `objectives:`: the objective registry plus the analytic oracle."""
    return catalog.OBJECTIVES.keys()


def check_names(config: dict) -> None:
    """Every registry name in the config exists (the schema checks only the shape); torch-free."""
    for key, registry in (("datasets", catalog.DATASETS), ("schedules", catalog.SCHEDULES), ("samplers", catalog.SAMPLERS)):
        for name, spec in config[key].items():
            if spec["kind"] not in registry:
                raise ConfigError(
                    f"{key}.{name}.kind: unknown {registry.concept} {spec['kind']!r}; valid: {', '.join(registry.keys())}"
                )
    for name in config["samplers"]:
        if name in (MODEL_METRICS, DATA_METRICS):
            raise ConfigError(f"samplers.{name}: a reserved name (the {name!r} metrics file of every dataset); "
                              "rename the sampler")
    for name in objective_entries(config):
        if name not in objective_names():
            raise ConfigError(f"objectives: unknown objective {name!r}; valid: {', '.join(objective_names())}")
    for metric in config.get("metrics", []):
        if metric not in summary_metrics():
            raise ConfigError(f"metrics: unknown metric {metric!r}; valid: {', '.join(summary_metrics())}")
    check_conditioning(config)


def conditioning(config: dict) -> dict | None:
    """The `conditioning:` section with its defaults (samplers: every one), or None when absent."""
    if "conditioning" not in config:
        return None
    return {"samplers": list(config["samplers"]), "observations": 3, "n_samples": 500, **config["conditioning"]}


def check_conditioning(config: dict) -> None:
    """Kinds, samplers and masks of `conditioning:` against the datasets, torch-free: an index out of
    range, a mask observing every coordinate or none, or one that fits no dataset is refused by key."""
    cond = conditioning(config)
    if cond is None:
        return
    for key, registry in (("masks", catalog.MASKS), ("methods", catalog.METHODS)):
        for name, spec in cond[key].items():
            if spec["kind"] not in registry:
                raise ConfigError(f"conditioning.{key}.{name}.kind: unknown {registry.concept} {spec['kind']!r}; "
                                  f"valid: {', '.join(registry.keys())}")
    for sampler in cond["samplers"]:
        if sampler not in config["samplers"]:
            raise ConfigError(f"conditioning.samplers: the config has no sampler {sampler!r}; it has: "
                              f"{', '.join(config['samplers']) or 'none'}")
    for name, spec in cond["masks"].items():
        fits = [d for d in config["datasets"] if catalog.MASKS.get(spec["kind"]).image == catalog.is_image(config["datasets"][d])]
        if not fits:
            raise ConfigError(f"conditioning.masks.{name}: a {spec['kind']} mask is for "
                              f"{'images' if catalog.MASKS.get(spec['kind']).image else 'vectors'}; no dataset of this config has them")
        observed = spec.get("observed")
        if spec["kind"] != "coordinates" or observed is None:
            continue  # a missing `observed` is refused when the mask is built (jobs.build.check)
        if not isinstance(observed, list) or not observed or not all(type(i) is int and i >= 0 for i in observed):
            raise ConfigError(f"conditioning.masks.{name}.observed: must be a non-empty list of coordinate indices "
                              f">= 0 (got {observed!r})")
        for dataset in fits:
            dim = dataset_info(dataset_params(config, dataset))[1]
            if not isinstance(dim, int) or dim < 1:
                continue  # a bad `dim` is the dataset's own error, named when it is built
            if max(observed) >= dim or len(set(observed)) >= dim:
                problem = (f"index {max(observed)} is out of range" if max(observed) >= dim
                           else f"observes all {dim} coordinates, leaving none to generate")
                raise ConfigError(f"conditioning.masks.{name}.observed: {problem} for dataset {dataset} (d = {dim})")


def conditional_cases(config: dict, run: RunSpec, sampler: str) -> list[tuple[str, str, bool, str]]:
    """(mask, method, ok, reason) of every mask that fits the run's dataset × every method, for a
    sampler listed in `conditioning.samplers` that can sample the run."""
    cond = conditioning(config)
    if cond is None or sampler not in cond["samplers"] or not sample_compatible(config, run, sampler)[0]:
        return []
    image = catalog.is_image(config["datasets"][run.dataset])
    cases = []
    for mask, mspec in cond["masks"].items():
        if catalog.MASKS.get(mspec["kind"]).image != image:
            continue
        for method, spec in cond["methods"].items():
            ok, reason, facts = True, "", catalog.METHODS.get(spec["kind"])
            if facts.needs_exact and catalog.OBJECTIVES.get(run.objective).trains:
                ok, reason = False, f"method {method} needs the exact conditional score: the oracle objective only"
            elif facts.needs_steps and not catalog.SAMPLERS.get(config["samplers"][sampler]["kind"]).stepped:
                ok, reason = False, f"sampler {sampler} has no steps to replace the observed coordinates in"
            cases.append((mask, method, ok, reason))
    return cases


def untrained(objective: str) -> bool:
    """Whether `objective` is trained by nothing (the exact score: its kind's `trains` fact), so it is
    compared, never ranked; False for names that are no objective kind (the `data` baseline rows)."""
    return objective in catalog.OBJECTIVES and not catalog.OBJECTIVES.get(objective).trains


def check_run(config: dict, run: RunSpec) -> None:
    """The run's names are entries of this config (its parameters are checked once per process, by
    `jobs.build.check` in every verb, and again by each component's constructor)."""
    for key, name in (("datasets", run.dataset), ("objectives", run.objective), ("schedules", run.schedule)):
        entries = objective_entries(config) if key == "objectives" else config[key]
        if name not in entries:
            raise ConfigError(f"{key}: the config has no entry {name!r}; it has: {', '.join(entries) or 'none'}")


def train_compatible(config: dict, dataset: str, objective: str, schedule: str) -> tuple[bool, str]:
    """Can this objective be trained on this dataset? (ok, reason when not): the objective's facts say."""
    synthetic, dim = dataset_info(dataset_params(config, dataset))
    facts = catalog.OBJECTIVES.get(objective)
    return facts.compatible(objective, objective_entries(config)[objective], dataset, synthetic, dim)


def sample_compatible(config: dict, run: RunSpec, sampler: str) -> tuple[bool, str]:
    """Can this sampler run on this run's schedule? (ok, reason when not): the sampler's facts say."""
    schedule = config["schedules"][run.schedule]["kind"]
    return catalog.SAMPLERS.get(config["samplers"][sampler]["kind"]).compatible(sampler, run.schedule, schedule, catalog.discrete(schedule))


def likelihood_compatible(config: dict, run: RunSpec) -> tuple[bool, str]:
    """NLL needs the probability-flow ODE, which needs a continuous-time schedule."""
    schedule = config["schedules"][run.schedule]["kind"]
    if catalog.discrete(schedule):
        return False, f"NLL needs the probability-flow ODE; schedule {run.schedule} ({schedule}) is discrete"
    return True, ""


def fidelity(config: dict) -> bool:
    """Whether FID/KID are computed (an empty `metrics:` list means every metric)."""
    return not config["metrics"] or bool({"fid", "kid"} & set(config["metrics"]))


def metric_files(config: dict, dataset: str) -> list[str]:
    """The metrics/<dataset>/<name>.json files of a dataset with runs: its models' rows per objective
    (written by that objective's training job), one per sampler, the real-vs-real floor where FID/KID are
    computed, one per conditioning sampler."""
    objectives = [o for o in objective_entries(config)
                  if any(train_compatible(config, dataset, o, s)[0] for s in config["schedules"])]
    return [*map(model_file, objectives), *config["samplers"], *([DATA_METRICS] if fidelity(config) else []),
            *(conditional_file(s) for s in (conditioning(config) or {"samplers": []})["samplers"])]


def model_file(objective: str) -> str:
    """The {name} of the metrics file of an objective's models on a dataset (`model.<objective>`)."""
    return f"{MODEL_METRICS}.{objective}"


def conditional_file(sampler: str) -> str:
    """The {name} of a sampler's conditional-generation metrics file (a sampler name holds no dot)."""
    return f"conditional.{sampler}"


def seed_batches(runs: list[RunSpec]) -> list[list[RunSpec]]:
    """`runs` grouped by (dataset, objective, schedule), in first-seen order: the seeds that train
    and sample as one batch."""
    batches: dict[tuple[str, str, str], list[RunSpec]] = {}
    for run in runs:
        batches.setdefault((run.dataset, run.objective, run.schedule), []).append(run)
    return list(batches.values())


def objective_params(config: dict, objective: str) -> dict:
    """The parameters passed to the objective's constructor (grid-only keys removed)."""
    params = objective_entries(config)[objective]
    return {k: v for k, v in params.items() if k not in catalog.GRID_KEYS}


def runs(config: dict) -> tuple[list[RunSpec], list[tuple[RunSpec, str]]]:
    """(runs to train, [(skipped run, reason)]) over datasets × objectives × schedules × seeds."""
    if not has_grid(config):
        return [], []
    check_names(config)
    valid, skipped = [], []
    for d, o, s, seed in itertools.product(config["datasets"], objective_entries(config), config["schedules"], config["seeds"]):
        run = RunSpec(d, o, s, seed)
        ok, reason = train_compatible(config, d, o, s)
        (valid.append(run) if ok else skipped.append((run, reason)))
    if not valid:
        raise ConfigError("grid: every combination was skipped; " + "; ".join(sorted({r for _, r in skipped})))
    return valid, skipped


def describe(config: dict) -> str:
    """A human-readable listing of what will run and what is skipped, with the reasons."""
    valid, skipped = runs(config)
    lines = [f"{len(valid)} runs to train:"]
    for run in valid:
        samplers = [s for s in config["samplers"] if sample_compatible(config, run, s)[0]]
        lines.append(f"  {run.id}  samplers: {', '.join(samplers) or '-'}")
    lines.append(f"{len(skipped)} combinations skipped:")
    lines += [f"  {run.id}: {reason}" for run, reason in skipped]
    sampler_skips = sorted({(run.schedule, s, sample_compatible(config, run, s)[1]) for run in valid
                            for s in config["samplers"] if not sample_compatible(config, run, s)[0]})
    lines.append(f"{len(sampler_skips)} sampler × schedule pairs skipped:")
    lines += [f"  {s} on {sched}: {reason}" for sched, s, reason in sampler_skips]
    if conditioning(config) is not None:
        cases = [(run, s, *case) for run in valid for s in config["samplers"] for case in conditional_cases(config, run, s)]
        skips = sorted({(s, mask, method, reason) for _, s, mask, method, ok, reason in cases if not ok})
        lines.append(f"{sum(ok for *_, ok, _ in cases)} inpainting cases (run × sampler/method/mask); skipped:")
        lines += [f"  {s}/{method}/{mask}: {reason}" for s, mask, method, reason in skips]
    return "\n".join(lines)

"""One benchmark: a config read, validated and expanded once, then only read, through typed accessors.

Every verb and the sweep (`Benchmark.read`) and the Snakefile's parse (`Benchmark.of`, on the config
Snakemake merged) enter here and nowhere else: the schema, the generated per-kind schema (keys, types,
ranges, enums), the registries' names, the grid's expansion and the cross-field rules (`rules`) run once,
torch-free, so a dry run refuses what a job would; `jobs.build.check` then builds every component (torch),
before any work. Every stage takes the Benchmark and reads what it needs from it (a dataset's `train` and
`evaluate` settings as dataclasses, a sampler's entry, the results `layout`, the grid's compatibility
rules); each accessor hands out a copy, so nothing downstream can change what another part reads.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from . import catalog, grid, sweeps
from .config import dataset_params, has_grid, objective_entries, placement, read, resource, section, validate
from ..errors import ConfigError
from .grid import RunSpec, runs
from .layout import RESULTS, Layout
from .metric_info import metric_names
from .rules import check as check_rules
from .settings import EvaluateConfig, ScalingConfig, TrainConfig


@dataclass(frozen=True)
class Benchmark:
    """A validated config and its grid: the runs to train and the skipped combinations with reasons."""

    text: str = field(repr=False)  # the validated config (defaults filled in), as canonical JSON
    runs: tuple[RunSpec, ...]
    skipped: tuple[tuple[RunSpec, str], ...]

    @classmethod
    def of(cls, mapping: dict) -> "Benchmark":
        """The benchmark of a config mapping (left unchanged); one line naming the first bad key."""
        config = validate(copy.deepcopy(mapping))
        check_rules(config)
        valid, skipped = runs(config)
        return cls(json.dumps(config, sort_keys=True), tuple(valid), tuple(skipped))

    @classmethod
    def read(cls, path: str | Path) -> "Benchmark":
        """The benchmark of a YAML file (a key given twice is refused)."""
        return cls.of(read(path))

    @cached_property
    def _config(self) -> dict:
        return json.loads(self.text)

    @property
    def config(self) -> dict:
        """The validated config as one mapping (a fresh copy): what the workflow writes for its jobs."""
        return json.loads(self.text)

    # -- sections and entries ------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._config["name"]

    def layout(self, results: str | Path = RESULTS) -> Layout:
        """Where this benchmark's artefacts live under `results`."""
        return Layout(results, self.name)

    @property
    def has_grid(self) -> bool:
        """Whether it trains a grid (a scaling-only config has none)."""
        return has_grid(self._config)

    @property
    def seeds(self) -> list[int]:
        return list(self._config["seeds"])

    @property
    def datasets(self) -> list[str]:
        """The datasets that have runs, sorted."""
        return sorted({run.dataset for run in self.runs})

    @property
    def dataset_entries(self) -> list[str]:
        """Every entry of `datasets:`, in config order (those without a valid run too)."""
        return list(self._config["datasets"])

    def dataset(self, name: str) -> dict:
        """Dataset entry `name` without its section overrides: what the dataset builder takes."""
        return dataset_params(self._config, name)

    def synthetic(self, dataset: str) -> bool:
        """Whether the dataset has a known density (its kind's fact)."""
        return catalog.dataset_info(self.dataset(dataset))[0]

    def image(self, dataset: str) -> bool:
        return catalog.is_image(self.dataset(dataset))

    def section(self, name: str, dataset: str) -> dict:
        """The raw `train:` or `evaluate:` mapping for runs on `dataset` (the top-level section updated
        with the entry's own): what decides a job, as the workflow's params and the records hold it."""
        return section(self._config, name, dataset)

    def train(self, dataset: str) -> TrainConfig:
        """The training settings of runs on `dataset`, its network's kind resolved: the one place that
        reads `train.net` for a job (`catalog.net_spec`: no kind names the U-Net for images, else the MLP)."""
        cfg = TrainConfig.from_dict(self.section("train", dataset))
        cfg.net = catalog.net_spec(self.dataset(dataset), cfg.net)
        return cfg

    def evaluate(self, dataset: str) -> EvaluateConfig:
        """The sampling and evaluation settings of runs on `dataset`."""
        return EvaluateConfig.from_dict(self.section("evaluate", dataset))

    @property
    def scaling(self) -> ScalingConfig | None:
        """The scaling study's settings, or None when the config has no `scaling:` section."""
        return ScalingConfig.from_dict(self._config["scaling"]) if "scaling" in self._config else None

    @property
    def objectives(self) -> list[str]:
        return list(objective_entries(self._config))

    def objective(self, name: str) -> dict:
        """Objective entry `name`'s parameters as given (grid keys such as max_dim included)."""
        return copy.deepcopy(objective_entries(self._config)[name])

    def objective_params(self, name: str) -> dict:
        """The parameters the objective's constructor takes (grid-only keys removed)."""
        return grid.objective_params(self._config, name)

    @property
    def schedules(self) -> list[str]:
        return list(self._config["schedules"])

    def schedule(self, name: str) -> dict:
        return copy.deepcopy(self._config["schedules"][name])

    @property
    def samplers(self) -> list[str]:
        return list(self._config["samplers"])

    def sampler(self, name: str) -> dict:
        """Sampler entry `name` (an NFE sweep's entries carry `sweep`)."""
        return copy.deepcopy(self._config["samplers"][name])

    @property
    def sweeps(self) -> dict[str, list[str]]:
        """Each NFE sweep and its entries by ascending step count ({}: none)."""
        return sweeps.members(self._config)

    @property
    def shown(self) -> list[str]:
        """The samplers a per-sampler figure or the verdict uses: each sweep by its finest count."""
        return sweeps.shown(self._config)

    @property
    def conditioning(self) -> dict | None:
        """The `conditioning:` section with its defaults, or None when absent."""
        return grid.conditioning(self._config)

    @property
    def metrics(self) -> list[str]:
        """The `metrics:` list ([]: every metric)."""
        return list(self._config["metrics"])

    def metric_names(self, level: str, dataset: str) -> list[str]:
        """The metrics of `level` this benchmark reports on `dataset`."""
        return metric_names(level, synthetic=self.synthetic(dataset), image=self.image(dataset), wanted=self.metrics)

    @property
    def fidelity(self) -> bool:
        """Whether FID/KID are computed."""
        return grid.fidelity(self._config)

    @property
    def batch_seeds(self) -> bool:
        return self._config["batch_seeds"]

    def resource(self, stage: str, key: str, default=None):
        """A job resource of `stage`: resources.<stage>.<key>, else resources.<key>, else `default`."""
        return resource(self._config, stage, key, default)

    def placement(self, stage: str) -> dict:
        """Where `stage`'s jobs go on SLURM, as far as the config says."""
        return placement(self._config, stage)

    # -- the grid ------------------------------------------------------------------------------

    def run_params(self, run: RunSpec) -> dict:
        """Everything that decides a run's training (what a finished run's record must carry)."""
        return grid.run_params(self._config, run)

    def check_run(self, run: RunSpec) -> None:
        """The run's names are entries of this benchmark."""
        grid.check_run(self._config, run)

    def train_compatible(self, dataset: str, objective: str, schedule: str) -> tuple[bool, str]:
        return grid.train_compatible(self._config, dataset, objective, schedule)

    def sample_compatible(self, run: RunSpec, sampler: str) -> tuple[bool, str]:
        return grid.sample_compatible(self._config, run, sampler)

    def likelihood_compatible(self, run: RunSpec) -> tuple[bool, str]:
        return grid.likelihood_compatible(self._config, run)

    def conditional_cases(self, run: RunSpec, sampler: str) -> list[tuple[str, str, bool, str]]:
        """(mask, method, ok, reason) of every inpainting case of the run with `sampler`."""
        return grid.conditional_cases(self._config, run, sampler)

    def metric_files(self, dataset: str) -> list[str]:
        """The metrics/<dataset>/<name>.json files a dataset with runs has."""
        return grid.metric_files(self._config, dataset)

    def describe(self) -> str:
        """What will run and what is skipped, with the reasons (`scorebench grid`)."""
        return grid.describe(self._config)

    def select(self, **filters) -> list[RunSpec]:
        """The runs whose fields equal every given (non-None) filter; a value no run has is refused."""
        for key, value in filters.items():
            if value is not None and value not in {getattr(r, key) for r in self.runs}:
                names = sorted({str(getattr(r, key)) for r in self.runs})
                raise ConfigError(f"--{key}: no valid run has {key} {value!r}; valid: {', '.join(names)}")
        return [r for r in self.runs if all(v is None or getattr(r, k) == v for k, v in filters.items())]

"""One benchmark: a config read, validated and expanded once, then only read.

Every verb and the sweep (`Benchmark.read`) and the Snakefile's parse (`Benchmark.of`, on the config
Snakemake merged) enter here and nowhere else: the schema, the generated per-kind schema (keys, types,
ranges, enums), the registries' names, the grid's expansion and the cross-field rules (`rules`) run once,
torch-free, so a dry run refuses what a job would; `jobs.build.check` then builds every component (torch), before any work. The object is
frozen and hands out copies of its config: nothing downstream can change what another part reads.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path

from .config import read, validate
from ..errors import ConfigError
from .grid import RunSpec, runs
from .rules import check as check_rules


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

    @property
    def config(self) -> dict:
        """The validated config: a fresh copy on every call, for the functions that take one."""
        return json.loads(self.text)

    @property
    def name(self) -> str:
        return self.config["name"]

    @property
    def datasets(self) -> list[str]:
        """The datasets that have runs, sorted."""
        return sorted({run.dataset for run in self.runs})

    def select(self, **filters) -> list[RunSpec]:
        """The runs whose fields equal every given (non-None) filter; a value no run has is refused."""
        for key, value in filters.items():
            if value is not None and value not in {getattr(r, key) for r in self.runs}:
                names = sorted({str(getattr(r, key)) for r in self.runs})
                raise ConfigError(f"--{key}: no valid run has {key} {value!r}; valid: {', '.join(names)}")
        return [r for r in self.runs if all(v is None or getattr(r, k) == v for k, v in filters.items())]

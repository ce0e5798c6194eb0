"""The files packaged under scorebench/spec/schemas/: the hand-written config schema, and the two files
`python -m scorebench.jobs.generate` writes from the components (their parameters' schema, their facts)."""
from __future__ import annotations

from functools import lru_cache
from importlib import resources

import yaml

from .loader import SAFE_LOADER

SCHEMA_FILE = "config.schema.yaml"
COMPONENTS_FILE = "components.schema.yaml"  # generated: each kind's parameters, types, ranges and defaults
CATALOG_FILE = "catalog.yaml"  # generated: each kind's facts (what the grid needs to know without torch)
OVERRIDABLE = ("train", "evaluate")  # sections a dataset entry may override for its own runs
SCHEMAS = resources.files("scorebench.spec").joinpath("schemas")  # where the three files are


def packaged(name: str) -> dict:
    """One packaged YAML file, parsed."""
    return yaml.load(SCHEMAS.joinpath(name).read_text(), Loader=SAFE_LOADER)


@lru_cache(maxsize=1)
def schema() -> dict:
    """The config schema (config.schema.yaml); shared, not to be changed."""
    return packaged(SCHEMA_FILE)


@lru_cache(maxsize=1)
def components() -> dict:
    """The generated per-kind schema of every entry (components.schema.yaml)."""
    return packaged(COMPONENTS_FILE)


@lru_cache(maxsize=1)
def catalog() -> dict:
    """The generated facts of every registered component (catalog.yaml)."""
    return packaged(CATALOG_FILE)

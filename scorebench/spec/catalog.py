"""What the grid and the workflow's parse must know about each registered component, without
importing torch: the facts each component declares on itself (class attributes, or a dataset's
`register(..., **facts)`), read from the generated catalog.yaml.

`python -m scorebench.jobs.generate` writes that file from the registries (with the parameter schema
beside it); `tests/jobs/test_generate.py` fails while the file and the code differ, so a new
component is one class in one module: its facts travel with it.
"""
from __future__ import annotations

import math
from dataclasses import fields
from functools import lru_cache

from .facts import DatasetFacts, MaskFacts, MethodFacts, ObjectiveFacts, SamplerFacts, ScheduleFacts
from .packaged import catalog as _generated, components
from .registry import Registry


def _kinds(concept: str, entries: dict[str, dict], facts: type) -> Registry:
    """The registered kinds of one section, each with its facts (a `facts` instance), as the parse reads them."""
    registry, names = Registry(concept), {f.name for f in fields(facts)}
    for kind, values in entries.items():
        registry.register(kind)(facts(**{k: v for k, v in values.items() if k in names}))
    return registry


@lru_cache(maxsize=1)
def _loaded() -> dict:
    """The catalog's sections, read on first use (not at import: `jobs.generate` imports the spec layer
    to write the very file this reads)."""
    data = _generated()
    return {"DATASETS": _kinds("dataset", data["datasets"], DatasetFacts),
            "SCHEDULES": _kinds("schedule", data["schedules"], ScheduleFacts),
            "SAMPLERS": _kinds("sampler", data["samplers"], SamplerFacts),
            "OBJECTIVES": _kinds("objective", data["objectives"], ObjectiveFacts),
            "MASKS": _kinds("mask", data["masks"], MaskFacts),
            "METHODS": _kinds("conditioning method", data["methods"], MethodFacts),
            "FEATURE_KINDS": tuple(data["features"]),  # evaluate.features kinds
            "NET_KINDS": tuple(data["nets"]),  # train.net kinds
            "WEIGHT_TOLERANCE": data["constants"]["weight_tolerance"],  # explicit mixture weights sum to 1 within this
            "FIXED_GRID_METHODS": tuple(data["constants"]["fixed_grid_methods"])}  # ode methods that take `steps`


def __getattr__(name: str):
    """DATASETS, SCHEDULES, SAMPLERS, OBJECTIVES, MASKS, METHODS (kind -> facts), FEATURE_KINDS,
    NET_KINDS, WEIGHT_TOLERANCE and FIXED_GRID_METHODS, from the generated file."""
    try:
        return _loaded()[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


GRID_KEYS = ("max_dim",)  # objective parameters read by the grid (ObjectiveFacts), not by the objective
WILDCARD_SECTIONS = ("datasets", "schedules", "samplers")  # entry names that become Snakemake wildcard values


def dataset_info(spec: dict) -> tuple[bool, int]:
    """(synthetic, dim) of a dataset entry, without loading it."""

    facts = _loaded()["DATASETS"].get(spec["kind"])
    if facts.dim_rows and spec.get(facts.dim_rows):
        return facts.synthetic, len(spec[facts.dim_rows][0])
    if facts.dim_param:
        default = components()["datasets"][spec["kind"]]["properties"][facts.dim_param]["default"]
        return facts.synthetic, spec.get(facts.dim_param, default)
    if facts.shape_param:
        return facts.synthetic, math.prod(spec[facts.shape_param])
    return facts.synthetic, facts.dim


def is_image(spec: dict) -> bool:
    """Whether a dataset entry's samples are images (C, H, W), without loading it."""
    facts = _loaded()["DATASETS"].get(spec["kind"])
    return len(spec[facts.shape_param]) == 3 if facts.shape_param else facts.image


def discrete(schedule_kind: str) -> bool:
    """Whether a schedule trains and samples at its levels only (NCSN), not at every t."""
    return _loaded()["SCHEDULES"].get(schedule_kind).discrete


def default_net(spec: dict) -> str:
    """The network kind of a dataset entry whose `train.net` names none: the U-Net for images, else the MLP."""
    return "unet" if is_image(spec) else "mlp"


def net_spec(spec: dict, net: dict) -> dict:
    """The network dataset entry `spec` trains: its `train.net` with the kind resolved (`default_net`):
    what the parse checks and `Benchmark.train` hands to the jobs, the one reading of `train.net`."""
    return {"kind": default_net(spec), **net}

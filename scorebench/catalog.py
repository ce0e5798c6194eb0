"""What the grid and the workflow's parse must know about each registered component, without
importing torch: the registries' kinds and the facts that decide which combinations are valid.

The Snakefile's parse (and `scorebench grid`'s expansion) reads only this module, so a dry run of a
large benchmark never loads torch. `tests/test_project.py` keeps it equal to the registries: a new
dataset, schedule, sampler or objective fails that test until its line is added here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .config import section
from .registry import Registry


@dataclass(frozen=True)
class DatasetFacts:
    synthetic: bool  # a known density: the oracle, Fisher divergence and NLL gap apply
    dim: int | Callable[[dict], int]  # data dimension, or a function of the config entry
    image: bool = False  # samples are (C, H, W) images, not vectors: the masks that apply differ


def _mixture_dim(spec: dict) -> int:
    return len(spec["means"][0]) if "means" in spec else spec.get("dim", 2)


def _registry(concept: str, entries: dict) -> Registry:
    registry = Registry(concept)
    for kind, facts in entries.items():
        registry.register(kind)(facts)
    return registry


DATASETS = _registry("dataset", {
    "gaussian_mixture": DatasetFacts(True, _mixture_dim),
    "ncsn_toy": DatasetFacts(True, 2),
    "ring": DatasetFacts(True, 2),
    "moons": DatasetFacts(True, 2),
    "swiss_roll": DatasetFacts(True, 2),
    "checkerboard": DatasetFacts(True, 2),
    "digits": DatasetFacts(False, 64, image=True),
    "mnist": DatasetFacts(False, 784, image=True),
    "cifar10": DatasetFacts(False, 3072, image=True),
})
# kind -> discrete (trains and samples at its levels only)
SCHEDULES = _registry("schedule", {"ve": False, "ncsn": True, "vp": False, "subvp": False})
# kind -> needs continuous t (integrates an ODE)
SAMPLERS = _registry("sampler", {"langevin": False, "ald": False, "em": False, "pc": False, "ode": True, "heun": True})
UNSTEPPED = ("ode",)  # samplers with no steps to replace the observed coordinates in (an adaptive ODE solve)
OBJECTIVES = ("dsm", "exact", "ssm", "ssm_vr")
# conditioning: mask kind -> whether it is for images (else vectors)
MASKS = _registry("mask", {"coordinates": False, "half": True})


@dataclass(frozen=True)
class MethodFacts:
    needs_exact: bool  # the exact conditional score: the oracle of a synthetic dataset only
    needs_steps: bool  # acts between a sampler's steps: not with the UNSTEPPED samplers


METHODS = _registry("conditioning method", {"replacement": MethodFacts(False, True), "exact": MethodFacts(True, False)})
DEFAULT_FEATURES = {"digits": "digits_classifier", "mnist": "inception", "cifar10": "inception"}  # FID/KID; else raw


def dataset_info(spec: dict) -> tuple[bool, int]:
    """(synthetic, dim) of a dataset entry, without loading it."""
    facts = DATASETS.get(spec["kind"])
    return facts.synthetic, facts.dim(spec) if callable(facts.dim) else facts.dim


def is_image(spec: dict) -> bool:
    """Whether a dataset entry's samples are images (C, H, W), without loading it."""
    return DATASETS.get(spec["kind"]).image


def discrete(schedule_kind: str) -> bool:
    """Whether a schedule trains and samples at its levels only (NCSN), not at every t."""
    return SCHEDULES.get(schedule_kind)


def needs_continuous(sampler_kind: str) -> bool:
    """Whether a sampler integrates over continuous t (the ODE samplers)."""
    return SAMPLERS.get(sampler_kind)


def feature_kind(config: dict, dataset: str) -> str:
    """The FID/KID feature space of a dataset (`evaluate.features: auto` picks by dataset kind)."""
    spec = section(config, "evaluate", dataset).get("features", "auto")
    if spec == "auto":
        return DEFAULT_FEATURES.get(config["datasets"][dataset]["kind"], "raw")
    return spec if isinstance(spec, str) else spec.get("kind")

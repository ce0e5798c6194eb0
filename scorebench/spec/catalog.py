"""What the grid and the workflow's parse must know about each registered component, without
importing torch: the registries' kinds and the facts that decide which combinations are valid.

The Snakefile's parse (and `scorebench grid`'s expansion) reads only this module, so a dry run of a
large benchmark never loads torch. `tests/jobs/test_generate.py` keeps it equal to the registries: a new
dataset, schedule, sampler or objective fails that test until its line is added here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

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


@dataclass(frozen=True)
class SamplerFacts:
    continuous: bool  # integrates over continuous t (an ODE solver): not on a discrete schedule
    stepped: bool = True  # fixed steps, between which a conditioning method can act (not an adaptive solve)

    def compatible(self, sampler: str, schedule: str, schedule_kind: str) -> tuple[bool, str]:
        """Whether this sampler can run on a schedule of `schedule_kind` (ok, reason when not)."""
        if self.continuous and discrete(schedule_kind):
            return False, f"{sampler} integrates an ODE over continuous t; schedule {schedule} ({schedule_kind}) is discrete"
        return True, ""


SAMPLERS = _registry("sampler", {
    "langevin": SamplerFacts(False), "ald": SamplerFacts(False), "em": SamplerFacts(False), "pc": SamplerFacts(False),
    "ode": SamplerFacts(True, stepped=False), "heun": SamplerFacts(True),
})


@dataclass(frozen=True)
class ObjectiveFacts:
    needs_density: bool = False  # the exact score of a known density: synthetic data only (the oracle)
    max_dim: int | None = None  # default of objectives.<name>.max_dim: above it a step costs too much

    def compatible(self, objective: str, params: dict, dataset: str, synthetic: bool, dim: int) -> tuple[bool, str]:
        """Whether this objective can be trained on a dataset (ok, reason when not)."""
        if self.needs_density and not synthetic:
            return False, f"{objective} needs a known density; {dataset} is real data"
        max_dim = params.get("max_dim", self.max_dim)
        if max_dim is not None and dim > max_dim:
            return False, (f"{objective} score matching costs d={dim} backward passes per step, above "
                           f"objectives.{objective}.max_dim={max_dim}")
        return True, ""


# the objective registry's kinds (exact: d backward passes per step, slow on CPU beyond d = 32) and the
# analytic oracle, which is trained by nothing
OBJECTIVES = _registry("objective", {"dsm": ObjectiveFacts(), "exact": ObjectiveFacts(max_dim=32),
                                     "ssm": ObjectiveFacts(), "ssm_vr": ObjectiveFacts(),
                                     "oracle": ObjectiveFacts(needs_density=True)})
GRID_KEYS = ("max_dim",)  # objective parameters read by the grid (ObjectiveFacts), not by the objective
# conditioning: mask kind -> whether it is for images (else vectors)
MASKS = _registry("mask", {"coordinates": False, "half": True})


@dataclass(frozen=True)
class MethodFacts:
    needs_exact: bool  # the exact conditional score: the oracle of a synthetic dataset only
    needs_steps: bool  # acts between a sampler's steps: only with stepped samplers (SamplerFacts.stepped)


METHODS = _registry("conditioning method", {"replacement": MethodFacts(False, True), "exact": MethodFacts(True, False)})
WILDCARD_SECTIONS = ("datasets", "schedules", "samplers")  # entry names that become Snakemake wildcard values
WEIGHT_TOLERANCE = 1e-6  # explicit mixture weights must sum to 1 within this (mixture.GaussianMixture)
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
FEATURE_KINDS = ("digits_classifier", "inception", "raw")  # evaluate.features kinds (core.fidelity.FEATURES)

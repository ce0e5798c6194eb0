"""The facts a component declares about itself, by family: which combinations are valid, what the
parse must know without torch. A component states them as class attributes (a dataset function as
`register(..., **facts)`); `jobs.generate` reads the fields named here into catalog.yaml."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DatasetFacts:
    synthetic: bool = False  # a known density: the oracle, Fisher divergence and NLL gap apply
    image: bool = False  # samples are (C, H, W) images, not vectors: the masks and the network differ
    dim: int | None = None  # data dimension, when fixed
    dim_param: str | None = None  # else the parameter that gives it (its default from the parameter schema)
    dim_rows: str | None = None  # ... unless this list parameter is given: then the length of its rows
    shape_param: str | None = None  # else the (required) parameter that gives each sample's shape: [d] or [C, H, W] (an image)
    features: str = "raw"  # the FID/KID feature space `evaluate.features: auto` picks


@dataclass(frozen=True)
class ScheduleFacts:
    discrete: bool = False  # trains and samples at its levels only (NCSN), not at every t


@dataclass(frozen=True)
class SamplerFacts:
    continuous: bool = False  # integrates over continuous t (an ODE solver): not on a discrete schedule
    stepped: bool = True  # fixed steps, between which a conditioning method can act (not an adaptive solve)
    sweeps: str | None = "steps"  # the integer parameter a list of which is an NFE sweep (spec.sweeps); None: none

    def compatible(self, sampler: str, schedule: str, schedule_kind: str, schedule_discrete: bool) -> tuple[bool, str]:
        """Whether this sampler can run on a schedule of `schedule_kind` (ok, reason when not)."""
        if self.continuous and schedule_discrete:
            return False, f"{sampler} integrates an ODE over continuous t; schedule {schedule} ({schedule_kind}) is discrete"
        return True, ""


@dataclass(frozen=True)
class ObjectiveFacts:
    trains: bool = True  # False: the exact score (the oracle), which nothing trains
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


@dataclass(frozen=True)
class MaskFacts:
    image: bool = False  # for images (C, H, W), else for vectors


@dataclass(frozen=True)
class MethodFacts:
    needs_exact: bool = False  # the exact conditional score: the oracle of a synthetic dataset only
    needs_steps: bool = False  # acts between a sampler's steps: only with stepped samplers (SamplerFacts.stepped)


# catalog section -> (config section it describes, the facts each of its kinds declares)
FACTS = {"datasets": DatasetFacts, "schedules": ScheduleFacts, "samplers": SamplerFacts, "objectives": ObjectiveFacts,
         "masks": MaskFacts, "methods": MethodFacts}

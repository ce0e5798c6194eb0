"""Conditional generation (inpainting): which coordinates are observed, how a sampler is made to
respect them, and how far its samples are from the exact conditional.

Masks say which coordinates are observed (`coordinates` for vectors, `half` for images). Methods
draw the unobserved rest with the unconditional score (Song et al. 2021, "controllable generation"):

- replacement: after every step of the sampler the observed coordinates are overwritten by a
  forward-noised copy of the observation at the state's noise level (score_sde's inpainter), and by
  the observation itself at the end. Biased even with the exact score: the unobserved coordinates
  never see how likely the observation is under each mode until the noise is small.
- exact: the sampler runs on the unobserved coordinates alone with the exact score of the perturbed
  conditional mixture (`GaussianMixture.condition`): only the oracle of a synthetic dataset has it, so
  it measures the sampler's own error on the conditional, the floor the other methods are judged by.
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Annotated

import torch

from ..errors import ConfigError
from .metrics import sliced_wasserstein
from .mixture import GaussianMixture
from .oracle import OracleScore
from ..spec.registry import OneOf, Registry, build
from .rng import randn

MASKS: Registry = Registry("mask")
METHODS: Registry = Registry("conditioning method")


@MASKS.register("coordinates")
class Coordinates:
    """Observe the listed coordinates of a vector (0-based)."""

    image = False  # a mask of vectors

    def __init__(self, observed: list):
        if not isinstance(observed, list) or not observed or not all(isinstance(i, int) and not isinstance(i, bool)
                                                                      for i in observed):
            raise ConfigError(f"observed: must be a non-empty list of coordinate indices (got {observed!r})")
        self.observed = sorted(set(observed))

    def __call__(self, shape: tuple[int, ...]) -> torch.Tensor:
        """The mask of a vector of `shape` (the grid has checked the indices against each dataset)."""
        mask = torch.zeros(math.prod(shape), dtype=torch.bool)
        mask[self.observed] = True
        return mask


SIDES = ("left", "right", "top", "bottom")


@MASKS.register("half")
class Half:
    """Observe one half of an image (C, H, W): `side` is the half that is kept."""

    image = True

    def __init__(self, side: Annotated[str, OneOf(*SIDES)] = "left"):
        if side not in SIDES:
            raise ConfigError(f"side: must be one of {', '.join(SIDES)} (got {side!r})")
        self.side = side

    def __call__(self, shape: tuple[int, ...]) -> torch.Tensor:
        """The mask of an image of `shape` (C, H, W)."""
        _, h, w = shape
        mask = torch.zeros(shape, dtype=torch.bool)
        region = {"left": (slice(None), slice(0, w // 2)), "right": (slice(None), slice(w // 2, None)),
                  "top": (slice(0, h // 2), slice(None)), "bottom": (slice(h // 2, None), slice(None))}[self.side]
        mask[(slice(None), *region)] = True
        return mask


class Method(ABC):
    """Draws n completions of one observation y (observed where `mask`) with a sampler; which
    (objective, sampler) pairs a method fits is the grid's `conditional_cases` (torch-free), from
    these facts (catalog.METHODS states them for the parse; a test keeps the two equal)."""

    needs_exact = False  # the exact conditional score: the oracle only
    needs_steps = False  # acts between a sampler's steps

    @abstractmethod
    def draw(self, sampler, score, process, mask, y, n, *, generator, device="cpu", mixture=None):
        """n completions of `y` observed where `mask`, and the sampler's stats."""


@METHODS.register("replacement")
class Replacement(Method):
    """Overwrite the observed coordinates with α(t) y + σ(t) z after every step (score_sde's inpainter)."""

    needs_steps = True

    def draw(self, sampler, score, process, mask, y, n, *, generator, device="cpu", mixture=None):
        mask, y = mask.to(device), y.to(device)

        def project(x, t):
            if t is None:
                return torch.where(mask, y, x)
            alpha, sigma = (v.to(device) for v in process.marginal(t))
            return torch.where(mask, alpha * y + sigma * randn(x.shape, generator, device=device, dtype=x.dtype), x)

        return sampler(score, process, (n, *mask.shape), generator=generator, device=device, project=project)


@METHODS.register("exact")
class ExactConditional(Method):
    """Sample the unobserved coordinates with the exact score of the conditional mixture (oracle only)."""

    needs_exact = True

    def draw(self, sampler, score, process, mask, y, n, *, generator, device="cpu", mixture=None):
        flat = mask.reshape(-1)
        cond = exact_conditional(mixture, mask, y)
        x, stats = sampler(OracleScore(cond, process), process, (n, cond.dim), generator=generator, device=device)
        full = y.reshape(1, -1).to(device, x.dtype).repeat(n, 1)
        full[:, ~flat.to(device)] = x
        return full.reshape(n, *mask.shape), stats


def build_mask(name: str, spec: dict):
    return build(MASKS, spec, where=f"conditioning.masks.{name}")


def build_method(name: str, spec: dict) -> Method:
    return build(METHODS, spec, where=f"conditioning.methods.{name}")


def exact_conditional(mixture: GaussianMixture, mask: torch.Tensor, y: torch.Tensor) -> GaussianMixture:
    """The exact law of the unobserved coordinates of a vector given y on `mask`."""
    flat = mask.reshape(-1)
    return mixture.condition(flat.nonzero().reshape(-1), y.reshape(-1)[flat])


def conditional_metrics(samples: torch.Tensor, cond: GaussianMixture, mask: torch.Tensor, *,
                        generator: torch.Generator, n_projections: int = 256) -> dict[str, float]:
    """cond_mode_weight_tv (½ Σ_g |occupancy_g − w'_g| against the conditional's mode weights) and
    cond_sliced_wasserstein (to as many fresh exact conditional samples) of the samples' unobserved part."""
    free = samples.reshape(len(samples), -1)[:, ~mask.reshape(-1).to(samples.device)].cpu().double()
    occupancy = torch.bincount(cond.assign_modes(free), minlength=cond.n_groups).double() / len(free)
    reference = cond.sample(len(free), generator)
    return {"cond_mode_weight_tv": float(0.5 * (occupancy - cond.group_weights()).abs().sum()),
            "cond_sliced_wasserstein": sliced_wasserstein(free, reference, n_projections=n_projections,
                                                          generator=generator)}

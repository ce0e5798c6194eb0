"""Explicit randomness. `PerSample` holds one generator per sample (after EDM's
StackedRandomGenerator), so a sample's draws do not depend on the batch it is drawn in."""
from __future__ import annotations

from typing import Sequence

import torch


class PerSample:
    """One `torch.Generator` per row, seeded from `seeds`; slicing keeps each row's stream."""

    def __init__(self, seeds: Sequence[int], device="cpu"):
        self.generators = [torch.Generator(device).manual_seed(int(s)) for s in seeds]

    def __len__(self) -> int:
        return len(self.generators)


def randn(shape, generator: torch.Generator | PerSample, device="cpu", dtype=torch.float32) -> torch.Tensor:
    """Standard normal draws of `shape` from a generator or, row by row, from per-sample generators."""
    if isinstance(generator, PerSample):
        if len(generator) != shape[0]:
            raise ValueError(f"{len(generator)} per-sample generators for a batch of {shape[0]}")
        return torch.stack([torch.randn(shape[1:], generator=g, device=device, dtype=dtype) for g in generator.generators])
    return torch.randn(shape, generator=generator, device=device, dtype=dtype)


def rademacher(shape, generator: torch.Generator | PerSample, device="cpu", dtype=torch.float32) -> torch.Tensor:
    """±1 with equal probability, from the same streams as `randn`."""
    return randn(shape, generator, device, dtype).sign()

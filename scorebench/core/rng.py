"""Explicit randomness. `Streams` holds one generator per row, or per equal block of rows (after
EDM's StackedRandomGenerator), so a row's draws do not depend on the batch it is drawn in: one
generator per sample for the samplers and the likelihood, one per ensemble member in training."""
from __future__ import annotations

from typing import Callable, Sequence

import torch


class Streams:
    """One `torch.Generator` per block of rows, seeded from `seeds` (or given); a batch of n rows is
    split into len(seeds) equal contiguous blocks, block k drawn from generator k."""

    def __init__(self, seeds: Sequence[int] = (), device="cpu", generators: Sequence[torch.Generator] = ()):
        self.generators = list(generators) or [torch.Generator(device).manual_seed(int(s)) for s in seeds]

    def __len__(self) -> int:
        return len(self.generators)


Generator = torch.Generator | Streams


def _draw(draw: Callable, shape, generator: Generator) -> torch.Tensor:
    if not isinstance(generator, Streams):
        return draw(tuple(shape), generator)
    n = len(generator)
    if n == 1:  # one stream: its draw as is (no copy through cat)
        return draw(tuple(shape), generator.generators[0])
    if shape[0] % n:
        raise ValueError(f"{n} generators for a batch of {shape[0]} rows: not equal blocks")
    block = (shape[0] // n, *shape[1:])
    return torch.cat([draw(block, g) for g in generator.generators])


def randn(shape, generator: Generator, device="cpu", dtype=torch.float32) -> torch.Tensor:
    """Standard normal draws of `shape` from a generator or, block by block, from `Streams`."""
    return _draw(lambda s, g: torch.randn(s, generator=g, device=device, dtype=dtype), shape, generator)


def rand(shape, generator: Generator, device="cpu", dtype=torch.float32) -> torch.Tensor:
    """Uniform draws on [0, 1), from the same streams as `randn`."""
    return _draw(lambda s, g: torch.rand(s, generator=g, device=device, dtype=dtype), shape, generator)


def randint(high: int, shape, generator: Generator, device="cpu") -> torch.Tensor:
    """Integers in [0, high), from the same streams as `randn`."""
    return _draw(lambda s, g: torch.randint(high, s, generator=g, device=device), shape, generator)


def rademacher(shape, generator: Generator, device="cpu", dtype=torch.float32) -> torch.Tensor:
    """±1 with equal probability, from the same streams as `randn`."""
    return randn(shape, generator, device, dtype).sign()

"""The noise processes of an ensemble's members: member k's block of rows follows its own process.

An ensemble of schedules × seeds trains as one batched network (`nets.MLP`, rows member-major);
`MemberProcesses` gives each member's rows the training times, α(t) and σ(t) of its own schedule,
drawn from its own generator, so a member's numbers are the ones it gets alone. Consecutive members
of one schedule (equal `spec`) are computed as one segment: four schedule calls a step, not twenty.
"""
from __future__ import annotations

import torch

from .rng import Streams
from .sde import NoiseProcess, Perturbation


class MemberProcesses(Perturbation):
    """Training-time view of several processes over equal member blocks of rows (member-major)."""

    def __init__(self, processes: list[NoiseProcess]):
        self.processes = list(processes)
        self.segments: list[tuple[NoiseProcess, int, int]] = []  # (process, first member, members)
        for k, process in enumerate(self.processes):
            if self.segments and self.segments[-1][0].spec() == process.spec():
                first_process, first, count = self.segments[-1]
                self.segments[-1] = (first_process, first, count + 1)
            else:
                self.segments.append((process, k, 1))

    def _rows(self, n: int) -> list[int]:
        """Rows of each segment in a batch of `n` rows (equal blocks per member)."""
        if n % len(self.processes):
            raise ValueError(f"{len(self.processes)} member processes for a batch of {n} rows: not equal blocks")
        return [count * (n // len(self.processes)) for _, _, count in self.segments]

    def sample_time(self, n: int, generator: Streams, device="cpu") -> torch.Tensor:
        """Each member's training times from its own process and generator (`generator`: one stream per member)."""
        return torch.cat([process.sample_time(rows, Streams(generators=generator.generators[first : first + count]),
                                              device=device)
                          for (process, first, count), rows in zip(self.segments, self._rows(n))])

    def _marginal(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        parts = [process.marginal(part) for (process, _, _), part in zip(self.segments, t.split(self._rows(len(t))))]
        return torch.cat([alpha for alpha, _ in parts]), torch.cat([sigma for _, sigma in parts])


def stacked(processes: list[NoiseProcess]) -> NoiseProcess:
    """The process of an ensemble whose member k follows `processes[k]`: the one process when they agree."""
    if all(p.spec() == processes[0].spec() for p in processes[1:]):
        return processes[0]
    return MemberProcesses(processes)


def member_processes(process: NoiseProcess, members: int) -> list[NoiseProcess]:
    """The process of each of an ensemble's `members`."""
    return process.processes if isinstance(process, MemberProcesses) else [process] * members

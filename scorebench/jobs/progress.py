"""Progress lines a log can hold: a workflow job's log or a SLURM job's output has no TTY, where a
progress bar stays silent, so a long loop prints a plain line every few seconds instead."""
from __future__ import annotations

import sys
import time


class Progress:
    """`label: step k/total key value … elapsed s, ETA s`, at most every `every` seconds."""

    def __init__(self, label: str, total: int | None = None, first_step: int = 0, every: float = 5.0,
                 stream=sys.stderr):
        self.label, self.total, self.every, self.stream = label, total, every, stream
        self.first_step = first_step
        self.start = self.last = time.perf_counter()

    def update(self, step: int, **values: float) -> None:
        now = time.perf_counter()
        if now - self.last < self.every:
            return
        self.last = now
        elapsed = now - self.start
        fields = "".join(f" {key} {value:.4g}" for key, value in values.items())
        line = f"{self.label}: step {step}" + (f"/{self.total}" if self.total else "") + f"{fields}, {elapsed:.1f} s"
        if self.total and step > self.first_step:
            line += f", ETA {elapsed / (step - self.first_step) * (self.total - step):.0f} s"
        print(line, file=self.stream, flush=True)

"""Shared fixtures (a config writer, the CLI runner) and the suite's split over pytest-xdist workers."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
# the modules that run Snakemake, SLURM or whole trainings, longest first: `make test` hands whole
# modules to workers (--dist loadfile) in collection order, so these start first and the workers end together
LONGEST = ("test_workflow.py", "test_slurm.py", "test_train.py", "test_sample.py")


def pytest_configure(config):
    """Under xdist, each worker (and the torch processes its tests start) takes its share of the cores."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        threads = str(max(1, (os.cpu_count() or 1) // workers))
        os.environ.setdefault("OMP_NUM_THREADS", threads)
        os.environ.setdefault("MKL_NUM_THREADS", threads)


def pytest_collection_modifyitems(items):
    """Put the LONGEST modules first (a stable sort keeps each module's own order)."""
    rank = {name: i for i, name in enumerate(LONGEST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(LONGEST)))


@pytest.fixture
def write_config(tmp_path):
    """Write a config dict to a YAML file under tmp_path and return its path."""

    def write(config: dict, name: str = "config.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(config))
        return path

    return write


def run_cli(*args, cwd=None, **kwargs) -> subprocess.CompletedProcess:
    """Run the real `scorebench` console entry point in a subprocess."""
    return subprocess.run([sys.executable, "-m", "scorebench.cli", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, **kwargs)

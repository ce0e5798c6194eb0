"""Shared fixtures: a tiny config writer and float64 helpers."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


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

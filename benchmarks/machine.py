"""What every benchmark result records: the machine it ran on, the date, and where it is written."""
from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results"


def machine(device: str = "cpu") -> dict:
    """CPU model and count, platform, Python and torch versions, and the GPU's name on CUDA."""
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "")
    info = {"platform": platform.platform(), "cpus": os.cpu_count(), "cpu": cpu, "python": platform.python_version(),
            "torch": torch.__version__, "date": time.strftime("%Y-%m-%d")}
    if device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    return info


def record(name: str, result: dict, device: str = "cpu") -> Path:
    """Write benchmarks/results/<name>.json: the result with the machine beside it, and print it."""
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"benchmark": name, **result, "machine": machine(device)}, indent=2) + "\n")
    print(path.read_text())
    return path

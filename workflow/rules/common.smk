# Helpers shared by the rules: validate the config, expand the grid, resolve paths and resources.
import sys

import yaml

from scorebench import config as sb_config
from scorebench.errors import ScorebenchError
from scorebench.grid import runs
from scorebench.report import FIGURE_FILES
from scorebench.layout import (
    FIGURES,
    METRICS,
    MODEL_FILE,
    MODEL_METRICS,
    REPORT,
    SAMPLES,
    SUMMARY,
    Layout,
)

RESULTS = "results"

try:
    CONFIG = sb_config.validate(dict(config))
    RUNS, SKIPPED = runs(CONFIG)
except ScorebenchError as err:
    sys.exit(f"scorebench: error: {err}")

LAYOUT = Layout(RESULTS, CONFIG["name"])
DATASETS = sorted({r.dataset for r in RUNS})
SAMPLERS = list(CONFIG["samplers"])
# the resolved config every job reads: written only when it changes, so jobs rerun on their params alone
CONFIG_FILE = f".snakemake/scorebench/{CONFIG['name']}.yaml"
_resolved = yaml.safe_dump(CONFIG, sort_keys=True)
if not os.path.exists(CONFIG_FILE) or open(CONFIG_FILE).read() != _resolved:
    os.makedirs(os.path.dirname(CONFIG_FILE), exist_ok=True)
    with open(CONFIG_FILE + ".tmp", "w") as f:
        f.write(_resolved)
    os.replace(CONFIG_FILE + ".tmp", CONFIG_FILE)


wildcard_constraints:
    dataset="|".join(DATASETS) or "-",
    sampler="|".join(SAMPLERS) or "-",
    objective="[A-Za-z0-9_]+",
    schedule="[A-Za-z0-9_]+",
    seed="[0-9]+",


def log_path(stage, *parts):
    """logs/<stage>/<parts...>.log under the benchmark's results."""
    return str(LAYOUT.root / "logs" / stage / "/".join(parts)) + ".log"


def benchmark_path(stage, *parts):
    """benchmarks/<stage>/<parts...>.tsv: Snakemake's own wall-clock and memory record per job."""
    return str(LAYOUT.root / "benchmarks" / stage / "/".join(parts)) + ".tsv"


def dataset_runs(dataset):
    return [r for r in RUNS if r.dataset == dataset]


def model_files(wildcards):
    """Trained (or oracle) models of every valid run of a dataset."""
    return [str(LAYOUT.path(MODEL_FILE, **r.fields())) for r in dataset_runs(wildcards.dataset)]


def run_params(wildcards):
    """Everything that decides a run's training: a change reruns exactly the affected runs."""
    entries = sb_config.objective_entries(CONFIG)
    return {
        "dataset": CONFIG["datasets"][wildcards.dataset],
        "objective": entries[wildcards.objective],
        "schedule": CONFIG["schedules"][wildcards.schedule],
        "train": sb_config.section(CONFIG, "train", wildcards.dataset),
    }


def sampler_params(wildcards):
    """What decides a sampler's draws on a dataset: its own entry and the evaluate settings."""
    return {
        "sampler": CONFIG["samplers"][wildcards.sampler],
        "evaluate": sb_config.section(CONFIG, "evaluate", wildcards.dataset),
    }


def gpus(section):
    """1 when the config asks this stage for a CUDA device, else 0 (the same rule runs on CPU)."""

    def count(wildcards):
        device = sb_config.section(CONFIG, section, wildcards.dataset).get("device", "cpu")
        return 1 if str(device).startswith("cuda") else 0

    return count

# Helpers shared by the rules: the benchmark, resolved paths and resources.
# The parse imports no torch (a dry run of a large grid takes seconds): the config files are read within
# scorebench.spec.loader's limits, the --config values (text from Snakemake) are read as their declared types,
# and scorebench.spec.benchmark judges every value (schema, generated per-kind schema, registries' names,
# cross-field rules in scorebench.spec.rules) and expands the grid. Only what needs files or torch (a dataset
# file's content, a sigma_max of 'auto' from the data) is left to onstart, before any job, and each job.
import sys

import yaml
from snakemake.exceptions import WorkflowError

from scorebench.spec import config as sb_config
from scorebench.spec.benchmark import Benchmark
from scorebench.spec.declared import with_overrides
from scorebench.errors import ScorebenchError
from scorebench.spec.grid import model_file
from scorebench.spec.layout import (
    AGGREGATE,
    CURVES,
    DATA_METRICS,
    FIGURES,
    METRICS,
    OVERALL,
    PAIRED,
    FID_REFERENCE,
    REPORT,
    RESULTS,
    SCALING,
    SCALING_SLOPES,
    SUMMARY,
    TRAIN_GROUP,
    figure_files,
)

try:
    # a key given twice is refused (Snakemake's loader silently takes the last one)
    for path in workflow.overwrite_configfiles:
        sb_config.read(path)
    BENCH = Benchmark.of(with_overrides(dict(config), workflow.config_settings.config))
except ScorebenchError as err:
    sys.exit(f"scorebench: error: {err}")
CONFIG = (
    BENCH.config
)  # the validated config as one mapping: what CONFIG_FILE holds for the jobs
RUNS = BENCH.runs


def check_parameters():
    """Build every component of the config once before the first job (torch is imported here, not
    in the parse): a bad parameter stops the run in one line naming its key."""
    try:
        from scorebench.jobs.build import check

        check(BENCH)
    except ScorebenchError as err:
        sys.exit(f"scorebench: error: {err}")


LAYOUT = BENCH.layout(RESULTS)
# cores of the scaling job under a cluster executor unless resources.scaling.cpus says otherwise
CLUSTER_CORES = 4
DATASETS = BENCH.datasets
SAMPLERS = BENCH.samplers
# FID/KID need each dataset's reference statistics (and real-vs-real baseline rows); an empty
# `metrics:` list means every metric
FIDELITY = BENCH.fidelity
# every metrics file the report reads
METRIC_PATHS = [
    str(LAYOUT.path(METRICS, dataset=dataset, name=name))
    for dataset in DATASETS
    for name in BENCH.metric_files(dataset)
]
# the scaling study's device kind (cpu or cuda), when the config asks for one
SCALING_DEVICE = (BENCH.scaling.device if BENCH.scaling else "cpu").split(":")[0]


def scaling_tables():
    """The scaling study's tables when the config has a `scaling:` section, else nothing."""
    if BENCH.scaling is None:
        return []
    return [
        str(LAYOUT.path(template, device=SCALING_DEVICE))
        for template in (SCALING, SCALING_SLOPES)
    ]


# the validated config every job reads; its path is a job parameter, so it does not depend on the content
CONFIG_FILE = f".snakemake/scorebench/{BENCH.name}.yaml"


def write_resolved_config():
    """Write CONFIG_FILE, called from onstart: under Snakemake's lock and never in a dry run, so a
    refused or dry invocation cannot change what a running workflow's jobs read. Rewritten only when
    it changes: jobs rerun on their params alone."""
    text = yaml.safe_dump(CONFIG, sort_keys=True)
    if os.path.exists(CONFIG_FILE) and open(CONFIG_FILE).read() == text:
        return
    os.makedirs(os.path.dirname(CONFIG_FILE), exist_ok=True)
    with open(f"{CONFIG_FILE}.tmp", "w") as f:
        f.write(text)
    os.replace(f"{CONFIG_FILE}.tmp", CONFIG_FILE)


wildcard_constraints:
    dataset="|".join(DATASETS) or "-",
    sampler="|".join(SAMPLERS) or "-",
    objective="[A-Za-z0-9_]+",
    schedule="[A-Za-z0-9_]+",
    seed="[0-9]+",


def log_path(stage, job):
    """logs/<stage>/<job>.log under the benchmark's results (`job` may hold wildcards)."""
    return f"{LAYOUT.root}/logs/{stage}/{job}.log"


def benchmark_path(stage, job):
    """benchmarks/<stage>/<job>.tsv: Snakemake's own wall-clock and memory record per job."""
    return f"{LAYOUT.root}/benchmarks/{stage}/{job}.tsv"


# per dataset: its training groups' outputs; per (dataset, objective): every run's deciding parameters.
# Built once: input and params functions run for every job of the DAG.
GROUP_PARAMS = {}
for _run in RUNS:
    GROUP_PARAMS.setdefault((_run.dataset, _run.objective), {})[_run.id] = (
        BENCH.run_params(_run)
    )
MODEL_FILES = {}
for _dataset, _objective in GROUP_PARAMS:
    MODEL_FILES.setdefault(_dataset, []).append(
        str(LAYOUT.path(TRAIN_GROUP, dataset=_dataset, objective=_objective))
    )


def model_files(wildcards):
    """The training groups of a dataset: their jobs write every valid run's model."""
    return MODEL_FILES.get(wildcards.dataset, [])


# the dataset's FID/KID reference, an input of its sampling jobs when the benchmark computes FID or KID
REFERENCE_INPUT = [LAYOUT.pattern(FID_REFERENCE)] if FIDELITY else []


def group_params(wildcards):
    """Everything that decides each run of a training group and its model metrics: a change reruns the
    group's job, which retrains exactly the runs whose parameters changed and evaluates every run.
    """
    return {
        "runs": GROUP_PARAMS[(wildcards.dataset, wildcards.objective)],
        "evaluate": BENCH.section("evaluate", wildcards.dataset),
    }


def sample_metric_params(wildcards):
    """What decides a sampler's job: its entry and every evaluate setting (draws, KID subsets); runs whose
    draw did not change are only re-evaluated (evaluate.draw_key)."""
    return {
        "sampler": BENCH.sampler(wildcards.sampler),
        "evaluate": BENCH.section("evaluate", wildcards.dataset),
    }


def condition_params(wildcards):
    """What decides a sampler's inpainting rows: its entry, the conditioning section, the evaluate device."""
    return {
        "sampler": BENCH.sampler(wildcards.sampler),
        "conditioning": CONFIG["conditioning"],
        "device": BENCH.section("evaluate", wildcards.dataset).get("device"),
    }


def reference_params(wildcards):
    """What decides a dataset's FID/KID reference and floor: its data and its evaluate settings."""
    return {
        "dataset": BENCH.dataset(wildcards.dataset),
        "evaluate": BENCH.section("evaluate", wildcards.dataset),
    }


def resource(stage, key, default):
    """A rule's `mem_mb`, `runtime` (minutes) or `cpus`: resources.<stage>.<key>, else resources.<key>, else `default`."""
    return BENCH.resource(stage, key, default)


def placement(stage, gpu=0):
    """The config's SLURM placement of a stage's jobs (partition, account; the GPU model only for
    jobs whose `gpu`, a count or a function of the wildcards, is not 0): resources the local
    executor ignores."""
    where = BENCH.placement(stage)
    model = where.pop("gpu_model", None)
    if model is None:
        return where
    if not callable(gpu):
        return where | {"gpu_model": model if gpu else ""}
    return where | {"gpu_model": lambda wildcards: model if gpu(wildcards) else ""}


def every_core():
    """--cores of a local run; a cluster executor has no --cores, and the job gets CLUSTER_CORES."""
    try:
        return workflow.cores
    except WorkflowError:
        return CLUSTER_CORES


def gpus(*sections):
    """1 when the config asks one of these stages (train, evaluate) for a CUDA device, else 0 (the same
    rule runs on CPU). A number when every dataset agrees (Snakemake evaluates a function once per
    job), else a function of the job's dataset."""
    counts = {
        name: int(
            any(
                str(BENCH.section(key, name).get("device", "cpu")).startswith("cuda")
                for key in sections
            )
        )
        for name in BENCH.dataset_entries
    }
    if len(set(counts.values())) <= 1:
        return next(iter(counts.values()), 0)

    def count(wildcards):
        return counts[wildcards.dataset]

    return count

"""Where every artefact of a benchmark lives under results/<name>/: one template per artefact.

Templates use the grid's field names ({dataset}, {objective}, {schedule}, {seed}, {sampler},
{name}), so the same strings serve as Snakemake wildcard patterns and, filled, as paths.
Samples and metrics are grouped per (dataset, sampler): one workflow job does seconds of real
work for every run of a dataset, instead of hundreds of jobs that each spend most of their time
starting Python and importing torch.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError

RESULTS = "results"  # the default results root, relative to the working directory
RUN = "runs/{dataset}/{objective}/{schedule}/seed{seed}"
MODEL_FILE = RUN + "/model.pt"
TRAIN_LOG = RUN + "/train.csv"
TRAIN_GROUP = "runs/{dataset}/{objective}/runs.json"  # what one grouped training job did: run id -> status
CURVE = RUN + "/curve.csv"  # the truth probe against training seconds (train.CURVE_COLUMNS)
SAMPLES = "samples/{dataset}/{sampler}"
SAMPLE = SAMPLES + "/{objective}/{schedule}/seed{seed}.pt"
COMPLETIONS = "samples/{dataset}/conditional.{sampler}/{objective}/{schedule}/seed{seed}.pt"  # inpainting, per run
METRICS = "metrics/{dataset}/{name}.json"
MODEL_METRICS = "model"  # the {name} prefix of model-level metrics files: model.<objective> (grid.model_file)
DATA_METRICS = "data"  # the {name} of a dataset's real-vs-real baseline metrics file
FEATURE_NET = "features/{dataset}/classifier.pt"  # a dataset's trained feature network (a classifier: digits, mnist5k)
REFERENCE = "features/{dataset}/reference.pt"  # FID/KID reference statistics of the train split + baseline
SUMMARY = "summary.csv"
AGGREGATE = "aggregate.csv"  # per grid cell and metric over seeds: estimate, 95 % interval, n
PAIRED = "paired.csv"  # every objective against DSM, paired by seed
OVERALL = "overall.csv"  # every trained objective against DSM across the datasets
CURVES = "curves.csv"  # every run's curve.csv in one table
SCALING = "scaling/{device}.csv"  # one table per device kind (cpu, cuda)
SCALING_SLOPES = "scaling/{device}_slopes.csv"
REPORT = "report.html"
FIGURES = "figures"

GRID_FIGURES = {  # figures/<name> -> caption: the report's and the workflow's contract
    "convergence.png": "Truth metric against training seconds: mean over seeds, band from the lowest to the highest seed",
    "quality_vs_cost.png": "Sample quality against sampling seconds per grid cell, with 95 % intervals over seeds",
    "fisher_divergence.png": "Fisher divergence to the true perturbed score, mean and 95 % interval over seeds",
    "mode_weights.png": "Mode weights: plain vs annealed Langevin (the low-density pitfall)",
    "samples.png": "Samples of the best run per dataset and sampler (by the dataset's sample-quality metric)",
}
SCALING_FIGURES = {  # figures/<name> of a config with a scaling: section -> caption
    "scaling_time.png": "Seconds per training step against data dimension d (log–log)",
    "scaling_memory.png": "Peak memory of one training step against d (log–log)",
    "scaling_ratios.png": "Step time relative to DSM at each d: exact/DSM and SSM/DSM",
}

CONDITIONING_FIGURES = {  # figures/<name> of a config with a conditioning: section -> caption
    "conditional.png": "Inpainting a 2-d dataset with one coordinate observed: each method's completions of the "
                       "first test point (histogram) against the exact conditional density (line)",
    "inpainting.png": "Inpainting images: masked input, completions of each method, original",
}


def figure_files(grid: bool, scaling: bool, conditioning: bool = False) -> list[str]:
    """The figures a report draws: the grid's when the config has one, the scaling study's and the
    inpainting figures when asked."""
    return [*(GRID_FIGURES if grid else ()), *(SCALING_FIGURES if scaling else ()),
            *(CONDITIONING_FIGURES if conditioning else ())]


class Layout:
    """Paths of one benchmark's artefacts under `results`/`bench`."""

    def __init__(self, results: str | Path, bench: str):
        self.root = Path(results) / bench

    def path(self, template: str, **fields) -> Path:
        """The artefact's path; one that would leave results/<name>/ (a field holding `..` or a
        separator: the schema refuses such names, this is the last guard) is a ConfigError."""
        path = self.root / template.format(**fields)
        if ".." in path.relative_to(self.root).parts or any("/" in str(v) or "\\" in str(v) for v in fields.values()):
            raise ConfigError(f"{template.format(**fields)}: a name would write outside {self.root}; names are "
                              "letters, digits and _")
        return path

    def pattern(self, template: str, **fields) -> str:
        """The template under this root, `fields` filled in and its other wildcards left for Snakemake."""
        return str(self.root / template.format_map(_Wildcards(fields)))


class _Wildcards(dict):
    """Formatting map that leaves a missing field as its own `{field}` wildcard."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"

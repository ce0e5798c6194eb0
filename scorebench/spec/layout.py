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
CURVE = RUN + "/curve.csv"  # the truth probe against training seconds (rows.RUN_CURVE_COLUMNS)
SAMPLES = "samples/{dataset}/{sampler}"
SAMPLE = SAMPLES + "/{objective}/{schedule}/seed{seed}.pt"
COMPLETIONS = "samples/{dataset}/conditional.{sampler}/{objective}/{schedule}/seed{seed}.pt"  # inpainting, per run
METRICS = "metrics/{dataset}/{name}.json"
MODEL_METRICS = "model"  # the {name} prefix of model-level metrics files: model.<objective> (grid.model_file)
DATA_METRICS = "data"  # the {name} of a dataset's real-vs-real baseline metrics file
FEATURE_NET = "features/{dataset}/classifier.pt"  # a dataset's trained feature network (a classifier: digits, mnist5k)
FID_REFERENCE = "features/{dataset}/reference.pt"  # FID/KID reference statistics of the train split + baseline
SUMMARY = "summary.csv"
AGGREGATE = "aggregate.csv"  # per grid cell and metric over seeds: estimate, 95 % interval, n
PAIRED = "paired.csv"  # every objective against DSM, paired by seed
OVERALL = "overall.csv"  # every trained objective against DSM across the datasets
CURVES = "curves.csv"  # every run's curve.csv in one table
SCALING = "scaling/{device}.csv"  # one table per device kind (cpu, cuda)
SCALING_SLOPES = "scaling/{device}_slopes.csv"
REPORT = "report.html"
FIGURES = "figures"
TABLES = "tables"  # the leaderboards and paired comparisons as LaTeX (booktabs) and Markdown, for a paper

# figures/<name> -> caption: the one source of the report's figure captions and the workflow's
# (workflow/report/<stem>.rst holds the same text, kept equal by tests/test_workflow.py)
GRID_FIGURES = {
    "convergence.png": "Truth metric against training seconds (log–log), one panel per dataset and schedule, one "
                       "line per objective: the mean over seeds at each of about ten log-spaced steps, the band from "
                       "the lowest to the highest seed. Synthetic data: the σ²-weighted Fisher divergence to the "
                       "exact perturbed score on a fixed probe set; real data: the held-out denoising score-matching "
                       "loss at fixed noise levels (the same number for every objective). The probe's own time is "
                       "not counted as training time.",
    "quality_vs_cost.png": "Sample quality (FID where computed, else sliced Wasserstein distance to fresh true "
                           "samples) against sampling seconds, one panel per dataset and schedule; colour is the "
                           "training objective, marker the sampler; error bars are 95 % Student-t intervals over "
                           "seeds. The dashed line and grey band are the real-vs-real floor (held-out data at the "
                           "same n) with its interval over the held-out draws.",
    "fisher_divergence.png": "σ²-weighted Fisher divergence E_t E ½σ(t)²‖s_θ − ∇log p_t‖² between each trained score "
                             "network and the exact perturbed score of the synthetic data, per objective (x) and "
                             "noise schedule (colour): the geometric mean over seeds with its 95 % Student-t "
                             "interval, on a log axis.",
    "mode_weights.png": "Fraction of samples in each mode of a synthetic mixture for plain Langevin and annealed "
                        "Langevin dynamics, against the true mixture weights. Plain Langevin at the smallest noise "
                        "level cannot move mass between well-separated modes (Song & Ermon 2019, §3.2); annealing "
                        "recovers the weights.",
    "samples.png": "Samples per dataset (rows) and sampler (columns) from the trained run (objective, schedule, seed "
                   "in the title) that scores best with that sampler on the dataset's quality metric (FID, else "
                   "sliced Wasserstein). 2-D data: first two coordinates over held-out data in grey; images: a 4×4 "
                   "tile. An empty panel names why (skipped, diverged, failed).",
}
SCALING_FIGURES = {  # figures/<name> of a config with a scaling: section -> caption
    "scaling_time.png": "Median seconds per training step (forward + backward + Adam) against data dimension d, "
                        "log–log, per objective and device. Exact score matching needs the full Jacobian trace (d "
                        "backward passes), SSM one projected pass, DSM none; slopes are in the report's scaling "
                        "table.",
    "scaling_memory.png": "Peak memory of one training step against d, log–log: torch.cuda.max_memory_allocated on "
                          "CUDA, the growth of the process's peak resident set (ru_maxrss) on CPU, each cell in a "
                          "fresh process.",
    "scaling_ratios.png": "Step time of exact (vectorised and loop), SSM and SSM-VR divided by DSM's at the same d. "
                          "The dashed line marks 2×, the target for SSM.",
}

SWEEP_FIGURES = {  # figures/<name> of a config with an NFE sweep (a sampler's list of step counts) -> caption
    "quality_vs_nfe.png": "Sample quality (FID where computed, else sliced Wasserstein distance to fresh true "
                          "samples) against NFE (score evaluations per sample, the mean of the nfe rows; log "
                          "axis), one panel per dataset and schedule: one line per sampler sweep (colour) and "
                          "objective (line style; the oracle, solid, has the exact score, so its curve is the "
                          "sampler's own discretisation error), each point one step count with its 95 % "
                          "Student-t interval over seeds (the axis spans the estimates: a wide interval runs off "
                          "it). The dotted line is X of the NFE-to-reach table: 1.1 times the oracle's converged "
                          "quality.",
    "truth_vs_nfe.png": "The ground-truth sample metrics of the synthetic datasets against NFE, as the quality "
                        "figure draws them: C2ST (the 5-fold accuracy of a classifier telling samples from fresh "
                        "true samples; 0.5: indistinguishable) and KSD (the kernel Stein discrepancy with the "
                        "exact score, an unbiased estimate: 0 for the true law, it may dip below), one panel per "
                        "dataset, metric and schedule; the dotted line is the truth's value.",
}

CONDITIONING_FIGURES = {  # figures/<name> of a config with a conditioning: section -> caption
    "conditional.png": "Inpainting a 2-d dataset with one coordinate observed: each method's completions of the "
                       "first test point (histogram) against the exact conditional density (line).",
    "inpainting.png": "Inpainting images: masked input, completions of each method, original.",
}


def figure_files(grid: bool, scaling: bool, conditioning: bool = False, sweep: bool = False) -> list[str]:
    """The figures a report draws: the grid"s when the config has one, the scaling study"s, the
    inpainting figures and the quality-against-NFE figure (a grid with a sampler sweep) when asked."""
    return [*(GRID_FIGURES if grid else ()), *(SWEEP_FIGURES if grid and sweep else ()),
            *(SCALING_FIGURES if scaling else ()), *(CONDITIONING_FIGURES if conditioning else ())]


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

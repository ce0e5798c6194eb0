"""What every summary metric is: its unit, whether it spans decades, which direction is better, at
which level it is computed and what it needs (torch-free: the workflow's parse checks names here).

One registry that the metric rows, the aggregates, the paired comparisons and the report all read.
Every metric is declared here, torch-free, so the workflow's parse and the report (which import no
job) know it; a model- or sample-level metric registers its computation under its declared name
with `jobs.sample.computes(name, ...)`. The verdict ranks the metrics flagged
`headline` and a dataset's first `quality` one.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MetricInfo:
    unit: str
    log_scale: bool  # spans decades: compared between objectives as a ratio, drawn on a log axis
    lower_is_better: bool = True
    timing: bool = False  # a wall-clock: members (schedules × seeds) timed as one batch share one value
    level: str = "sample"  # model (one per run), sample (per run and sampler), conditional, data, curve
    needs: str | None = None  # "synthetic": a known density; "images": image data; None: any dataset
    headline: int | None = None  # a model metric the verdict ranks, in this order
    quality: int | None = None  # a sample-quality metric the verdict ranks: a dataset's is the lowest number it has


BATCHED = "one timing of a batch of"  # how a shared timing row's detail begins; `shared_timing` reads it


METRIC_INFO = {
    "train_seconds": MetricInfo("seconds", True, timing=True, level="model"),
    "train_steps": MetricInfo("steps", True, lower_is_better=False, level="model"),  # fewer than train.steps under a budget
    "nll_bits_per_dim": MetricInfo("bits/dim", False, level="model", headline=2),
    "fisher_divergence": MetricInfo("sigma^2-weighted", True, level="model", needs="synthetic", headline=1),
    "nll_gap_bits_per_dim": MetricInfo("bits/dim", False, level="model", needs="synthetic"),
    "sample_seconds": MetricInfo("seconds", True, timing=True),
    "nfe": MetricInfo("evaluations", True),
    "mode_weight_tv": MetricInfo("total variation", False, needs="synthetic"),
    "sliced_wasserstein": MetricInfo("data units", True, needs="synthetic", quality=2),
    "c2st": MetricInfo("accuracy", False, needs="synthetic"),  # 0.5: the classifier cannot tell samples from truth
    "ksd": MetricInfo("squared score units", False, needs="synthetic"),  # an unbiased U-statistic: may be negative near 0
    "fid": MetricInfo("squared feature units", True, quality=1),
    "kid": MetricInfo("squared feature units", False),  # an unbiased estimate: may be negative near 0
    "feature_accuracy": MetricInfo("fraction", False, lower_is_better=False, level="data"),
    "cond_mode_weight_tv": MetricInfo("total variation", False, level="conditional", needs="synthetic"),
    "cond_sliced_wasserstein": MetricInfo("data units", True, level="conditional", needs="synthetic"),
    "cond_label_agreement": MetricInfo("fraction", False, lower_is_better=False, level="conditional", needs="images"),
    "cond_fid": MetricInfo("squared feature units", True, level="conditional", needs="images"),
    "heldout_dsm_loss": MetricInfo("sigma^2-weighted", True, level="curve"),  # training curves on real data only
}


def _flagged(flag: str) -> tuple[str, ...]:
    """The metrics with a number under `flag` (headline, quality), in its order."""
    return tuple(sorted((m for m, info in METRIC_INFO.items() if getattr(info, flag)), key=lambda m: getattr(METRIC_INFO[m], flag)))


HEADLINE, QUALITY = _flagged("headline"), _flagged("quality")  # what the verdict ranks: both, a dataset's first quality one


def summary_metrics() -> list[str]:
    """Every metric name a summary row can carry: the config's `metrics` choose among them."""
    return [m for m, info in METRIC_INFO.items() if info.level != "curve"]


def metric_names(level: str, *, synthetic: bool, image: bool, wanted=()) -> list[str]:
    """The metrics of `level` that apply to a dataset, in registration order, restricted to `wanted`
    (a config's `metrics:` list; empty: all)."""
    fits = {None: True, "synthetic": synthetic, "images": image}
    return [m for m, info in METRIC_INFO.items() if info.level == level and fits[info.needs]
            and (not wanted or m in wanted)]


def shared_timing(metric: str, detail) -> bool:
    """Whether a summary row is a wall-clock that its batch's members share (one measurement, not one per run)."""
    info = METRIC_INFO.get(metric)
    return bool(info and info.timing and isinstance(detail, str) and detail.startswith(BATCHED))


def timing_detail(batched_with: int, extra: str = "") -> str:
    """The detail of a timing row: what else it says, led by the batch it was shared with (if any)."""
    parts = ([f"{BATCHED} {batched_with} members"] if batched_with > 1 else []) + ([extra] if extra else [])
    return "; ".join(parts)

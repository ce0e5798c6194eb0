"""What every summary metric is: its unit, whether it spans decades, and which direction is better.

One table that the metric rows, the aggregates, the paired comparisons and the report all read.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MetricInfo:
    unit: str
    log_scale: bool  # spans decades: compared between objectives as a ratio, drawn on a log axis
    lower_is_better: bool = True
    timing: bool = False  # a wall-clock: seeds timed as one batch share one value, counted once


BATCHED = "one timing of a batch of"  # how a shared timing row's detail begins; `shared_timing` reads it


METRIC_INFO = {
    "train_seconds": MetricInfo("seconds", True, timing=True),
    "sample_seconds": MetricInfo("seconds", True, timing=True),
    "nfe": MetricInfo("evaluations", True),
    "nll_bits_per_dim": MetricInfo("bits/dim", False),
    "nll_gap_bits_per_dim": MetricInfo("bits/dim", False),
    "fisher_divergence": MetricInfo("sigma^2-weighted", True),
    "mode_weight_tv": MetricInfo("total variation", False),
    "sliced_wasserstein": MetricInfo("data units", True),
    "fid": MetricInfo("squared feature units", True),
    "kid": MetricInfo("squared feature units", False),  # an unbiased estimate: may be negative near 0
    "feature_accuracy": MetricInfo("fraction", False, lower_is_better=False),
    "heldout_dsm_loss": MetricInfo("sigma^2-weighted", True),  # training curves on real data only
}
CURVE_ONLY = ("heldout_dsm_loss",)
QUALITY = ("fid", "sliced_wasserstein")  # a dataset's sample-quality metric in the report: the first it has
METRICS = tuple(m for m in METRIC_INFO if m not in CURVE_ONLY)  # every metric name a summary row can carry: the config's `metrics` choose among them


def shared_timing(metric: str, detail) -> bool:
    """Whether a summary row is a wall-clock that its seed batch shares (one measurement, not one per seed)."""
    info = METRIC_INFO.get(metric)
    return bool(info and info.timing and isinstance(detail, str) and detail.startswith(BATCHED))


def timing_detail(batched_with: int, extra: str = "") -> str:
    """The detail of a timing row: what else it says, led by the batch it was shared with (if any)."""
    parts = ([f"{BATCHED} {batched_with} seeds"] if batched_with > 1 else []) + ([extra] if extra else [])
    return "; ".join(parts)

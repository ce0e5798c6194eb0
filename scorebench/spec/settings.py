"""The settings sections of a benchmark (train, evaluate, scaling) as dataclasses, torch-free: the
parse checks them and every stage reads its typed settings from here (`Benchmark.train(dataset)`, …).
`jobs.generate` writes their schema from these fields."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from ..errors import ConfigError
from .config import settings
from .registry import COUNT, POSITIVE, SCALE, Length, OneOf, Range


@dataclass
class TrainConfig:
    """The `train:` section of a benchmark config."""

    steps: COUNT = 2000
    # equal compute: a member stops before the step that would take its training seconds past this
    # (steps stays the cap; null: train every step)
    budget_seconds: Annotated[float | None, POSITIVE] = None
    batch_size: COUNT = 256
    lr: SCALE = 1e-3
    ema: Annotated[float, Range(0, 1, high_open=True)] = 0.999
    grad_clip: SCALE = 1.0  # the largest gradient norm a step applies
    checkpoint_every: COUNT = 500
    log_every: COUNT = 50
    curve_points: COUNT = 10  # log-spaced steps at which the truth probe is recorded (curve.csv)
    device: str = "cpu"
    net: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, values: dict | None) -> "TrainConfig":
        cfg = settings(cls, values, "train")
        if not isinstance(cfg.net, dict):
            raise ConfigError(f"train.net: must be a mapping {{kind: mlp|unet, ...}} (got {cfg.net!r})")
        return cfg


@dataclass
class EvaluateConfig:
    """The `evaluate:` section of a benchmark config."""

    n_samples: COUNT = 2000
    nll_points: COUNT = 500
    fisher_points: COUNT = 4096
    divergence: Annotated[str, OneOf("auto", "exact", "hutchinson")] = "auto"  # exact up to exact_divergence_max_dim, Hutchinson above
    exact_divergence_max_dim: COUNT = 32
    sw_projections: COUNT = 256
    device: str = "cpu"  # where sampling and NLL run; the workflow asks for a GPU when this is cuda
    features: str | dict = "auto"  # FID/KID feature space: auto, raw, classifier or {kind: inception, ...}
    reference_samples: COUNT = 10000  # train rows in the FID/KID reference statistics
    baseline_draws: COUNT = 5  # real-vs-real draws of synthetic data: the floor's spread
    kid_subsets: COUNT = 100
    kid_subset_size: COUNT = 1000

    @classmethod
    def from_dict(cls, values: dict | None) -> "EvaluateConfig":
        cfg = settings(cls, values, "evaluate")
        from .catalog import FEATURE_KINDS  # not at import: jobs.generate reads this class to write the catalog

        kind = cfg.features.get("kind") if isinstance(cfg.features, dict) else cfg.features
        if kind != "auto" and kind not in FEATURE_KINDS:
            raise ConfigError(f"evaluate.features: unknown {kind!r}; valid: auto, {', '.join(FEATURE_KINDS)} "
                              "(or {kind: inception, weights_path: FILE})")
        if cfg.divergence not in ("auto", "exact", "hutchinson"):
            raise ConfigError(f"evaluate.divergence: unknown {cfg.divergence!r}; valid: auto, exact, hutchinson")
        return cfg


# variant name -> (objective registry key, its parameters)
VARIANTS = {
    "exact": ("exact", {"vectorized": True}),
    "exact_loop": ("exact", {"vectorized": False}),
    "dsm": ("dsm", {}),
    "ssm": ("ssm", {}),
    "ssm_vr": ("ssm_vr", {}),
}


@dataclass
class ScalingConfig:
    """The `scaling:` section of a benchmark config."""

    dims: Annotated[list[COUNT], Length(1)] = field(default_factory=lambda: [2**k for k in range(1, 11)])  # 2 … 1024
    objectives: Annotated[list[Annotated[str, OneOf(*VARIANTS)]], Length(1)] = field(default_factory=lambda: list(VARIANTS))
    batch_size: COUNT = 64
    width: COUNT = 128  # fixed network width: DSM and SSM cost should then barely grow with d
    depth: COUNT = 3
    warmup: COUNT = 2
    repeats: COUNT = 5
    # a timing runs whole steps for at least this long: one step of a few ms on a shared CPU moves with
    # the scheduler (single-step timings of one cell moved by up to 21 % between two runs); 0: one step
    block_seconds: Annotated[float, Range(0)] = 0.05
    device: str = "cpu"
    max_seconds: SCALE = 30.0  # a cell whose warm-up step takes longer is recorded as skipped
    fit_from_dim: COUNT = 64  # slopes are fitted over d ≥ this, where the per-dimension cost dominates

    @classmethod
    def from_dict(cls, values: dict | None) -> "ScalingConfig":
        cfg = settings(cls, values, "scaling")
        for name in cfg.objectives:
            if name not in VARIANTS:
                raise ConfigError(f"scaling.objectives: unknown {name!r}; valid: {', '.join(VARIANTS)}")
        if not cfg.dims or not all(isinstance(d, int) and d >= 1 for d in cfg.dims):
            raise ConfigError(f"scaling.dims: must be a non-empty list of integers >= 1 (got {cfg.dims!r})")
        return cfg

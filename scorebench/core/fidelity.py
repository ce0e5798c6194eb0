"""FID and KID through torch-fidelity's feature statistics, on features suited to the data.

Features come from a registered extractor (`FEATURES`): raw coordinates for low-dimensional data,
a feature classifier's penultimate layer for grey digits (8×8, 28×28), torch-fidelity's Inception-v3 for natural
images, loaded from a local weights file (no download: the machine may be offline). The Fréchet
distance and KID themselves are torch-fidelity's `fid_statistics_to_metric` and
`kid_features_to_metric`; this module only extracts features and caches reference statistics.
"""
from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .classifier import load_classifier
from ..errors import ConfigError, DataError
from ..io import provenance, save_torch
from ..spec.registry import Registry, build

FEATURES: Registry = Registry("feature extractor")
INCEPTION_NAME = "inception-v3-compat"  # torch-fidelity's registry key for its TF-compatible Inception-v3
# torch-fidelity's own URL for those weights (its URL_INCEPTION_V3; a test keeps the two equal). The
# package itself is imported where it is used: importing it loads torchvision, 1-2 s that every
# sampling job would pay
URL_INCEPTION_V3 = ("https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
                    "weights-inception-2015-12-05-6726825d.pth")
DEFAULT_INCEPTION_WEIGHTS = Path(torch.hub.get_dir()) / "checkpoints" / Path(URL_INCEPTION_V3).name
INCEPTION_SHA256_PREFIX = "6726825d"  # torch hub names a file by its SHA-256's first 8 hex digits


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Extractor:
    """A named map from model-space samples (n, *shape) in [-1, 1] to features (n, F) on `device`."""

    name: str
    fn: Callable[[torch.Tensor], torch.Tensor]
    device: str = "cpu"


def build_extractor(spec: dict, where: str = "features", device: str = "cpu") -> Extractor:
    """The extractor named by `spec['kind']`, with the rest of `spec` as its options."""
    return build(FEATURES, spec, where=where, device=device)


@FEATURES.register("raw")
def raw(device="cpu") -> Extractor:
    """Flattened coordinates: the Fréchet distance and KID of the data themselves (low-d synthetic data)."""
    return Extractor("raw", lambda x: x.reshape(len(x), -1), device)


@FEATURES.register("classifier")
def classifier(path, device="cpu") -> Extractor:
    """Penultimate features of the feature classifier cached at `path`, trained on the dataset's own
    train split (see `core.classifier`)."""
    net, record = load_classifier(path, map_location=device)

    def fn(x: torch.Tensor) -> torch.Tensor:
        if x[0].numel() != record["dim"]:
            raise ConfigError(f"features.classifier: trained on {record['kind']} ({record['dim']} values), got samples "
                              f"of shape {tuple(x.shape[1:])}")
        return net.features(x)

    return Extractor(f"{record['kind']} classifier", fn, device)


@FEATURES.register("inception")
def inception(weights_path: str | None = None, device="cpu") -> Extractor:
    """torch-fidelity's Inception-v3 pool features (2048) from `weights_path` (default: torch hub's cache)."""
    path = Path(weights_path) if weights_path is not None else DEFAULT_INCEPTION_WEIGHTS
    if not path.is_file():
        raise DataError(f"Inception weights {path} not found: download {URL_INCEPTION_V3} on a machine with internet "
                        f"and copy it there (or set features.weights_path)")
    try:  # torch-fidelity loads with weights_only=False: only a file of plain tensors gets that far
        torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a damaged file, or a pickle with objects (which could run code) in it
        raise DataError(f"Inception weights {path} are corrupt or not a plain weights file ({type(err).__name__}); "
                        f"download {URL_INCEPTION_V3} again") from None
    if not _sha256(path).startswith(INCEPTION_SHA256_PREFIX):
        print(f"scorebench: note: {path} is not torch-fidelity's published Inception-v3 (sha256 "
              f"{INCEPTION_SHA256_PREFIX}…): FID/KID will not be comparable with published values", file=sys.stderr)
    from torch_fidelity.utils import create_feature_extractor

    try:
        net = create_feature_extractor(INCEPTION_NAME, ["2048"], cuda=False, feature_extractor_weights_path=str(path),
                                       verbose=False)
    except Exception as err:  # torch.load fails on a damaged file in many ways (pickle, zip, struct, state-dict keys)
        raise DataError(f"Inception weights {path} are corrupt or not torch-fidelity's Inception-v3 "
                        f"({type(err).__name__}); download {URL_INCEPTION_V3} again") from None
    net = net.to(device)
    return Extractor("inception", lambda x: net(to_uint8_rgb(x))[0], device)


def to_uint8_rgb(x: torch.Tensor) -> torch.Tensor:
    """Images (n, 1 or 3, H, W) in [-1, 1] → uint8 RGB, the input torch-fidelity's Inception expects.

    256 equal bins over [-1, 1], so the bin centres `data` uses for 8-bit images map back to their
    exact integers; grey images are repeated over three channels.
    """
    if x.dim() != 4 or x.shape[1] not in (1, 3):
        raise ConfigError(f"features.inception: needs images (n, 1 or 3, H, W), got samples of shape {tuple(x.shape)}")
    u8 = ((x.clamp(-1, 1) + 1) * 128).floor().clamp(max=255).to(torch.uint8)
    return u8.expand(-1, 3, -1, -1) if u8.shape[1] == 1 else u8


def features(x: torch.Tensor, extractor: Extractor, batch_size: int = 256) -> torch.Tensor:
    """Features (n, F), float32 on the CPU, of samples `x` computed batch by batch."""
    with torch.no_grad():
        return torch.cat([extractor.fn(b.to(extractor.device)).float().cpu() for b in x.split(batch_size)])


def statistics(feats: torch.Tensor) -> dict[str, torch.Tensor]:
    """Mean and unbiased covariance (float64) of features, by torch-fidelity's `fid_features_to_statistics`."""
    from torch_fidelity.metric_fid import fid_features_to_statistics

    stats = fid_features_to_statistics(feats.double().cpu())
    # tensors, so a cache loads with weights_only; np.cov gives a scalar for a single feature
    return {"mu": torch.from_numpy(stats["mu"]), "sigma": torch.from_numpy(np.atleast_2d(stats["sigma"]))}


def reference_statistics(data: torch.Tensor, extractor: Extractor, *, n: int, seed: int, dataset: str = "",
                         split: str = "", batch_size: int = 256) -> dict:
    """Statistics of `n` rows of `data` drawn without replacement with `seed` (all rows if fewer).

    Keeps the features too, since KID needs them, and records what made them.
    """
    if n < 2:
        raise ConfigError(f"reference n: needs at least 2 samples for a covariance (got {n})")
    rows = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:n]
    feats = features(data[rows], extractor, batch_size)
    return {**statistics(feats), "features": feats, "n": len(feats), "seed": seed, "extractor": extractor.name,
            "feature_dim": feats.shape[1], "dataset": dataset, "split": split, "provenance": provenance()}


def save_reference(reference: dict, path: str | os.PathLike) -> None:
    """Write reference statistics atomically (a half-written cache never looks valid)."""
    save_torch(reference, path)


def load_reference(path: str | os.PathLike) -> dict:
    """Reference statistics written by `save_reference`; one-line errors for a missing or corrupt file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"reference statistics {path} not found; compute them with reference_statistics first")
    try:
        reference = torch.load(path, weights_only=True)
        if not isinstance(reference, dict):
            raise TypeError(type(reference).__name__)
        missing = {"mu", "sigma", "features", "n", "seed", "extractor", "feature_dim"} - set(reference)
    except Exception as err:  # torch.load fails on a damaged file in many ways (pickle, zip, struct)
        raise DataError(f"reference statistics {path} are corrupt ({type(err).__name__}); "
                        f"delete and recompute them") from None
    if reference.get("status") == "failed":  # cached by a workflow job that could not build it
        raise DataError(f"no reference statistics in {path}: {reference['reason']} (once fixed, delete {path} "
                        "or rerun snakemake with --forcerun reference)")
    if missing:
        raise DataError(f"reference statistics {path} lack {', '.join(sorted(missing))}; delete and recompute them")
    return reference


def fidelity(feats: torch.Tensor, reference: dict, *, kid_subsets: int = 100, kid_subset_size: int = 1000,
             seed: int = 0) -> dict:
    """FID and KID of sample features against reference statistics, both by torch-fidelity.

    KID is the mean ± std over `kid_subsets` random subsets of min(kid_subset_size, n, n_reference)
    rows (torch-fidelity needs subsets no larger than either set; when a subset is all of both sets,
    every subset is the same and `kid_std` is 0). `biased` marks results from no more samples
    than feature dimensions: the covariance (rank ≤ n − 1) is then singular and FID's O(F²/n) bias large.
    """
    from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_statistics_to_metric
    from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, KEY_METRIC_KID_STD, kid_features_to_metric

    n, dim = feats.shape
    if dim != reference["feature_dim"]:
        raise ConfigError(f"features: dimension {dim} differs from the reference's {reference['feature_dim']} "
                          f"({reference['extractor']})")
    subset = min(kid_subset_size, n, reference["n"])
    if subset < 2:
        raise ConfigError(f"fidelity: KID needs at least 2 samples on each side (got {n} and {reference['n']})")
    ref_stats = {key: reference[key].numpy() for key in ("mu", "sigma")}
    own_stats = {key: value.numpy() for key, value in statistics(feats).items()}
    fid = fid_statistics_to_metric(own_stats, ref_stats, verbose=False)[KEY_METRIC_FID]
    kid = kid_features_to_metric(feats.double(), reference["features"].double(), kid_subsets=kid_subsets,
                                 kid_subset_size=subset, rng_seed=seed, verbose=False)
    return {"fid": fid, "kid": kid[KEY_METRIC_KID_MEAN], "kid_std": kid[KEY_METRIC_KID_STD], "kid_subset_size": subset,
            "n": n, "n_reference": reference["n"], "feature_dim": dim, "biased": min(n, reference["n"]) <= dim}

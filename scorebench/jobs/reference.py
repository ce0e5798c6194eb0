"""FID/KID for a benchmark: which features a dataset uses, its cached reference, the real-vs-real floor.

Every dataset is scored in one feature space (`evaluate.features`, default by dataset kind: raw
coordinates for synthetic data, a classifier trained on a labelled dataset's train split, Inception for natural images). Its reference
is `evaluate.reference_samples` rows of the train split, cached with n and seed; the baseline
scores held-out real data (fresh draws of a synthetic distribution, else the test split) against
it with the same n as the generated samples, so users see the floor that sampling noise sets.
"""
from __future__ import annotations

import fcntl
import json
from functools import lru_cache
from pathlib import Path

import torch

from ..spec import catalog
from ..core.classifier import train_classifier
from ..spec.benchmark import Benchmark
from ..core.data import Dataset, build_dataset
from ..errors import DataError, ScorebenchError
from ..core.fidelity import (Extractor, build_extractor, features, fidelity, load_reference, reference_statistics, save_reference,
                       statistics)
from ..io import provenance, save_torch
from ..spec.layout import FEATURE_NET, FID_REFERENCE

SEED = 0  # of the reference rows, the feature net and the held-out draws


def feature_spec(bench: Benchmark, dataset: str, cfg) -> dict:
    """The dataset's extractor entry `{kind: ..., options}` (`evaluate.features: auto` picks by kind)."""
    spec = cfg.features
    if spec == "auto":
        spec = catalog.DATASETS.get(bench.dataset(dataset)["kind"]).features
    return {"kind": spec} if isinstance(spec, str) else dict(spec)


def needs_feature_net(bench: Benchmark, dataset: str, cfg) -> bool:
    """Whether the dataset's features come from a network this benchmark trains (a feature classifier)."""
    return feature_spec(bench, dataset, cfg)["kind"] == "classifier"


def feature_net(bench: Benchmark, dataset: str, results) -> Path:
    """The dataset's feature network (a classifier on its kind's train split) under features/<dataset>/,
    trained by the first job that needs it: a job that finds another training it waits on the lock and
    reads its file (it depends on the dataset's kind only, so it is never trained again; delete it to retrain)."""
    path = bench.layout(results).path(FEATURE_NET, dataset=dataset)
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.is_file():
            train_classifier(path, bench.dataset(dataset)["kind"], seed=SEED)
    return path


def extractor_spec(bench: Benchmark, dataset: str, cfg, results) -> dict:
    """The dataset's extractor entry with its files: a feature classifier is the one cached under features/."""
    spec = feature_spec(bench, dataset, cfg)
    if spec["kind"] == "classifier":
        spec.setdefault("path", str(feature_net(bench, dataset, results)))
    return spec


def extractor(bench: Benchmark, dataset: str, cfg, results, device: str = "cpu") -> Extractor:
    """The dataset's feature extractor."""
    return build_extractor(extractor_spec(bench, dataset, cfg, results), where="evaluate.features", device=device)


def standardised(ext: Extractor, scale: dict | None) -> Extractor:
    """Raw coordinates standardised by the reference rows' per-dimension mean and std (`scale`), so
    FID and KID on raw data do not grow with the data's units (KID's cubic kernel on coordinates of
    size 5 gave values in the thousands); learned feature spaces are used as they are (scale None)."""
    if scale is None:
        return ext
    mean, std = scale["mean"], scale["std"]
    return Extractor(f"{ext.name} (standardised by the reference's mean and std)",
                     lambda x: (ext.fn(x) - mean.to(x.device)) / std.to(x.device), ext.device)


def _standardise(ref: dict, spec: dict) -> dict | None:
    """Standardise a raw-feature reference in place by its rows' per-dimension mean and std; return that scale."""
    if spec["kind"] != "raw":
        return None
    feats = ref["features"]
    scale = {"mean": feats.mean(0), "std": feats.std(0).clamp_min(1e-12)}
    ref["features"] = (feats - scale["mean"]) / scale["std"]
    ref.update(statistics(ref["features"]), scale=scale)
    return scale


def _held_out(data: Dataset, n: int, draw: int, data_seed: int) -> torch.Tensor:
    """`n` real samples no model saw: fresh draws of a synthetic distribution, else the test split.

    Draw k uses seed data_seed + 1 + k: never the seed that drew the dataset's train and test rows."""
    gen = torch.Generator().manual_seed(data_seed + 1 + draw)
    if data.synthetic:
        return data.mixture.sample(n, gen).reshape(n, *data.shape).float()
    return data.dequantize(data.test[:n], gen)


def build_reference(bench: Benchmark, dataset: str, cfg, results, device: str = "cpu") -> dict:
    """Compute, cache and return the dataset's reference, with its real-vs-real baseline under "baseline".

    The baseline uses as many held-out samples as the models generate (`evaluate.n_samples`, fewer
    when the test split is smaller) and, for synthetic data, keeps `evaluate.baseline_draws` draws
    (one value each, so the floor has a spread; the test split of real data is one draw).
    A missing or corrupt file (dataset, weights, feature net) is cached as a failed reference, so every
    FID/KID row of the dataset can say why; the error is raised again for the caller.
    """
    out = bench.layout(results).path(FID_REFERENCE, dataset=dataset)
    params = bench.dataset(dataset)
    try:
        data = build_dataset(dataset, params)
        ext = extractor(bench, dataset, cfg, results, device)
        train = data.dequantize(data.train, torch.Generator().manual_seed(SEED))
        ref = reference_statistics(train, ext, n=cfg.reference_samples, seed=SEED, dataset=dataset, split="train")
        ext = standardised(ext, _standardise(ref, feature_spec(bench, dataset, cfg)))
        draws = cfg.baseline_draws if data.synthetic else 1
        held_out = [_held_out(data, cfg.n_samples, k, params.get("seed", 0)) for k in range(draws)]
        scores = [fidelity_of(features(x, ext), ref, cfg, seed=k) for k, x in enumerate(held_out)]
    except ScorebenchError as err:
        save_torch({"status": "failed", "reason": str(err), "provenance": provenance()}, out)
        raise
    ref["settings"] = depends_on(bench, dataset, cfg)
    ref["baseline"] = {"fid": [s["fid"] for s in scores], "kid": [s["kid"] for s in scores],
                       "draws": draws, "detail": describe(scores[0], ext.name, draws, data.synthetic)}
    save_reference(ref, out)
    return ref


def completion_fid(bench: Benchmark, dataset: str, cfg, completed: torch.Tensor, originals: torch.Tensor, results,
                   device: str = "cpu") -> tuple[float, str]:
    """FID of completed images against the (dequantised) test images they were completed from, in the
    dataset's feature space: (value, row detail)."""
    ext = extractor(bench, dataset, cfg, results, device)
    truth = reference_statistics(originals, ext, n=len(originals), seed=SEED, dataset=dataset, split="test")
    result = fidelity(features(completed, ext), truth, kid_subsets=1, kid_subset_size=2, seed=SEED)
    flag = f"; biased: n ≤ {result['feature_dim']} features" if result["biased"] else ""
    return result["fid"], f"{ext.name} features, {result['n']} test images each completed once, against them{flag}"


def depends_on(bench: Benchmark, dataset: str, cfg) -> dict:
    """What a reference depends on: the dataset entry, the feature space and the reference size."""
    spec = feature_spec(bench, dataset, cfg)
    return {"dataset": bench.dataset(dataset), "features": spec, "reference_samples": cfg.reference_samples,
            "standardised": spec["kind"] == "raw"}


def fidelity_of(feats: torch.Tensor, ref: dict, cfg, seed: int) -> dict:
    """FID and KID of features against a reference, with the evaluate section's KID settings."""
    return fidelity(feats, ref, kid_subsets=cfg.kid_subsets, kid_subset_size=cfg.kid_subset_size, seed=seed)


def describe(result: dict, extractor_name: str, draws: int = 1, synthetic: bool = False) -> str:
    """The detail of a FID/KID row: feature space, counts, and the bias flag the report shows."""
    source = f"; one of {draws} draws of fresh true samples" if synthetic else ""
    flag = f"; biased: n ≤ {result['feature_dim']} features" if result["biased"] else ""
    return (f"{extractor_name} features, n={result['n']} vs {result['n_reference']} train rows, "
            f"KID ± {result['kid_std']:.2g} over subsets of {result['kid_subset_size']}{source}{flag}")


def sample_fidelity(bench: Benchmark, dataset: str, cfg, x: torch.Tensor, results, seed: int, device: str = "cpu") -> dict:
    """FID and KID of generated samples `x` against the dataset's cached reference, with the row detail."""
    path = bench.layout(results).path(FID_REFERENCE, dataset=dataset)
    if not path.is_file():
        raise DataError(f"{path}: no FID/KID reference; run `scorebench reference CONFIG --dataset {dataset}` first")
    spec = json.dumps(extractor_spec(bench, dataset, cfg, results), sort_keys=True)
    ref, ext = _loaded(str(path), path.stat().st_mtime_ns, spec, device)
    ext = standardised(ext, ref.get("scale"))
    if ref.get("settings") != depends_on(bench, dataset, cfg):
        raise DataError(f"{path} was built for other dataset or feature settings than the config's; rerun "
                        f"`scorebench reference CONFIG --dataset {dataset}` (the workflow does when they change)")
    result = fidelity_of(features(x, ext), ref, cfg, seed)
    return result | {"detail": describe(result, ext.name)}


@lru_cache(maxsize=1)
def _loaded(path: str, mtime_ns: int, spec: str, device: str) -> tuple[dict, Extractor]:
    """A reference and its extractor, read once per process for all the runs an evaluation job scores
    (an Inception network and 10,000 × 2048 reference features are not reloaded per run); the file's
    mtime is part of the key, so a rewritten reference is read again."""
    return load_reference(path), build_extractor(json.loads(spec), where="evaluate.features", device=device)

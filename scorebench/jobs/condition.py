"""Inpainting rows of one (dataset, sampler): every run completes the same test points with every
mask × method that fits it (`grid.conditional_cases`), scored against the exact conditional.

A row's `sampler` column reads `<sampler>/<method>/<mask>`; its value is the mean over the
`conditioning.observations` test points, each completed `conditioning.n_samples` times, except
`cond_fid` (images): `conditioning.n_samples` distinct test images, each completed once. The first
test point's completions (at most FIGURE_ROWS) are kept per run for the report's figures.
"""
from __future__ import annotations

import math
from pathlib import Path

import torch

from ..core.classifier import load_classifier
from ..core.conditioning import build_mask, build_method, conditional_metrics, exact_conditional
from ..errors import ScorebenchError
from ..spec.rows import row
from .sample import load_score, seed_for, trained_failure
from ..spec.benchmark import Benchmark
from ..spec.grid import RunSpec
from ..io import save_torch
from ..spec.layout import COMPLETIONS, RESULTS
from .reference import completion_fid, feature_net
from ..core.samplers import build_sampler

FIGURE_ROWS = 256


def conditional_rows(bench: Benchmark, runs: list[RunSpec], sampler: str, results: str | Path = RESULTS,
                     device=None) -> list[dict]:
    """The inpainting rows of `runs` with `sampler`; a run whose completion raises is failed rows
    naming the error, the other runs go on."""
    rows = []
    for run in runs:
        cases = bench.conditional_cases(run, sampler)
        if not cases:
            continue
        try:
            rows += _run_rows(bench, run, sampler, cases, results, device)
        except (ScorebenchError, RuntimeError, ValueError) as err:
            rows += [row(run, f"{sampler}/{method}/{mask}", m, math.nan, "failed", f"{type(err).__name__}: {err}")
                     for mask, method, _, _ in cases for m in bench.metric_names("conditional", run.dataset)]
    return rows


def _run_rows(bench: Benchmark, run, sampler, cases, results, device) -> list[dict]:
    cond, names = bench.conditioning, bench.metric_names("conditional", run.dataset)
    device = device or bench.evaluate(run.dataset).device
    score, dataset, process, trained = load_score(bench, run, results, device)
    draw = build_sampler(sampler, bench.sampler(sampler))
    observations = dataset.test[: cond["observations"]]
    classifier = (load_classifier(feature_net(bench, run.dataset, results), device)[0]
                  if "cond_label_agreement" in names else None)
    rows, kept = [], {}
    for mask_name, method_name, ok, reason in cases:
        label = f"{sampler}/{method_name}/{mask_name}"
        if not ok or score is None:
            status, why = ("skipped", reason) if not ok else (trained["status"], trained_failure(trained))
            rows += [row(run, label, m, math.nan, status, why) for m in names]
            continue
        mask = build_mask(mask_name, cond["masks"][mask_name])(dataset.shape)
        method = build_method(method_name, cond["methods"][method_name])
        values: dict[str, list[float]] = {m: [] for m in names}
        for k, y in enumerate(observations):
            generator = torch.Generator(device).manual_seed(seed_for(run, f"{label}/{k}"))
            x, stats = method.draw(draw, score, process, mask, y, cond["n_samples"], generator=generator,
                                   device=device, mixture=dataset.mixture)
            if stats["status"] != "ok":
                rows += [row(run, label, m, math.nan, "diverged", f"observation {k}: non-finite state at step "
                                                                   f"{stats['diverged_step']}") for m in names]
                break
            if k == 0:
                kept[label] = {"x": x[:FIGURE_ROWS].cpu(), "y": y.cpu(), "mask": mask}
            if classifier is not None:
                with torch.no_grad():
                    truth = classifier(y[None].to(device)).argmax(1)
                    values["cond_label_agreement"].append(float((classifier(x).argmax(1) == truth).double().mean()))
            if dataset.mixture is not None:
                got = conditional_metrics(x, exact_conditional(dataset.mixture, mask, y), mask,
                                          generator=torch.Generator().manual_seed(seed_for(run, f"{label}/ref/{k}")))
                for m in got.keys() & values.keys():
                    values[m].append(got[m])
        else:
            detail = f"mean over {len(observations)} test points, {cond['n_samples']} completions each"
            rows += [row(run, label, m, sum(v) / len(v), detail=detail) for m, v in values.items() if m != "cond_fid"]
            if "cond_fid" in names:
                rows.append(_fid_row(bench, run, label, (draw, score, process, method), dataset, mask,
                                     cond["n_samples"], results, device))
    save_torch(kept, bench.layout(results).path(COMPLETIONS, sampler=sampler, **run.fields()))
    return rows


def _fid_row(bench: Benchmark, run, label, drawing, dataset, mask, n, results, device) -> dict:
    """cond_fid: up to `n` distinct test images (at most the split) completed once each, against them:
    how far completions stray from real images across the test split, where label agreement looks at
    a few test points completed many times."""
    draw, score, process, method = drawing
    originals = dataset.test[:n]
    generator = torch.Generator(device).manual_seed(seed_for(run, f"{label}/fid"))
    x, stats = method.draw(draw, score, process, mask, originals.to(device), len(originals), generator=generator,
                           device=device, mixture=dataset.mixture)
    if stats["status"] != "ok":
        return row(run, label, "cond_fid", math.nan, "diverged", f"non-finite state at step {stats['diverged_step']}")
    truth = dataset.dequantize(originals, torch.Generator().manual_seed(seed_for(run, f"{label}/fid/truth")))
    value, detail = completion_fid(bench, run.dataset, bench.evaluate(run.dataset), x.cpu(), truth, results, device)
    return row(run, label, "cond_fid", value, detail=detail)

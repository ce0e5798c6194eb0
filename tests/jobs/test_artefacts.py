"""Artefacts under results/ are data, never code: planted pickles do not run, damaged files are one
line naming them, and a sweep retries a failed run a bounded number of times."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import run_cli

from scorebench.jobs import launch
from scorebench.spec.benchmark import Benchmark
from scorebench.spec.rows import read_rows
from scorebench.spec.grid import RunSpec, model_file
from scorebench.io import save_torch
from scorebench.spec.layout import METRICS, MODEL_FILE, SAMPLE, Layout

CONFIG = {"name": "art", "seeds": [0], "datasets": {"toy": {"kind": "ncsn_toy"}}, "objectives": ["dsm"],
          "schedules": {"vp": {"kind": "vp"}}, "samplers": {"em": {"kind": "em", "steps": 20}},
          "train": {"steps": 20, "batch_size": 32}, "evaluate": {"n_samples": 64, "nll_points": 16},
          "metrics": ["train_seconds", "fisher_divergence", "sample_seconds", "sliced_wasserstein"]}
RUN = RunSpec("toy", "dsm", "vp", 0)


class Payload:
    """Unpickling this creates `path`: the marker that code from an artefact ran."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny run trained, sampled and its model evaluated (the sampler's metrics not): (config, results)."""
    root = tmp_path_factory.mktemp("art")
    path = root / "art.yaml"
    path.write_text(__import__("yaml").safe_dump(CONFIG))
    for verb in (["train", path, "--dataset", "toy", "--objective", "dsm"],
                 ["sample", path, "--dataset", "toy", "--sampler", "em"], ["evaluate", path, "--dataset", "toy"]):
        out = run_cli(*verb, "--results", root / "results")
        assert out.returncode == 0, out.stderr
    return path, root / "results"


def one_line(out, *named):
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2 and len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    assert lines[0].startswith("scorebench: error: ") and all(n in lines[0] for n in named), lines[0]


@pytest.mark.parametrize("damage", ["payload", "truncated", "garbage"])
@pytest.mark.parametrize("artefact", ["model", "samples"])
def test_a_planted_or_damaged_artefact_is_one_line_and_runs_no_code(trained, tmp_path, artefact, damage):
    path, results = trained
    layout = Layout(results, "art")
    target = layout.path(MODEL_FILE, **RUN.fields()) if artefact == "model" else layout.path(SAMPLE, sampler="em", **RUN.fields())
    original = target.read_bytes()
    marker = tmp_path / "pwned"
    try:
        if damage == "payload":
            torch.save({"status": "ok", "state_dict": Payload(marker)}, target)
        else:
            target.write_bytes(original[: len(original) // 2] if damage == "truncated" else os.urandom(256))
        sampler = [] if artefact == "model" else ["--sampler", "em"]
        out = run_cli("evaluate", path, "--dataset", "toy", *sampler, "--results", results)
        assert not marker.exists()
        if out.returncode == 0:  # recorded as failed rows that name the file, as the workflow runs it
            rows = read_rows(layout.path(METRICS, dataset="toy", name="em" if sampler else model_file("dsm")))
            assert rows and all(r["status"] == "failed" and str(target) in r["detail"] for r in rows), rows
        else:
            one_line(out, str(target))
    finally:
        target.write_bytes(original)


def _failed_record(config, results, attempts):
    bench = Benchmark.of(config)
    save_torch({"status": "failed", "reason": "RuntimeError: boom", "attempts": attempts, "steps": 0,
                "params": bench.run_params(RUN)}, Layout(results, "art").path(MODEL_FILE, **RUN.fields()))
    return bench


def test_a_failed_run_is_resubmitted_by_the_next_sweep_until_it_failed_three_times(tmp_path):
    lines = []
    config = _failed_record(CONFIG, tmp_path, attempts=1)
    launch.sweep(config, tmp_path, cluster="local", dry_run=True, echo=lines.append)
    assert "0 of 1 runs finished, 0 queued or running, 1 to submit" in lines[0] and "  would submit toy/dsm/vp/seed0" in lines
    config = _failed_record(CONFIG, tmp_path, attempts=launch.MAX_ATTEMPTS)
    with pytest.raises(launch.SlurmError, match="toy/dsm/vp/seed0: RuntimeError: boom"):
        launch.sweep(config, tmp_path, cluster="local", echo=lines.append)
    assert "1 failed 3 times and left out" in lines[-1]


def test_the_report_names_the_metric_files_it_expected_and_did_not_find(trained):
    path, results = trained
    Layout(results, "art").path(METRICS, dataset="toy", name="em").unlink(missing_ok=True)  # as if its job never ran
    out = run_cli("report", path, "--results", results, "--keep-going")
    assert out.returncode == 0 and "1 expected metric files missing or damaged, kept going" in out.stderr, out.stderr
    page = (results / "art/report.html").read_text()
    assert "1 expected metric files are missing, damaged or short of cells" in page and "metrics/toy/em.json: missing" in page


@pytest.mark.parametrize("damage", ["garbage", "truncated", "reshaped", "deleted"])
def test_a_damaged_metrics_file_fails_the_report_unless_kept_going_and_its_forcerun_replans_the_job(trained, damage):
    """Failed rows in summary.csv for its cells (the same rows as with the file), a non-zero exit naming
    the file and the `snakemake --forcerun` that rebuilds it, which Snakemake's dry run then plans."""
    import pandas as pd

    from conftest import ROOT
    from scorebench.report.page import collect

    path, results = trained
    here, rel = results.parent, Path("results/art/metrics/toy/em.json")  # as the workflow names it
    target = here / rel
    if not target.exists():  # the fixture leaves the sampler's rows out
        assert run_cli("evaluate", path, "--dataset", "toy", "--sampler", "em", "--results", results).returncode == 0
    original = target.read_bytes()
    whole = collect(Benchmark.read(path), results)[0]
    try:
        {"garbage": lambda: target.write_bytes(os.urandom(64)), "truncated": lambda: target.write_bytes(original[:40]),
         "reshaped": lambda: target.write_text('{"rows": {"em": 1}}'), "deleted": target.unlink}[damage]()
        out = run_cli("report", path, cwd=here)
        errors = [line for line in out.stderr.splitlines() if line.startswith("scorebench: error: ")]
        assert out.returncode == 2 and len(errors) == 1 and "Traceback" not in out.stderr, out.stderr
        assert all(n in errors[0] for n in (str(rel), f"--forcerun {rel}", "rule sample")), errors[0]
        summary = pd.read_csv(results / "art/summary.csv")
        assert len(summary) == len(whole) and (summary[summary.sampler == "em"].status == "failed").all()
        if damage not in ("garbage", "deleted"):  # the exit and the plan below are the same for every damage
            return
        assert run_cli("report", path, "--keep-going", cwd=here).returncode == 0
        dry = subprocess.run([Path(sys.executable).parent / "snakemake", "-n", "--snakefile", ROOT / "Snakefile",
                              "--configfile", path, "--forcerun", rel], capture_output=True, text=True, cwd=here)
        assert dry.returncode == 0 and f"output: {rel}" in dry.stdout, (dry.stdout + dry.stderr)[-3000:]
    finally:
        target.write_bytes(original)

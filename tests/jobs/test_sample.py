"""`scorebench sample` and `scorebench evaluate` end to end on a tiny config (real CLI, real files)."""
import json
import math
import shutil

import pytest
import torch

from conftest import run_cli
from scorebench.spec.benchmark import Benchmark
from scorebench.io import load_torch

CONFIG = {
    "name": "ev", "datasets": {"toy": {"kind": "ncsn_toy"},
                 "digits": {"kind": "digits", "train": {"net": {"kind": "mlp", "width": 64}}, "evaluate": {"n_samples": 200}}},
    "objectives": ["dsm", "oracle"],
    "schedules": {"ncsn": {"kind": "ncsn", "levels": 20}, "vp": {"kind": "vp"}},
    "samplers": {"langevin": {"kind": "langevin", "steps": 300}, "ald": {"kind": "ald", "steps_per_level": 30},
                 "ode": {"kind": "ode"}},
    "train": {"steps": 30, "batch_size": 64, "net": {"kind": "mlp", "width": 64}}, "evaluate": {"n_samples": 2000, "nll_points": 100, "kid_subsets": 10, "kid_subset_size": 500},
}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    import yaml

    root = tmp_path_factory.mktemp("ev")
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(CONFIG))
    for dataset, objective in (("toy", "dsm"), ("toy", "oracle"), ("digits", "dsm")):  # with the model rows
        out = run_cli("train", path, "--dataset", dataset, "--objective", objective, "--evaluate",
                      "--results", root / "results")
        assert out.returncode == 0, out.stderr
    for dataset in ("toy", "digits"):  # the digits reference trains its classifier first
        out = run_cli("reference", path, "--dataset", dataset, "--results", root / "results")
        assert out.returncode == 0, out.stderr
        for sampler in CONFIG["samplers"]:
            out = run_cli("sample", path, "--dataset", dataset, "--sampler", sampler, "--evaluate",
                          "--results", root / "results")
            assert out.returncode == 0, out.stderr
    return root / "results/ev"


def rows(results, run, name):
    dataset, objective, schedule, seed = run.split("/")
    return {r["metric"]: r for r in json.loads((results / "metrics" / dataset / f"{name}.json").read_text())["rows"]
            if (r["objective"], r["schedule"], f"seed{r['seed']}") == (objective, schedule, seed)}


def test_oracle_rows_show_the_pitfall_and_the_exact_nll(results):
    ald = rows(results, "toy/oracle/ncsn/seed0", "ald")
    langevin = rows(results, "toy/oracle/ncsn/seed0", "langevin")
    # n = 2000: binomial SE 0.009; measured 0.01 (annealed) and 0.31 (plain) with these settings
    assert ald["mode_weight_tv"]["value"] < 0.05 and langevin["mode_weight_tv"]["value"] > 0.15
    # the same pitfall by the ground-truth metrics: C2ST's null std at 2 × 2000 points is 0.008, KSD's is in its detail
    assert langevin["c2st"]["value"] - ald["c2st"]["value"] > 0.1 and langevin["ksd"]["value"] > ald["ksd"]["value"]
    assert "std" in ald["ksd"]["detail"] and ald["c2st"]["unit"] == "accuracy"
    model = rows(results, "toy/oracle/vp/seed0", "model.oracle")
    assert abs(model["nll_gap_bits_per_dim"]["value"]) < 0.02 and model["fisher_divergence"]["value"] == 0


def test_incompatible_pairs_are_recorded_with_the_reason(results):
    ode = rows(results, "toy/dsm/ncsn/seed0", "ode")
    assert ode["nfe"]["status"] == "skipped" and "discrete" in ode["nfe"]["detail"] and math.isnan(ode["nfe"]["value"])
    nll = rows(results, "toy/dsm/ncsn/seed0", "model.dsm")["nll_bits_per_dim"]
    assert nll["status"] == "skipped" and "discrete" in nll["detail"]
    assert not (results / "runs/digits/oracle").exists()  # oracle is not a valid run on real data


def test_real_data_rows_have_bits_per_dim_and_no_ground_truth(results):
    model = rows(results, "digits/dsm/vp/seed0", "model.dsm")
    assert set(model) == {"train_seconds", "train_steps", "nll_bits_per_dim"}
    # a barely trained model: finite, and above the 0 bits/dim no model can beat
    assert 0 < model["nll_bits_per_dim"]["value"] < 50 and model["nll_bits_per_dim"]["unit"] == "bits/dim"
    samples = load_torch(results / "samples/digits/ode/dsm/vp/seed0.pt")
    assert samples["samples"].shape == (200, 1, 8, 8) and samples["stats"]["nfe"] > 0


def test_every_row_has_the_contract_columns(results):
    from scorebench.spec.rows import ROW_COLUMNS

    files = list(results.rglob("metrics/*/*.json"))
    # per dataset: 3 samplers and the real-vs-real floor; the models' rows per objective (toy: dsm, oracle)
    assert len(files) == 2 * 4 + 3
    for path in files:
        for r in json.loads(path.read_text())["rows"]:
            assert set(r) == set(ROW_COLUMNS)


def test_fid_and_kid_rows_sit_against_the_real_vs_real_floor(results):
    floor = rows(results, "toy/data/-/seed0", "data")
    assert set(floor) == {"fid", "kid"} and floor["fid"]["status"] == "ok"
    # the PF-ODE with the exact score samples the data: its FID is at the floor; 30-step DSM is not
    oracle, dsm = rows(results, "toy/oracle/vp/seed0", "ode"), rows(results, "toy/dsm/vp/seed0", "ode")
    assert oracle["fid"]["value"] < 2 * floor["fid"]["value"] < dsm["fid"]["value"], (oracle, dsm, floor)
    assert "raw (standardised by the reference's mean and std) features, n=2000 vs 10000 train rows" in oracle["fid"]["detail"]
    digits = rows(results, "digits/data/-/seed0", "data")
    assert digits["feature_accuracy"]["value"] >= 0.95 and "digits classifier features" in digits["fid"]["detail"]
    assert rows(results, "digits/dsm/vp/seed0", "ode")["fid"]["status"] == "ok"


def test_missing_inception_weights_fail_in_one_line_or_as_recorded_rows(tmp_path, write_config):
    weights = tmp_path / "nowhere/inception.pth"
    config = dict(CONFIG, evaluate={"features": {"kind": "inception", "weights_path": str(weights)}})
    path = write_config(config)
    out = run_cli("reference", path, "--dataset", "toy", "--results", tmp_path / "r")
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1 and str(weights) in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
    out = run_cli("reference", path, "--dataset", "toy", "--results", tmp_path / "r", "--record-failure")
    assert out.returncode == 0, out.stderr
    recorded = json.loads((tmp_path / "r/ev/metrics/toy/data.json").read_text())["rows"]
    assert {r["status"] for r in recorded} == {"failed"} and str(weights) in recorded[0]["detail"]


def test_bad_sampler_setting_fails_before_any_work(tmp_path, write_config):
    config = dict(CONFIG, samplers={"em": {"kind": "em", "steps": -3}})
    out = run_cli("sample", write_config(config), "--dataset", "toy", "--sampler", "em", "--results", tmp_path / "r")
    assert out.returncode == 2 and "samplers.em.steps: must be an integer >= 2 (got -3)" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and not (tmp_path / "r").exists()


def test_oracle_on_real_data_is_refused_by_name(tmp_path, write_config):
    out = run_cli("train", write_config(CONFIG), "--dataset", "digits", "--objective", "oracle", "--schedule", "vp",
                  "--seed", 0, "--results", tmp_path / "r")
    assert out.returncode == 2 and "oracle" in out.stderr and "real data" in out.stderr


@pytest.mark.parametrize("sampler", ["em", "ald", "heun"])
def test_seeds_sample_the_same_alone_or_batched(tmp_path, sampler):
    """Two trained seeds drawn as one batch get the samples each gets alone: every run's rows come from
    its own generator through its own network (measured: identical to the bit on CPU; asserted 1e-3 to
    allow a batched matmul's rounding elsewhere, against O(1) for any shared or swapped draw)."""
    from scorebench.spec import config as cfgmod
    from scorebench.jobs.sample import sample_runs
    from scorebench.spec.grid import RunSpec
    from scorebench.jobs.build import train_batch

    config = cfgmod.validate({
        "name": "b", "seeds": [0, 1], "batch_seeds": True, "datasets": {"toy": {"kind": "ncsn_toy"}}, "objectives": ["dsm"],
        "schedules": {"vp": {"kind": "vp"}},
        "samplers": {"em": {"kind": "em", "steps": 50}, "ald": {"kind": "ald", "steps_per_level": 5, "levels": 10},
                     "heun": {"kind": "heun", "steps": 20}},
        "train": {"steps": 30, "batch_size": 64, "net": {"kind": "mlp", "width": 64}}, "evaluate": {"n_samples": 200}})
    runs = [RunSpec("toy", "dsm", "vp", s) for s in (0, 1)]
    train_batch(Benchmark.of(config), runs, tmp_path)
    both = sample_runs(Benchmark.of(config), runs, sampler, tmp_path)
    again = sample_runs(Benchmark.of(config), runs, sampler, tmp_path)  # an unchanged draw is read back, not drawn
    assert all(r.get("reused") for r in again) and not any(r.get("reused") for r in both)
    assert all(torch.equal(a["samples"], b["samples"]) for a, b in zip(again, both))
    shutil.rmtree(tmp_path / "b/samples")
    alone = sample_runs(Benchmark.of(config), runs[1:], sampler, tmp_path)
    assert [r["stats"]["batched_with"] for r in both] == [2, 2] and alone[0]["stats"]["batched_with"] == 1
    assert (both[1]["samples"] - alone[0]["samples"]).abs().max() < 1e-3
    assert (both[0]["samples"] - both[1]["samples"]).abs().max() > 0.1  # the seeds differ
    unbatched = sample_runs(Benchmark.of({**config, "batch_seeds": False}), runs, sampler, tmp_path)  # the default
    assert [r["stats"]["batched_with"] for r in unbatched] == [1, 1] and not any(r.get("reused") for r in unbatched)
    assert torch.equal(unbatched[1]["samples"], alone[0]["samples"])


def test_a_registered_metric_reaches_the_summary_and_the_report(tmp_path):
    """Adding a metric is a declaration (spec.metric_info, where the parse and the report read it) and
    one registered function (`computes`): it is a valid `metrics:` name, a row of every (run, sampler), a column of summary.csv and a table of the
    report (here the norm of the samples' mean, against its exact value for the oracle)."""
    from scorebench.spec import config as cfgmod
    from scorebench.jobs.sample import COMPUTATIONS, computes, evaluate_runs, sample_runs, write_rows
    from scorebench.spec.grid import RunSpec
    from scorebench.spec.grid import model_file
    from scorebench.spec.layout import METRICS, Layout
    from scorebench.spec.metric_info import METRIC_INFO, MetricInfo
    from scorebench.report.page import build_report
    from scorebench.jobs.build import train_batch

    for undeclared in (("mean_norm",), ("fid", "train_seconds"), ("cond_fid",)):  # unknown, mixed levels, conditional
        with pytest.raises(ValueError, match="declare each name first"):
            computes(*undeclared)
    METRIC_INFO["mean_norm"] = MetricInfo("data units", False, needs="synthetic")

    @computes("mean_norm")
    def mean_norm(drawn):
        return float(drawn.samples.mean(0).norm()), "‖sample mean‖"

    try:
        config = cfgmod.validate({
            "name": "m", "datasets": {"toy": {"kind": "ncsn_toy"}}, "objectives": ["oracle"],
            "schedules": {"vp": {"kind": "vp"}}, "samplers": {"em": {"kind": "em", "steps": 100}},
            "metrics": ["train_seconds", "sample_seconds", "mean_norm"], "evaluate": {"n_samples": 2000}})
        runs = [RunSpec("toy", "oracle", "vp", 0)]
        train_batch(Benchmark.of(config), runs, tmp_path)
        sample_runs(Benchmark.of(config), runs, "em", tmp_path)
        layout = Layout(tmp_path, "m")
        for sampler in ("em", None):
            write_rows(evaluate_runs(Benchmark.of(config), runs, sampler, tmp_path),
                       layout.path(METRICS, dataset="toy", name=sampler or model_file("oracle")))
        build_report(Benchmark.of(config), tmp_path)
        import pandas as pd

        summary = pd.read_csv(layout.root / "summary.csv")
        got = summary[summary.metric == "mean_norm"]
        # the toy's mean is (⅕·(−5) + ⅘·5)(1, 1) = (3, 3): norm 4.24; the SE of a mean of 2000 samples ≈ 0.1
        assert len(got) == 1 and got.unit.iloc[0] == "data units" and abs(got.value.iloc[0] - 18 ** 0.5) < 0.4, got
        assert "<h3>mean_norm <small>(data units)</small></h3>" in (layout.root / "report.html").read_text()
    finally:
        METRIC_INFO.pop("mean_norm", None)
        COMPUTATIONS["sample"].pop(("mean_norm",), None)

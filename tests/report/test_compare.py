"""`scorebench compare`: two real results of one benchmark that differ in one objective's setting."""
import pandas as pd
import pytest

from conftest import run_cli

pytestmark = pytest.mark.slow


def _results(tmp_path, name: str, n_projections: int):
    """Train and sample a tiny toy benchmark (DSM and SSM, 3 seeds) into its own results root and write
    its summary.csv, in this process (the jobs' own functions, without the figures of a report)."""
    from scorebench.jobs.build import train_runs
    from scorebench.jobs.sample import evaluate_runs, sample_runs, write_rows
    from scorebench.report.page import collect
    from scorebench.spec.benchmark import Benchmark
    from scorebench.spec.grid import model_file
    from scorebench.spec.layout import METRICS, SUMMARY, Layout

    bench = Benchmark.of({
        "name": "cmp", "seeds": [0, 1, 2], "datasets": {"toy": {"kind": "ncsn_toy"}},
        "objectives": ["dsm", {"ssm": {"n_projections": n_projections}}], "schedules": {"vp": {"kind": "vp"}},
        "samplers": {"em": {"kind": "em", "steps": 20}},
        "metrics": ["fisher_divergence", "sliced_wasserstein", "mode_weight_tv"],
        "train": {"steps": 40, "batch_size": 64, "curve_points": 2}, "evaluate": {"n_samples": 200, "fisher_points": 512}})
    config, results = bench.config, tmp_path / name
    layout = Layout(results, "cmp")
    train_runs(Benchmark.of(config), list(bench.runs), results)
    sample_runs(Benchmark.of(config), list(bench.runs), "em", results)
    write_rows(evaluate_runs(Benchmark.of(config), list(bench.runs), "em", results), layout.path(METRICS, dataset="toy", name="em"))
    for objective in ("dsm", "ssm"):
        runs = [r for r in bench.runs if r.objective == objective]
        write_rows(evaluate_runs(Benchmark.of(config), runs, None, results), layout.path(METRICS, dataset="toy", name=model_file(objective)))
    summary, absent = collect(Benchmark.of(config), results)
    assert not absent, absent
    summary.to_csv(layout.root / SUMMARY, index=False)
    return layout.root


def test_compare_names_the_changed_objectives_cells_and_no_other(tmp_path):
    a = _results(tmp_path, "a", 1)
    b = _results(tmp_path, "b", 4)
    out = tmp_path / "compare.csv"
    done = run_cli("compare", a, b, "--csv", out, "--html", tmp_path / "compare.html")
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(out)
    assert set(table.objective) == {"dsm", "ssm"} and (table.n_seeds == 3).all()
    assert (table[table.objective == "dsm"].call == "identical").all(), table  # same code and seeds: bit-equal
    ssm = table[table.objective == "ssm"]
    assert (ssm.call != "identical").all() and set(ssm.metric) == {"fisher_divergence", "sliced_wasserstein", "mode_weight_tv"}
    assert "ssm" in done.stdout and "dsm/" not in done.stdout and "shared cells" in done.stdout, done.stdout
    assert "What changed" in (tmp_path / "compare.html").read_text()
    same = run_cli("compare", a, a)
    assert same.returncode == 0 and "0 better, 0 worse, 0 changed" in same.stdout, same.stdout


def test_compare_refuses_a_directory_without_a_summary_in_one_line(tmp_path):
    done = run_cli("compare", tmp_path, tmp_path)
    assert done.returncode != 0 and "summary.csv" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr

"""The Snakemake workflow, run for real: the default DAG, a tiny grid end to end, the report in Chromium."""
from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from scorebench.spec.benchmark import Benchmark
from scorebench.spec.layout import CONDITIONING_FIGURES, GRID_FIGURES, SCALING_FIGURES, SWEEP_FIGURES, figure_files

from conftest import run_cli

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CHROMIUM = shutil.which("chromium")


def snakemake(workdir: Path, *args, check: bool = True) -> subprocess.CompletedProcess:
    """`snakemake` on the repo's Snakefile with `workdir` as working directory (results/ lands there)."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run([BIN / "snakemake", "--snakefile", ROOT / "Snakefile", "--directory", workdir, *args],
                          capture_output=True, text=True, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


def job_counts(dry_run_output: str) -> dict[str, int]:
    """Rule → job count from the 'Job stats' table that a dry run prints."""
    table = dry_run_output.split("Job stats:")[-1]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M) if m[1] != "total"}


def tiny_config(**evaluate) -> dict:
    """The NCSN toy with DSM and the oracle, discrete and VP schedules, three samplers, three seeds."""
    return {
        "name": "tiny",
        "seeds": [0, 1, 2],
        "datasets": {"toy": {"kind": "ncsn_toy"}},
        "objectives": ["dsm", "oracle"],
        "schedules": {"ncsn": {"kind": "ncsn", "sigma_min": 0.01, "levels": 20}, "vp": {"kind": "vp"}},
        "samplers": {
            "langevin": {"kind": "langevin", "steps": 300, "step_size": 0.05},
            "ald": {"kind": "ald", "steps_per_level": 100, "levels": 20},
            "ode": {"kind": "ode"},
        },
        # the default's MLP width: sampling 3 seeds × 2000 samples for 2000 ALD steps is the fixture's cost
        "train": {"steps": 300, "batch_size": 128, "net": {"kind": "mlp", "width": 64}},
        "evaluate": {"n_samples": 2000, "nll_points": 300, "kid_subsets": 10, "kid_subset_size": 500, **evaluate},
    }


@pytest.mark.slow
def test_default_dag_dry_runs_with_one_train_job_per_dataset_and_objective(tmp_path):
    bench = Benchmark.read(ROOT / "config/default.yaml")
    out = snakemake(tmp_path, "--dry-run", "--configfile", ROOT / "config/default.yaml").stdout
    counts = job_counts(out)
    assert counts["train"] == len({(r.dataset, r.objective) for r in bench.runs}) and bench.skipped
    assert counts["sample"] == len(bench.datasets) * len(bench.samplers) and "evaluate_samples" not in counts
    assert "evaluate_models" not in counts  # the training jobs write their models' metric rows
    assert counts["report"] == counts["all"] == counts["scaling"] == 1
    assert not (tmp_path / "results").exists()


def test_config_overrides_apply_on_top_of_the_default_and_an_empty_config_is_refused(tmp_path, write_config):
    """`--config` alone merges into the default (a --configfile replaces it); `{}` is no benchmark;
    a dry run writes no config snapshot (jobs read the one written under the lock at onstart)."""
    counts = job_counts(snakemake(tmp_path, "--dry-run", "--config", "objectives=[dsm]").stdout)
    default = Benchmark.read(ROOT / "config/default.yaml")
    assert counts["train"] == len(default.datasets)  # one objective, every dataset of the default
    assert counts["sample"] == len(default.datasets) * len(default.samplers)
    assert not (tmp_path / ".snakemake/scorebench").exists()
    proc = snakemake(tmp_path, "--dry-run", "--configfile", write_config({}), check=False)
    message = [line for line in (proc.stdout + proc.stderr).splitlines() if line.startswith("scorebench: error:")]
    assert proc.returncode != 0 and len(message) == 1 and "name" in message[0], proc.stdout + proc.stderr


def test_lint_and_format_are_clean():
    lint = subprocess.run([BIN / "snakemake", "--lint"], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"})
    assert lint.returncode == 0 and "Congratulations" in lint.stdout + lint.stderr, lint.stdout + lint.stderr
    fmt = subprocess.run([BIN / "snakefmt", "--check", "Snakefile", "workflow"], cwd=ROOT, capture_output=True, text=True)
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


@pytest.mark.parametrize(("change", "named"), [
    (lambda c: c.update(bogus=1), "bogus"),
    (lambda c: c["train"].update(steps="many"), "steps"),
    (lambda c: c["samplers"]["ald"].update(kind="annealed"), "annealed"),
    (lambda c: c.update(objectives=["oracle"], datasets={"d": {"kind": "digits"}}), "every combination was skipped"),
])
def test_malformed_config_fails_in_one_line_before_anything_runs(tmp_path, write_config, change, named):
    config = tiny_config()
    change(config)
    proc = snakemake(tmp_path, "--cores", "1", "--configfile", write_config(config), check=False)
    output = proc.stdout + proc.stderr
    message = [line for line in output.splitlines() if line.startswith("scorebench: error:")]
    assert proc.returncode != 0 and "Traceback" not in output
    assert len(message) == 1 and named in message[0], output
    assert not (tmp_path / "results").exists()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny grid run once by real Snakemake: (working directory, config path, summary table)."""
    workdir = tmp_path_factory.mktemp("tiny")
    path = workdir / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_config()))
    snakemake(workdir, "--cores", "2", "--configfile", path)
    return workdir, path, pd.read_csv(workdir / "results/tiny/summary.csv")


@pytest.mark.slow
def test_summary_has_a_row_per_run_sampler_and_metric(tiny):
    _, path, df = tiny
    assert {"dataset", "objective", "schedule", "sampler", "seed", "metric", "value", "unit", "status"} <= set(df)
    bench = Benchmark.read(path)
    for run in bench.runs:
        rows = df[(df.objective == run.objective) & (df.schedule == run.schedule)]
        for sampler in bench.samplers:
            part = rows[rows.sampler == sampler]
            assert set(part.metric) == {"sample_seconds", "nfe", "mode_weight_tv", "sliced_wasserstein", "c2st", "ksd", "fid", "kid"}, \
                (run, sampler)
            expected = "ok" if bench.sample_compatible(run, sampler)[0] else "skipped"  # the grid keeps its shape
            assert (part.status == expected).all(), part
        model = rows[rows.sampler == "-"].set_index("metric").status
        assert set(model.index) == {"train_seconds", "train_steps", "fisher_divergence", "nll_bits_per_dim",
                                    "nll_gap_bits_per_dim"}
        assert (model.drop(["nll_bits_per_dim", "nll_gap_bits_per_dim"]) == "ok").all(), model
        assert (model[["nll_bits_per_dim", "nll_gap_bits_per_dim"]] == ("skipped" if run.schedule == "ncsn" else "ok")).all()


@pytest.mark.slow
def test_each_dataset_has_a_real_vs_real_baseline_row(tiny):
    df = tiny[2]
    floor = df[df.objective == "data"]
    assert set(floor.metric) == {"fid", "kid"} and (floor.status == "ok").all() and (floor.sampler == "-").all(), floor
    assert "one of 5 draws" in floor.detail.iloc[0] and "n=2000" in floor.detail.iloc[0]
    assert sorted(floor[floor.metric == "fid"].seed) == [0, 1, 2, 3, 4]  # one row per draw: the floor has a spread
    assert "standardised" in floor.detail.iloc[0]  # raw coordinates in the reference's units


@pytest.mark.slow
def test_aggregates_have_an_interval_per_cell_and_metric_over_three_seeds(tiny):
    workdir, _, df = tiny
    root = workdir / "results/tiny"
    agg = pd.read_csv(root / "aggregate.csv")
    assert list(agg.columns) == ["dataset", "objective", "schedule", "sampler", "metric", "estimate", "ci_low",
                                 "ci_high", "n_seeds", "unit", "status", "method"]
    assert set(agg[agg.status == "ok"].method) <= {"t", "t on logs", "none"}
    cells = df.groupby(["dataset", "objective", "schedule", "sampler", "metric"]).size()
    assert len(agg) == len(cells)  # a row per cell and metric
    ok = agg[agg.status == "ok"]
    runs_ok = ok[ok.objective != "data"]
    timing = runs_ok.metric.isin(["train_seconds", "sample_seconds"])  # seeds batched (the default): one timing
    timing &= ~((runs_ok.objective == "oracle") & (runs_ok.metric == "train_seconds"))  # untrained: 0 s per seed
    adaptive = runs_ok.sampler == "ode"  # dopri5's step sizes depend on every row: drawn (and timed) seed by seed
    assert (runs_ok[~timing | adaptive].n_seeds == 3).all() and (runs_ok[timing & ~adaptive].n_seeds == 1).all()
    assert ((ok.ci_low <= ok.estimate) & (ok.estimate <= ok.ci_high))[ok.n_seeds > 1].all()
    dsm_timing = df[(df.status == "ok") & (df.objective == "dsm") & (df.sampler != "ode")]  # members: schedules × seeds
    assert dsm_timing[dsm_timing.metric == "train_seconds"].detail.str.startswith("one timing of a batch of 6 members").all()
    assert dsm_timing[dsm_timing.metric == "sample_seconds"].detail.str.startswith("one timing of a batch of 3 members").all()
    varied = runs_ok[runs_ok.metric.isin(["sliced_wasserstein", "fid"]) & (runs_ok.objective == "dsm")]
    assert len(varied) and (varied.ci_high > varied.ci_low).all()  # the seeds differ: the interval has width
    pairs = pd.read_csv(root / "paired.csv")
    dsm = pairs[pairs.objective == "dsm"]
    timed = dsm.metric.isin(["train_seconds", "sample_seconds"])  # batch-shared: replicated over cells, not seeds
    assert (dsm[~timed].verdict == "no difference at n = 3").all()
    trained = dsm.metric == "train_seconds"  # one ensemble's clock spans every cell: one measurement, no call
    assert (dsm[trained].n_seeds == 1).all() and (dsm[trained].verdict == "n = 1, no interval").all()
    sampled = dsm[timed & ~trained]  # one batch per (schedule, sampler): replicated over those cells
    assert sampled.verdict.str.startswith("no difference at n = ").all() and (sampled.n_seeds > 1).all()
    curves = pd.read_csv(root / "curves.csv")
    assert set(curves.objective) == {"dsm", "oracle"} and set(curves.seed) == {0, 1, 2}
    assert (curves[curves.objective == "oracle"].value == 0).all()


@pytest.mark.slow
def test_oracle_pf_ode_samples_score_within_twice_the_real_vs_real_fid(tmp_path, write_config):
    """The default grid's synthetic datasets and settings, oracle score, PF-ODE: only sampler error
    separates the samples from the data, and the PF-ODE with the exact score has almost none
    (mode-weight TV ≤ 0.01 in test_samplers), so FID must sit at the noise floor. Both FIDs use the
    same n against the same reference; the floor averages 5 draws."""
    config = Benchmark.read(ROOT / "config/default.yaml").config
    config.update(datasets={k: v for k, v in config["datasets"].items() if k in ("toy", "gmm8")},
                  objectives=["oracle"], samplers={"ode": config["samplers"]["ode"]},
                  schedules={"vp": config["schedules"]["vp"], "subvp": {"kind": "subvp"}},
                  metrics=["fid", "kid", "sample_seconds"])
    config.pop("scaling")
    snakemake(tmp_path, "--cores", "2", "--configfile", write_config(config))
    df = pd.read_csv(tmp_path / "results/default/summary.csv")
    fid = df[df.metric == "fid"]
    floor = fid[fid.objective == "data"].groupby("dataset").value.mean()  # the mean of the 5 held-out draws
    ode = fid[fid.objective == "oracle"]
    assert len(ode) == 4 * len(config["seeds"]) and (ode.status == "ok").all(), ode
    for (dataset, schedule), value in ode.groupby(["dataset", "schedule"]).value.mean().items():  # over seeds
        assert value <= 2 * floor[dataset], (dataset, schedule, value, floor[dataset])


def _tabular(tex: str) -> list[list[str]]:
    """The body rows of a booktabs tabular, each split at its unescaped &; fails on a malformed one."""
    lines = tex.strip().splitlines()
    assert lines[0].startswith(r"\begin{tabular}{l") and lines[1] == r"\toprule" and lines[3] == r"\midrule"
    assert lines[-2:] == [r"\bottomrule", r"\end{tabular}"]
    width = len(lines[0].split("{", 2)[2].rstrip("}"))
    rows = [re.split(r"(?<!\\)&", line.removesuffix(r" \\")) for line in [lines[2], *lines[4:-2]]]
    assert all(len(r) == width for r in rows) and all(line.endswith(r"\\") for line in [lines[2], *lines[4:-2]])
    return [[c.strip() for c in r] for r in rows[1:]]


@pytest.mark.slow
def test_the_report_writes_paper_tables_and_vector_figures(tiny):
    """tables/: each leaderboard and the paired comparisons as a well-formed booktabs tabular and a
    Markdown table, with the leaderboard's rows and paired.csv's numbers; an SVG beside every PNG."""
    from scorebench.report.aggregate import fmt_interval

    root = tiny[0] / "results/tiny"
    board = _tabular((root / "tables/leaderboard_toy.tex").read_text())
    assert [r[0] for r in board] == ["dsm", "oracle"], board
    pairs = pd.read_csv(root / "paired.csv")
    body = _tabular((root / "tables/paired.tex").read_text())
    assert len(body) == len(pairs) > 0
    for row, r in zip(body, pairs.itertuples()):
        assert row[5] == fmt_interval(r.estimate, r.ci_low, r.ci_high, r.n_seeds) and row[-1] == r.verdict
    md = (root / "tables/paired.md").read_text().splitlines()
    assert len(md) == len(pairs) + 2 and md[1].startswith("| --- |")
    pngs = sorted(p.stem for p in (root / "figures").glob("*.png"))
    assert pngs and pngs == sorted(p.stem for p in (root / "figures").glob("*.svg"))
    assert all((root / "figures" / f"{stem}.svg").read_text().lstrip().startswith("<?xml") for stem in pngs)


@pytest.mark.slow
def test_oracle_rows_reproduce_the_low_density_pitfall_and_exact_likelihood(tiny):
    df = tiny[2]
    # plain Langevin misweights the NCSN toy's modes, annealing fixes it. n = 2000 samples: the TV's
    # binomial standard error is ≈ 0.009, so 0.05 and 0.15 are > 2 SE from the values measured over
    # seeds (ALD, 20 levels × 100 steps: 0.011–0.033; Langevin: 0.26–0.31).
    tv = df[(df.objective == "oracle") & (df.metric == "mode_weight_tv")].set_index(["schedule", "sampler"]).value
    assert (tv.xs("ald", level="sampler") < 0.05).all(), tv
    assert (tv.xs("langevin", level="sampler") > 0.15).all(), tv
    # PF-ODE likelihood of the oracle on VP: exact up to solver tolerance (measured ≤ 0.001 bits/dim)
    gap = df[(df.objective == "oracle") & (df.metric == "nll_gap_bits_per_dim") & (df.status == "ok")]
    assert set(gap.schedule) == {"vp"} and len(gap) == 3 and (gap.value.abs() < 0.02).all(), gap


@pytest.mark.slow
def test_report_opens_in_headless_chromium_with_every_image(tiny, tmp_path):
    """The report lists every skipped cell of the summary (PF-ODE on the discrete NCSN schedule among
    them) in its Skipped section, then opens in Chromium with every image loaded."""
    report = tiny[0] / "results/tiny/report.html"
    text = report.read_text()
    assert text.count("<img") >= 4 and "mode_weight_tv" in text
    section = re.search(r'<section id="skipped">(.*?)</section>', text, re.S)[1]
    shown = {tuple(html.unescape(c) for c in re.findall(r"<td>(.*?)</td>", row, re.S))
             for row in re.findall(r"<tr>(.*?)</tr>", section, re.S)}
    cells = tiny[2][tiny[2].status == "skipped"][["dataset", "objective", "schedule", "sampler", "detail"]]
    expected = {tuple(map(str, r)) for r in cells.fillna("").drop_duplicates().itertuples(index=False)}
    assert ("toy", "dsm", "ncsn", "ode") in {r[:4] for r in expected}, expected
    assert expected <= shown, expected - shown
    if not CHROMIUM:
        pytest.skip("chromium not installed: tests/system/install.sh installs it (needs root and apt-get)")
    probe = tmp_path / "probe.html"
    check = ("<script>window.addEventListener('load', () => { const imgs = [...document.images];"
             " document.title = 'images ' + imgs.filter(i => i.complete && i.naturalWidth > 0).length"
             " + '/' + imgs.length + ' width ' + document.documentElement.scrollWidth"
             " + ' first ' + document.querySelector('section').id"
             " + ' lines ' + Math.ceil(document.querySelector('ul.lines').getBoundingClientRect().bottom); });</script>")
    probe.write_text(text.replace("</body>", check + "</body>"))
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'chromium'}", "--virtual-time-budget=10000"]
    shot = tmp_path / "report.png"
    subprocess.run([CHROMIUM, *flags, f"--screenshot={shot}", "--window-size=1400,900", probe.as_uri()],
                   check=True, capture_output=True, timeout=120)
    assert shot.stat().st_size > 10_000
    dom = subprocess.run([CHROMIUM, *flags, "--window-size=1400,900", "--dump-dom", probe.as_uri()], check=True,
                         capture_output=True, text=True, timeout=120).stdout
    loaded, total, width, first, lines = re.search(
        r"<title>images (\d+)/(\d+) width (\d+) first (\w+) lines (\d+)</title>", dom).groups()
    assert int(total) >= 5 and loaded == total, (loaded, total)
    assert int(width) <= 1400 and first == "verdict", (width, first)  # nothing wider than the page; verdict first
    assert int(lines) <= 900, lines  # every dataset's verdict line on the first screen
    assert text.index('id="verdict"') < text.index("<nav>") < text.index('id="convergence"')


@pytest.mark.slow
def test_second_run_does_nothing_and_a_changed_sampler_reruns_only_its_jobs(tiny):
    workdir, path, _ = tiny
    assert "Nothing to be done" in snakemake(workdir, "--dry-run", "--configfile", path).stdout
    changed = tiny_config()
    changed["samplers"]["langevin"]["step_size"] = 0.04
    other = workdir / "changed.yaml"
    other.write_text(yaml.safe_dump(changed))
    out = snakemake(workdir, "--dry-run", "--printshellcmds", "--configfile", other).stdout
    assert job_counts(out) == {"sample": 1, "report": 1, "all": 1}, out
    assert "--sampler langevin" in out and "--sampler ald" not in out


@pytest.mark.slow
def test_a_deleted_metrics_file_is_rebuilt_and_the_report_after_it(tiny):
    """The report exists, but `all` names every metrics file too: a deleted one reruns its job."""
    workdir, path, _ = tiny
    target = workdir / "results/tiny/metrics/toy/ald.json"
    aside = target.with_suffix(".aside")
    target.rename(aside)
    try:
        out = snakemake(workdir, "--dry-run", "--printshellcmds", "--configfile", path).stdout
    finally:
        aside.rename(target)
    assert job_counts(out) == {"sample": 1, "report": 1, "all": 1}, out
    assert "--sampler ald" in out


@pytest.mark.slow
def test_a_changed_schedule_retrains_only_its_own_runs(tiny, tmp_path):
    """The group job of each objective reruns, but it trains only the runs whose parameters changed:
    the other schedule's models are left as they were (same file, same mtime)."""
    workdir, _, _ = tiny
    root = workdir / "results/tiny/runs/toy"
    before = {p: p.stat().st_mtime_ns for p in root.rglob("model.pt")}
    changed = tiny_config()
    changed["schedules"]["vp"]["beta_max"] = 19.0
    other = tmp_path / "changed.yaml"
    other.write_text(yaml.safe_dump(changed))
    snakemake(workdir, "--cores", "2", "--until", "train", "--configfile", other)
    after = {p: p.stat().st_mtime_ns for p in root.rglob("model.pt")}
    assert set(after) == set(before) and len(before) == 12
    for path, mtime in after.items():
        assert (mtime != before[path]) == ("/vp/" in str(path)), path
    logs = (workdir / "results/tiny/logs/train/toy/dsm.log").read_text()
    assert logs.count("up to date") == 3 and logs.count(": training") == 3, logs


@pytest.mark.slow
def test_a_diverged_run_is_a_row_and_the_report_still_builds(tmp_path, write_config):
    config = tiny_config(n_samples=200, nll_points=50)
    config.update(seeds=[0], objectives=["dsm"], schedules={"vp": {"kind": "vp"}}, samplers={"ode": {"kind": "ode"}})
    config["train"].update(steps=50, lr=1e9, grad_clip=1e9)
    snakemake(tmp_path, "--cores", "2", "--keep-going", "--configfile", write_config(config))
    df = pd.read_csv(tmp_path / "results/tiny/summary.csv")
    runs, data = df[df.objective != "data"], df[df.objective == "data"]
    assert len(runs) and (runs.status == "diverged").all(), runs
    assert runs.value.isna().all()
    assert len(data) and (data.status == "ok").all()  # the real-vs-real baseline does not depend on the run
    assert (tmp_path / "results/tiny/report.html").exists()


@pytest.mark.parametrize("bench", sorted((ROOT / "config/benchmarks").glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_benchmarks_dry_run_and_ask_for_a_gpu(tmp_path, bench):
    out = snakemake(tmp_path, "--dry-run", "--configfile", bench).stdout
    shipped, counts = Benchmark.read(bench), job_counts(out)
    groups = {(r.dataset, r.objective) for r in shipped.runs}  # one training job per dataset × objective
    assert counts.get("train", 0) == len(groups) and counts.get("scaling", 0) == int(shipped.scaling is not None)
    assert counts.get("train", 0) + counts.get("scaling", 0) > 0
    devices = [shipped.train(d).device for d in shipped.dataset_entries]
    if any(d.startswith("cuda") for d in devices) or (shipped.scaling and shipped.scaling.device.startswith("cuda")):
        assert "gpu=1" in out and "gpu=0" not in out.split("rule report")[0]
    else:  # a CPU benchmark (config/benchmarks/full.yaml) asks for none
        assert "gpu=1" not in out


def test_config_resources_and_placement_reach_each_rule(tmp_path, write_config):
    """resources.<key> applies to every stage, resources.<stage>.<key> overrides it; the GPU model
    goes only to jobs that ask for a GPU (here training, on cuda)."""
    config = tiny_config()
    config["train"]["device"] = "cuda"
    config["resources"] = {"slurm_partition": "gpu", "slurm_account": "proj", "gpu_model": "a100", "cpus": 2,
                           "report": {"slurm_partition": "cpu", "mem_mb": 1000}}
    out = snakemake(tmp_path, "--dry-run", "--cores", "4", "--configfile", write_config(config)).stdout
    jobs = dict(re.findall(r"^rule (\w+):\n(?:    .*\n)*?    resources: (.*)$", out, re.M))
    assert {"train", "sample", "reference", "report"} <= set(jobs), out[-2000:]
    for rule, res in jobs.items():
        fields = dict(f.split("=", 1) for f in res.split(", "))
        if rule == "all":
            continue
        assert fields["slurm_partition"] == ("cpu" if rule == "report" else "gpu") and fields["slurm_account"] == "proj"
        assert fields.get("gpu_model") == ("a100" if rule == "train" else "")
        assert fields["mem_mb"] == ("1000" if rule == "report" else "4000")
    assert re.search(r"^rule train:\n(?:    .*\n)*?    threads: 2$", out, re.M), out[-2000:]


@pytest.mark.slow
def test_a_scaling_only_config_measures_and_reports_the_study(tmp_path, write_config):
    """No grid: the workflow runs the scaling rule alone and the report shows its figures and tables."""
    study = {"dims": [2, 8], "objectives": ["exact", "dsm", "ssm"], "warmup": 1, "repeats": 2, "fit_from_dim": 2}
    snakemake(tmp_path, "--cores", "2", "--configfile", write_config({"name": "sc", "scaling": study}))
    root = tmp_path / "results/sc"
    rows = pd.read_csv(root / "scaling/cpu.csv")
    assert {"objective", "dim", "device", "seconds_per_step", "peak_memory_bytes"} <= set(rows)
    assert len(rows) == 6 and (rows.status == "ok").all() and (rows.seconds_per_step > 0).all()
    assert set(pd.read_csv(root / "scaling/cpu_slopes.csv").objective) == {"exact", "dsm", "ssm"}
    html = (root / "report.html").read_text()
    assert html.count("<img") == 3 and "exact/dsm" in html and "slope_over_ssm" in html
    assert sorted(p.name for p in (root / "figures").iterdir()) == [
        f"scaling_{name}.{kind}" for name in ("memory", "ratios", "time") for kind in ("png", "svg")]


def conditioning_config() -> dict:
    """The toy with DSM and the oracle on VP, EM and the ODE, both inpainting methods."""
    config = tiny_config(n_samples=200, nll_points=50)
    config.update(seeds=[0, 1], schedules={"vp": {"kind": "vp"}}, metrics=[
        "train_seconds", "mode_weight_tv", "cond_mode_weight_tv", "cond_sliced_wasserstein"],
        samplers={"em": {"kind": "em", "steps": 100}, "ode": {"kind": "ode"}},
        conditioning={"masks": {"x0": {"kind": "coordinates", "observed": [0]}},
                      "methods": {"replacement": {"kind": "replacement"}, "exact": {"kind": "exact"}},
                      "observations": 2, "n_samples": 300})
    config["train"].update(steps=200)
    return config


@pytest.mark.slow
def test_inpainting_runs_end_to_end_and_without_it_the_rows_are_as_before(tmp_path, write_config):
    config = conditioning_config()
    snakemake(tmp_path, "--cores", "2", "--configfile", write_config(config))
    df = pd.read_csv(tmp_path / "results/tiny/summary.csv")
    cond = df[df.metric.str.startswith("cond_")].set_index(["objective", "sampler", "seed", "metric"]).sort_index()
    assert set(cond.index.get_level_values("sampler")) == {"em/replacement/x0", "em/exact/x0", "ode/replacement/x0",
                                                           "ode/exact/x0"}
    ok = cond[cond.status == "ok"]
    assert set(ok.index.droplevel(["seed", "metric"])) == {("dsm", "em/replacement/x0"), ("oracle", "em/replacement/x0"),
                                                           ("oracle", "em/exact/x0"), ("oracle", "ode/exact/x0")}
    assert "oracle objective only" in cond.loc[("dsm", "em/exact/x0")].detail.iloc[0]
    assert "no steps to replace" in cond.loc[("oracle", "ode/replacement/x0")].detail.iloc[0]
    # the oracle's exact completions are the exact conditional up to sampling noise (the toy's test points
    # sit in one mode: TV ~ 0); tests/core/test_conditioning.py holds the thresholds for a two-mode case
    assert (ok.loc[("oracle", "em/exact/x0")].xs("cond_mode_weight_tv", level="metric").value < 0.05).all()
    page = (tmp_path / "results/tiny/report.html").read_text()
    assert 'id="conditional"' in page and "the conditioning method's own error" in page
    for name in ("conditional.png", "inpainting.png"):
        assert (tmp_path / "results/tiny/figures" / name).stat().st_size > 0

    del config["conditioning"]  # the same benchmark without it: nothing retrains or resamples, rows as before
    out = snakemake(tmp_path, "--cores", "2", "--configfile", write_config(config))
    assert set(re.findall(r"^(?:local)?rule (\w+):", out.stdout + out.stderr, re.M)) == {"report", "all"}
    after = pd.read_csv(tmp_path / "results/tiny/summary.csv")
    before = df[~df.metric.str.startswith("cond_")].reset_index(drop=True)
    pd.testing.assert_frame_equal(after, before)


@pytest.mark.slow
def test_snakemake_report_builds_from_a_finished_run_with_inpainting(tmp_path, write_config):
    """The real `snakemake --report` over a finished grid with inpainting: it loads the caption of every
    output marked for the report (a missing caption file fails it) and writes the report."""
    path = write_config(conditioning_config())
    snakemake(tmp_path, "--cores", "2", "--configfile", path)
    out = tmp_path / "workflow-report.html"
    proc = snakemake(tmp_path, "--configfile", path, "--report", out)
    added = set(re.findall(r"^Adding (\S+) \(", proc.stdout + proc.stderr, re.M))
    assert added == {"aggregate.csv", "paired.csv", "overall.csv", "report.html", *figure_files(True, False, True)}, added
    assert "Report created" in proc.stdout + proc.stderr and out.stat().st_size > 100_000


def test_every_caption_file_the_report_rule_names_exists_and_figure_captions_are_the_layouts():
    """report.smk's literal captions exist, and each figure's caption file (report.smk names
    ../report/<figure stem>.rst) holds the caption in layout, the report page's own (whitespace aside)."""
    rules = (ROOT / "workflow/rules/report.smk").read_text()
    literal = re.findall(r'caption="\.\./report/([\w.]+)"', rules)
    assert len(literal) == 4 and "caption=f\"../report/{name.removesuffix('.png')}.rst\"" in rules, literal
    assert all((ROOT / "workflow/report" / name).is_file() for name in literal), literal
    for name, caption in {**GRID_FIGURES, **SWEEP_FIGURES, **SCALING_FIGURES, **CONDITIONING_FIGURES}.items():
        text = (ROOT / "workflow/report" / name.replace(".png", ".rst")).read_text()
        assert " ".join(text.split()) == caption, name


@pytest.mark.parametrize("change,named", [
    (lambda c: c["conditioning"]["masks"]["x0"].update(observed=[0, 1]), "conditioning.masks.x0.observed: observes all 2"),
    (lambda c: c["conditioning"]["masks"]["x0"].update(observed=[]), "conditioning.masks.x0.observed"),
    (lambda c: c["conditioning"]["masks"]["x0"].update(observed=[5]), "conditioning.masks.x0.observed: index 5 is out"),
    (lambda c: c["conditioning"]["methods"].update(dps={"kind": "dps"}), "conditioning.methods.dps.kind: unknown"),
    (lambda c: c["conditioning"]["masks"].update(h={"kind": "half"}), "conditioning.masks.h: a half mask is for images"),
    (lambda c: c["conditioning"].update(samplers=["pc"]), "conditioning.samplers: the config has no sampler 'pc'"),
])
def test_a_bad_conditioning_section_is_refused_by_key_before_any_job(tmp_path, write_config, change, named):
    config = conditioning_config()
    change(config)
    proc = snakemake(tmp_path, "--dry-run", "--configfile", write_config(config), check=False)
    output = proc.stdout + proc.stderr
    message = [line for line in output.splitlines() if line.startswith("scorebench: error:")]
    assert proc.returncode != 0 and "Traceback" not in output
    assert len(message) == 1 and named in message[0], output


def sweep_config(steps: list[int]) -> dict:
    """The oracle (nothing to train) on the toy with an EM sweep over `steps` and one plain Heun entry, 50 samples."""
    return {"name": "sweep", "seeds": [0], "datasets": {"toy": {"kind": "ncsn_toy"}}, "objectives": ["oracle"],
            "schedules": {"vp": {"kind": "vp"}},
            "samplers": {"em": {"kind": "em", "steps": steps}, "heun": {"kind": "heun", "steps": 3}},
            "metrics": ["nfe", "sample_seconds", "sliced_wasserstein"], "evaluate": {"n_samples": 50}}


@pytest.mark.slow
def test_a_steps_list_is_one_cell_per_count_and_changing_one_count_reruns_only_its_cells(tmp_path, write_config):
    """`scorebench grid` lists em_2 and em_4 beside heun; the rows' sampler names the count and their nfe
    grows by the count; the report has the quality-against-NFE figure and table of the em sweep; after
    changing 4 to 8 a dry run samples only em_8 (and rebuilds the report)."""
    path = write_config(sweep_config([2, 4]))
    grid = run_cli("grid", path, cwd=tmp_path)
    assert grid.returncode == 0 and "samplers: em_2, em_4, heun" in grid.stdout, grid.stdout + grid.stderr
    snakemake(tmp_path, "--cores", "2", "--configfile", path)
    summary = pd.read_csv(tmp_path / "results/sweep/summary.csv")
    nfe = summary[summary.metric == "nfe"].set_index("sampler").value
    assert set(nfe.index) == {"em_2", "em_4", "heun"} and nfe["em_4"] - nfe["em_2"] == 2, nfe
    page = (tmp_path / "results/sweep/report.html").read_text()
    assert (tmp_path / "results/sweep/figures/quality_vs_nfe.png").is_file() and 'id="nfe"' in page
    assert "NFE to reach X" in page and "em / oracle" in page and "heun / oracle" not in page  # heun is no sweep
    changed = write_config(sweep_config([2, 8]), "changed.yaml")
    out = snakemake(tmp_path, "--dry-run", "--printshellcmds", "--configfile", changed).stdout
    assert job_counts(out) == {"sample": 1, "report": 1, "all": 1}, out
    assert "--sampler em_8" in out and "--sampler em_2" not in out and "--sampler heun" not in out

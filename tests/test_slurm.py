"""Cluster execution on a real single-node SLURM (tests/system/slurm.sh): `snakemake --profile slurm`,
`scorebench sweep` through submitit, a requeued job resuming from its checkpoint, and bad input.

Nothing is mocked: slurmctld, slurmd and munged run on this machine for the module's duration.
The module skips, printing why, only where SLURM cannot be installed or started (no root / apt).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from scorebench.jobs import launch
from scorebench.spec.benchmark import Benchmark
from scorebench.cli import main as cli_main
from scorebench.io import load_torch
from scorebench.jobs.sample import model_rows
from scorebench.spec.grid import RunSpec
from scorebench.spec.layout import MODEL_FILE, RUN, TRAIN_GROUP, TRAIN_LOG, Layout

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SLURM_SH = ROOT / "tests/system/slurm.sh"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A started single-node cluster for this module: yields its slurm.conf; stopped afterwards."""
    install = subprocess.run(["bash", ROOT / "tests/system/install.sh"], capture_output=True, text=True)
    missing = [d for d in ("slurmctld", "slurmd", "sbatch", "munged") if not shutil.which(d, path="/usr/sbin:/usr/bin")]
    if missing or install.returncode != 0:
        pytest.skip(f"SLURM cannot be installed here ({', '.join(missing) or 'apt-get failed'} missing): "
                    f"{(install.stderr or install.stdout).strip()[-300:]}")
    if os.geteuid() != 0:
        pytest.skip("SLURM is installed but slurmd needs root to start")
    base = tmp_path_factory.mktemp("slurm")
    start = subprocess.run(["bash", SLURM_SH, "start", base], capture_output=True, text=True, timeout=120)
    assert start.returncode == 0, f"the test cluster did not start: {start.stderr}"
    env = dict(re.findall(r"^export (\w+)=(.*)$", start.stdout, re.M))
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # for sinfo/sbatch/squeue run by this process (submitit, scontrol)
    try:
        yield Path(env["SLURM_CONF"])
    finally:
        subprocess.run(["bash", SLURM_SH, "stop", base], capture_output=True, timeout=120)
        for k, v in saved.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)


def slurm(*args: str) -> str:
    return subprocess.run(args, capture_output=True, text=True, check=True, timeout=60).stdout


def states(*job_ids: str) -> dict[str, str]:
    """Job id -> state for every job squeue still shows (finished ones stay for MinJobAge)."""
    out = slurm("squeue", "-h", "-r", "-t", "all", "-o", "%i|%T")
    table = dict(line.split("|") for line in out.split())
    return {j: table.get(j, "MISSING") for j in job_ids}


def wait_for(predicate, seconds: float, what: str, step: float = 0.1):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}")


def snakemake(workdir: Path, *args: str, timeout: int = 240, background: bool = False, env: dict | None = None):
    """`snakemake` run from the repo root (so `--profile slurm` finds ./slurm), results under `workdir`."""
    env = env or dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env['PATH']}"
    cmd = ["timeout", "-s", "INT", "-k", "5", str(timeout), BIN / "snakemake", "--snakefile", ROOT / "Snakefile",
           "--directory", workdir, *args]
    if background:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)


def grid_config(name: str, **train) -> dict:
    """The NCSN toy with DSM and the oracle on VP, one sampler: every stage, few jobs, seconds each."""
    return {
        "name": name,
        "seeds": [0],
        "datasets": {"toy": {"kind": "ncsn_toy"}},
        "objectives": ["dsm", "oracle"],
        "schedules": {"vp": {"kind": "vp"}},
        "samplers": {"ode": {"kind": "ode"}},
        "train": {"steps": 100, "batch_size": 64, **train},
        "evaluate": {"n_samples": 300, "nll_points": 50},
        "resources": {stage: {"mem_mb": 500, "runtime": 10} for stage in ("train", "sample", "evaluate")},
    }


def write(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config))
    return path


def comparable(summary: Path) -> pd.DataFrame:
    """The summary without wall-clock rows (seconds differ between any two runs), sorted."""
    df = pd.read_csv(summary)
    df = df[df.unit != "seconds"] if "unit" in df else df
    keys = [c for c in df.columns if c not in ("value", "detail")]
    return df.sort_values(keys).reset_index(drop=True)


def submitted_ids(output: str) -> list[str]:
    return re.findall(r"submitted with SLURM jobid (\d+)", output)


def test_tiny_grid_through_the_slurm_profile_matches_the_local_run_and_a_rerun_submits_only_the_failed_job(
        cluster, tmp_path):
    # one trained run (DSM): every stage of the workflow in three waves of jobs (train with its model
    # metrics, and the data's reference features; sampling; report), each done within one status check
    config = write(tmp_path / "tiny.yaml", {**grid_config("tiny"), "objectives": ["dsm"]})
    # the local run first: alongside, it slows the cluster's jobs past the executor's status checks
    local = snakemake(tmp_path / "local", "--cores", "2", "--configfile", config)
    assert local.returncode == 0, local.stdout[-3000:] + local.stderr[-3000:]
    first = snakemake(tmp_path / "cluster", "--profile", "slurm", "--configfile", config, background=True)

    def running_report():  # the plugin's job comment names the rule (and wildcards)
        assert first.poll() is None, first.communicate()[0][-3000:]
        jobs = dict(line.split("|") for line in slurm("squeue", "-h", "-t", "running", "-o", "%i|%k").split())
        return next((j for j, comment in jobs.items() if comment.startswith("rule_report")), None)

    # the last job, the report, fails on the cluster (cancelled while it runs)
    report_job = wait_for(running_report, 200, "the report job to run", step=0.2)
    slurm("scancel", report_job)
    out1 = first.communicate(timeout=240)[0]
    assert first.returncode != 0 and f"SLURM-job '{report_job}' failed, SLURM status is: 'CANCELLED'" in out1, out1[-3000:]
    layout = Layout(tmp_path / "cluster/results", "tiny")
    assert layout.path(MODEL_FILE, dataset="toy", objective="dsm", schedule="vp", seed=0).exists()
    assert not (layout.root / "summary.csv").exists()  # what finished is kept; the report is missing

    # the rerun submits the report alone; every job ran on the cluster and left squeue's record
    second = snakemake(tmp_path / "cluster", "--profile", "slurm", "--configfile", config)
    out2 = second.stdout + second.stderr
    assert second.returncode == 0, out2[-4000:]
    assert len(submitted_ids(out2)) == 1 and re.findall(r"^rule (\w+):", out2, re.M) == ["report"], out2[-4000:]
    ids = submitted_ids(out1) + submitted_ids(out2)
    assert len(ids) >= 5  # reference, train, sample, report (twice)
    seen = states(*ids)
    assert seen.pop(report_job) == "CANCELLED" and set(seen.values()) == {"COMPLETED"}, seen

    ours, theirs = comparable(layout.root / "summary.csv"), comparable(tmp_path / "local/results/tiny/summary.csv")
    assert len(ours) > 0
    pd.testing.assert_frame_equal(ours.drop(columns="value"), theirs.drop(columns="value"))
    assert np.allclose(ours.value, theirs.value, rtol=1e-6, atol=1e-9, equal_nan=True)


def test_snakemake_names_an_unknown_partition_and_an_unreachable_controller(cluster, tmp_path):
    config = write(tmp_path / "bad.yaml", grid_config("bad"))
    placed = write(tmp_path / "placed.yaml", {**grid_config("bad"), "resources": {"slurm_partition": "inconfig"}})
    dead = {**os.environ, "SLURM_CONF": str(dead_conf(cluster, tmp_path))}
    cases = {"invalid partition specified: nosuch": (config, dict(os.environ), "--default-resources", "slurm_partition=nosuch"),
             "invalid partition specified: inconfig": (placed, dict(os.environ)),  # the config's resources reach sbatch
             "Unable to contact slurm controller": (config, dead)}
    procs = {named: snakemake(tmp_path / str(i), "--profile", "slurm", "--configfile", path, *args, timeout=120,
                              background=True, env=env)
             for i, (named, (path, env, *args)) in enumerate(cases.items())}  # side by side: each waits on its own
    for i, (named, proc) in enumerate(procs.items()):
        out = proc.communicate(timeout=150)[0]
        assert proc.returncode not in (0, 124) and named in out, out[-3000:]
        assert not list((tmp_path / str(i)).rglob("model.pt"))


def test_a_sweep_of_three_runs_completes_and_the_workflow_takes_its_models(cluster, tmp_path, capsys):
    config = grid_config("sweep", steps=200)
    config.update(objectives=["dsm"], seeds=[0, 1, 2])
    path = write(tmp_path / "sweep.yaml", config)
    results = tmp_path / "results"
    assert cli_main(["sweep", str(path), "--results", str(results)]) == 0
    out = capsys.readouterr().out
    assert "0 of 3 runs finished, 0 queued or running, 3 to submit (slurm)" in out and "all 3 runs finished" in out
    layout = Layout(results, "sweep")
    runs = [dict(dataset="toy", objective="dsm", schedule="vp", seed=s) for s in (0, 1, 2)]
    for run in runs:
        rec = load_torch(layout.path(MODEL_FILE, **run))
        assert rec["status"] == "ok" and rec["steps"] == 200
    array = re.search(r"as job (\d+)", out)[1]
    assert set(states(*(f"{array}_{i}" for i in range(3))).values()) == {"COMPLETED"}  # one array of 3

    # a rerun submits nothing; Snakemake takes the models as done: its training job (here run locally)
    # trains none of them again and only writes their model metrics
    assert cli_main(["sweep", str(path), "--results", str(results)]) == 0
    assert "3 of 3 runs finished, 0 queued or running, 0 to submit" in capsys.readouterr().out
    group = layout.path(TRAIN_GROUP, dataset="toy", objective="dsm")
    local = snakemake(tmp_path, str(group.relative_to(tmp_path)), "--cores", "1", "--configfile", path)
    assert local.returncode == 0, local.stdout[-3000:]
    assert set(json.loads(group.read_text())["runs"].values()) == {"up to date"}
    for run in runs:
        assert load_torch(layout.path(MODEL_FILE, **run))["steps"] == 200


def test_a_requeued_job_resumes_from_its_checkpoint_and_ends_like_an_uninterrupted_run(cluster, tmp_path):
    # ~12 s of training: submitit's job ignores the requeue's SIGTERM, and the SIGKILL that follows
    # came 2-7 s later here (KillWait=1), so a shorter run could finish before it is stopped
    STEPS = 5000  # noqa: N806
    bench = Benchmark.of({**grid_config("requeue", steps=STEPS, checkpoint_every=100, log_every=50),
                          "objectives": ["dsm"], "schedules": {"ncsn": {"kind": "ncsn", "sigma_min": 0.01, "levels": 10}}})
    interrupted, reference = tmp_path / "interrupted", tmp_path / "reference"
    [job] = launch.sweep(bench, interrupted, wait=False, echo=lambda _: None)
    launch.sweep(bench, reference, wait=False, echo=lambda _: None)  # the same seed, left alone
    run = dict(dataset="toy", objective="dsm", schedule="ncsn", seed=0)
    out = Layout(interrupted, "requeue").path(RUN, **run)
    wait_for(lambda: (out / launch.CHECKPOINT).exists(), 120, "the first checkpoint", step=0.05)
    # SIGTERM (which submitit's job ignores), SIGKILL some seconds later, then queued again and held ~2 min
    slurm("scontrol", "requeue", job.job_id)
    wait_for(lambda: states(job.job_id)[job.job_id] == "PENDING", 30, "the requeued job to be pending")
    slurm("scontrol", "update", f"JobId={job.job_id}", "StartTime=now")  # release it now
    assert launch.sweep(bench, interrupted, echo=lambda _: None) == []  # submits nothing, waits for the job
    launch.sweep(bench, reference, echo=lambda _: None)

    assert "Restarts=1" in slurm("scontrol", "show", "job", job.job_id)
    log = job.log.with_suffix(".out").read_text()
    resumed = int(re.search(r"resuming from step (\d+)", log)[1])
    assert 0 < resumed < STEPS, log
    a, b = (load_torch(Layout(r, "requeue").path(MODEL_FILE, **run)) for r in (interrupted, reference))
    assert a["steps"] == b["steps"] == STEPS and a["status"] == b["status"] == "ok"
    assert a["state_dict"].keys() == b["state_dict"].keys()
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])
    loss = [pd.read_csv(Layout(r, "requeue").path(TRAIN_LOG, **run)) for r in (interrupted, reference)]
    assert list(loss[0].step) == list(range(50, STEPS + 1, 50)) and loss[0].loss.equals(loss[1].loss)
    rows = [{r["metric"]: r["value"] for r in model_rows(bench, RunSpec(**run), results)
             if r["metric"] != "train_seconds"}
            for results in (interrupted, reference)]  # the model metrics (Fisher divergence, ...) too
    assert rows[0]
    np.testing.assert_equal(rows[0], rows[1])


def dead_conf(conf: Path, tmp_path: Path) -> Path:
    """The cluster's slurm.conf with a controller port nobody listens on (and a 1 s message timeout)."""
    text = re.sub(r"^SlurmctldPort=\d+", "SlurmctldPort=1", conf.read_text(), flags=re.M)
    path = tmp_path / "dead.conf"
    path.write_text(text + "MessageTimeout=1\n")
    return path


@pytest.mark.parametrize("case", ["unknown partition", "partition in config", "unreachable", "no sbatch",
                                  "gpu type refused"])
def test_sweep_bad_input_is_one_line_naming_it_and_nothing_is_submitted(cluster, tmp_path, monkeypatch, capsys, case):
    config = grid_config("bad")
    args = ["--results", str(tmp_path / "results")]
    named = {"unknown partition": ["--partition: SLURM has no partition 'nosuch'", "`sinfo` lists them"],
             "partition in config": ["resources.slurm_partition: SLURM has no partition 'nosuch'"],
             "unreachable": ["SLURM is not reachable", "Unable to contact slurm controller", "SLURM_CONF"],
             "no sbatch": ["no sbatch on PATH", "--cluster local"],
             "gpu type refused": ["sbatch refused the sweep", "--gpu-type"]}[case]
    if case == "unknown partition":
        args += ["--partition", "nosuch"]
    elif case == "partition in config":
        config["resources"]["train"]["slurm_partition"] = "nosuch"
    elif case == "unreachable":
        monkeypatch.setenv("SLURM_CONF", str(dead_conf(cluster, tmp_path)))
    elif case == "no sbatch":
        monkeypatch.setenv("PATH", str(BIN))
        args += ["--cluster", "slurm"]
    else:
        config["train"]["device"] = "cuda"
        args += ["--gpu-type", "nosuchgpu"]
    path = write(tmp_path / "bad.yaml", config)
    assert cli_main(["sweep", str(path), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("scorebench: error: ") and "Traceback" not in err, err
    assert all(n in err for n in named), err
    assert not (tmp_path / "results/bad/sweep/submitted.json").exists()


def test_a_job_that_fails_on_the_cluster_is_named_and_a_rerun_submits_only_it(cluster, tmp_path):
    path = write(tmp_path / "fail.yaml", grid_config("fail", steps=200_000))  # DSM would train for minutes
    results = tmp_path / "results"
    sweep = subprocess.Popen([BIN / "scorebench", "sweep", path, "--results", results], text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    layout = Layout(results, "fail")
    oracle = layout.path(MODEL_FILE, dataset="toy", objective="oracle", schedule="vp", seed=0)
    submitted = layout.root / launch.SUBMITTED
    ids = wait_for(lambda: submitted.exists() and yaml.safe_load(submitted.read_text()), 60, "the submission")
    victim = ids["toy/dsm/vp/seed0"]
    wait_for(lambda: oracle.exists() and states(victim)[victim] == "RUNNING", 60, "the oracle run to finish")
    slurm("scancel", victim)
    out, err = sweep.communicate(timeout=60)
    assert sweep.returncode == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert f"1 of 2 runs did not finish: toy/dsm/vp/seed0 (job {victim} CANCELLED, log " in err, err
    assert "finished runs are kept, rerun the sweep to submit only the missing ones" in err
    assert oracle.exists()
    dry = subprocess.run([BIN / "scorebench", "sweep", path, "--results", results, "--dry-run"],
                         capture_output=True, text=True)
    assert "1 of 2 runs finished, 0 queued or running, 1 to submit" in dry.stdout, dry.stdout + dry.stderr
    assert re.findall(r"would submit (\S+)", dry.stdout) == ["toy/dsm/vp/seed0"]

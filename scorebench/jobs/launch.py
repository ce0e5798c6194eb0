"""Training sweeps through submitit: one job per run of the grid, as a SLURM job array.

The same runs as the workflow's `train` rule, written into the same results/<name>/runs/ layout,
so Snakemake (and so the report) takes the trained models as done. Runs whose model.pt exists are
never resubmitted, and runs still queued or running from an earlier sweep are waited for, not
submitted twice: a rerun after a failure submits only what is missing.

Preemption and requeue: `TrainJob` is a `submitit.helpers.Checkpointable`, so on a timeout or
preemption signal submitit requeues it; and the training loop writes checkpoint.pt every
`train.checkpoint_every` steps, so any restart (submitit's requeue, `scontrol requeue`, a node
failure) resumes from the last checkpoint and ends with the same weights as an uninterrupted run.

Without sacct (no slurmdbd) submitit cannot read job states, so this module reads them from
`squeue`, which keeps a finished job for MinJobAge (300 s by default).
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import submitit

from ..spec.benchmark import Benchmark
from ..errors import ConfigError, ScorebenchError
from ..spec.grid import RunSpec
from ..io import load_torch, save_json
from ..spec.layout import RESULTS, RUN, Layout

SWEEP = "sweep"  # results/<name>/sweep/<job id>/: submitit's pickles and logs
SUBMITTED = "sweep/submitted.json"  # run id -> SLURM job id of the latest submission
CHECKPOINT = "checkpoint.pt"  # written by scorebench.jobs.trainer beside model.pt
ACTIVE = {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED",
          "RESIZING", "SUSPENDED", "STAGE_OUT", "SIGNALING", "RESV_DEL_HOLD", "STOPPED"}
CLUSTERS = ("auto", "slurm", "local")
MAX_ATTEMPTS = 3  # a run whose record says failed this many times in a row is reported, not resubmitted


class SlurmError(ScorebenchError):
    """SLURM is unreachable, refused a submission, or lost a job."""


class TrainJob(submitit.helpers.Checkpointable):
    """Train one run into the results layout; what a requeued job resumes from is on disk.

    `checkpoint()` (inherited) resubmits this same object on timeout or preemption; `train_run`
    then finds checkpoint.pt and continues from its step. `threads` caps torch's intra-op threads
    at the CPUs the job was given: where SLURM does not bind CPUs (no cgroups), two jobs of two
    threads each on two cores spin-wait against each other and train 50 times slower (measured).
    """

    def __init__(self, bench: Benchmark, run: RunSpec, results: str, threads: int = 1):
        self.bench, self.run, self.results, self.threads = bench, run, results, threads

    def __call__(self) -> dict:
        import torch

        from .build import finished, train_run

        torch.set_num_threads(self.threads)
        layout = self.bench.layout(self.results)
        if finished(self.bench, self.run, self.results):  # e.g. requeued after it had finished
            print(f"{self.run.id}: already trained, nothing to do", flush=True)
            return {"run": self.run.id, "status": "done", "steps": None}
        ckpt = layout.path(RUN, **self.run.fields()) / CHECKPOINT
        if ckpt.exists():
            step = load_torch(ckpt, "cpu")["step"]
            print(f"{self.run.id}: resuming from step {step} ({ckpt})", flush=True)
        rec = train_run(self.bench, self.run, self.results, record_failure=True)
        return {"run": self.run.id, "status": rec["status"], "steps": rec["steps"]}


@dataclass
class Submitted:
    """One run's job: enough to follow it in squeue and point at its log."""

    run: RunSpec
    job_id: str
    log: Path
    job: submitit.Job | None = None  # set for jobs of this process (the local executor needs it)


def sweep(bench: Benchmark, results: str | Path = RESULTS, *, cluster: str = "auto", partition: str | None = None,
          account: str | None = None, gpu_type: str | None = None, parallelism: int | None = None,
          wait: bool = True, dry_run: bool = False, poll_seconds: float = 1.0,
          echo: Callable[[str], None] = print) -> list[Submitted]:
    """Train every unfinished run of the benchmark's grid through submitit; return the jobs submitted.

    `cluster`: "slurm", "local" (subprocesses on this machine), or "auto" (SLURM when `sbatch`
    is on PATH). Memory, time limit and GPU come from the config's resources.train and
    train.device, as for the workflow's train rule. With `wait`, raises SlurmError naming every
    run that did not finish (its job state and log); the finished ones are kept either way.
    """
    if not bench.has_grid:
        raise ConfigError("config: no grid (datasets, objectives, schedules) to sweep")
    from .build import failed_attempts, finished

    results = Path(results).resolve()
    layout = bench.layout(results)
    grid = list(bench.runs)
    todo = [r for r in grid if not finished(bench, r, results)]
    given_up = {r: failed_attempts(bench, r, results) for r in todo}
    given_up = {r: why for r, (attempts, why) in given_up.items() if attempts >= MAX_ATTEMPTS}
    todo = [r for r in todo if r not in given_up]
    cluster = _cluster(cluster)
    in_flight = _in_flight(layout, todo) if cluster == "slurm" and todo else []
    busy = {s.run for s in in_flight}
    new = [r for r in todo if r not in busy]
    echo(f"{bench.name}: {len(grid) - len(todo) - len(given_up)} of {len(grid)} runs finished, {len(in_flight)} "
         f"queued or running, {len(new)} to submit ({cluster})"
         + (f", {len(given_up)} failed {MAX_ATTEMPTS} times and left out" if given_up else ""))
    if gpu_type and not any(_gpus(bench, d) for d in bench.dataset_entries):
        raise ConfigError("--gpu-type: no dataset's train.device is cuda, so the sweep asks for no GPU")
    # one array per GPU count (CPU datasets ask for none); built before a dry run returns, so that
    # it checks that SLURM answers and has the partition
    groups: dict[int, list[RunSpec]] = {}
    for run in new:
        groups.setdefault(_gpus(bench, run.dataset), []).append(run)
    executors = {gpus: _executor(bench, layout, cluster, gpus, partition, account, gpu_type, parallelism)
                 for gpus in groups}
    if dry_run:
        for run in new:
            echo(f"  would submit {run.id}")
        return []
    submitted: list[Submitted] = []
    failed: list[tuple[Submitted, str]] = []
    done = lambda run: finished(bench, run, results)  # noqa: E731
    for gpus, group in groups.items():
        # SLURM takes the group as one array; the local executor would start every run at once, so
        # locally the runs go in waves of `parallelism` (default: the CPU count)
        size = len(group) if cluster == "slurm" else parallelism or os.cpu_count() or 1
        for start in range(0, len(group), size):
            threads = bench.resource("train", "cpus", 1) if cluster == "slurm" else max(1, (os.cpu_count() or 1) // size)
            part = _submit(executors[gpus], bench, str(results), group[start:start + size], layout, threads)
            echo(f"submitted {len(part)} runs as job {part[0].job_id.split('_')[0]}; logs in {layout.root / SWEEP}")
            submitted += part
            if cluster == "local":
                failed += _wait(part, done, cluster, poll_seconds)
    if wait and cluster == "slurm":
        failed += _wait(submitted + in_flight, done, cluster, poll_seconds)
    if failed:
        what = "; ".join(f"{s.run.id} (job {s.job_id} {state}, log {s.log})" for s, state in failed)
        raise SlurmError(f"{len(failed)} of {len(grid)} runs did not finish: {what}; finished runs are kept, "
                         f"rerun the sweep to submit only the missing ones (a run is tried {MAX_ATTEMPTS} times)")
    if given_up:
        what = "; ".join(f"{r.id}: {why}" for r, why in given_up.items())
        raise SlurmError(f"{len(given_up)} runs failed {MAX_ATTEMPTS} times and were not resubmitted: {what}; fix the "
                         "cause and delete their model.pt to try again")
    if wait or cluster == "local":
        from .build import record_groups

        record_groups(bench, grid, results, {})  # so that Snakemake takes the training as done
        echo(f"{bench.name}: all {len(grid)} runs finished; models in {layout.root / 'runs'}")
    return submitted


def _cluster(cluster: str) -> str:
    if cluster not in CLUSTERS:
        raise ConfigError(f"--cluster: unknown {cluster!r}; valid: {', '.join(CLUSTERS)}")
    if cluster == "auto":
        return "slurm" if shutil.which("sbatch") else "local"
    if cluster == "slurm" and not shutil.which("sbatch"):
        raise SlurmError("--cluster slurm: no sbatch on PATH (SLURM is not installed here); use --cluster local")
    return cluster


def _slurm(*args: str) -> str:
    """stdout of a SLURM command; SlurmError with its last stderr line when it fails."""
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        raise SlurmError(f"SLURM is not reachable: {args[0]} did not answer in 60 s; start slurmctld or point "
                         "SLURM_CONF at the cluster's slurm.conf, or use --cluster local") from None
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.splitlines() if line.strip()] or [f"exit status {proc.returncode}"]
        raise SlurmError(f"SLURM is not reachable: {args[0]} says '{lines[-1].strip()}'; start slurmctld or point "
                         "SLURM_CONF at the cluster's slurm.conf, or use --cluster local")
    return proc.stdout


def partitions() -> list[str]:
    """The cluster's partition names; the default one first."""
    names = _slurm("sinfo", "-h", "-o", "%P").split()
    return sorted({n.rstrip("*") for n in names}, key=lambda n: (f"{n}*" not in names, n))


def _gpus(bench: Benchmark, dataset: str) -> int:
    """GPUs per training job on `dataset`: 1 when its train.device is cuda, as the workflow's train rule."""
    return int(bench.train(dataset).device.startswith("cuda"))


def _executor(bench: Benchmark, layout: Layout, cluster: str, gpus: int, partition: str | None, account: str | None,
              gpu_type: str | None, parallelism: int | None) -> submitit.AutoExecutor:
    """submitit's executor for jobs of `gpus` GPUs with the train rule's resources (resources.train);
    partition, account and GPU type from the command line, else from the config's resources."""
    params = {"name": f"scorebench-{bench.name}", "timeout_min": bench.resource("train", "runtime", 120),
              "mem_gb": bench.resource("train", "mem_mb", 4000) / 1024,
              "cpus_per_task": bench.resource("train", "cpus", 1), "gpus_per_node": gpus}
    where = bench.placement("train")
    field = "--partition" if partition else "resources.slurm_partition"
    partition = partition or where.get("slurm_partition")
    account = account or where.get("slurm_account")
    gpu_type = gpu_type or (where.get("gpu_model") if gpus else None)
    if cluster == "slurm":
        names = partitions()  # also: is the controller reachable at all?
        if partition is not None and partition not in names:
            raise SlurmError(f"{field}: SLURM has no partition {partition!r}; it has {', '.join(names)} "
                             "(`sinfo` lists them)")
        params["slurm_partition"] = partition or names[0]
        if parallelism:
            params["slurm_array_parallelism"] = parallelism
        if account:
            params["slurm_account"] = account
        if gpu_type and gpus:
            params |= {"gpus_per_node": 0, "slurm_gres": f"gpu:{gpu_type}:{gpus}"}
    executor = submitit.AutoExecutor(folder=layout.root / SWEEP / "%j", cluster=cluster)
    executor.update_parameters(**params)
    return executor


def _submit(executor, bench: Benchmark, results: str, batch: list[RunSpec], layout: Layout,
            threads: int) -> list[Submitted]:
    try:  # submitit also prints sbatch's refusal to stderr: keep our one line the only one
        with contextlib.redirect_stderr(io.StringIO()):
            jobs = executor.submit_array([TrainJob(bench, run, results, threads) for run in batch])
    except submitit.core.utils.FailedJobError as err:
        lines = [line for line in str(err).splitlines() if line.strip()] or ["no message"]
        raise SlurmError(f"sbatch refused the sweep: '{lines[-1].strip()}'; check --partition, --account and "
                         "--gpu-type against `sinfo` and `sacctmgr show assoc user=$USER`") from None
    out = [Submitted(run, str(job.job_id), job.paths.stderr, job) for run, job in zip(batch, jobs)]
    path = layout.root / SUBMITTED
    ids = json.loads(path.read_text()) if path.exists() else {}
    save_json(ids | {s.run.id: s.job_id for s in out}, path)
    return out


def _states() -> dict[str, str]:
    """SLURM job id (array tasks as <id>_<task>) -> state, for this user's jobs squeue still shows."""
    out = _slurm("squeue", "--me", "-h", "-r", "-t", "all", "-o", "%i|%T")
    return dict(line.split("|", 1) for line in out.split() if "|" in line)


def _in_flight(layout: Layout, todo: list[RunSpec]) -> list[Submitted]:
    """Unfinished runs whose job from an earlier sweep is still queued or running."""
    path = layout.root / SUBMITTED
    if not path.exists():
        return []
    ids, states = json.loads(path.read_text()), _states()
    folder = layout.root / SWEEP / "%j"
    return [Submitted(run, ids[run.id], submitit.core.utils.JobPaths(folder, ids[run.id], 0).stderr)
            for run in todo if states.get(ids.get(run.id, "")) in ACTIVE]


def _wait(jobs: list[Submitted], done: Callable[[RunSpec], bool], cluster: str,
          poll_seconds: float) -> list[tuple[Submitted, str]]:
    """Wait until every job has left the queue; return (job, final state) of the runs not `done`
    (no record, or a `failed` one)."""
    pending, misses, failed, start = list(jobs), {}, [], time.monotonic()
    while pending:
        # poll at a tenth of the time waited so far (at most 30 s): short sweeps are seen done
        # within a second or two, a day-long one asks squeue twice a minute
        time.sleep(min(poll_seconds + (time.monotonic() - start) / 10, 30.0))
        states = _states() if cluster == "slurm" else {}
        still = []
        for s in pending:
            if cluster == "slurm":
                state = states.get(s.job_id)
                if state is None:  # aged out of squeue, or not shown yet: believe it after two misses in a row
                    misses[s.job_id] = misses.get(s.job_id, 0) + 1
                    state = "GONE" if misses[s.job_id] >= 2 else "PENDING"
                else:
                    misses.pop(s.job_id, None)
            else:
                state = "DONE" if s.job.done() else "RUNNING"
            if state in ACTIVE:
                still.append(s)
            elif not done(s.run):
                failed.append((s, state))
        pending = still
    return failed

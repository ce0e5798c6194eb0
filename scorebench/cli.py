"""`scorebench <verb>`: the only entry point the workflow uses.

Every verb prints user errors as one line (`scorebench: error: ...`) and exits with 2.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from .errors import ConfigError, ScorebenchError
from .spec.layout import RESULTS


def _nonneg_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0 (got {value})")
    return value


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="benchmark config (YAML)")
    p.add_argument("--results", default=RESULTS, help=f"results root (default: {RESULTS})")


def _job(p: argparse.ArgumentParser, sampler: str | None = None, required: bool = True) -> None:
    """The arguments of a verb that works on one dataset (and, where `sampler` gives its help, one
    sampler) on a device."""
    _common(p)
    p.add_argument("--dataset", required=True, help="dataset entry name in the config")
    if sampler is not None:
        p.add_argument("--sampler", required=required, help=sampler)
    p.add_argument("--device", help="torch device (default: the config's evaluate.device, else cpu)")


def _load(path, dataset: str | None = None):
    """The benchmark of the config file, every component's parameters checked (one line naming a bad
    key): of all datasets, or of the one a job works on (each is built, and kept for the job)."""
    from .jobs.build import check
    from .spec.benchmark import Benchmark

    bench = Benchmark.read(path)
    if dataset is not None and dataset not in bench.dataset_entries:
        raise ConfigError(f"--dataset: the config's datasets have no entry {dataset!r}; it has: "
                          f"{', '.join(bench.dataset_entries) or 'none'}")
    return check(bench, None if dataset is None else [dataset])


def _sampler(bench, name: str | None) -> str | None:
    if name is not None and name not in bench.samplers:
        raise ConfigError(f"--sampler: the config has no sampler {name!r}; it has: {', '.join(bench.samplers) or 'none'}")
    return name


def cmd_train(args) -> int:
    from .spec.grid import RunSpec
    from .jobs.build import record_groups, train_runs

    bench = _load(args.config, args.dataset)
    if args.evaluate and (args.schedule is not None or args.seed is not None):
        raise ConfigError("--evaluate: writes the rows of the whole group (every schedule and seed); drop --schedule "
                          "and --seed, or run `scorebench evaluate` afterwards")
    if args.schedule is not None and args.seed is not None:  # one run, as named (any seed)
        group = [RunSpec(args.dataset, args.objective, args.schedule, args.seed)]
    else:
        group = bench.select(dataset=args.dataset, objective=args.objective, schedule=args.schedule, seed=args.seed)
    records = train_runs(bench, group, args.results, record_failure=args.record_failure)
    if args.schedule is None and args.seed is None:  # the whole group: the workflow's output of this job
        record_groups(bench, group, args.results, {rec["run"]["id"]: rec["status"] for rec in records})
    for rec in records:
        if rec["status"] == "diverged":
            print(f"scorebench: {rec['run']['id']} diverged at step {rec['diverged_step']} (non-finite loss); "
                  "recorded with status=diverged — lower train.lr or train.grad_clip", file=sys.stderr)
        elif rec["status"] == "failed":
            print(f"scorebench: {rec['run']['id']} failed and was recorded as failed: {rec['reason']}", file=sys.stderr)
    if args.evaluate:
        _write_metrics(bench, args.dataset, None, group, args)
    return 0


def cmd_sample(args) -> int:
    from .jobs.sample import sample_runs

    bench = _load(args.config, args.dataset)
    sampler = _sampler(bench, args.sampler)
    runs = bench.select(dataset=args.dataset)
    for rec in sample_runs(bench, runs, sampler, args.results, args.device):
        stats = rec.get("stats", {})
        batched = f" (batched with {stats['batched_with'] - 1} more)" if stats.get("batched_with", 1) > 1 else ""
        reused = " (unchanged draw, reused)" if rec.get("reused") else ""
        print(f"{rec['run']['id']} {sampler}: {rec['status']} {stats.get('seconds', 0.0):.2f} s{batched}{reused} "
              f"{rec['reason']}".rstrip(), flush=True)
    if args.evaluate:
        _write_metrics(bench, args.dataset, sampler, runs, args)
    return 0


def _write_metrics(bench, dataset: str, sampler: str | None, runs: list, args) -> None:
    """Evaluate `runs` with `sampler` into metrics/<dataset>/<sampler>.json, or (sampler None) each
    objective's models into metrics/<dataset>/model.<objective>.json."""
    from .jobs.sample import evaluate_runs
    from .spec.grid import model_file

    if sampler is not None:
        _save_rows(bench, dataset, sampler, evaluate_runs(bench, runs, sampler, args.results, args.device), args.results)
        return
    for objective in dict.fromkeys(run.objective for run in runs):
        group = [run for run in runs if run.objective == objective]
        _save_rows(bench, dataset, model_file(objective), evaluate_runs(bench, group, None, args.results, args.device),
                   args.results)


def _save_rows(bench, dataset: str, name: str, rows: list[dict], results) -> None:
    """Write metric rows to metrics/<dataset>/<name>.json and print one line per row."""
    from .jobs.sample import write_rows
    from .spec.layout import METRICS

    write_rows(rows, bench.layout(results).path(METRICS, dataset=dataset, name=name))
    for r in rows:
        print(f"{r['objective']}/{r['schedule']}/seed{r['seed']} {r['sampler']} {r['metric']}={r['value']:.4g} "
              f"{r['status']} {r['detail']}".rstrip())


def cmd_evaluate(args) -> int:
    bench = _load(args.config, args.dataset)
    sampler = _sampler(bench, args.sampler)
    if sampler is not None and args.objective is not None:
        raise ConfigError("--objective: only without --sampler (a sampler's file holds every objective's runs)")
    _write_metrics(bench, args.dataset, sampler, bench.select(dataset=args.dataset, objective=args.objective), args)
    return 0


def cmd_condition(args) -> int:
    from .spec.grid import conditional_file
    from .jobs.condition import conditional_rows

    bench = _load(args.config, args.dataset)
    sampler = _sampler(bench, args.sampler)
    if bench.conditioning is None or sampler not in bench.conditioning["samplers"]:
        raise ConfigError(f"--sampler: {sampler} is not one of the config's conditioning.samplers")
    rows = conditional_rows(bench, bench.select(dataset=args.dataset), sampler, args.results, args.device)
    _save_rows(bench, args.dataset, conditional_file(sampler), rows, args.results)
    return 0


def cmd_reference(args) -> int:
    from .jobs.sample import baseline_rows, write_rows
    from .spec.layout import DATA_METRICS, METRICS

    bench = _load(args.config, args.dataset)
    bench.select(dataset=args.dataset)
    rows = baseline_rows(bench, args.dataset, args.results, args.device)
    write_rows(rows, bench.layout(args.results).path(METRICS, dataset=args.dataset, name=DATA_METRICS))
    failed = [r for r in rows if r["status"] != "ok"]
    if failed and not args.record_failure:
        raise ScorebenchError(failed[0]["detail"])
    for r in rows:
        print(f"{r['dataset']} real-vs-real {r['metric']}={r['value']:.4g} {r['status']} {r['detail']}")
    return 0


def cmd_grid(args) -> int:
    print(_load(args.config).describe())
    return 0


def cmd_list(args) -> int:
    from .jobs.docs import listing

    print(listing(args.section))
    return 0


def cmd_compare(args) -> int:
    from .io import save_text
    from .report.compare import compare, html_page, read_summary, summary_lines

    table = compare(read_summary(args.results_a), read_summary(args.results_b))
    print("\n".join(summary_lines(table, args.results_a, args.results_b)))
    if args.html:
        save_text(html_page(table, args.results_a, args.results_b), args.html)
    if args.csv:
        save_text(table.to_csv(index=False), args.csv)
    return 0


def cmd_report(args) -> int:
    from .errors import ArtefactError
    from .report.page import build_report

    path, absent = build_report(_load(args.config), args.results)
    print(f"report: {path}")
    if absent and not args.keep_going:
        raise ArtefactError(f"{len(absent)} expected metric files missing or damaged, their cells failed rows in the "
                            f"report (--keep-going: exit 0); the first: {absent[0]}")
    if absent:
        print(f"scorebench report: {len(absent)} expected metric files missing or damaged, kept going; the report "
              "says which", file=sys.stderr)
    return 0


def cmd_scaling(args) -> int:
    from dataclasses import replace

    from .spec.layout import SCALING, SCALING_SLOPES
    from .jobs.scaling import fit_slopes, run_scaling, save_tables
    from .spec.settings import ScalingConfig

    bench = _load(args.config)
    cfg = bench.scaling or ScalingConfig()
    if args.device:
        cfg = replace(cfg, device=args.device)
    rows = run_scaling(cfg)
    slopes = fit_slopes(rows, cfg.fit_from_dim)
    layout = bench.layout(args.results)
    kind = cfg.device.split(":")[0]
    save_tables(rows, slopes, layout.path(SCALING, device=kind), layout.path(SCALING_SLOPES, device=kind))
    for r in rows:
        print(f"{r['objective']:>10} d={r['dim']:<5} {r['status']:<7} {r['seconds_per_step']:.4g} s/step "
              f"{r['peak_memory_bytes'] / 2**20:.1f} MiB {r['detail']}".rstrip())
    for s in slopes:
        print(f"slope {s['objective']} ({s['device']}, d {s['dims_fitted']}): {s['slope']:.2f} "
              f"({s['slope_over_ssm']:.2f} over ssm)")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="scorebench", description="Benchmark suite for score-based generative models.")
    verbs = p.add_subparsers(dest="verb", required=True)

    t = verbs.add_parser("train", help="train the runs of a dataset and objective (each resumes from its checkpoint)",
                         description="Train every valid run of DATASET × OBJECTIVE (or only those of --schedule and "
                                     "--seed) in one process, into results/<name>/runs/<dataset>/<objective>/"
                                     "<schedule>/seed<N>/. A run already finished (ok or diverged) with the same "
                                     "parameters is skipped.")
    _common(t)
    t.add_argument("--dataset", required=True, help="dataset entry name in the config")
    t.add_argument("--objective", required=True, help="objective name in the config")
    t.add_argument("--schedule", help="schedule entry name in the config (default: every one)")
    t.add_argument("--seed", type=_nonneg_int, help="training seed (default: the config's seeds)")
    t.add_argument("--record-failure", action="store_true",
                   help="save an error during loading or training as a failed run (exit 0) instead of exiting with 2")
    t.add_argument("--evaluate", action="store_true",
                   help="then write the group's model metric rows (what `scorebench evaluate --objective` does) in the "
                        "same process: the workflow's one job per dataset and objective")
    t.add_argument("--device", help="torch device of the evaluation (default: the config's evaluate.device, else cpu)")
    t.set_defaults(func=cmd_train)

    s = verbs.add_parser("sample", help="sample every run of one dataset with one sampler",
                         description="Draw evaluate.n_samples samples from every valid run of DATASET with SAMPLER "
                                     "into results/<name>/samples/<dataset>/<sampler>/.")
    _job(s, "sampler entry name in the config")
    s.add_argument("--evaluate", action="store_true",
                   help="then write the sampler's metric rows (what `scorebench evaluate --sampler` does) in the "
                        "same process: the workflow's one job per dataset and sampler")
    s.set_defaults(func=cmd_sample)

    e = verbs.add_parser("evaluate", help="metric rows of every run of one dataset",
                         description="Without --sampler: the models' metrics (training time, Fisher divergence, NLL) "
                                     "into results/<name>/metrics/<dataset>/model.<objective>.json, one file per "
                                     "objective (or only --objective's); with --sampler: that sampler's sample "
                                     "metrics into .../<sampler>.json.")
    _job(e, "evaluate this sampler's samples (default: the models themselves)", required=False)
    e.add_argument("--objective", help="only this objective's models (default: every objective of the dataset)")
    e.set_defaults(func=cmd_evaluate)

    n = verbs.add_parser("condition", help="inpaint with one sampler: every run of a dataset, every mask and method",
                         description="Complete conditioning.observations test points of DATASET with SAMPLER under "
                                     "every mask and method of the config's conditioning: section; metric rows into "
                                     "results/<name>/metrics/<dataset>/conditional.<sampler>.json.")
    _job(n, "sampler entry name in the config (one of conditioning.samplers)")
    n.set_defaults(func=cmd_condition)

    q = verbs.add_parser("reference", help="FID/KID reference statistics of a dataset and its real-vs-real baseline",
                         description="Cache the reference statistics of DATASET's train split in "
                                     "results/<name>/features/<dataset>/reference.pt (training the feature "
                                     "classifier whose features they are first, where needed) and write the "
                                     "real-vs-real baseline rows (objective `data`) to "
                                     "results/<name>/metrics/<dataset>/data.json.")
    _job(q)
    q.add_argument("--record-failure", action="store_true",
                   help="a missing or corrupt file (dataset, weights) becomes failed rows (exit 0) instead of exit 2")
    q.set_defaults(func=cmd_reference)

    from .jobs.docs import LIST_SECTIONS

    ls = verbs.add_parser("list", help="every registered component and metric, with its parameters",
                          description="List the datasets, objectives, schedules, samplers, networks, feature spaces, "
                                      "conditioning masks and methods (each kind with its one line, its facts and its "
                                      "parameters: type, default, range) and the metrics. Imports no torch.")
    ls.add_argument("section", nargs="?", choices=(*LIST_SECTIONS, "metrics"), help="only this section")
    ls.set_defaults(func=cmd_list, torch_free=True)

    m = verbs.add_parser("compare", help="what changed between two results of a benchmark, cell by cell",
                         description="Compare RESULTS_B against RESULTS_A (each a results/<name>/ directory, or its "
                                     "summary.csv): every cell both have, paired over their shared seeds, with the "
                                     "verdict's intervals (ratio for metrics spanning decades, else difference), "
                                     "Holm-adjusted over the cells; prints what got better, worse or changed. "
                                     "Imports no torch.")
    m.add_argument("results_a", help="the baseline results directory")
    m.add_argument("results_b", help="the results to compare against it")
    m.add_argument("--html", type=Path, help="also write the comparison as a self-contained HTML page here")
    m.add_argument("--csv", type=Path, help="also write every compared cell as CSV here")
    m.set_defaults(func=cmd_compare, torch_free=True)

    g = verbs.add_parser("grid", help="list the runs a config expands to, and the skipped combinations with reasons",
                         description="Validate CONFIG and list its runs, their compatible samplers, and every skipped "
                                     "combination with the reason. Nothing is run or written.")
    g.add_argument("config", help="benchmark config (YAML)")
    g.set_defaults(func=cmd_grid)

    c = verbs.add_parser("scaling", help="time and peak memory of one training step against data dimension",
                         description="Measure one training step of exact (vectorised and loop), DSM, SSM and SSM-VR "
                                     "over the config's scaling.dims into results/<name>/scaling/<device>.csv and "
                                     "the fitted log-log slopes into <device>_slopes.csv.")
    _common(c)
    c.add_argument("--device", help="torch device (default: the config's scaling.device, else cpu)")
    c.set_defaults(func=cmd_scaling)

    r = verbs.add_parser("report", help="collect metrics into summary.csv, figures and report.html",
                         description="Build results/<name>/summary.csv, figures/ and the self-contained report.html "
                                     "from the metrics already computed; never trains or samples.")
    _common(r)
    r.add_argument("--keep-going", action="store_true",
                   help="exit 0 although an expected metrics file is missing or damaged (its cells are failed rows)")
    r.set_defaults(func=cmd_report)

    w = verbs.add_parser("sweep", help="train the grid's unfinished runs through submitit (a SLURM job array)",
                         description="Train every run of CONFIG without a model.pt as one submitit job each: a SLURM "
                                     "job array when sbatch is on PATH, else local subprocesses. Models land in the "
                                     "workflow's results layout, so `snakemake` then only samples and evaluates. "
                                     "Jobs resume from their checkpoint when requeued.")
    _common(w)
    w.add_argument("--cluster", choices=("auto", "slurm", "local"), default="auto",
                   help="where to run (default: slurm when sbatch is on PATH, else local)")
    w.add_argument("--partition", help="SLURM partition (default: the cluster's default partition; `sinfo` lists them)")
    w.add_argument("--account", help="SLURM account to charge (default: none given)")
    w.add_argument("--gpu-type", help="GPU type for runs with train.device cuda, e.g. a100 (--gres=gpu:TYPE:1)")
    w.add_argument("--parallelism", type=_positive_int,
                   help="most runs at once (default: SLURM decides; locally the CPU count)")
    w.add_argument("--no-wait", dest="wait", action="store_false",
                   help="return once submitted (SLURM); rerun the same command to wait or to resubmit what failed")
    w.add_argument("--dry-run", action="store_true", help="list what would be submitted; submit nothing")
    w.set_defaults(func=cmd_sweep)
    return p


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1 (got {value})")
    return value


def cmd_sweep(args) -> int:
    from .jobs.launch import sweep

    sweep(_load(args.config), args.results, cluster=args.cluster, partition=args.partition, account=args.account,
          gpu_type=args.gpu_type, parallelism=args.parallelism, wait=args.wait, dry_run=args.dry_run)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run one verb. On success its last stderr line times the verb's work apart from the imports
    before it, so a job's start-up (its wall-clock minus the work) can be read from its log."""
    started = time.perf_counter()
    args = parser().parse_args(argv)
    if not getattr(args, "torch_free", False):
        import torch  # noqa: F401  the verb needs it: imported first so that its cost counts as start-up

    work = time.perf_counter()
    try:
        code = args.func(args)
    except ScorebenchError as err:
        print(f"scorebench: error: {err}", file=sys.stderr)
        return 2
    print(f"scorebench {args.verb}: {time.perf_counter() - work:.2f} s of work after {work - started:.2f} s of "
          "imports", file=sys.stderr)
    return code


def entry() -> None:
    """The console script: `main`, then exit without the interpreter's teardown of torch (0.8–1.2 s
    a process, measured); every output is written and closed before `main` returns."""
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    entry()

"""Render benchmarks/README.md from the committed results under benchmarks/results/.

Every figure of that page is read here from a JSON or CSV file of benchmarks/results/, never typed by
hand, so a rerun of a benchmark (which rewrites its file) and `python benchmarks/readme.py` update the
page together; tests/test_docs.py fails while the committed page differs from this script's output.

    python benchmarks/readme.py           # rewrite benchmarks/README.md
    python benchmarks/readme.py --check   # exit 1 when it is out of date
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
PAGE = HERE / "README.md"


def load(name: str):
    path = RESULTS / name
    if name.endswith(".json"):
        return json.loads(path.read_text())
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def table(header: list[str], rows: list[list]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    return out + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]


def machine(m: dict) -> str:
    gpu = f", {m['gpu']}" if m.get("gpu") else ""
    return f"{m['date']}, {m['cpus']} × {m['cpu']}{gpu}, Python {m['python']}, torch {m['torch']}"


def span(values) -> str:
    lo, hi = min(values), max(values)
    return f"{lo:.2f}" if f"{lo:.2f}" == f"{hi:.2f}" else f"{lo:.2f}–{hi:.2f}"


def iqr(pair) -> str:
    return f"{pair[0]:.2f}–{pair[1]:.2f}"


def verdict(ok: bool) -> str:
    return "within" if ok else "**NOT within**"


def default_grid() -> list[str]:
    d = load("default_grid.json")
    new, old = d["default"], d["old_shape"]
    rules = sorted(new["job_seconds_per_rule"])
    return [
        "## The default grid's wall-clock (`benchmarks/default_grid.py`)", "",
        f"From `results/default_grid.json` ({machine(d['machine'])}). The same `snakemake --cores all` as "
        "`make run`, in fresh directories: the default and then the old shape on the same code in one "
        "invocation, with a fixed one-thread plain-torch workload timed before and after to say how fast "
        "the machine was (compare machines by reference units, not seconds).", "",
        *table(["grid", "schedules", "seeds", "runs", "jobs", "seconds", "reference units", "start-up share",
                *[f"job-seconds {r}" for r in rules]],
               [[name, ", ".join(g["schedules"]), len(g["seeds"]), g["runs"], g["jobs"], g["seconds"],
                 g["seconds_over_reference"], f"{g['startup_share']:.1%}", *[g["job_seconds_per_rule"][r] for r in rules]]
                for name, g in (("default", new), ("old shape", old))]),
        "",
        f"Target: the default within {d['target_seconds']} s ({verdict(new['seconds'] <= d['target_seconds'])}: "
        f"{new['seconds']} s); the default over the old shape within {d['target_ratio']}× "
        f"({verdict(d['ratio_new_to_old'] <= d['target_ratio'])}: {d['ratio_new_to_old']}×, for "
        f"{new['runs'] / old['runs']:.1f}× the runs). Reference workload: "
        f"{' and '.join(str(s) for s in d['reference_seconds'])} s before and after.", "",
        "Slowest jobs of the default: " + ", ".join(f"`{k}` {v} s" for k, v in new["slowest_jobs_seconds"].items()) + ".",
        "",
    ]


def dry_run() -> list[str]:
    d = load("dry_run.json")
    return [
        "## Dry run of a large grid (`benchmarks/dry_run.py`)", "",
        f"From `results/dry_run.json` ({machine(d['machine'])}): `snakemake -n` of a {d['jobs']:,}-job grid, "
        f"median of {d['repeats']}, beside a floor Snakefile with the same jobs and files and nothing else, "
        "timed interleaved.", "",
        *table(["workflow (s)", "range", "floor (s)", "floor range", "target (s)", ""],
               [[d["seconds"], "–".join(map(str, d["seconds_range"])), d["floor_seconds"],
                 "–".join(map(str, d["floor_seconds_range"])), d["target_seconds"],
                 verdict(d["seconds"] <= d["target_seconds"])]]),
        "",
    ]


def config_grid(name: str, title: str) -> list[str]:
    """A benchmark config's whole grid, timed by benchmarks/config_grid.py, with its report's verdict lines."""
    d = load(f"{name}_grid.json")
    lines = [
        f"## {title}", "",
        f"From `results/{name}_grid.json` ({machine(d['machine'])}): `{d['command']}` in a fresh directory, "
        f"{d['runs']} runs, {d['jobs']} jobs, {d['summary_rows']:,} summary rows "
        f"({', '.join(f'{v:,} {k}' for k, v in d['rows_by_status'].items())}); {d['note']}.", "",
        *table(["seconds", "target (s)", ""], [[d["seconds"], d["target_seconds"], verdict(d["seconds"] <= d["target_seconds"])]]),
        "",
    ]
    if d.get("verdict"):
        lines += [f"Its report's verdict (`results/{name}_report.html`):", "", *(f"- {line}" for line in d["verdict"]), ""]
    return lines


def throughput() -> list[str]:
    d = load("throughput.json")
    out = [
        "## Training and sampling throughput (`benchmarks/throughput.py`)", "",
        f"From `results/throughput.json` ({machine(d['machine'])}; {d['threads']} thread, schedule "
        f"`{d['schedule']}`, {d['steps']} steps per timing; ratios are medians over interleaved rounds with "
        "their interquartile range).", "",
        f"**One training step of `train` against a plain reference loop** (same network, weights, batch; "
        f"target ≤ {d['target_ratio']}×):", "",
        *table(["dataset", "objective", "rounds", "ms/step scorebench", "ms/step reference", "ratio", "IQR", ""],
               [[r["dataset"], r["objective"], r["rounds"], r["ms_per_step_scorebench"], r["ms_per_step_reference"],
                 f"{r['ratio_median']:.2f}×", iqr(r["ratio_iqr"]), verdict(r["ratio_median"] <= d["target_ratio"])]
                for r in d["versus_reference"]]),
        "", "**Three seeds batched against one seed**, same loop:", "",
        *table(["dataset", "objective", "width", "ms/step 3 seeds", "ms/step 1 seed", "ratio", "IQR"],
               [[r["dataset"], r["objective"], r["net"]["width"], r["ms_per_step_three_seeds"], r["ms_per_step_one_seed"],
                 f"{r['ratio_median']:.2f}×", iqr(r["ratio_iqr"])] for r in d["seed_batching"]]),
        "", f"**A {d['ensemble'][0]['members']}-member ensemble step against one member** (target ≤ "
        f"{d['target_ensemble_ratio']}×):", "",
        *table(["dataset", "objective", "members", "ms/step ensemble", "ms/step one member", "ratio", "IQR", ""],
               [[r["dataset"], r["objective"], r["members"], r["ms_per_step_members"], r["ms_per_step_one_member"],
                 f"{r['ratio_median']:.2f}×", iqr(r["ratio_iqr"]), verdict(r["ratio_median"] <= d["target_ensemble_ratio"])]
                for r in d["ensemble"]]),
        "", "**Sampling: one batch per schedule (as the sample job draws) against one batch of all members** "
        "(gain < 1: the one batch is slower):", "",
        *table(["dataset", "sampler", "members", "samples per member", "s, per-schedule batches", "s, one batch",
                "gain", "IQR"],
               [[r["dataset"], r["sampler"], r["members"], r["n_samples"], r["seconds_per_schedule_batches"],
                 r["seconds_one_batch"], f"{r['gain_median']:.2f}", iqr(r["gain_iqr"])] for r in d["sampling"]]),
        "", "**Steps per second** of one run:", "",
        *table(["dataset", "d", "objective", "steps/s", "samples/s"],
               [[r["dataset"], r["dim"], r["objective"], r["steps_per_second"], r["samples_per_second"]] for r in d["runs"]]),
        "",
    ]
    c = load("throughput_cuda.json")
    out += [
        "## On a GPU (`benchmarks/throughput.py … cuda`)", "",
        f"From `results/throughput_cuda.json` ({machine(c['machine'])}; {c['steps']} steps per timing). "
        "Three seeds batched against one seed:", "",
        *table(["dataset", "objective", "width", "rounds", "ms/step 3 seeds", "ms/step 1 seed", "ratio", "IQR"],
               [[r["dataset"], r["objective"], r["net"]["width"], r["rounds"], r["ms_per_step_three_seeds"],
                 r["ms_per_step_one_seed"], f"{r['ratio_median']:.2f}×", iqr(r["ratio_iqr"])] for r in c["seed_batching"]]),
        "", "The GPU scaling study (`benchmarks/scaling.py cuda`) has no committed result yet.", "",
    ]
    return out


def scaling() -> list[str]:
    rows = [r for r in load("scaling_cpu.csv") if r["status"] == "ok"]
    slopes = load("scaling_cpu_slopes.csv")
    m = load("scaling_cpu_machine.json")
    time = {(r["objective"], int(r["dim"])): float(r["seconds_per_step"]) for r in rows}
    memory = {(r["objective"], int(r["dim"])): int(r["peak_memory_bytes"]) for r in rows}
    dims = sorted({d for _, d in time})

    def ratio(a, b, ds=dims):
        return [time[a, d] / time[b, d] for d in ds if (a, d) in time and (b, d) in time]

    top = max(dims)
    cfg = m["config"]
    return [
        "## One training step against d (`benchmarks/scaling.py cpu`)", "",
        f"From `results/scaling_cpu.csv`, `scaling_cpu_slopes.csv` and `scaling_cpu_machine.json` "
        f"({machine(m['machine'])}; batch {cfg['batch_size']}, MLP width {cfg['width']}, depth {cfg['depth']}, "
        f"d = {min(dims)}…{top}, {cfg['repeats']} interleaved rounds, each timing a block of whole steps lasting "
        f"at least {cfg['block_seconds']} s; medians).", "",
        *table(["quantity", "measured", "target"], [
            ["SSM / DSM step time", span(ratio("ssm", "dsm")), "≤ 2 at every d"],
            ["SSM-VR / DSM", span(ratio("ssm_vr", "dsm")), ""],
            ["exact / DSM", f"{ratio('exact', 'dsm', [min(dims)])[0]:.2f} at d = {min(dims)} … "
                            f"{ratio('exact', 'dsm', [top])[0]:.0f} at d = {top}", ""],
            ["loop / vectorised exact", span(ratio("exact_loop", "exact")), "≥ 1 at every d"],
            ["two consecutive runs, per cell", f"within {m['two_runs_max_gap']:.1%} ({m['two_runs_max_gap_cell']}), "
                                               f"median {m['two_runs_median_gap']:.1%}", f"within {m['two_runs_target_gap']:.0%}"],
            *[[f"log–log slope, d = {s['dims_fitted']}: {s['objective']}", f"{float(s['slope']):.2f} "
               f"(÷ SSM: {float(s['slope_over_ssm']):.2f})".replace("-0.00", "0.00"), ""] for s in slopes],
            *[[f"peak memory at d = {top}: {o}", f"{memory[o, top] / 2**20:.0f} MiB", ""]
              for o in cfg["objectives"] if (o, top) in memory],
        ]),
        "",
        "Reading it: exact costs d backward passes and grows about linearly in their count; at fixed width each "
        "pass also grows with d (the first and last layers are d × width), which the slope of exact ÷ SSM "
        "(one pass of the same network) removes. Memory is the growth of the process's peak RSS, each cell in "
        "its own process.", "",
    ]


def likelihood() -> list[str]:
    d = load("likelihood_nfe.json")
    return [
        "## PF-ODE likelihood: function evaluations against scipy (`benchmarks/likelihood_nfe.py`)", "",
        f"From `results/likelihood_nfe.json` ({machine(d['machine'])}; oracle score of the NCSN toy, "
        f"rtol = {d['rtol']}, atol = {d['atol']}, {d['points']} points; target ≤ {d['target_nfe_ratio']}×):", "",
        *table(["schedule", "NFE scorebench", "NFE scipy RK45", "ratio", "error scorebench (nats)", "error scipy (nats)", ""],
               [[k, r["scorebench_nfe"], r["scipy_rk45_nfe"], f"{r['nfe_ratio']:.3f}×",
                 f"{r['scorebench_mean_abs_error_nats']:.3f}", f"{r['scipy_mean_abs_error_nats']:.3f}",
                 verdict(r["nfe_ratio"] <= d["target_nfe_ratio"])] for k, r in d["results"].items()]),
        "",
    ]


def seed_power() -> list[str]:
    d = load("seed_power.json")
    seeds = sorted({int(n) for ds in d["datasets"].values() for n in ds["p_best"]})
    rows = []
    for name, ds in sorted(d["datasets"].items()):
        for metric, leader in ds["leader"].items():
            rows.append([name, metric, leader, ds["tests"],
                         *[f"{ds['p_best'][str(n)][metric]:.3f}" if str(n) in ds["p_best"] else "" for n in seeds]])
    return [
        "## Seeds enough to rank (`benchmarks/seed_power.py`)", "",
        f"From `results/seed_power.json` ({machine(d['machine'])}; {d['trials']} simulated verdicts per n, "
        f"family-wise error {d['family_error']}): the chance that each dataset's leader is called *best* under "
        f"Holm at n seeds, refitted from the summary `{Path(d['summary']).name}`.", "",
        *table(["dataset", "metric", "leader", "tests in the family", *[f"n = {n}" for n in seeds]], rows),
        "",
    ]


def render() -> str:
    lines = [
        "<!-- Generated by `python benchmarks/readme.py` from benchmarks/results/: do not edit by hand. -->",
        "# Benchmarks", "",
        "Measurements of scorebench itself, run on demand (they are not part of `make test`), each writing its "
        "result under `benchmarks/results/`. Every figure on this page is read from those files by "
        "`benchmarks/readme.py`; `tests/test_docs.py` checks that this page is that script's output. The "
        "narrative history of earlier runs (superseded figures, machine drift) is in the README of commit "
        "0665e76 (`git show 0665e76:README.md`).", "",
        *table(["benchmark", "command", "result file"], [
            ["default grid against the old shape", "`.venv/bin/python benchmarks/default_grid.py`", "`default_grid.json`"],
            ["dry run of a large grid", "`.venv/bin/python benchmarks/dry_run.py`", "`dry_run.json`"],
            ["the NFE frontier benchmark", "`.venv/bin/python benchmarks/config_grid.py config/benchmarks/samplers.yaml 900 --keep DIR`",
             "`samplers_grid.json`, `samplers_summary.csv`, `samplers_report.html`"],
            ["real images: mnist5k at equal steps and equal compute",
             "`.venv/bin/python benchmarks/config_grid.py config/benchmarks/mnist5k.yaml 1800 --keep DIR`",
             "`mnist5k_grid.json`, `mnist5k_summary.csv`, `mnist5k_report.html`"],
            ["throughput: step cost, seed batching, ensembles, sampling", "`.venv/bin/python benchmarks/throughput.py 200 9`",
             "`throughput.json`"],
            ["the same on a GPU", "`.venv/bin/python benchmarks/throughput.py 300 7 cuda`", "`throughput_cuda.json`"],
            ["one training step against d", "`.venv/bin/python benchmarks/scaling.py cpu`",
             "`scaling_cpu.csv`, `scaling_cpu_slopes.csv`, `scaling_cpu_machine.json`"],
            ["PF-ODE likelihood NFE", "`.venv/bin/python benchmarks/likelihood_nfe.py`", "`likelihood_nfe.json`"],
            ["seeds the verdict needs", "`.venv/bin/python benchmarks/seed_power.py`", "`seed_power.json`"],
            ["the default's summary (the calibration test's input)", "`make run`, then copy `results/default/summary.csv`",
             "`default_summary.csv`"],
        ]),
        "",
        *default_grid(), *dry_run(), *config_grid("samplers", "The NFE frontier (`config/benchmarks/samplers.yaml`)"),
        *config_grid("mnist5k", "Real images at d = 784 (`config/benchmarks/mnist5k.yaml`)"), *throughput(), *scaling(), *likelihood(), *seed_power(),
    ]
    while lines[-1] == "":
        lines.pop()
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Render benchmarks/README.md from benchmarks/results/.")
    parser.add_argument("--check", action="store_true", help="exit 1 if benchmarks/README.md is out of date")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not PAGE.exists() or PAGE.read_text() != text:
            print(f"{PAGE}: out of date; run python benchmarks/readme.py", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

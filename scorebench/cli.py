"""`scorebench <verb>`: the only entry point the workflow uses."""
from __future__ import annotations

import argparse
import sys

from .errors import ConfigError, ScorebenchError


def _nonneg_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0 (got {value})")
    return value


def _run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="benchmark config (YAML)")
    p.add_argument("--dataset", required=True, help="dataset entry name in the config")
    p.add_argument("--objective", required=True, help="objective name in the config")
    p.add_argument("--schedule", required=True, help="schedule entry name in the config")
    p.add_argument("--seed", type=_nonneg_int, required=True, help="training seed")
    p.add_argument("--results", default="results", help="results root (default: results)")


def _filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="benchmark config (YAML)")
    p.add_argument("--dataset", help="only runs of this dataset entry")
    p.add_argument("--objective", help="only runs of this objective")
    p.add_argument("--schedule", help="only runs of this schedule entry")
    p.add_argument("--seed", type=_nonneg_int, help="only runs of this seed")
    p.add_argument("--results", default="results", help="results root (default: results)")
    p.add_argument("--device", default="cpu", help="torch device (default: cpu)")


def _selected(args):
    from . import config as cfg
    from .grid import select

    config = cfg.load(args.config)
    return config, select(config, dataset=args.dataset, objective=args.objective, schedule=args.schedule, seed=args.seed)


def cmd_sample(args) -> int:
    from .evaluate import sample_run

    config, runs = _selected(args)
    if args.sampler not in config["samplers"]:
        raise ConfigError(f"--sampler: the config has no sampler {args.sampler!r}; it has: {', '.join(config['samplers'])}")
    for run in runs:
        rec = sample_run(config, run, args.sampler, args.results, args.device)
        seconds = rec.get("stats", {}).get("seconds", 0.0)
        print(f"{run.id} {args.sampler}: {rec['status']}{' (' + rec['reason'] + ')' if rec.get('reason') else ''} {seconds:.2f} s")
    return 0


def cmd_evaluate(args) -> int:
    from .evaluate import model_rows, sample_rows, write_rows

    config, runs = _selected(args)
    if args.sampler is not None and args.sampler not in config["samplers"]:
        raise ConfigError(f"--sampler: the config has no sampler {args.sampler!r}; it has: {', '.join(config['samplers'])}")
    for run in runs:
        if args.sampler is None:
            rows, name = model_rows(config, run, args.results, args.device), "model"
        else:
            rows, name = sample_rows(config, run, args.sampler, args.results), args.sampler
        write_rows(rows, run.directory(args.results, config["name"]) / "metrics" / f"{name}.json")
        print(f"{run.id} {name}: " + ", ".join(f"{r['metric']}={r['value']:.4g}" for r in rows))
    return 0


def cmd_train(args) -> int:
    from . import config as cfg
    from .grid import RunSpec
    from .run import train_run

    config = cfg.load(args.config)
    rec = train_run(config, RunSpec(args.dataset, args.objective, args.schedule, args.seed), args.results)
    if rec["status"] == "diverged":
        print(f"scorebench: {rec['run']['id']} diverged at step {rec['diverged_step']} (non-finite loss); "
              "recorded with status=diverged — lower train.lr or train.grad_clip", file=sys.stderr)
    else:
        print(f"{rec['run']['id']}: {rec['steps']} steps in {rec['train_seconds']:.1f} s")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="scorebench", description="Benchmark suite for score-based generative models.")
    verbs = p.add_subparsers(dest="verb", required=True)
    t = verbs.add_parser("train", help="train one run (resumes from its checkpoint)",
                         description="Train one dataset × objective × schedule × seed run into results/<name>/runs/.")
    _run_args(t)
    t.set_defaults(func=cmd_train)

    s = verbs.add_parser("sample", help="draw samples with one sampler for the selected runs",
                         description="Sample every selected run with one sampler into runs/<run>/samples/<sampler>.pt.")
    _filters(s)
    s.add_argument("--sampler", required=True, help="sampler entry name in the config")
    s.set_defaults(func=cmd_sample)

    e = verbs.add_parser("evaluate", help="compute metric rows for the selected runs",
                         description="Without --sampler: the model's metrics (train time, Fisher divergence, NLL) "
                                     "into metrics/model.json; with --sampler: that sampler's sample metrics into "
                                     "metrics/<sampler>.json.")
    _filters(e)
    e.add_argument("--sampler", help="evaluate this sampler's samples (default: the model itself)")
    e.set_defaults(func=cmd_evaluate)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except ScorebenchError as err:
        print(f"scorebench: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

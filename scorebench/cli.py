"""`scorebench <verb>`: the only entry point the workflow uses."""
from __future__ import annotations

import argparse
import sys

from .errors import ScorebenchError


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

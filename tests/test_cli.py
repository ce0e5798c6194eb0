"""The CLI on bad input: one line naming the field, non-zero exit, no traceback, nothing written."""
import argparse

import pytest

from conftest import run_cli
from scorebench.cli import parser

BASE = {"name": "bad", "datasets": {"toy": {"kind": "ncsn_toy"}}, "objectives": ["dsm"],
        "schedules": {"ve": {"kind": "ve"}}, "train": {"steps": 5}}


def variant(**changes):
    config = {k: (dict(v) if isinstance(v, dict) else v) for k, v in BASE.items()}
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        node = config
        for key in parents:
            node = node[key]
        node[leaf] = value
    return config


@pytest.mark.parametrize("config,run,field", [
    (variant(datasets={"toy": {"kind": "nope"}}), ("toy", "dsm", "ve"), "nope"),
    (variant(schedules={"ve": {"kind": "ncsn", "sigma_min": 100.0, "sigma_max": 1.0}}), ("toy", "dsm", "ve"), "sigma_min"),
    (variant(datasets={"toy": {"kind": "gaussian_mixture", "dim": 0}}), ("toy", "dsm", "ve"), "dim"),
    (variant(train={"steps": 0}), ("toy", "dsm", "ve"), "train.steps"),
    (variant(train={"lr": "fast"}), ("toy", "dsm", "ve"), "train.lr"),
    (variant(datasets={"toy": {"kind": "gaussian_mixture", "means": [[0.0], [2.0]], "weights": [0.2, 0.2]}}),
     ("toy", "dsm", "ve"), "weights"),
    (variant(objectives=["dsm", {"ssm": {"n_projections": 0}}]), ("toy", "ssm", "ve"), "n_projections"),
    (variant(), ("toy", "sliced", "ve"), "sliced"),
    (variant(), ("toy", "dsm", "vp"), "vp"),
    (variant(extra=1), ("toy", "dsm", "ve"), "extra"),
    ({"name": "bad", "datasets": BASE["datasets"]}, ("toy", "dsm", "ve"), "objectives, schedules: required with datasets"),
    ({"name": "bad"}, ("toy", "dsm", "ve"), "nothing to run"),
    ({"name": "bad", "scaling": {}}, ("toy", "dsm", "ve"), "no entry 'toy'; it has: none"),
])
def test_bad_input_gives_one_line(tmp_path, write_config, config, run, field):
    path = write_config(config)
    dataset, objective, schedule = run
    out = run_cli("train", path, "--dataset", dataset, "--objective", objective, "--schedule", schedule,
                  "--seed", 0, "--results", tmp_path / "results")
    assert out.returncode != 0
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert field in out.stderr
    assert not (tmp_path / "results").exists() or not any(p.is_file() for p in (tmp_path / "results").rglob("*"))


VERBS = next(a for a in parser()._actions if isinstance(a, argparse._SubParsersAction)).choices


def test_the_top_level_help_names_every_verb():
    """`scorebench --help` lists every verb the parser has, so none is hidden from a newcomer."""
    out = run_cli("--help")
    assert out.returncode == 0 and len(VERBS) >= 8, out.stderr
    assert all(verb in out.stdout for verb in VERBS), [v for v in VERBS if v not in out.stdout]


@pytest.mark.parametrize("verb", list(VERBS))
def test_help_for_every_verb(verb):
    """`scorebench VERB --help` of every verb of the real parser exits 0 and names each of its arguments."""
    out = run_cli(verb, "--help")
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    names = [o for a in VERBS[verb]._actions for o in (a.option_strings or [a.metavar or a.dest])]
    assert len(names) > 2 and all(n in out.stdout for n in names), (verb, [n for n in names if n not in out.stdout])


def _listed(text: str) -> dict[str, set[str]]:
    """Section -> the names `scorebench list` shows in it (lines indented by two spaces)."""
    out: dict[str, set[str]] = {}
    for line in text.splitlines():
        if line and not line.startswith(" "):
            section = out.setdefault(line.rstrip(":"), set())
        elif line.startswith("  ") and not line.startswith("   "):
            section.add(line.split()[0])
    return out


def test_list_names_every_registered_component_and_metric_without_torch():
    """`scorebench list` shows every key of every registry (and every metric) and loads no torch."""
    import subprocess
    import sys

    from scorebench.core.conditioning import MASKS, METHODS
    from scorebench.core.data import DATASETS
    from scorebench.core.fidelity import FEATURES
    from scorebench.core.nets import NETS
    from scorebench.core.objectives import OBJECTIVES
    from scorebench.core.samplers import SAMPLERS
    from scorebench.core.sde import PROCESSES
    from scorebench.spec.metric_info import METRIC_INFO

    probe = "import sys; from scorebench import cli; cli.main(['list']); print('torch' in sys.modules)"
    *lines, loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                                    check=True).stdout.strip().splitlines()
    assert loaded == "False", "scorebench list imported torch"
    listed = _listed("\n".join(lines))
    registries = {"datasets": DATASETS, "objectives": OBJECTIVES, "schedules": PROCESSES, "samplers": SAMPLERS,
                  "nets": NETS, "features": FEATURES, "masks": MASKS, "methods": METHODS}
    assert {name: set(r.keys()) for name, r in registries.items()} | {"metrics": set(METRIC_INFO)} == listed
    em = run_cli("list", "samplers").stdout.split("\n  em - ", 1)[1].split("\n  heun", 1)[0]
    assert "steps: integer = 1000  (≥ 2; steps)" in em, em  # a parameter's type, default and range

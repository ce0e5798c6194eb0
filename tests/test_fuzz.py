"""Malformed configs, generated from config/default.yaml: every one is refused with one line naming
the offending key, no traceback, nothing written. In-process through the Snakefile's torch-free parse
(`Benchmark.of`) and the entry of every verb (`cli._load`: the same, then every component built); a
sample through real `snakemake -n` and `scorebench grid`."""
from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from scorebench.benchmark import Benchmark
from scorebench.cli import _load
from scorebench.errors import ScorebenchError

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DEFAULT = yaml.safe_load((ROOT / "config/default.yaml").read_text())
# the default without its digits entry and scaling study: the same keys everywhere else, cheaper to build
BASE = {**{k: v for k, v in DEFAULT.items() if k != "scaling"},
        "datasets": {k: v for k, v in DEFAULT["datasets"].items() if k != "digits"},
        "conditioning": {"masks": {"x0": {"kind": "coordinates", "observed": [0]}},
                         "methods": {"replacement": {"kind": "replacement"}}, "samplers": ["em"]}}
BAD_NAMES = {"slash": "a/b", "dots": "..", "newline": "em\n", "long": "x" * 300, "space": "a b", "empty": ""}


def leaves(node, path=()):
    """(path, value) of every scalar and list in the config tree."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from leaves(value, (*path, key))
    else:
        yield path, node


def mappings(node, path=()):
    if isinstance(node, dict):
        yield path
        for key, value in node.items():
            yield from mappings(value, (*path, key))


def at(config: dict, path: tuple):
    for key in path:
        config = config[key]
    return config


def mutated(path: tuple, value) -> dict:
    config = copy.deepcopy(BASE)
    at(config, path[:-1])[path[-1]] = value
    return config


def cases():
    """(case id, config or non-mapping, key path the message must name)."""
    for path, value in leaves(BASE):
        where = ".".join(map(str, path))
        if path[-1] == "kind":
            yield f"{where}=bogus", mutated(path, "bogus"), where
            continue
        if isinstance(value, bool):
            yield f"{where}=text", mutated(path, "yes please"), where
        elif isinstance(value, (int, float)):
            yield f"{where}=text", mutated(path, "abc"), where
            yield f"{where}=negative", mutated(path, -1), where
            yield f"{where}=zero", mutated(path, 0), where
            yield f"{where}=list", mutated(path, [1]), where
            if isinstance(value, int):
                yield f"{where}=fraction", mutated(path, value + 0.5), where
        elif isinstance(value, str):
            yield f"{where}=number", mutated(path, 12345), where
            yield f"{where}=newline", mutated(path, value + "\n"), where
        elif isinstance(value, list):
            yield f"{where}=mapping", mutated(path, {"a": 1}), where
            yield f"{where}=junk-item", mutated(path, [*value, {"x": [1]}]), where
    for path in mappings(BASE):
        where = ".".join(map(str, path))
        config = copy.deepcopy(BASE)
        at(config, path)["nosie"] = 0.1
        yield f"{where or 'top'}+unknown", config, ".".join(map(str, (*path, "nosie"))) if path else "nosie"
        if path and path[0] in ("datasets", "schedules", "samplers") and len(path) == 1:
            for label, name in BAD_NAMES.items():
                config = copy.deepcopy(BASE)
                at(config, path)[name] = next(iter(at(BASE, path).values()))
                yield f"{where}-name-{label}", config, where
        if path:
            yield f"{where}=empty-list", mutated(path, []), where
            yield f"{where}=text", mutated(path, "abc"), where
    for label, name in BAD_NAMES.items():
        yield f"name-{label}", {**copy.deepcopy(BASE), "name": name}, "name"
    for label, value in {"list": [1, 2], "text": "name: x", "number": 3, "null": None}.items():
        yield f"whole-{label}", value, "config"
    yield "seeds-huge", {**copy.deepcopy(BASE), "seeds": list(range(5000))}, "seeds"
    yield "samplers-model", {**copy.deepcopy(BASE), "samplers": {"model": {"kind": "em"}}}, "samplers"


CASES = list(cases())


def test_the_fuzzer_covers_every_key_and_over_200_configs():
    assert len(CASES) >= 200, len(CASES)
    covered = {where for _, _, where in CASES}
    assert all(".".join(map(str, p)) in covered for p, _ in leaves(BASE)), "a key of the base config is not fuzzed"


@pytest.mark.parametrize("case,config,where", CASES, ids=[c[0] for c in CASES])
def test_a_malformed_config_is_refused_naming_its_key(tmp_path, case, config, where):
    """By the torch-free parse the Snakefile runs (`Benchmark.of`: a dry run refuses it) and by the
    entry of every verb (`cli._load`, which also builds every component)."""
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    for load in (lambda: Benchmark.of(yaml.safe_load(path.read_text())), lambda: _load(path)):
        with pytest.raises(ScorebenchError) as err:
            load()
        message = str(err.value)
        assert "\n" not in message.rstrip(), message
        assert where.split(".nosie")[0] in message or where == "config", (where, message)
    assert os.listdir(tmp_path) == ["config.yaml"]  # nothing written


# through the real CLIs, one of each kind of error: a whole config that is not a mapping is refused by
# Snakemake itself, in its own words, before the workflow's code runs, so none is sampled
SAMPLE = [c for c in CASES if c[0] in {
    "samplers.em.steps=negative", "schedules.vp.kind=bogus", "datasets.toy+unknown", "samplers.pc.snr=text",
    "samplers-name-newline", "name-slash", "samplers.ald.levels=fraction", "seeds-huge",
    "conditioning.masks.x0.observed=mapping", "train.net.width=zero"}]


def test_the_sample_names_ten_cases():
    assert len(SAMPLE) == 10


@pytest.mark.slow
@pytest.mark.parametrize("case,config,where", SAMPLE, ids=[c[0] for c in SAMPLE])
def test_real_snakemake_and_grid_refuse_it_in_one_line(tmp_path, case, config, where):
    """Through the real CLIs: exit ≠ 0 within 10 s each, one `scorebench: error:` line, no traceback,
    nothing written (no results/, no .snakemake/scorebench snapshot)."""
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    for cmd in ([BIN / "snakemake", "-n", "--snakefile", ROOT / "Snakefile", "--directory", tmp_path,
                 "--configfile", path], [BIN / "scorebench", "grid", path]):
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=10, cwd=tmp_path)
        output = proc.stdout + proc.stderr
        errors = [line for line in output.splitlines() if line.startswith("scorebench: error:")]
        assert proc.returncode != 0 and "Traceback" not in output and len(errors) == 1, output[-2000:]
        assert where.split(".nosie")[0] in errors[0] or where == "config", (where, errors[0])
    assert not (tmp_path / "results").exists() and not (tmp_path / ".snakemake" / "scorebench").exists()

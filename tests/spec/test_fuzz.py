"""Malformed configs, generated from config/default.yaml: every one is refused with one line naming
the offending key, no traceback, nothing written. In-process through the Snakefile's torch-free parse
(`Benchmark.of`) and the entry of every verb (`cli._load`: the same, then every component built); a
sample through real `snakemake -n` and `scorebench grid`."""
from __future__ import annotations

import copy
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from scorebench.spec import catalog
from scorebench.spec.benchmark import Benchmark
from scorebench.cli import _load
from scorebench.errors import ScorebenchError

ROOT = Path(__file__).resolve().parents[2]
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


def swept(path: tuple) -> bool:
    """Whether `path` is a sampler entry's sweep parameter in BASE (a list of step counts is valid there)."""
    return path[0] == "samplers" and len(path) == 3 and path[2] == catalog.SAMPLERS.get(BASE["samplers"][path[1]]["kind"]).sweeps


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
            # a sampler's step count may be a list (an NFE sweep): there a list with a count twice is the bad one
            yield f"{where}=list", mutated(path, [value, value] if swept(path) else [1]), where
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


def _with(**changes) -> dict:
    """BASE with key paths (written a__b for a.b) replaced."""
    config = copy.deepcopy(BASE)
    for dotted, value in changes.items():
        path = dotted.split("__")
        at(config, path[:-1])[path[-1]] = value
    return config


# ---- the schema files, whole: every key they declare, and where a refusal's key path lands in them
SCHEMAS = ROOT / "scorebench/spec/schemas"
CONFIG_SCHEMA = yaml.safe_load((SCHEMAS / "config.schema.yaml").read_text())
COMPONENTS = yaml.safe_load((SCHEMAS / "components.schema.yaml").read_text())  # section -> kind -> parameters
KINDS = {section: kinds for section, kinds in COMPONENTS.items() if section != "settings"}
SINGLE = {"train.net", "evaluate.features"}  # one {kind, ...} mapping; objectives a list of names; the rest name -> entry
WRONG = {"integer": "abc", "number": "abc", "boolean": "yes please", "string": 12345, "array": "abc", "object": "abc"}


def schema_keys() -> set[str]:
    """Every key the schema files declare: top-level keys and their sub-keys, settings, and each
    component kind and its parameters as `section[kind]` and `section[kind].parameter`."""
    keys = {f"{name}.{key}" for name, spec in CONFIG_SCHEMA["properties"].items() for key in spec.get("properties", {})}
    keys |= set(CONFIG_SCHEMA["properties"])
    keys |= {f"{section}.{key}" for section, spec in COMPONENTS["settings"].items() for key in spec["properties"]}
    for section, kinds in KINDS.items():
        keys |= {f"{section}[{kind}]" for kind in kinds}
        keys |= {f"{section}[{kind}].{p}" for kind, spec in kinds.items() for p in spec["properties"]}
    return keys


def schema_key(config, where: str) -> str:
    """The schema key a refusal's key path names: an entry's name is replaced by its kind."""
    path = where.split(".")
    for section in sorted(KINDS, key=lambda s: -s.count(".")):
        head = section.split(".")
        if path[:len(head)] != head or len(path) == len(head):
            continue
        rest = path[len(head):]
        try:
            node = at(config, head)
            kind = node["kind"] if section in SINGLE else rest[0] if section == "objectives" else node[rest[0]]["kind"]
        except (KeyError, TypeError, IndexError):
            return where
        rest = rest if section in SINGLE else rest[1:]
        return f"{section}[{kind}]" + (f".{rest[0]}" if rest else "")
    return ".".join(path[:2])


def wrong(spec: dict):
    """A value of the wrong type for a schema property (an enum's: an unlisted word)."""
    if "enum" in spec:
        return "bogus"
    types = [spec.get("type"), *(s.get("type") for s in spec.get("anyOf", []))]
    return next((WRONG[t] for t in types if t in WRONG), 12345)


REQUIRED = {"path": "data/x.npy", "shape": [2], "observed": [0]}  # a valid value of each parameter some kind requires


def placed(section: str, kind: str, key: str, value) -> tuple[dict, str]:
    """BASE with an entry of `kind` in `section` whose `key` is `value` (its other required parameters
    given valid values, so the refusal is this key's), and the key path naming it."""
    if section == "objectives":
        objectives = [o for o in BASE["objectives"] if o != kind] + [{kind: {key: value}}]
        return {**copy.deepcopy(BASE), "objectives": objectives}, f"objectives.{kind}.{key}"
    entries = at(BASE, section.split(".")) if section not in SINGLE else {}
    required = {p: REQUIRED[p] for p in KINDS.get(section, {}).get(kind, {}).get("required", [])}
    entry = {**next((e for e in entries.values() if e["kind"] == kind), {"kind": kind, **required}), key: value}
    if section in SINGLE:
        return _with(**{section.replace(".", "__"): entry}), f"{section}.{key}"
    return _with(**{section.replace(".", "__") + "__fz": entry}), f"{section}.fz.{key}"


def schema_cases():
    """(case id, config, key path) read from the schema files: each kind with an unknown key, each of its
    parameters, each setting and each top-level key and sub-key with a value of the wrong type."""
    for section, kinds in KINDS.items():
        for kind, spec in kinds.items():
            for key, value in [("nosie", 0.1), *((p, wrong(s)) for p, s in spec["properties"].items())]:
                config, where = placed(section, kind, key, value)
                yield f"schema:{section}[{kind}].{key}={value!r}", config, where
    subkeys = [(name, spec["properties"]) for name, spec in CONFIG_SCHEMA["properties"].items() if "properties" in spec]
    for name, properties in [*COMPONENTS["settings"].items(), *subkeys]:
        properties = properties.get("properties", properties)
        for key, s in properties.items():
            section = copy.deepcopy(BASE.get(name, DEFAULT.get(name, {})))  # scaling: the default's study
            yield f"schema:{name}.{key}={wrong(s)!r}", {**copy.deepcopy(BASE), name: {**section, key: wrong(s)}}, f"{name}.{key}"
    for name, spec in CONFIG_SCHEMA["properties"].items():
        if name != "name":  # a number is a valid name once YAML reads it as text; the name cases above cover it
            yield f"schema:{name}={wrong(spec)!r}", {**copy.deepcopy(BASE), name: wrong(spec)}, name


CASES = list({c[0]: c for c in [*cases(), *schema_cases()]}.values())  # settings and top-level sub-keys overlap


def test_every_key_of_the_schema_files_is_named_by_a_refused_case():
    """Each key the schema files declare (a top-level key or sub-key, a setting, a component kind and each
    of its parameters) is the key path some malformed case's refusal must name: a key the fuzzer misses fails."""
    named = {schema_key(config, where) for _, config, where in CASES}
    missing = {k for k in schema_keys() if k not in named and not (k.endswith("]") and any(n.startswith(k + ".") for n in named))}
    assert not missing, sorted(missing)


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


# ---- the contract, whole (issue 27): value classes the cases above do not reach, each case naming its key path
NUMERIC = [(p, v) for p, v in leaves(BASE) if isinstance(v, (int, float)) and not isinstance(v, bool)]
TEXT = [(p, v) for p, v in leaves(BASE) if isinstance(v, str)]
MIXTURE = {"kind": "gaussian_mixture", "means": [[0.0, 0.0], [3.0, 1.0]], "stds": [1.0, 0.5], "weights": [0.25, 0.75]}


def contract_cases():
    """(class, case id, config, key path the message must name)."""
    for path, value in NUMERIC:
        where = ".".join(map(str, path))
        for label, bad in {"nan": math.nan, "inf": math.inf, "-inf": -math.inf, "2**70": 2**70, "-2**70": -(2**70),
                           "text-1e999": "1e999", "null": None, "mapping": {"x": 1}}.items():
            yield "numbers", f"{where}={label}", mutated(path, bad), where
    for label, bad in {"2**70": [0, 2**70], "nan": [math.nan], "inf": [0, math.inf], "negative": [-1], "text": ["0"]}.items():
        yield "numbers", f"seeds={label}", {**copy.deepcopy(BASE), "seeds": bad}, "seeds"
    for path, value in TEXT:
        where = ".".join(map(str, path))
        for label, bad in {"list": [], "mapping": {}, "null": None, "nan": math.nan, "bool": True}.items():
            yield "types", f"{where}={label}", mutated(path, bad), where
    scaling = {"dims": [8, 64], "objectives": ["dsm"]}
    for key, bad in [("dims", [-1]), ("dims", [None]), ("dims", [True]), ("dims", [[8]]), ("dims", [math.nan]),
                     ("dims", []), ("dims", "8"), ("dims", [2**70]), ("objectives", ["bogus"]), ("objectives", [1]),
                     ("objectives", [None]), ("objectives", []), ("objectives", "dsm"), ("width", 2**70),
                     ("max_seconds", math.nan), ("nosie", 1)]:
        yield "scaling", f"scaling.{key}={bad!r}", {**copy.deepcopy(BASE), "scaling": {**scaling, key: bad}}, f"scaling.{key}"
    for bad in ("bogus", "scipy_solver", "DOPRI5", 5, None):
        yield "solver", f"ode.method={bad!r}", _with(samplers__ode={"kind": "ode", "method": bad}), "samplers.ode.method"
    for bad in ("karras", "SIGMA", 7):
        yield "solver", f"heun.discretisation={bad!r}", _with(samplers__heun={"kind": "heun", "discretisation": bad}), \
            "samplers.heun.discretisation"
    yield "solver", "ode.steps=1", _with(samplers__ode={"kind": "ode", "method": "rk4", "steps": 1}), "samplers.ode.steps"
    for label, bad, where in [("unknown-text", "nope", ""), ("number", 5, ""), ("unknown-kind", {"kind": "nope"}, ".kind"),
                              ("no-kind", {"weights_path": "w.pt"}, ".kind"), ("unknown-key", {"kind": "raw", "junk": 1}, ".junk"),
                              ("path-number", {"kind": "inception", "weights_path": 3}, ".weights_path"),
                              ("path-list", {"kind": "inception", "weights_path": ["a"]}, ".weights_path")]:
        yield "features", f"features-{label}", _with(evaluate__features=bad), f"evaluate.features{where}"
        yield "features", f"features-{label}-dataset", _with(datasets__toy={"kind": "ncsn_toy", "evaluate": {"features": bad}}), \
            f"datasets.toy.evaluate.features{where}"
    for label, change, where in [
            ("ragged-means", {"means": [[0.0, 0.0], [1.0]]}, "means.1"), ("text-means", {"means": [["a", 0.0], [1.0, 1.0]]}, "means.0.0"),
            ("flat-means", {"means": [0.0, 1.0]}, "means"), ("empty-means", {"means": []}, "means"),
            ("nan-means", {"means": [[math.nan, 0.0], [1.0, 1.0]]}, "means.0.0"), ("3-means-2-stds", {"means": [[0.0, 0.0]] * 3}, "stds"),
            ("zero-std", {"stds": [1.0, 0.0]}, "stds.1"), ("negative-std", {"stds": [-1.0, 1.0]}, "stds.0"),
            ("nan-std", {"stds": [math.nan, 1.0]}, "stds.0"), ("text-std", {"stds": ["a", 1.0]}, "stds.0"),
            ("std-rows-too-wide", {"stds": [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]}, "stds.0"),
            ("weights-sum-0.9", {"weights": [0.25, 0.65]}, "weights"), ("weights-sum-1.1", {"weights": [0.5, 0.6]}, "weights"),
            ("negative-weight", {"weights": [-0.25, 1.25]}, "weights.0"), ("nan-weight", {"weights": [math.nan, 1.0]}, "weights.0"),
            ("3-weights", {"weights": [0.5, 0.25, 0.25]}, "weights"), ("text-weights", {"weights": "even"}, "weights"),
            ("dim-disagrees", {"dim": 3}, "dim"), ("inf-mean", {"means": [[math.inf, 0.0], [1.0, 1.0]]}, "means.0.0")]:
        yield "mixture", f"mixture-{label}", _with(datasets__mix={**MIXTURE, **change}), f"datasets.mix.{where}"
    for label, changes, where in [
            ("ald-unstable-on-ncsn", {"samplers__ald__epsilon": 0.5}, "samplers.ald.epsilon"),
            ("ald-unstable-on-vp", {"samplers__ald__epsilon": 2.3e-4, "schedules": {"vp": {"kind": "vp"}}}, "samplers.ald.epsilon"),
            ("ald-unstable-on-ve", {"samplers__ald__epsilon": 0.02, "schedules": {"ve": {"kind": "ve", "sigma_max": 10.0}}},
             "samplers.ald.epsilon"),
            ("langevin-above-every-schedule", {"samplers__langevin__sigma": 1000.0, "schedules": {"vp": {"kind": "vp"}}}, "samplers.langevin.sigma"),
            ("langevin-far-below", {"samplers__langevin__sigma": 1e-4, "schedules": {"vp": {"kind": "vp"}}}, "samplers.langevin.sigma"),
            ("ald-above-every-schedule", {"samplers__ald__sigma_min": 1000.0, "schedules": {"vp": {"kind": "vp"}}}, "samplers.ald.sigma_min"),
            ("ve-sigma-min-above-max", {"schedules__vp": {"kind": "ve", "sigma_min": 5.0, "sigma_max": 1.0}}, "schedules.vp.sigma_min"),
            ("ve-sigma-max-text", {"schedules__vp": {"kind": "ve", "sigma_max": "big"}}, "schedules.vp.sigma_max"),
            ("vp-beta-min-above-max", {"schedules__vp": {"kind": "vp", "beta_min": 30.0}}, "schedules.vp.beta_min")]:
        yield "combinations", label, _with(**changes), where
    for label, entry, where in [
            ("below-minimum", {"kind": "em", "steps": [1, 10]}, "steps"), ("duplicate", {"kind": "em", "steps": [10, 5, 10]}, "steps"),
            ("float", {"kind": "em", "steps": [10, 2.5]}, "steps"), ("text", {"kind": "em", "steps": [10, "20"]}, "steps"),
            ("bool", {"kind": "em", "steps": [True]}, "steps"), ("empty", {"kind": "em", "steps": []}, "steps"),
            ("nested", {"kind": "em", "steps": [[5]]}, "steps"),
            ("ald-below-minimum", {"kind": "ald", "steps_per_level": [0, 5]}, "steps_per_level"),
            ("ald-levels-not-swept", {"kind": "ald", "levels": [5, 10]}, "levels"),
            ("ode-adaptive", {"kind": "ode", "steps": [5, 10]}, "steps"),
            ("ode-rk4-below-minimum", {"kind": "ode", "method": "rk4", "steps": [1]}, "steps"),
            ("sweep-name", {"kind": "em", "steps": 10, "sweep": "a b"}, "sweep")]:
        yield "sweep", f"sweep-{label}", _with(samplers__em=entry), f"samplers.em.{where}"
    yield "sweep", "sweep-collision", _with(samplers__heun={"kind": "heun", "steps": [20, 40]},
                                            samplers__heun_40={"kind": "heun"}), "samplers.heun.steps"
    yield "sweep", "sweep-name-too-long", _with(**{"samplers__" + "e" * 63: {"kind": "em", "steps": [10]}}), \
        f"samplers.{'e' * 63}.steps"
    for section in ("datasets", "schedules", "samplers"):
        first = next(iter(BASE[section].values()))
        for label, name in {"a*20": "a" * 20, "ab*20": "ab" * 20, "x+abc*20": "x" + "abc" * 20, "z+7*30": "z" + "7" * 30}.items():
            yield "names", f"{section}-name-{label}", _with(**{f"{section}__{name}": first}), f"{section}.{name}"
        yield "names", f"{section}-number-key", {**copy.deepcopy(BASE), section: {**BASE[section], 12: first}}, section


CONTRACT = list(contract_cases())
VALID = {  # controls: each accepted by the parse, every verb's entry and the dry run
    "base": BASE,
    "float-text": _with(train__lr="1e-3", samplers__pc={"kind": "pc", "snr": "2e-1"}),
    "explicit-mixture": _with(datasets__mix=MIXTURE),
    "mixture-std-rows": _with(datasets__mix={**MIXTURE, "stds": [[1.0, 0.5], [0.2, 0.3]]}),
    "features": _with(evaluate__features={"kind": "inception", "weights_path": "pt_inception.pth"}),
    "ode-rk4": _with(samplers__ode={"kind": "ode", "method": "rk4"}),
    "sweeps": _with(samplers__em={"kind": "em", "steps": [5, 10]}, samplers__ode={"kind": "ode", "method": "rk4", "steps": [5, 10]},
                    samplers__ald={"kind": "ald", "steps_per_level": [5, 10], "levels": 20}),
    "names-19-repeats": _with(samplers__ababababababababababababababababababab={"kind": "em"}),
    "scaling": {**copy.deepcopy(BASE), "scaling": {"dims": [2, 4], "objectives": ["dsm", "exact_loop"]}},
}
MERGE_KEYS = """\
name: merged
datasets: {toy: {kind: ncsn_toy}}
objectives: [dsm]
schedules:
  vp: &vp {kind: vp, beta_max: 20.0}
  vp2: {<<: *vp, beta_min: 0.2}
samplers:
  em: &fast {kind: em, steps: 20}
  em2: {<<: *fast, steps: 40}
  pc: {<<: [*fast], kind: pc}
train: &small {steps: 10, batch_size: 16}
evaluate: {n_samples: 16}
"""
TEXT_CASES = {  # (bytes of a config file, whether Snakemake's own reader takes it, so that the workflow's code runs)
    "utf-16": (MERGE_KEYS.encode("utf-16"), False),
    "utf-16-no-bom": (MERGE_KEYS.encode("utf-16-le"), False),
    "latin-1": (MERGE_KEYS.replace("merged", "mérged").encode("latin-1"), False),
    "billion-laughs": (("name: lol\na: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n" for i in range(8))
        + "datasets: {toy: {kind: ncsn_toy, means: *i}}\n").encode(), True),
    "wide-laughs": (("name: w\nx: &x [" + ", ".join(["1"] * 400) + "]\ny: &y [" + ", ".join(["*x"] * 400) + "]\n").encode(), True),
    "deep": (("name: deep\ndatasets: {toy: {kind: ncsn_toy, means: " + "[" * 40 + "]" * 40 + "}}\n").encode(), True),
    "deep-by-alias": (("name: d\na: &a " + "[" * 20 + "1" + "]" * 20 + "\nb: " + "[" * 20 + "*a" + "]" * 20 + "\n").encode(), True),
    "recursive-alias": (b"name: r\na: &a [1, *a]\n", False),
    "oversized": (MERGE_KEYS.encode() + b"# padding\n" * 120_000, True),
    "object-tag": (b"name: !!python/object/apply:os.system ['true']\n", False),
    "key-twice": (MERGE_KEYS.encode() + b"name: again\n", True),
}


def test_the_contract_fuzzer_has_every_class_and_over_300_cases():
    classes = {cls for cls, *_ in CONTRACT}
    assert classes == {"numbers", "types", "scaling", "solver", "features", "mixture", "combinations", "names", "sweep"}, classes
    assert len(CONTRACT) + len(TEXT_CASES) >= 300, len(CONTRACT)


def _refused(load, where: str) -> None:
    with pytest.raises(ScorebenchError) as err:
        load()
    message = str(err.value)
    assert "\n" not in message and where in message, (where, message)


@pytest.mark.parametrize("cls,case,config,where", CONTRACT, ids=[c[1] for c in CONTRACT])
def test_every_value_class_is_refused_by_the_parse_and_every_verb_naming_its_key(tmp_path, cls, case, config, where):
    """The Snakefile's parse (`Benchmark.of`) and every verb's entry (`cli._load`, which then builds
    every component) refuse it in one line naming the key path; nothing is written."""
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    _refused(lambda: Benchmark.of(copy.deepcopy(config)), where)
    _refused(lambda: _load(path), where)
    assert os.listdir(tmp_path) == ["config.yaml"]


@pytest.mark.parametrize("case", list(TEXT_CASES))
def test_a_config_file_past_the_loaders_limits_is_one_line_naming_it(tmp_path, case):
    path = tmp_path / "config.yaml"
    path.write_bytes(TEXT_CASES[case][0])
    _refused(lambda: _load(path), str(path))


@pytest.mark.parametrize("case", list(VALID))
def test_valid_controls_are_accepted(tmp_path, case):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(VALID[case]))
    assert _load(path).runs


def test_merge_keys_and_anchors_are_read_as_yaml_defines_them(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(MERGE_KEYS)
    config = _load(path).config
    assert config["samplers"]["em2"] == {"kind": "em", "steps": 40} and config["samplers"]["pc"] == {"kind": "pc", "steps": 20}
    assert config["schedules"]["vp2"] == {"kind": "vp", "beta_max": 20.0, "beta_min": 0.2}


def test_config_text_is_read_as_the_declared_type():
    from scorebench.spec.declared import with_overrides

    text = {"seeds": ["0", "1", "7"], "train": {"lr": "1e-3", "steps": "5", "net": {"width": "32"}},
            "samplers": {"em": {"kind": "em", "steps": "10", "denoise": "no"}}, "name": "123"}
    config = with_overrides({**copy.deepcopy(BASE), **text}, text)
    assert config["seeds"] == [0, 1, 7] and config["train"] == {"lr": 1e-3, "steps": 5, "net": {"width": 32}}
    assert config["samplers"]["em"] == {"kind": "em", "steps": 10, "denoise": False} and config["name"] == "123"
    assert Benchmark.of(config).config["seeds"] == [0, 1, 7]


def test_the_parse_knows_the_smallest_sigma_the_annealed_langevin_sampler_meets():
    """rules.smallest_sigma (torch-free) equals the σ_L samplers.AnnealedLangevin computes on every kind."""
    from scorebench.spec import rules
    from scorebench.core.samplers import _level_times
    from scorebench.core.sde import build_process

    for spec in ({"kind": "vp"}, {"kind": "subvp", "eps": 1e-2}, {"kind": "ve", "sigma_max": 7.0},
                 {"kind": "edm", "sigma_max": 7.0}, {"kind": "ncsn", "sigma_max": 7.0, "sigma_min": 0.05}, {"kind": "vp", "beta_min": 1.0, "beta_max": 5.0}):
        process = build_process("s", spec)
        for ratio in (0.003, 0.01, 0.2):
            sigma = float(process.marginal(_level_times(process, 5, ratio))[1][-1])
            assert rules.smallest_sigma(rules._with_defaults("schedules", spec), ratio) == pytest.approx(sigma, rel=1e-4)


def test_the_declared_ode_solvers_are_torchdiffeqs():
    from torchdiffeq._impl.odeint import SOLVERS

    from scorebench.core.samplers import ODE_METHODS

    assert set(ODE_METHODS) == set(SOLVERS) - {"scipy_solver"}


# through the real CLIs: one case of each class (and of each file the workflow's code gets to read)
REAL = [c for c in CONTRACT if c[1] in {
    "train.lr=nan", "seeds=2**70", "samplers.em.steps=text-1e999", "datasets.toy.kind=list", "scaling.dims=[-1]",
    "ode.method='bogus'", "features-path-number", "mixture-ragged-means", "mixture-weights-sum-0.9", "mixture-zero-std",
    "ald-unstable-on-ncsn", "langevin-above-every-schedule", "samplers-name-ab*20", "sweep-duplicate"}]


def _cli(cmd, cwd):
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60, cwd=cwd)
    return proc, proc.stdout + proc.stderr


def _dry(path, cwd, *extra):
    return [BIN / "snakemake", "-n", "--snakefile", ROOT / "Snakefile", "--directory", cwd, "--configfile", path, *extra]


def test_the_real_sample_has_every_class():
    assert {c[0] for c in REAL} == {cls for cls, *_ in CONTRACT} and len(REAL) == 14


@pytest.mark.slow
@pytest.mark.parametrize("cls,case,config,where", REAL, ids=[c[1] for c in REAL])
def test_real_snakemake_and_grid_refuse_every_class_in_one_line(tmp_path, cls, case, config, where):
    """`snakemake -n` and `scorebench grid`: exit ≠ 0, one `scorebench: error:` line naming the key path,
    no traceback, nothing written."""
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    for cmd in (_dry(path, tmp_path), [BIN / "scorebench", "grid", path]):
        proc, output = _cli(cmd, tmp_path)
        errors = [line for line in output.splitlines() if line.startswith("scorebench: error:")]
        assert proc.returncode != 0 and "Traceback" not in output and len(errors) == 1, output[-2000:]
        assert where in errors[0], (where, errors[0])
    assert not (tmp_path / "results").exists() and not (tmp_path / ".snakemake" / "scorebench").exists()


@pytest.mark.slow
@pytest.mark.parametrize("case", [c for c, (_, read) in TEXT_CASES.items() if read])
def test_real_snakemake_refuses_a_file_past_the_loaders_limits_in_one_line(tmp_path, case):
    """Files Snakemake's own reader takes reach the workflow's loader, which refuses them naming the file
    (a file Snakemake cannot decode or parse fails in Snakemake's own reader, before the workflow runs)."""
    path = tmp_path / "config.yaml"
    path.write_bytes(TEXT_CASES[case][0])
    proc, output = _cli(_dry(path, tmp_path), tmp_path)
    errors = [line for line in output.splitlines() if line.startswith("scorebench: error:")]
    assert proc.returncode != 0 and "Traceback" not in output and len(errors) == 1 and str(path) in errors[0], output[-2000:]
    assert not (tmp_path / "results").exists()


@pytest.mark.slow
def test_real_runs_of_malformed_configs_write_nothing_and_valid_input_dry_runs(tmp_path):
    """Real (not dry) `snakemake --cores 1` runs of one case per value class start no job and write nothing
    under results/; the README's `--config 'seeds=[0,1,2,3,4]'` and a merge-key config dry-run."""
    for _, case, config, where in [c for c in REAL if c[0] in ("numbers", "mixture", "combinations")][:3]:
        path = tmp_path / f"{case}.yaml"
        path.write_text(yaml.safe_dump(config))
        proc, output = _cli([BIN / "snakemake", "--cores", "1", "--snakefile", ROOT / "Snakefile", "--directory", tmp_path,
                             "--configfile", path], tmp_path)
        assert proc.returncode != 0 and where in output and "Traceback" not in output, output[-2000:]
        assert not (tmp_path / "results").exists() and not (tmp_path / ".snakemake" / "scorebench").exists()
    proc, output = _cli([BIN / "snakemake", "-n", "--snakefile", ROOT / "Snakefile", "--directory", tmp_path,
                         "--config", "seeds=[0,1,2,3,4]"], tmp_path)
    assert proc.returncode == 0, output[-2000:]
    proc, output = _cli([BIN / "snakemake", "-n", "--snakefile", ROOT / "Snakefile", "--directory", tmp_path,
                         "--config", "seeds=[0,1,2,3,x]"], tmp_path)  # the first four read as integers, the fifth named
    assert proc.returncode != 0 and "scorebench: error: seeds.4: 'x' is not of type 'integer'" in output, output[-2000:]
    path = tmp_path / "merged.yaml"
    path.write_text(MERGE_KEYS)
    proc, output = _cli(_dry(path, tmp_path), tmp_path)
    assert proc.returncode == 0 and "metrics/toy/em2.json" in output and "metrics/toy/pc.json" in output, output[-2000:]

"""Load and validate benchmark configs: JSON schema first, then registry names and values."""
from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import jsonschema

from . import catalog
from .declared import check_numbers, read_floats
from ..errors import ConfigError
from .packaged import OVERRIDABLE, components, schema
from .loader import read_yaml as read  # the YAML document of a file, within the loader's limits
from .registry import RANGE_KEYWORDS, Range, read_values
from .sweeps import SWEEP, expand as expand_sweeps

GRID = ("datasets", "objectives", "schedules")  # all non-empty (a grid) or all empty (a scaling-only config)


PLACEMENT = ("slurm_partition", "slurm_account", "gpu_model")  # the SLURM plugin's resource names


PATTERN_RULES = {  # the schema's patterns, in words
    "^[A-Za-z0-9][A-Za-z0-9_]*(?![\\s\\S])": "a name is letters, digits and _, starting with a letter or digit",
    "^[A-Za-z0-9][A-Za-z0-9_.-]*(?![\\s\\S])": "the benchmark name is letters, digits, _, . and -, starting with a letter or digit (it becomes results/<name>/)",
    "^[A-Za-z0-9_.-]+(?![\\s\\S])": "one word of letters, digits, _, . and - (it goes onto an sbatch line)",
    "^(cpu|cuda(:[0-9]+)?)(?![\\s\\S])": "a device is cpu, cuda or cuda:<index>",
}


def _where(error: jsonschema.ValidationError) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "(top level)"


def validate(config: dict) -> dict:
    """Check `config` against the schema and fill the defaults; one line per problem found first. Float
    text is read as the number where a number is declared, then every number must be finite and in size;
    a sampler's list of step counts becomes one entry per count (spec.sweeps)."""
    if not isinstance(config, dict):
        raise ConfigError("config: expected a mapping of keys (name, datasets, objectives, ...)")
    read_floats(config)
    check_numbers(config)
    validator = jsonschema.Draft7Validator(schema())
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(e.absolute_path), str(e.absolute_path)))
    if errors:
        err = errors[0]
        if err.validator == "additionalProperties":
            known = err.schema.get("properties", {})
            unknown = sorted(set(err.instance) - set(known))
            where = ".".join(str(p) for p in [*err.absolute_path, unknown[0]])
            raise ConfigError(f"{where}: unknown key; allowed: {', '.join(sorted(known))}")
        if err.validator == "pattern":  # the regex says little: name what is allowed instead
            raise ConfigError(f"{_where(err)}: {err.instance!r} is not allowed; {PATTERN_RULES[err.validator_value]}")
        raise ConfigError(f"{_where(err)}: {err.message}")
    grid = [key for key in GRID if config.get(key)]
    if grid and len(grid) < len(GRID):
        missing = ", ".join(key for key in GRID if not config.get(key))
        raise ConfigError(f"{missing}: required with {', '.join(grid)} (a grid needs datasets, objectives and schedules)")
    if not grid and "scaling" not in config:
        raise ConfigError("config: nothing to run; give a grid (datasets, objectives, schedules) or a scaling section")
    for key, prop in schema()["properties"].items():
        if "default" in prop:
            config.setdefault(key, prop["default"])
    expand_sweeps(config)
    check_components(config)
    return config


def check_components(config: dict) -> None:
    """Every entry's keys and value types against its kind's constructor, and the train, evaluate and
    scaling settings against their dataclasses (the generated schema), torch-free: an unknown or
    misspelt key, a wrong type or a value out of its declared range is one line naming its path. An
    unknown kind is left to the registries' check, which lists the valid ones."""
    generated, cond = components(), config.get("conditioning", {})
    entries = [(f"{key}.{name}", key, spec) for key in ("datasets", "schedules", "samplers")
               for name, spec in config.get(key, {}).items()]
    entries += [(f"conditioning.{key}.{name}", f"conditioning.{key}", spec) for key in ("masks", "methods")
                for name, spec in cond.get(key, {}).items()]
    entries += [(f"objectives.{name}", "objectives", {"kind": name, **params})
                for name, params in objective_entries(config).items()]
    for where, section, spec in entries:
        kind_schema = generated[section].get(spec["kind"])
        if kind_schema is not None:
            params = {k: v for k, v in spec.items() if k != "kind" and not (section == "datasets" and k in OVERRIDABLE)
                      and not (section == "samplers" and k == SWEEP)}
            _check(where, kind_schema, params, f" for {section.split('.')[-1].rstrip('s')} kind {spec['kind']!r}")
    sections = [(key, key, config[key]) for key in generated["settings"] if key in config]
    sections += [(f"datasets.{name}.{key}", key, spec[key]) for name, spec in config.get("datasets", {}).items()
                 for key in OVERRIDABLE if key in spec]
    for where, key, values in sections:
        _check(where, generated["settings"][key], values, "")
    _check_nets(config, generated["train.net"])
    for where, key, values in sections:
        if key == "evaluate" and "features" in values:
            _check_features(f"{where}.features", values["features"], generated["evaluate.features"])


def _check_features(where: str, spec: str | dict, kinds: dict) -> None:
    """`evaluate.features`: auto or a known extractor kind, as a name or a mapping with that kind's keys only."""
    if isinstance(spec, str):
        if spec != "auto" and spec not in kinds:
            raise ConfigError(f"{where}: unknown feature extractor {spec!r}; valid: auto, {', '.join(sorted(kinds))}")
        return
    kind = spec.get("kind")
    if kind not in kinds:
        raise ConfigError(f"{where}.kind: unknown feature extractor {kind!r}; valid: {', '.join(sorted(kinds))}")
    _check(where, kinds[kind], {k: v for k, v in spec.items() if k != "kind"}, f" for features kind {kind!r}")


def _check_nets(config: dict, nets: dict) -> None:
    """Each dataset's network (`train.net`, or its own override) against its kind's schema, its kind
    resolved by `catalog.net_spec`."""
    for name, spec in config.get("datasets", {}).items():
        if spec["kind"] not in catalog.DATASETS:
            continue  # an unknown kind is the names check's, which lists the valid ones
        where = f"datasets.{name}.train.net" if "net" in spec.get("train", {}) else "train.net"
        net = catalog.net_spec(spec, section(config, "train", name).get("net", {}))
        kind = net["kind"]
        if not isinstance(kind, str) or kind not in nets:
            raise ConfigError(f"{where}.kind: unknown network {kind!r}; valid: {', '.join(sorted(nets))}")
        _check(where, nets[kind], {k: v for k, v in net.items() if k != "kind"}, f" for network kind {kind!r}")


def _check(where: str, schema: dict, params: dict, what: str) -> None:
    """`params` against `schema`: the first problem as one line naming its key path."""
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(params), key=lambda e: len(e.absolute_path))
    if not errors:
        return
    err = errors[0]
    if err.validator == "additionalProperties":
        unknown = sorted(set(err.instance) - set(schema["properties"]))[0]
        raise ConfigError(f"{where}.{unknown}: unknown key{what}; allowed: {', '.join(sorted(schema['properties'])) or 'none'}")
    key = ".".join(str(p) for p in err.absolute_path)
    raise ConfigError(f"{where}{'.' + key if key else ''}: {_problem(err)}")


def _problem(err: jsonschema.ValidationError) -> str:
    """What a component-schema error asks for, in the words the component's builder uses."""
    bound = next((e for e in (err, *err.context) if e.validator in RANGE_KEYWORDS), None)
    if bound is not None:
        kind = "an integer" if bound.schema.get("type") == "integer" else "a number"
        return f"must be {kind} {Range.of_schema(bound.schema).text()} (got {err.instance!r})"
    choices = next((e.validator_value for e in (err, *err.context) if e.validator == "enum"), None)
    if choices is not None:
        return f"must be one of {', '.join(map(str, choices))} (got {err.instance!r})"
    return f"must be a number (got {err.instance!r})" if err.validator == "anyOf" else err.message


def has_grid(config: dict) -> bool:
    """Whether a validated config trains a grid (a scaling-only config has none)."""
    return bool(config["datasets"])


def objective_entries(config: dict) -> dict[str, dict]:
    """`objectives:` as name -> params (a bare name has no parameters)."""
    out: dict[str, dict] = {}
    for item in config["objectives"]:
        name, params = (item, {}) if isinstance(item, str) else next(iter(item.items()))
        if name in out:
            raise ConfigError(f"objectives: {name!r} listed twice")
        out[name] = dict(params)
    return out




def section(config: dict, name: str, dataset: str) -> dict:
    """The `train:` or `evaluate:` settings for runs on `dataset`: the top-level section updated
    with the dataset entry's own (e.g. a different network or step count for images)."""
    return {**config[name], **config["datasets"][dataset].get(name, {})}


def resource(config: dict, stage: str, key: str, default=None):
    """A job resource of `stage`: resources.<stage>.<key>, else the config-wide resources.<key>, else `default`."""
    res = config.get("resources", {})
    return res.get(stage, {}).get(key, res.get(key, default))


def placement(config: dict, stage: str) -> dict:
    """Where `stage`'s jobs go on SLURM, as far as the config says: slurm_partition, slurm_account, gpu_model."""
    return {k: v for k in PLACEMENT if (v := resource(config, stage, k)) is not None}


def dataset_params(config: dict, dataset: str) -> dict:
    """The dataset entry without its section overrides: what the dataset builder takes."""
    return {k: v for k, v in config["datasets"][dataset].items() if k not in OVERRIDABLE}


def settings(cls, values: dict | None, section: str):
    """The dataclass `cls` built from a config section: an unknown key refused by name, a float's
    YAML text read as the number, every Range its fields declare checked (registry.read_values)."""
    known = {f.name for f in fields(cls)}
    for key in values or {}:
        if key not in known:
            raise ConfigError(f"{section}.{key}: unknown key; allowed: {', '.join(sorted(known))}")
    return cls(**read_values(cls, values or {}, section))
